//! The core suite. The same file runs natively (`cargo test`) and, compiled
//! to wasm32, in headless Chromium (`cargo test --target wasm32-unknown-unknown`,
//! through wasm-bindgen-test), so both runtimes are held to the same rules.
#![allow(
    clippy::unwrap_used,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    missing_docs
)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use edge_session::adapter::{Action, Lifecycle, Outcome, SessionManager};
use edge_session::cookie::{cookie_values, parse_cookie_header};
use edge_session::testing::{Calls, CountingStore, block_on_ready, conformance};
use edge_session::{
    CookieStore, Error, Expiry, Key, KeyRing, MemoryStore, SameSite, SessionConfig, SessionData,
    SessionExpiry, SessionId, SessionStore, format,
};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const T0: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

// ---------------------------------------------------------------- helpers

fn config() -> SessionConfig {
    SessionConfig::from_secret(&[0x5a; 32]).unwrap()
}

/// A memory store on a clock the test moves, wrapped in a counter.
fn memory() -> (CountingStore<MemoryStore>, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(T0));
    let c = clock.clone();
    let store = MemoryStore::with_clock(move || c.load(Ordering::SeqCst));
    (CountingStore::new(store), clock)
}

/// Store calls: the lifecycle never calls `save` (whole-record overwrite);
/// changes go through `update`.
fn calls(
    load: usize,
    create: usize,
    update: usize,
    delete: usize,
    touch: usize,
    cycle: usize,
) -> Calls {
    Calls {
        load,
        create,
        save: 0,
        delete,
        update,
        touch,
        cycle,
    }
}

/// The `name=value` part of a Set-Cookie.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

fn attrs(set_cookie: &str) -> Vec<String> {
    set_cookie.split("; ").skip(1).map(String::from).collect()
}

fn max_age(set_cookie: &str) -> Option<u64> {
    attrs(set_cookie)
        .iter()
        .find_map(|a| a.strip_prefix("Max-Age=").map(|v| v.parse().unwrap()))
}

/// Runs one request: start from `cookie` (a `name=value` pair), let
/// `handler` act, commit. Returns the commit.
fn request<S: SessionStore>(
    config: &SessionConfig,
    store: &S,
    cookie: Option<&str>,
    now: u64,
    handler: impl FnOnce(&mut Lifecycle, &S),
) -> edge_session::adapter::Commit {
    let headers: Vec<&[u8]> = cookie.map(str::as_bytes).into_iter().collect();
    let mut lc = Lifecycle::start(config, headers, now);
    handler(&mut lc, store);
    block_on_ready(lc.commit(config, store, now)).unwrap()
}

fn write_data<S: SessionStore>(lc: &mut Lifecycle, store: &S) {
    block_on_ready(lc.load(store))
        .unwrap()
        .insert("data", "session_data")
        .unwrap();
}

fn read_data<S: SessionStore>(lc: &mut Lifecycle, store: &S) -> Option<String> {
    block_on_ready(lc.load(store)).unwrap().get("data").unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------- vectors

#[test]
fn rfc4231_hmac_sha256_vectors() {
    // (key, data, tag) from RFC 4231 section 4; case 5's tag is truncated to 128 bits.
    let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
        (vec![0x0b; 20], b"Hi There".to_vec(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (vec![0xaa; 20], vec![0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), vec![0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (vec![0x0c; 20], b"Test With Truncation".to_vec(), "a3b6167473100ee06e0c796c2955552b"),
        (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (vec![0xaa; 131], b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ];
    for (i, (key, data, tag)) in cases.iter().enumerate() {
        let tag = hex(tag);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        if tag.len() == 32 {
            assert!(mac.clone().verify_slice(&tag).is_ok(), "case {}", i + 1);
        } else {
            assert!(
                mac.clone().verify_truncated_left(&tag).is_ok(),
                "case {}",
                i + 1
            );
        }
        let mut wrong = tag.clone();
        wrong[0] ^= 1;
        assert!(
            mac.verify_truncated_left(&wrong).is_err(),
            "case {} must reject",
            i + 1
        );
    }
}

struct Vector {
    key: Vec<u8>,
    name: String,
    id: String,
    expires: u64,
    deadline: Option<u64>,
    mode: Option<SessionExpiry>,
    value: String,
}

fn readme_vectors() -> Vec<Vector> {
    let readme = include_str!("../../../README.md");
    let start = readme.find("<!-- vectors:begin -->").unwrap();
    let end = readme.find("<!-- vectors:end -->").unwrap();
    let vectors: Vec<Vector> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("key="))
        .map(|line| {
            let field = |k: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(k).and_then(|f| f.strip_prefix('=')))
                    .unwrap()
                    .to_string()
            };
            let optional = |k: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(k).and_then(|f| f.strip_prefix('=')))
                    .map(String::from)
            };
            Vector {
                key: hex(&field("key")),
                name: field("name"),
                id: field("id"),
                expires: field("expires").parse().unwrap(),
                deadline: optional("deadline").map(|d| d.parse().unwrap()),
                mode: optional("mode").map(|m| match m.as_str() {
                    "d" => SessionExpiry::Default,
                    "b" => SessionExpiry::BrowserSession,
                    p => SessionExpiry::Persistent(p[1..].parse().unwrap()),
                }),
                value: field("value"),
            }
        })
        .collect();
    assert!(
        vectors.len() >= 7 && vectors.iter().any(|v| v.mode.is_some()),
        "the README must keep its cookie-format vectors, v1 and v2"
    );
    vectors
}

#[test]
fn readme_cookie_format_vectors() {
    for v in readme_vectors() {
        let ring = KeyRing::new(Key::from_bytes(&v.key));
        let id = SessionId::parse(&v.id).unwrap();
        let mode = v.mode.unwrap_or_default();
        let deadline = v.deadline.filter(|d| *d != 0);
        assert_eq!(
            format::encode_full(&ring, &v.name, &id, v.expires, deadline, mode),
            v.value,
            "encode {}",
            v.value
        );
        if v.mode.is_none() {
            assert_eq!(format::encode(&ring, &v.name, &id, v.expires), v.value);
        }
        let ok = format::verify(&ring, &v.name, v.value.as_bytes(), v.expires - 1).unwrap();
        assert_eq!(
            (ok.id, ok.expires, ok.deadline, ok.mode),
            (id, v.expires, deadline, mode)
        );
        // Expired at its own expiry second.
        assert!(format::verify(&ring, &v.name, v.value.as_bytes(), v.expires).is_none());
        // The name is bound: the same value under another name fails.
        assert!(format::verify(&ring, "other", v.value.as_bytes(), 0).is_none());
        // Another key fails.
        let other = KeyRing::new(Key::from_bytes(&[0xee; 32]));
        assert!(format::verify(&other, &v.name, v.value.as_bytes(), 0).is_none());
    }
}

#[test]
fn readme_cookie_store_vector_decodes_to_its_data() {
    let v = readme_vectors()
        .into_iter()
        .find(|v| v.id.starts_with("eyJ"))
        .expect("the cookie-store vector");
    let id = SessionId::parse(&v.id).unwrap();
    let record = block_on_ready(CookieStore::new().load(&id))
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(record),
        serde_json::json!({"data": "session_data"})
    );
}

// ---------------------------------------------------------------- keys and ids

