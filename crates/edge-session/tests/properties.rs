//! Property tests of the signed cookie format (native only: proptest).
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    missing_docs
)]

use edge_session::adapter::Lifecycle;
use edge_session::cookie::{cookie_values, parse_cookie_header};
use edge_session::{Key, KeyRing, SessionConfig, SessionExpiry, SessionId, format};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = Key> {
    proptest::collection::vec(any::<u8>(), 32..80).prop_map(|b| Key::from_bytes(&b))
}

fn id() -> impl Strategy<Value = SessionId> {
    "[A-Za-z0-9_-]{1,64}".prop_map(|s| SessionId::parse(&s).unwrap())
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,20}"
}

/// Any i64, with its ends and small numbers drawn often.
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MIN), -3i64..3]
}

/// A stored value: integers (the ends of i64 included), a float, a text,
/// null.
fn value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        int().prop_map(serde_json::Value::from),
        Just(serde_json::json!(1.5)),
        Just(serde_json::json!("text")),
        Just(serde_json::Value::Null),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Insert(serde_json::Value),
    Remove,
    Increment(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        value().prop_map(Op::Insert),
        Just(Op::Remove),
        int().prop_map(Op::Increment),
    ]
}

fn mode() -> impl Strategy<Value = SessionExpiry> {
    prop_oneof![
        Just(SessionExpiry::Default),
        Just(SessionExpiry::BrowserSession),
        (1u64..u64::MAX).prop_map(SessionExpiry::Persistent),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sign_verify_round_trip(key in key(), name in name(), id in id(), expires in 1u64..u64::MAX) {
        let ring = KeyRing::new(key);
        let value = format::encode(&ring, &name, &id, expires);
        let verified = format::verify(&ring, &name, value.as_bytes(), expires - 1).unwrap();
        prop_assert_eq!(verified.id, id);
        prop_assert_eq!(verified.expires, expires);
        prop_assert!(format::verify(&ring, &name, value.as_bytes(), expires).is_none());
    }

    #[test]
    fn v2_round_trip_and_any_byte_change_rejected(
        key in key(), id in id(), expires in 1_000u64..u64::MAX / 2, deadline in proptest::option::of(1_000u64..u64::MAX),
        mode in mode(), pos in any::<prop::sample::Index>(), new_byte in any::<u8>(),
    ) {
        let ring = KeyRing::new(key);
        let value = format::encode_full(&ring, "session", &id, expires, deadline, mode);
        let v = format::verify(&ring, "session", value.as_bytes(), 0).unwrap();
        let deadline = deadline.filter(|d| *d != expires || mode != SessionExpiry::Default);
        prop_assert_eq!((v.id, v.expires, v.deadline, v.mode), (id, expires, deadline, mode));
        let value = value.into_bytes();
        let i = pos.index(value.len());
        prop_assume!(value[i] != new_byte);
        let mut changed = value.clone();
        changed[i] = new_byte;
        prop_assert!(format::verify(&ring, "session", &changed, 0).is_none(),
            "accepted after changing byte {} of {:?}", i, String::from_utf8_lossy(&value));
    }

    #[test]
    fn any_byte_change_is_rejected(
        key in key(), id in id(), expires in 1_000u64..u64::MAX,
        pos in any::<prop::sample::Index>(), new_byte in any::<u8>(),
    ) {
        let ring = KeyRing::new(key);
        let value = format::encode(&ring, "session", &id, expires).into_bytes();
        let i = pos.index(value.len());
        prop_assume!(value[i] != new_byte);
        let mut changed = value.clone();
        changed[i] = new_byte;
        prop_assert!(format::verify(&ring, "session", &changed, 0).is_none(),
            "accepted after changing byte {} of {:?}", i, String::from_utf8_lossy(&value));
    }

    #[test]
    fn truncation_and_extension_are_rejected(key in key(), id in id(), cut in 1usize..20, extra in "[A-Za-z0-9._-]{1,8}") {
        let ring = KeyRing::new(key);
        let value = format::encode(&ring, "session", &id, u64::MAX);
        let cut = cut.min(value.len());
        prop_assert!(format::verify(&ring, "session", &value.as_bytes()[..value.len() - cut], 0).is_none());
        let longer = format!("{value}{extra}");
        prop_assert!(format::verify(&ring, "session", longer.as_bytes(), 0).is_none());
    }

    #[test]
    fn rotated_out_key_fails_older_key_in_ring_verifies(
        old in key(), new in key(), id in id(), name in name(),
    ) {
        prop_assume!(old != new);
        let old_value = format::encode(&KeyRing::new(old.clone()), &name, &id, u64::MAX);
        let ring = KeyRing::new(new.clone()).with_previous(old);
        prop_assert!(format::verify(&ring, &name, old_value.as_bytes(), 0).is_some());
        let retired = KeyRing::new(new);
        prop_assert!(format::verify(&retired, &name, old_value.as_bytes(), 0).is_none());
    }

    #[test]
    fn the_name_is_bound(key in key(), id in id(), a in name(), b in name()) {
        prop_assume!(a != b);
        let ring = KeyRing::new(key);
        let value = format::encode(&ring, &a, &id, u64::MAX);
        prop_assert!(format::verify(&ring, &b, value.as_bytes(), 0).is_none());
    }

    #[test]
    fn arbitrary_cookie_headers_never_panic(header in proptest::collection::vec(any::<u8>(), 0..512)) {
        let config = SessionConfig::from_secret(&[1; 32]).unwrap();
        let lc = Lifecycle::start(&config, [header.as_slice()], 0);
        prop_assert!(!lc.has_valid_cookie());
        for v in cookie_values(&header, "session") {
            prop_assert!(v.len() <= header.len());
        }
    }

    #[test]
    fn ids_compare_hash_and_print_as_their_text(
        // Lengths around the generated one (22), which is held inline; the
        // second id is another, the same, or the first cut or extended.
        a in "[A-Za-z0-9_-]{20,24}",
        other in "[A-Za-z0-9_-]{20,24}",
        how in 0..4usize,
        cut in 1..20usize,
    ) {
        use std::hash::BuildHasher;
        let b = match how {
            0 => other,
            1 => a.clone(),
            2 => a[..cut].to_string(),
            _ => format!("{a}{}", &other[..cut.min(other.len())]),
        };
        let (x, y) = (SessionId::parse(&a).unwrap(), SessionId::parse(&b).unwrap());
        prop_assert_eq!(x.as_str(), a.as_str());
        prop_assert_eq!(x.is_generated(), a.len() == 22);
        prop_assert_eq!(x == y, a == b);
        prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        // The text's hash, whichever way the id is held.
        let hasher = std::collections::hash_map::RandomState::new();
        prop_assert_eq!(hasher.hash_one(&x), hasher.hash_one(a.as_str()));
        prop_assert_eq!(hasher.hash_one(&y), hasher.hash_one(b.as_str()));
        prop_assert_eq!(x.clone(), x);
    }

    #[test]
    fn cookie_header_parse_matches_a_plain_split(
        // Any bytes (not UTF-8, >= 0x80), weighted to the separators and to
        // `:` (`;` ^ 1, the byte a word-wide search is most likely to
        // confuse), in headers long enough to put each at every offset of
        // the 8-byte scan.
        header in proptest::collection::vec(
            prop_oneof![
                4 => Just(b';'),
                2 => Just(b'='),
                1 => Just(b':'),
                1 => Just(b'"'),
                1 => Just(b' '),
                1 => Just(b'\t'),
                6 => any::<u8>(),
            ],
            0..200,
        ),
    ) {
        let got: Vec<_> = parse_cookie_header(&header).collect();
        prop_assert_eq!(got, reference_cookie_pairs(&header));
    }

    #[test]
    fn a_valid_cookie_survives_any_surrounding_cookies(
        before in "([a-z]{1,5}=[a-z0-9]{0,5}; ){0,4}", after in "(; [a-z]{1,5}=[a-z0-9]{0,5}){0,4}",
    ) {
        let config = SessionConfig::from_secret(&[1; 32]).unwrap();
        let id = SessionId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let value = format::encode(config.keys(), "session", &id, u64::MAX);
        let header = format!("{before}session={value}{after}");
        let lc = Lifecycle::start(&config, [header.as_bytes()], 0);
        prop_assert_eq!(lc.incoming_id(), Some(&id));
    }

    /// Every finite double reads back as itself from the stores' JSON
    /// texts: one field (Redis, Upstash) and a whole record (KV, cookie).
    /// What a request's increments return is what the store ends up with
    /// (`Changes::apply_to` on the record it loaded), whatever the deltas:
    /// near the ends of i64 too, where deltas summed on their own overflow.
    #[test]
    fn a_requests_increments_store_what_it_saw(
        start in prop_oneof![Just(None), any::<i64>().prop_map(Some)],
        deltas in proptest::collection::vec(int(), 1..6),
    ) {
        let mut record = edge_session::Record::new();
        if let Some(n) = start {
            record.insert("n".into(), n.into());
        }
        let mut s = edge_session::SessionData::from_record(record.clone());
        for by in deltas {
            // An increment whose sum would leave i64 is refused, unchanged.
            let before = s.get::<i64>("n").unwrap();
            if s.increment("n", by).is_err() {
                prop_assert_eq!(s.get::<i64>("n").unwrap(), before);
            }
        }
        s.changes().apply_to(&mut record);
        prop_assert_eq!(record.get("n"), s.record().get("n"));
    }

    /// The same for any mix of a request's inserts, removes and increments
    /// of a few keys, over any starting record: what the handler ends up
    /// seeing is what `Changes::apply_to` (so every store) makes of the
    /// record it loaded.
    #[test]
    fn a_requests_changes_store_what_it_saw(
        start in proptest::collection::vec((0usize..3, value()), 0..3),
        ops in proptest::collection::vec((0usize..3, op()), 1..12),
    ) {
        const KEYS: [&str; 3] = ["a", "b", "c"];
        let mut record = edge_session::Record::new();
        for (k, v) in start {
            record.insert(KEYS[k].into(), v);
        }
        let mut s = edge_session::SessionData::from_record(record.clone());
        for (k, op) in ops {
            match op {
                Op::Insert(v) => {
                    s.insert_value(KEYS[k], v);
                }
                Op::Remove => {
                    s.remove_value(KEYS[k]);
                }
                // Refused (not an integer, or the sum leaves i64): no change.
                Op::Increment(by) => {
                    let _ = s.increment(KEYS[k], by);
                }
            }
        }
        s.changes().apply_to(&mut record);
        prop_assert_eq!(&record, s.record());
    }

    #[test]
    fn every_float_survives_the_stores_json(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let value = serde_json::json!(x);
        let text = edge_session::store::encode_field(&value).unwrap();
        let record = edge_session::store::decode_fields([("f", &text)]).unwrap();
        prop_assert_eq!(record["f"].as_f64(), Some(x), "{}", text);
        let whole = edge_session::store::decode_record(edge_session::store::encode_record(&record).unwrap().as_bytes()).unwrap();
        prop_assert_eq!(whole, record);
    }
}

/// The `Cookie` header's pairs as the parser's documentation states them,
/// written the plain way: split on `;`, trim, cut at the first `=`, unquote.
fn reference_cookie_pairs(header: &[u8]) -> Vec<(&[u8], &[u8])> {
    fn trim(s: &[u8]) -> &[u8] {
        let is_space = |b: &u8| *b == b' ' || *b == b'\t';
        let start = s.iter().position(|b| !is_space(b)).unwrap_or(s.len());
        let end = s
            .iter()
            .rposition(|b| !is_space(b))
            .map_or(start, |e| e + 1);
        &s[start..end.max(start)]
    }
    header
        .split(|&b| b == b';')
        .filter_map(|piece| {
            let piece = trim(piece);
            let eq = piece.iter().position(|&b| b == b'=')?;
            let mut value = trim(&piece[eq + 1..]);
            if value.len() >= 2 && value.starts_with(b"\"") && value.ends_with(b"\"") {
                value = &value[1..value.len() - 1];
            }
            Some((trim(&piece[..eq]), value))
        })
        .collect()
}