#[test]
fn short_keys_are_refused_with_a_clear_error() {
    for len in [0, 1, 16, 31] {
        match Key::try_from_bytes(&vec![1; len]) {
            Err(Error::KeyTooShort { len: l }) => assert_eq!(l, len),
            other => panic!("{len}: {other:?}"),
        }
    }
    let msg = Key::try_from_bytes(b"short").unwrap_err().to_string();
    assert!(msg.contains("5 bytes") && msg.contains("32"), "{msg}");
    assert!(Key::try_from_bytes(&[1; 32]).is_ok());
    assert!(matches!(
        SessionConfig::from_secret(b"short"),
        Err(Error::KeyTooShort { .. })
    ));
    assert!(matches!(KeyRing::from_keys([]), Err(Error::NoKeys)));
}

#[test]
fn key_debug_is_redacted_and_eq_compares_bytes() {
    let key = Key::from_bytes(b"super-secret-key-material-0123456789");
    let ring = KeyRing::new(key.clone());
    for printed in [
        format!("{key:?}"),
        format!("{ring:?}"),
        format!("{:?}", SessionConfig::new(ring)),
    ] {
        assert!(!printed.contains("super-secret"), "{printed}");
        assert!(printed.contains("redacted"), "{printed}");
    }
    assert_eq!(
        key,
        Key::from_bytes(b"super-secret-key-material-0123456789")
    );
    assert_ne!(
        key,
        Key::from_bytes(b"super-secret-key-material-0123456788")
    );
    assert_ne!(
        key,
        Key::from_bytes(b"super-secret-key-material-01234567890")
    );
}

#[test]
fn ids_are_128_bit_and_distinct() {
    let config = config();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let id = SessionId::generate(config.rng()).unwrap();
        assert_eq!(id.as_str().len(), 22);
        assert!(SessionId::parse(id.as_str()).is_some());
        assert!(seen.insert(id));
    }
    let id = SessionId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
    assert!(
        !format!("{id:?}").contains("AAEC"),
        "ids must not reach logs through Debug"
    );
}

#[test]
fn session_id_parse_table() {
    let long = "a".repeat(4096);
    let too_long = "a".repeat(4097);
    let cases: &[(&str, bool)] = &[
        ("abc", true),
        ("A-Z_a-z0-9", true),
        (&long, true),
        ("", false),
        (&too_long, false),
        ("a.b", false),
        ("a b", false),
        ("a=", false),
        ("a+b/c", false),
        ("\u{e9}", false),
    ];
    for (s, ok) in cases {
        assert_eq!(SessionId::parse(s).is_some(), *ok, "{s:?}");
    }
}

#[test]
fn rotated_keys_verify_and_retired_keys_do_not() {
    let old = Key::from_bytes(&[1; 32]);
    let new = Key::from_bytes(&[2; 32]);
    let id = SessionId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
    let old_cookie = format::encode(&KeyRing::new(old.clone()), "session", &id, T0 + DAY);

    let rotating = KeyRing::new(new.clone()).with_previous(old);
    assert!(format::verify(&rotating, "session", old_cookie.as_bytes(), T0).is_some());
    // New cookies are signed with the new key only.
    let new_cookie = format::encode(&rotating, "session", &id, T0 + DAY);
    assert_eq!(
        new_cookie,
        format::encode(&KeyRing::new(new.clone()), "session", &id, T0 + DAY)
    );

    let retired = KeyRing::new(new);
    assert!(format::verify(&retired, "session", old_cookie.as_bytes(), T0).is_none());
    assert!(format::verify(&retired, "session", new_cookie.as_bytes(), T0).is_some());
}

// ---------------------------------------------------------------- the cookie value

#[test]
fn verify_rejects_malformed_values() {
    let ring = KeyRing::new(Key::from_bytes(&[3; 32]));
    let id = SessionId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
    let good = format::encode(&ring, "session", &id, T0 + 100);
    let tag = good.rsplit('.').next().unwrap();
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("v1".into(), "version only"),
        (good.replacen("v1.", "v2.", 1), "other version"),
        (good.replacen("v1.", "", 1), "no version"),
        (good[..good.len() - 1].into(), "short tag"),
        (format!("{good}A"), "long tag"),
        (
            format!("{}=", &good[..good.len() - 1]),
            "padding char in tag",
        ),
        (
            format!("v1.{}.0{}.{tag}", id.as_str(), T0 + 100),
            "leading zero in expiry",
        ),
        (
            format!("v1.{}.{}.{tag}", id.as_str(), "+1700000100"),
            "signed expiry",
        ),
        (format!("v1..{}.{tag}", T0 + 100), "empty id"),
        (format!("v1.a.b.{}.{tag}", T0 + 100), "dot in id"),
        (format!("v1.{}.{tag}", id.as_str()), "no expiry"),
        (good.replace('.', ":"), "other separator"),
        (format!(" {good}"), "leading space"),
        (format!("{}.{}", good, "x".repeat(5000)), "huge"),
    ];
    for (value, why) in cases {
        assert!(
            format::verify(&ring, "session", value.as_bytes(), T0).is_none(),
            "{why}: {value}"
        );
    }
    assert!(format::verify(&ring, "session", good.as_bytes(), T0).is_some());
    // Non-canonical base64: the last character differs only in the unused low bits.
    let last = good.as_bytes()[good.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet.iter().position(|&c| c == last).unwrap();
    for delta in 1..4 {
        let mut bytes = good.clone().into_bytes();
        let n = bytes.len();
        bytes[n - 1] = alphabet[(pos & !3) | ((pos + delta) & 3)];
        assert!(
            format::verify(&ring, "session", &bytes, T0).is_none(),
            "non-canonical tag"
        );
    }
}

// ---------------------------------------------------------------- Cookie header parsing

#[test]
fn cookie_header_parse_table() {
    type Pairs = Vec<(&'static [u8], &'static [u8])>;
    let cases: Vec<(&[u8], Pairs)> = vec![
        (b"", vec![]),
        (b"a=1", vec![(b"a", b"1")]),
        (b"a=1; b=2", vec![(b"a", b"1"), (b"b", b"2")]),
        (b"a=1;b=2", vec![(b"a", b"1"), (b"b", b"2")]),
        (b"  a = 1 ;\tb=2\t", vec![(b"a", b"1"), (b"b", b"2")]),
        (b"a=\"quoted\"", vec![(b"a", b"quoted")]),
        (b"a=\"", vec![(b"a", b"\"")]),
        (b"a=\"\"", vec![(b"a", b"")]),
        (b"a=", vec![(b"a", b"")]),
        (b"a=b=c", vec![(b"a", b"b=c")]),
        (b"novalue; a=1", vec![(b"a", b"1")]),
        (b";;; ;a=1;;", vec![(b"a", b"1")]),
        (b"=1", vec![(b"", b"1")]),
        (b"a=\xff\xfe; b=2", vec![(b"a", b"\xff\xfe"), (b"b", b"2")]),
        (b"a=1; a=2", vec![(b"a", b"1"), (b"a", b"2")]),
    ];
    for (header, want) in cases {
        let got: Pairs = parse_cookie_header(header)
            .map(|(n, v)| (leak(n), leak(v)))
            .collect();
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(header));
    }
}

fn leak(b: &[u8]) -> &'static [u8] {
    Box::leak(b.to_vec().into_boxed_slice())
}

#[test]
fn cookie_values_match_the_name_exactly() {
    let header = b"Session=A; session=b; session_x=c; xsession=d; session=e";
    let got: Vec<&[u8]> = cookie_values(header, "session").collect();
    assert_eq!(got, [&b"b"[..], &b"e"[..]]);
}

// ---------------------------------------------------------------- Set-Cookie building

#[test]
fn set_cookie_defaults_are_secure() {
    let (store, _) = memory();
    let config = config();
    let commit = request(&config, &store, None, T0, write_data);
    let sc = commit.set_cookie.unwrap();
    let a = attrs(&sc);
    for want in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(a.iter().any(|x| x == want), "{want} missing from {sc}");
    }
    assert_eq!(max_age(&sc), Some(14 * DAY));
    assert!(
        a.iter()
            .any(|x| x == "Expires=Tue, 28 Nov 2023 22:13:20 GMT"),
        "{sc}"
    );
    assert!(!sc.contains("Domain"), "{sc}");
    assert!(!sc.contains("Partitioned"), "{sc}");
}

#[test]
fn set_cookie_attribute_table() {
    let base = config();
    let cases: Vec<(SessionConfig, &str)> = vec![
        (
            base.clone(),
            "s=v; Path=/; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:10 GMT; Secure; HttpOnly; SameSite=Lax",
        ),
        (
            base.clone().with_same_site(Some(SameSite::Strict)),
            "s=v; Path=/; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:10 GMT; Secure; HttpOnly; SameSite=Strict",
        ),
        (
            base.clone()
                .with_same_site(Some(SameSite::None))
                .with_partitioned(true),
            "s=v; Path=/; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:10 GMT; Secure; HttpOnly; SameSite=None; Partitioned",
        ),
        (
            base.clone().with_same_site(None).with_http_only(false),
            "s=v; Path=/; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:10 GMT; Secure",
        ),
        (
            base.clone().with_secure(false),
            "s=v; Path=/; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:10 GMT; HttpOnly; SameSite=Lax",
        ),
        (
            base.clone()
                .with_path("/app")
                .with_domain(Some("example.com".into())),
            "s=v; Path=/app; Domain=example.com; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:10 GMT; Secure; HttpOnly; SameSite=Lax",
        ),
    ];
    for (config, want) in cases {
        config.validate().unwrap();
        let c = config.with_cookie_name("s");
        assert_eq!(c.cookie().set_cookie("v", Some(10), 0), want);
    }
    // Browser-session cookies carry no Max-Age/Expires.
    assert_eq!(
        base.cookie().set_cookie("v", None, T0),
        "session=v; Path=/; Secure; HttpOnly; SameSite=Lax"
    );
    // HTTP dates across the calendar.
    for (now, date) in [
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
        (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
    ] {
        let sc = base.cookie().set_cookie("v", Some(0), now);
        assert!(sc.contains(&format!("Expires={date};")), "{sc}");
    }
}

#[test]
fn removal_cookie_repeats_attributes() {
    let config = config()
        .with_cookie_name("__Secure-sid")
        .with_path("/app")
        .with_domain(Some("example.com".into()))
        .with_same_site(Some(SameSite::Strict))
        .with_partitioned(true);
    config.validate().unwrap();
    assert_eq!(
        config.cookie().removal(),
        "__Secure-sid=; Path=/app; Domain=example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Strict; Partitioned"
    );
}

#[test]
fn host_prefix_rules() {
    let host = || config().with_cookie_name("__Host-session");
    host().validate().unwrap();
    for bad in [
        host().with_secure(false),
        host().with_path("/app"),
        host().with_domain(Some("example.com".into())),
    ] {
        let err = bad.validate().unwrap_err();
        assert!(err.to_string().contains("__Host-"), "{err}");
    }
}

#[test]
fn config_validation_table() {
    let cases: Vec<(SessionConfig, bool)> = vec![
        (config(), true),
        (config().with_cookie_name(""), false),
        (config().with_cookie_name("a b"), false),
        (config().with_cookie_name("a;b"), false),
        (config().with_cookie_name("a=b"), false),
        (config().with_cookie_name("s\u{e9}"), false),
        (config().with_path("app"), false),
        (config().with_path("/a;b"), false),
        // Attribute injection through any setting is refused.
        (
            config().with_path("/app; Domain=attacker.example; SameSite=None"),
            false,
        ),
        (config().with_path("/app\r\nSet-Cookie: x=y"), false),
        (config().with_path("/app\u{7f}"), false),
        (
            config().with_domain(Some("example.com; Secure".into())),
            false,
        ),
        (
            config().with_domain(Some("example.com,evil.com".into())),
            false,
        ),
        (config().with_cookie_name("s; Domain=evil"), false),
        (config().with_domain(Some("".into())), false),
        (config().with_domain(Some("ex ample.com".into())), false),
        (
            config().with_cookie_name("__Secure-s").with_secure(false),
            false,
        ),
        (
            config()
                .with_same_site(Some(SameSite::None))
                .with_secure(false),
            false,
        ),
        (config().with_partitioned(true).with_secure(false), false),
        (config().with_secure(false), true),
        (config().with_expiry(Expiry::OnInactivity(0)), false),
        (
            config()
                .with_expiry(Expiry::OnInactivity(60))
                .with_refresh_threshold(61),
            false,
        ),
    ];
    for (i, (c, ok)) in cases.into_iter().enumerate() {
        assert_eq!(c.validate().is_ok(), ok, "case {i}: {:?}", c.validate());
    }
}

// ---------------------------------------------------------------- Session

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    roles: Vec<String>,
}

#[test]
fn session_typed_access_and_change_tracking() {
    let mut s = SessionData::default();
    assert!(!s.is_changed());
    let user = User {
        id: 7,
        name: "ada".into(),
        roles: vec!["admin".into()],
    };
    s.insert("user", &user).unwrap();
    assert_eq!(s.get::<User>("user").unwrap(), Some(user));
    assert!(matches!(s.get::<u32>("user"), Err(Error::Json(_))));
    assert_eq!(s.get::<u32>("absent").unwrap(), None);

    let mut loaded = SessionData::from_record(s.into_record());
    loaded
        .insert(
            "user",
            User {
                id: 7,
                name: "ada".into(),
                roles: vec!["admin".into()],
            },
        )
        .unwrap();
    assert!(!loaded.is_changed(), "an equal value is not a change");
    assert_eq!(loaded.remove_value("absent"), None);
    assert!(
        !loaded.is_changed(),
        "removing a missing key is not a change"
    );
    loaded.insert("n", 1).unwrap();
    assert!(loaded.is_changed());

    let mut loaded = SessionData::from_record(loaded.into_record());
    assert_eq!(loaded.remove::<u32>("n").unwrap(), Some(1));
    assert!(loaded.is_changed());
    assert_eq!(loaded.len(), 1);
    assert!(loaded.contains_key("user"));
    loaded.clear();
    assert!(loaded.is_empty() && loaded.is_cleared());

    // A value that cannot be JSON leaves the session untouched.
    let mut s = SessionData::default();
    let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    assert!(matches!(s.insert("bad", bad), Err(Error::Json(_))));
    assert!(!s.is_changed() && s.is_empty());
}

// ---------------------------------------------------------------- the lifecycle

#[test]
fn no_cookie_and_no_write_means_no_store_call_and_no_cookie() {
    let (store, _) = memory();
    let config = config();
    // The handler reads the session but writes nothing.
    let commit = request(&config, &store, None, T0, |lc, s| {
        assert_eq!(read_data(lc, s), None);
    });
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    // The handler never touches the session.
    let commit = request(&config, &store, None, T0, |_, _| {});
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    // Insert then remove: still empty, no id minted.
    let commit = request(&config, &store, None, T0, |lc, s| {
        let session = block_on_ready(lc.load(s)).unwrap();
        session.insert("k", 1).unwrap();
        session.remove_value("k");
    });
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    assert_eq!(store.calls().total(), 0);
}

#[test]
fn bad_cookies_mean_a_fresh_session_and_no_store_call() {
    let (store, _) = memory();
    let config = config();
    let commit = request(&config, &store, None, T0, write_data);
    let good = pair(commit.set_cookie.as_deref().unwrap()).to_string();
    let value = good.strip_prefix("session=").unwrap();
    store.reset();

    let other_key = SessionConfig::from_secret(&[0x11; 32]).unwrap();
    let foreign = request(&other_key, &store, None, T0, write_data)
        .set_cookie
        .unwrap();
    store.reset();
    let mut tampered = value.as_bytes().to_vec();
    tampered[5] ^= 0x01;
    let huge = format!("session={}", "A".repeat(100_000));
    let headers: Vec<Vec<u8>> = vec![
        b"session=garbage".to_vec(),
        b"session=v1.!!!.1.2".to_vec(),
        [b"session=".as_slice(), &tampered].concat(),
        pair(&foreign).as_bytes().to_vec(),
        huge.into_bytes(),
        b"session=\xff\xfe\xfd".to_vec(),
        [b"session=".as_slice(), value.as_bytes(), b"\xff"].concat(),
        format!("other={value}").into_bytes(),
        b"\x00\x01;;;==;".to_vec(),
    ];
    for header in &headers {
        let mut lc = Lifecycle::start(&config, [header.as_slice()], T0 + 1);
        assert!(
            !lc.has_valid_cookie(),
            "{:?}",
            String::from_utf8_lossy(&header[..header.len().min(60)])
        );
        assert!(block_on_ready(lc.load(&store)).unwrap().is_empty());
        let commit = block_on_ready(lc.commit(&config, &store, T0 + 1)).unwrap();
        assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    }
    assert_eq!(
        store.calls().total(),
        0,
        "no store call for an invalid cookie"
    );

    // Expired: the signed expiry wins even if the browser still sends it.
    let lc = Lifecycle::start(&config, [good.as_bytes()], T0 + 14 * DAY);
    assert!(!lc.has_valid_cookie());
    let lc = Lifecycle::start(&config, [good.as_bytes()], T0 + 14 * DAY - 1);
    assert!(lc.has_valid_cookie());
}

#[test]
fn duplicated_cookies_first_valid_wins() {
    let (store, _) = memory();
    let config = config();
    let a = pair(
        request(&config, &store, None, T0, write_data)
            .set_cookie
            .as_deref()
            .unwrap(),
    )
    .to_string();
    let b = request(&config, &store, None, T0, |lc, s| {
        block_on_ready(lc.load(s))
            .unwrap()
            .insert("data", "second")
            .unwrap();
    });
    let b = pair(b.set_cookie.as_deref().unwrap()).to_string();
    let header = format!("session=junk; {b}; {a}");
    let mut lc = Lifecycle::start(&config, [header.as_bytes()], T0);
    assert_eq!(read_data(&mut lc, &store).as_deref(), Some("second"));
    // Split over several Cookie headers (HTTP/2).
    let mut lc = Lifecycle::start(
        &config,
        [&b"session=junk"[..], a.as_bytes(), b.as_bytes()],
        T0,
    );
    assert_eq!(read_data(&mut lc, &store).as_deref(), Some("session_data"));
    // Only the first MAX_COOKIE_CANDIDATES are tried.
    let many = format!(
        "{}{a}",
        "session=junk; ".repeat(edge_session::engine::MAX_COOKIE_CANDIDATES)
    );
    assert!(!Lifecycle::start(&config, [many.as_bytes()], T0).has_valid_cookie());
}

#[test]
fn lifecycle_reads_only_cookie_headers() {
    // The API takes Cookie header values only: an id in a URL or another
    // header cannot reach it. A valid value under the wrong name is ignored.
    let (store, _) = memory();
    let config = config();
    let set = request(&config, &store, None, T0, write_data)
        .set_cookie
        .unwrap();
    let value = pair(&set).strip_prefix("session=").unwrap();
    assert!(!Lifecycle::start(&config, [format!("sid={value}").as_bytes()], T0).has_valid_cookie());
    assert!(!Lifecycle::start(&config, [value.as_bytes()], T0).has_valid_cookie());
}

#[test]
fn valid_cookie_loads_lazily_at_most_once() {
    let (store, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.reset();

    // Not touched: no load.
    let commit = request(&config, &store, Some(&cookie), T0 + 1, |_, _| {});
    assert_eq!(store.calls(), calls(0, 0, 0, 0, 0, 0));
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));

    // Touched three times: one load, no write, no cookie.
    let commit = request(&config, &store, Some(&cookie), T0 + 1, |lc, s| {
        assert!(!lc.is_loaded());
        for _ in 0..3 {
            assert_eq!(read_data(lc, s).as_deref(), Some("session_data"));
        }
        assert!(lc.is_loaded());
    });
    assert_eq!(store.calls(), calls(1, 0, 0, 0, 0, 0));
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
}

#[test]
fn changed_session_is_saved_once_with_ttl_and_cookie() {
    let (store, clock) = memory();
    let config = config();
    let commit = request(&config, &store, None, T0, write_data);
    assert_eq!(commit.action, Action::Created);
    assert_eq!(store.calls(), calls(0, 1, 0, 0, 0, 0));
    let cookie = pair(commit.set_cookie.as_deref().unwrap()).to_string();
    let id = Lifecycle::start(&config, [cookie.as_bytes()], T0)
        .incoming_id()
        .unwrap()
        .clone();
    assert_eq!(store.inner().ttl(&id), Some(14 * DAY));
    store.reset();

    // An equal value: no write.
    clock.store(T0 + 10, Ordering::SeqCst);
    let commit = request(&config, &store, Some(&cookie), T0 + 10, write_data);
    assert_eq!(
        (commit.action, commit.set_cookie.is_none()),
        (Action::None, true)
    );
    assert_eq!(store.calls(), calls(1, 0, 0, 0, 0, 0));
    store.reset();

    // A different value: one update with the full TTL, a new Set-Cookie, same id.
    let commit = request(&config, &store, Some(&cookie), T0 + 10, |lc, s| {
        block_on_ready(lc.load(s))
            .unwrap()
            .insert("data", "other")
            .unwrap();
    });
    assert_eq!(commit.action, Action::Saved);
    assert_eq!(store.calls(), calls(1, 0, 1, 0, 0, 0));
    let sc = commit.set_cookie.unwrap();
    assert_eq!(max_age(&sc), Some(14 * DAY));
    let again = Lifecycle::start(&config, [pair(&sc).as_bytes()], T0 + 10);
    assert_eq!(again.incoming_id(), Some(&id));
    assert_eq!(store.inner().ttl(&id), Some(14 * DAY));
}

#[test]
fn clear_deletes_record_and_old_cookie_is_dead() {
    let (store, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.reset();

    let commit = request(&config, &store, Some(&cookie), T0 + 1, |lc, s| {
        block_on_ready(lc.load(s)).unwrap().clear();
    });
    assert_eq!(commit.action, Action::Deleted);
    assert_eq!(
        commit.set_cookie.as_deref(),
        Some(config.cookie().removal().as_str())
    );
    assert_eq!(store.calls(), calls(1, 0, 0, 1, 0, 0));
    assert!(store.inner().is_empty());

    // The old cookie, replayed, finds nothing; writing then mints a new id.
    store.reset();
    let commit = request(&config, &store, Some(&cookie), T0 + 2, |lc, s| {
        assert_eq!(read_data(lc, s), None);
        write_data(lc, s);
    });
    assert_eq!(commit.action, Action::Created);
    assert_ne!(
        pair(commit.set_cookie.as_deref().unwrap()),
        cookie,
        "never reuse a client-supplied id"
    );
}

#[test]
fn clear_without_load_deletes_without_reading() {
    let (store, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.reset();
    let commit = request(&config, &store, Some(&cookie), T0 + 1, |lc, _| lc.clear());
    assert_eq!(commit.action, Action::Deleted);
    assert_eq!(store.calls(), calls(0, 0, 0, 1, 0, 0));
    // Without a cookie, clear is a no-op.
    store.reset();
    let commit = request(&config, &store, None, T0 + 1, |lc, _| lc.clear());
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    assert_eq!(store.calls().total(), 0);
}

#[test]
fn removing_the_last_key_deletes_the_session() {
    let (store, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    let commit = request(&config, &store, Some(&cookie), T0 + 1, |lc, s| {
        block_on_ready(lc.load(s)).unwrap().remove_value("data");
    });
    assert_eq!(commit.action, Action::Deleted);
    assert!(store.inner().is_empty());
}

#[test]
fn cycle_id_moves_data_and_kills_old_id() {
    let (store, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.reset();
    let commit = request(&config, &store, Some(&cookie), T0 + 1, |lc, s| {
        let session = block_on_ready(lc.load(s)).unwrap();
        session.insert("user", 42).unwrap();
        session.cycle_id();
    });
    assert_eq!(commit.action, Action::Cycled);
    assert_eq!(store.calls(), calls(1, 0, 0, 0, 0, 1));
    let new_cookie = pair(commit.set_cookie.as_deref().unwrap()).to_string();
    assert_ne!(new_cookie, cookie);
    let mut lc = Lifecycle::start(&config, [new_cookie.as_bytes()], T0 + 2);
    let session = block_on_ready(lc.load(&store)).unwrap();
    assert_eq!(session.get::<u32>("user").unwrap(), Some(42));
    assert_eq!(
        session.get::<String>("data").unwrap().as_deref(),
        Some("session_data")
    );
    let mut old = Lifecycle::start(&config, [cookie.as_bytes()], T0 + 2);
    assert!(old.has_valid_cookie(), "the old cookie is still signed...");
    assert!(
        block_on_ready(old.load(&store)).unwrap().is_empty(),
        "...but its session is gone"
    );
    assert_eq!(store.inner().len(), 1);
}

#[test]
fn clear_then_write_moves_to_a_new_id() {
    let (store, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.reset();
    let commit = request(&config, &store, Some(&cookie), T0 + 1, |lc, s| {
        let session = block_on_ready(lc.load(s)).unwrap();
        session.clear();
        session.insert("flash", "bye").unwrap();
    });
    // The old record is deleted (the logout sticks), the data goes to a new id.
    assert_eq!(commit.action, Action::Cycled);
    assert_eq!(store.calls(), calls(1, 1, 0, 1, 0, 0));
    let mut lc = Lifecycle::start(
        &config,
        [pair(commit.set_cookie.as_deref().unwrap()).as_bytes()],
        T0 + 2,
    );
    let session = block_on_ready(lc.load(&store)).unwrap();
    assert_eq!(session.get_value("data"), None);
    assert_eq!(
        session.get::<String>("flash").unwrap().as_deref(),
        Some("bye")
    );
}

#[test]
fn sliding_refresh_is_throttled() {
    let (store, clock) = memory();
    let config = config().with_expiry(Expiry::OnInactivity(100));
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.reset();

    // More than half the TTL left: untouched or read-only requests write nothing.
    for now in [T0 + 1, T0 + 30, T0 + 50] {
        clock.store(now, Ordering::SeqCst);
        let commit = request(&config, &store, Some(&cookie), now, |_, _| {});
        assert_eq!(
            (commit.action, commit.set_cookie),
            (Action::None, None),
            "at +{}",
            now - T0
        );
        let commit = request(&config, &store, Some(&cookie), now, |lc, s| {
            read_data(lc, s);
        });
        assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    }
    assert_eq!(store.calls().writes(), 0);

    // Less than half left: an untouched request refreshes with one touch.
    clock.store(T0 + 51, Ordering::SeqCst);
    let commit = request(&config, &store, Some(&cookie), T0 + 51, |_, _| {});
    assert_eq!(commit.action, Action::Refreshed);
    assert_eq!(store.calls(), calls(3, 0, 0, 0, 1, 0));
    let refreshed = commit.set_cookie.unwrap();
    assert_eq!(max_age(&refreshed), Some(100));

    // Once refreshed, the next requests write nothing again.
    store.reset();
    let commit = request(&config, &store, Some(pair(&refreshed)), T0 + 60, |_, _| {});
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));

    // The session outlives the original deadline.
    clock.store(T0 + 140, Ordering::SeqCst);
    let mut lc = Lifecycle::start(&config, [pair(&refreshed).as_bytes()], T0 + 140);
    assert_eq!(read_data(&mut lc, &store).as_deref(), Some("session_data"));

    // A loaded, unchanged session refreshes with a touch too: rewriting the
    // copy it read could roll back a concurrent write.
    store.reset();
    let commit = request(
        &config,
        &store,
        Some(pair(&refreshed)),
        T0 + 140,
        |lc, s| {
            read_data(lc, s);
        },
    );
    assert_eq!(commit.action, Action::Refreshed);
    assert_eq!(store.calls(), calls(1, 0, 0, 0, 1, 0));

    // Inactivity past the TTL ends it.
    let mut lc = Lifecycle::start(&config, [pair(&refreshed).as_bytes()], T0 + 151);
    assert!(!lc.has_valid_cookie());
    assert_eq!(read_data(&mut lc, &store), None);
}

/// The verified contents of a Set-Cookie's value.
fn verified(config: &SessionConfig, set_cookie: &str, now: u64) -> format::VerifiedCookie {
    let value = pair(set_cookie).split_once('=').unwrap().1;
    format::verify(config.keys(), "session", value.as_bytes(), now).expect("the cookie verifies")
}

#[test]
fn remember_me_makes_one_session_persistent_while_others_stay_browser_session() {
    // tower-sessions' set_expiry: by default cookies end with the browser;
    // "remember me" makes one user's cookie persistent for 30 days.
    let (store, clock) = memory();
    let config = config().with_expiry(Expiry::BrowserSession(DAY));
    let month = 30 * DAY;

    let plain = request(&config, &store, None, T0, write_data);
    let plain_cookie = plain.set_cookie.unwrap();
    assert_eq!(max_age(&plain_cookie), None, "browser-session cookie");

    let remembered = request(&config, &store, None, T0, |lc, s| {
        let session = block_on_ready(lc.load(s)).unwrap();
        session.insert("user", "ada").unwrap();
        session.set_expiry(SessionExpiry::Persistent(month));
    });
    let cookie = remembered.set_cookie.unwrap();
    assert_eq!(max_age(&cookie), Some(month), "remember me: persistent");
    let v = verified(&config, &cookie, T0);
    assert_eq!(
        (v.mode, v.deadline),
        (SessionExpiry::Persistent(month), None)
    );
    assert!(pair(&cookie).contains("=v2."), "{cookie}");
    assert_eq!(
        store.inner().ttl(&v.id),
        Some(month),
        "the store keeps it as long"
    );
    // The plain session is untouched by it.
    let p = verified(&config, &plain_cookie, T0);
    assert_eq!(store.inner().ttl(&p.id), Some(DAY));

    // The mode is signed: a client cannot extend it.
    let forged = pair(&cookie).replace(".p2592000.", ".p9999999.");
    assert!(
        format::verify(
            config.keys(),
            "session",
            forged.split_once('=').unwrap().1.as_bytes(),
            T0
        )
        .is_none()
    );

    // Sixteen days later (more than the browser-session idle timeout): the
    // remembered session lives, and slides by its own 30 days.
    let later = T0 + 16 * DAY;
    clock.store(later, Ordering::SeqCst);
    store.reset();
    let commit = request(&config, &store, Some(pair(&cookie)), later, |_, _| {});
    assert_eq!(commit.action, Action::Refreshed);
    let refreshed = commit.set_cookie.unwrap();
    assert_eq!(max_age(&refreshed), Some(month));
    assert_eq!(
        store.calls(),
        calls(0, 0, 0, 0, 1, 0),
        "a refresh is a touch"
    );
    assert_eq!(store.inner().ttl(&v.id), Some(month));
    let mut lc = Lifecycle::start(&config, [pair(&refreshed).as_bytes()], later);
    assert_eq!(
        block_on_ready(lc.load(&store))
            .unwrap()
            .get::<String>("user")
            .unwrap()
            .as_deref(),
        Some("ada")
    );
    // ...while the plain one is gone (its record expired after a day).
    let mut lc = Lifecycle::start(&config, [pair(&plain_cookie).as_bytes()], later);
    assert!(block_on_ready(lc.load(&store)).unwrap().is_empty());

    // Switching back: the cookie is a browser-session one again, the
    // record's TTL the configuration's, the data intact.
    let commit = request(&config, &store, Some(pair(&refreshed)), later, |lc, s| {
        block_on_ready(lc.load(s))
            .unwrap()
            .set_expiry(SessionExpiry::Default);
    });
    assert_eq!(commit.action, Action::Saved);
    let back = commit.set_cookie.unwrap();
    assert_eq!(max_age(&back), None);
    assert_eq!(verified(&config, &back, later).mode, SessionExpiry::Default);
    assert_eq!(store.inner().ttl(&v.id), Some(DAY));

    // And to a browser-session cookie under a persistent configuration.
    let persistent = config.clone().with_expiry(Expiry::OnInactivity(DAY));
    let commit = request(&persistent, &store, None, later, |lc, s| {
        let session = block_on_ready(lc.load(s)).unwrap();
        session.insert("k", 1).unwrap();
        session.set_expiry(SessionExpiry::BrowserSession);
    });
    let c = commit.set_cookie.unwrap();
    assert_eq!(max_age(&c), None);
    assert_eq!(
        verified(&persistent, &c, later).mode,
        SessionExpiry::BrowserSession
    );
}

#[test]
fn idle_and_absolute_timeouts_together() {
    // ASVS 3.3.2 level 2: 100 s idle, 250 s at most, whatever the activity.
    let (store, clock) = memory();
    let config = config().with_expiry(Expiry::IdleAndAbsolute {
        idle: 100,
        absolute: 250,
    });
    let first = request(&config, &store, None, T0, write_data)
        .set_cookie
        .unwrap();
    assert_eq!(max_age(&first), Some(100));
    let v = verified(&config, &first, T0);
    assert_eq!((v.expires, v.deadline), (T0 + 100, Some(T0 + 250)));

    // Activity keeps it alive by the idle timeout, never past the deadline.
    let mut cookie = first;
    for (at, expires) in [(60, 160), (120, 220), (180, 250)] {
        let now = T0 + at;
        clock.store(now, Ordering::SeqCst);
        let commit = request(&config, &store, Some(pair(&cookie)), now, |lc, s| {
            read_data(lc, s);
        });
        assert_eq!(commit.action, Action::Refreshed, "at +{at}");
        cookie = commit.set_cookie.unwrap();
        let v = verified(&config, &cookie, now);
        // A cookie whose expiry reached the deadline is written as v1: its
        // expiry is its deadline.
        assert_eq!(
            (v.expires, v.deadline.unwrap_or(v.expires)),
            (T0 + expires, T0 + 250),
            "at +{at}"
        );
        assert_eq!(max_age(&cookie), Some(T0 + expires - now));
        assert_eq!(store.inner().ttl(&v.id), Some(T0 + expires - now));
    }
    // A write carries the deadline on.
    clock.store(T0 + 200, Ordering::SeqCst);
    let commit = request(&config, &store, Some(pair(&cookie)), T0 + 200, |lc, s| {
        block_on_ready(lc.load(s))
            .unwrap()
            .insert("more", 1)
            .unwrap();
    });
    assert_eq!(commit.action, Action::Saved);
    let v = verified(&config, commit.set_cookie.as_deref().unwrap(), T0 + 200);
    assert_eq!(v.expires, T0 + 250);
    // Activity at the end refreshes nothing past the deadline.
    clock.store(T0 + 240, Ordering::SeqCst);
    let commit = request(&config, &store, Some(pair(&cookie)), T0 + 240, |lc, s| {
        read_data(lc, s);
    });
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    // At the deadline it is over, active or not.
    clock.store(T0 + 250, Ordering::SeqCst);
    let lc = Lifecycle::start(&config, [pair(&cookie).as_bytes()], T0 + 250);
    assert!(
        !lc.has_valid_cookie(),
        "the absolute timeout ends the session"
    );
    assert_eq!(store.inner().ttl(&v.id), None, "and the store forgot it");

    // A login starts a new absolute period.
    let start = T0 + 1000;
    clock.store(start, Ordering::SeqCst);
    let c = request(&config, &store, None, start, write_data)
        .set_cookie
        .unwrap();
    clock.store(start + 90, Ordering::SeqCst);
    let login = request(&config, &store, Some(pair(&c)), start + 90, |lc, s| {
        block_on_ready(lc.load(s)).unwrap().cycle_id();
    });
    assert_eq!(login.action, Action::Cycled);
    let v = verified(&config, login.set_cookie.as_deref().unwrap(), start + 90);
    assert_eq!(v.deadline, Some(start + 90 + 250));

    // Idle alone ends it too.
    clock.store(start + 90 + 101, Ordering::SeqCst);
    let lc = Lifecycle::start(
        &config,
        [pair(login.set_cookie.as_deref().unwrap()).as_bytes()],
        start + 90 + 101,
    );
    assert!(!lc.has_valid_cookie(), "the idle timeout ends the session");
}

#[test]
fn refresh_of_a_missing_record_writes_nothing_and_removes_the_cookie() {
    let (store, clock) = memory();
    let config = config().with_expiry(Expiry::OnInactivity(100));
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    let id = Lifecycle::start(&config, [cookie.as_bytes()], T0)
        .incoming_id()
        .unwrap()
        .clone();
    block_on_ready(store.inner().delete(&id)).unwrap();
    clock.store(T0 + 60, Ordering::SeqCst);
    let commit = request(&config, &store, Some(&cookie), T0 + 60, |_, _| {});
    assert_eq!(
        (commit.action, commit.set_cookie.as_deref()),
        (Action::Gone, Some(config.cookie().removal().as_str()))
    );
    assert!(
        store.inner().is_empty(),
        "a refresh must not recreate a record"
    );
}

#[test]
fn absolute_expiry_is_never_extended() {
    let (store, clock) = memory();
    let config = config().with_expiry(Expiry::Absolute(100));
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.reset();

    // Untouched late in life: no refresh.
    clock.store(T0 + 90, Ordering::SeqCst);
    let commit = request(&config, &store, Some(&cookie), T0 + 90, |_, _| {});
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    // A write keeps the original deadline.
    let commit = request(&config, &store, Some(&cookie), T0 + 90, |lc, s| {
        block_on_ready(lc.load(s)).unwrap().insert("n", 1).unwrap();
    });
    assert_eq!(commit.action, Action::Saved);
    let sc = commit.set_cookie.unwrap();
    assert_eq!(max_age(&sc), Some(10));
    let id = Lifecycle::start(&config, [pair(&sc).as_bytes()], T0 + 90)
        .incoming_id()
        .unwrap()
        .clone();
    assert_eq!(store.inner().ttl(&id), Some(10));
    // At the deadline the cookie is refused and the record is gone.
    clock.store(T0 + 100, Ordering::SeqCst);
    assert!(!Lifecycle::start(&config, [pair(&sc).as_bytes()], T0 + 100).has_valid_cookie());
    assert_eq!(store.inner().ttl(&id), None);
}

#[test]
fn browser_session_cookie_has_no_max_age_but_record_expires() {
    let (store, clock) = memory();
    let config = config().with_expiry(Expiry::BrowserSession(100));
    let sc = request(&config, &store, None, T0, write_data)
        .set_cookie
        .unwrap();
    assert_eq!(max_age(&sc), None);
    assert!(!sc.contains("Expires="), "{sc}");
    let id = Lifecycle::start(&config, [pair(&sc).as_bytes()], T0)
        .incoming_id()
        .unwrap()
        .clone();
    assert_eq!(store.inner().ttl(&id), Some(100));
    // Sliding on the server side.
    clock.store(T0 + 70, Ordering::SeqCst);
    let commit = request(&config, &store, Some(pair(&sc)), T0 + 70, |_, _| {});
    assert_eq!(commit.action, Action::Refreshed);
    assert_eq!(max_age(commit.set_cookie.as_deref().unwrap()), None);
    assert_eq!(store.inner().ttl(&id), Some(100));
}

#[test]
fn store_outage_is_an_error_never_a_silent_empty_session() {
    let (store, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &store, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    store.set_failing(true);

    // Load fails: the handler gets an error, not an empty session it could save over the data.
    let mut lc = Lifecycle::start(&config, [cookie.as_bytes()], T0 + 1);
    let err = block_on_ready(lc.load(&store)).unwrap_err();
    assert!(err.is_store(), "{err}");
    assert!(!lc.is_loaded());
    // Untouched requests do not need the store.
    let commit = request(&config, &store, Some(&cookie), T0 + 1, |_, _| {});
    assert_eq!(commit.action, Action::None);
    // Saving fails with a store error.
    let mut lc = Lifecycle::start(&config, [], T0 + 1);
    block_on_ready(async {
        lc.load(&store).await.unwrap().insert("k", 1).unwrap();
    });
    assert!(
        block_on_ready(lc.commit(&config, &store, T0 + 1))
            .unwrap_err()
            .is_store()
    );

    // Recovery: the same store works again and the data is intact.
    store.set_failing(false);
    let mut lc = Lifecycle::start(&config, [cookie.as_bytes()], T0 + 2);
    assert_eq!(read_data(&mut lc, &store).as_deref(), Some("session_data"));
}

#[test]
fn corrupt_record_is_treated_as_missing_and_reported() {
    // A cookie-store cookie whose (signed) id is not base64url JSON.
    let config = config();
    let store = CountingStore::new(CookieStore::new());
    let id = SessionId::parse("bm90LWpzb24").unwrap(); // "not-json"
    let value = format::encode(config.keys(), "session", &id, T0 + 100);
    let cookie = format!("session={value}");
    let commit = request(&config, &store, Some(&cookie), T0, |lc, s| {
        assert!(block_on_ready(lc.load(s)).unwrap().is_empty());
    });
    assert!(commit.corrupt_record);
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
}

#[test]
fn cookie_store_lifecycle() {
    let store = CountingStore::new(CookieStore::new());
    let config = config();
    let sc = request(&config, &store, None, T0, write_data)
        .set_cookie
        .unwrap();
    // The data is in the cookie.
    let value = pair(&sc).strip_prefix("session=").unwrap();
    assert_eq!(
        value.split('.').nth(1),
        Some("eyJkYXRhIjoic2Vzc2lvbl9kYXRhIn0")
    );
    // Read back, untouched: no cookie.
    let commit = request(&config, &store, Some(pair(&sc)), T0 + 1, |lc, s| {
        assert_eq!(read_data(lc, s).as_deref(), Some("session_data"));
    });
    assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
    // Clear: removal cookie.
    let commit = request(&config, &store, Some(pair(&sc)), T0 + 1, |lc, s| {
        block_on_ready(lc.load(s)).unwrap().clear();
    });
    assert_eq!(commit.set_cookie, Some(config.cookie().removal()));
    // Tampering with the data in the cookie breaks the signature.
    let forged = pair(&sc).replace("eyJkYXRhIjoic2Vzc2lvbl9kYXRhIn0", "eyJkYXRhIjoiYWRtaW4ifQ");
    assert!(!Lifecycle::start(&config, [forged.as_bytes()], T0 + 1).has_valid_cookie());
}

#[test]
fn cookie_store_refuses_more_than_4096_bytes() {
    let store = CookieStore::new();
    let config = config();
    // Just under the limit works.
    let ok = request(&config, &store, None, T0, |lc, s| {
        block_on_ready(lc.load(s))
            .unwrap()
            .insert("d", "x".repeat(2900))
            .unwrap();
    });
    assert!(pair(ok.set_cookie.as_deref().unwrap()).len() <= 4096);
    // Over it: a clear error, never a truncated cookie.
    let mut lc = Lifecycle::start(&config, [], T0);
    block_on_ready(lc.load(&store))
        .unwrap()
        .insert("d", "x".repeat(3100))
        .unwrap();
    match block_on_ready(lc.commit(&config, &store, T0)) {
        Err(e @ Error::CookieTooLarge { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("4096") && msg.contains("server-side store"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn id_collisions_are_retried_then_reported() {
    // A broken random source that always yields the same bytes.
    fn stuck(buf: &mut [u8]) -> edge_session::Result<()> {
        buf.fill(7);
        Ok(())
    }
    let (store, _) = memory();
    let config = config().with_rng(stuck);
    assert_eq!(
        request(&config, &store, None, T0, write_data).action,
        Action::Created
    );
    let mut lc = Lifecycle::start(&config, [], T0);
    write_data(&mut lc, &store);
    assert!(matches!(
        block_on_ready(lc.commit(&config, &store, T0)),
        Err(Error::IdCollision)
    ));
    assert_eq!(
        store.inner().len(),
        1,
        "the existing session was not overwritten"
    );

    fn failing(_: &mut [u8]) -> edge_session::Result<()> {
        Err(Error::Random)
    }
    let config = config.with_rng(failing);
    let mut lc = Lifecycle::start(&config, [], T0);
    write_data(&mut lc, &store);
    assert!(matches!(
        block_on_ready(lc.commit(&config, &store, T0)),
        Err(Error::Random)
    ));
}

// ---------------------------------------------------------------- store conformance

#[test]
fn memory_store_conformance() {
    let clock = Arc::new(AtomicU64::new(T0));
    let c = clock.clone();
    let store = MemoryStore::with_clock(move || c.load(Ordering::SeqCst));
    block_on_ready(conformance::run(&store));
    block_on_ready(conformance::atomic(&store));
    block_on_ready(conformance::expiry(&store, |secs| {
        clock.fetch_add(secs, Ordering::SeqCst);
        std::future::ready(())
    }));
}

#[test]
fn trait_defaults_pass_the_contract_step_by_step() {
    // Only the four required methods (no yield): the trait's default
    // `update`, `touch` and `cycle` (read, merge, write) must pass the same
    // contract, step by step.
    let store = RequiredOnly {
        inner: memory().0,
        yield_on_load: false,
    };
    block_on_ready(conformance::run(&store));
    block_on_ready(conformance::interleavings(&store));
    // Requests that never overlap (an always-ready store runs each to the
    // end in turn) lose nothing even without atomic writes.
    assert_eq!(
        block_on_ready(conformance::concurrent_increments(&store, 20)),
        20
    );
}

#[test]
fn cookie_store_conformance() {
    let store = CookieStore::new();
    block_on_ready(conformance::run(&store));
    block_on_ready(conformance::run(&CountingStore::new(store)));
}

#[test]
fn counting_store_passes_conformance_and_counts() {
    let (store, _) = memory();
    block_on_ready(conformance::run(&store));
    let c = store.calls();
    assert!(
        c.load > 5
            && c.create > 5
            && c.save > 0
            && c.update > 0
            && c.delete > 5
            && c.touch > 0
            && c.cycle > 0,
        "{c:?}"
    );
}

// ---------------------------------------------------------------- the handle adapters share

/// A store with only the four required methods of the trait (so the
/// defaults of the others run), whose `load` can wait one poll before
/// answering (like a network store).
struct RequiredOnly<S> {
    inner: S,
    yield_on_load: bool,
}

struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

impl<S: SessionStore> SessionStore for RequiredOnly<S> {
    async fn load(&self, id: &SessionId) -> edge_session::Result<Option<edge_session::Record>> {
        YieldOnce(!self.yield_on_load).await;
        self.inner.load(id).await
    }
    async fn create(
        &self,
        id: SessionId,
        r: &edge_session::Record,
        ttl: u64,
    ) -> edge_session::Result<Option<SessionId>> {
        self.inner.create(id, r, ttl).await
    }
    async fn save(
        &self,
        id: &SessionId,
        r: &edge_session::Record,
        ttl: u64,
    ) -> edge_session::Result<SessionId> {
        self.inner.save(id, r, ttl).await
    }
    async fn delete(&self, id: &SessionId) -> edge_session::Result<()> {
        self.inner.delete(id).await
    }
}

/// Polls two futures in turn until both finish (a tiny join for tests).
fn join2<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..100 {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(&mut cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(&mut cx)
        {
            rb = Some(v);
        }
        if let (Some(_), Some(_)) = (&ra, &rb) {
            return (ra.unwrap(), rb.unwrap());
        }
    }
    panic!("join2: the futures never finished");
}

#[test]
fn handle_loads_once_even_when_two_calls_race() {
    let (memory, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &memory, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    let store = Arc::new(CountingStore::new(RequiredOnly {
        inner: memory,
        yield_on_load: true,
    }));
    let manager = SessionManager::new(store.clone(), config).unwrap();
    let pending = manager.begin([cookie.as_bytes()], T0 + 1);
    let handle = pending.session();
    let h2 = handle.clone();
    let (a, b) = join2(handle.get::<String>("data"), h2.insert("n", 1));
    assert_eq!(a.unwrap().as_deref(), Some("session_data"));
    b.unwrap();
    assert_eq!(store.calls().load, 1, "two racing calls, one load");

    // The adapter finishes the request: the insert is written.
    let outcome = join2(pending.finish(T0 + 1), std::future::ready(())).0;
    assert!(
        matches!(
            outcome,
            Outcome::Respond {
                action: Action::Saved,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(outcome.set_cookie().is_some());
    // After the commit the handle refuses to pretend.
    assert!(matches!(
        block_on_ready(handle.insert("late", 1)),
        Err(Error::Finished)
    ));
    assert!(matches!(
        block_on_ready(handle.clear()),
        Err(Error::Finished)
    ));
}

#[test]
fn handle_reports_store_failures_and_clear_needs_no_read() {
    let (memory, _) = memory();
    let config = config();
    let cookie = pair(
        &request(&config, &memory, None, T0, write_data)
            .set_cookie
            .unwrap(),
    )
    .to_string();
    let store = Arc::new(memory);
    let manager = SessionManager::new(store.clone(), config.clone()).unwrap();
    store.set_failing(true);
    let pending = manager.begin([cookie.as_bytes()], T0);
    let handle = pending.session();
    assert!(block_on_ready(handle.record()).unwrap_err().is_store());
    assert!(
        pending.store_failed(),
        "the adapter must learn the store failed"
    );
    // Whatever the handler answered, the request is a 503 (one outcome, one
    // mapping: status, body, headers, log line).
    let Outcome::Error(error) = block_on_ready(pending.finish(T0)) else {
        panic!("a load failure must answer with an error");
    };
    assert_eq!(error.status(), 503);
    assert_eq!(error.body(), edge_session::adapter::UNAVAILABLE_BODY);
    assert!(error.headers().contains(&("retry-after", "1")));
    assert!(error.headers().contains(&("cache-control", "no-store")));

    store.set_failing(false);
    store.reset();
    let pending = manager.begin([cookie.as_bytes()], T0);
    assert!(!pending.store_failed());
    block_on_ready(pending.session().clear()).unwrap();
    let outcome = block_on_ready(pending.finish(T0));
    assert!(
        matches!(
            outcome,
            Outcome::Respond {
                action: Action::Deleted,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        outcome.set_cookie(),
        Some(config.cookie().removal().as_str())
    );
    assert_eq!(
        store.calls(),
        calls(0, 0, 0, 1, 0, 0),
        "logout: one delete, no read"
    );
}

#[test]
fn outcomes_say_what_to_log_once() {
    let (memory, _) = memory();
    let config = config();
    let manager = SessionManager::new(memory, config).unwrap();
    // A store failure: one line, one prefix, the cause once.
    manager.store().set_failing(true);
    let pending = manager.begin([], T0);
    block_on_ready(pending.session().insert("k", 1)).unwrap();
    let outcome = block_on_ready(pending.finish(T0));
    let lines = outcome.log_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0].message,
        "session store unavailable: store unavailable (simulated outage)"
    );
}
