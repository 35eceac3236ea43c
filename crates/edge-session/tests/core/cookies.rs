//! The cookie value, `Cookie` header parsing, `Set-Cookie` building and the config checks behind it.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

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
    // The longest numbers: a 20-digit Max-Age.
    let sc = base.cookie().set_cookie("v", Some(u64::MAX), u64::MAX);
    assert!(
        sc.contains("; Max-Age=18446744073709551615; Expires=Fri, 31 Dec 9999 23:59:59 GMT;"),
        "{sc}"
    );
}

#[test]
fn the_longest_cookie_value_is_written_whole() {
    // Three 20-digit numbers: expiry, deadline and a persistent mode.
    let config = config();
    let id = SessionId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
    let max = u64::MAX;
    let value = format::encode_full(
        config.keys(),
        "session",
        &id,
        max - 1,
        Some(max),
        SessionExpiry::Persistent(max),
    );
    let signed = format!("v2.AAECAwQFBgcICQoLDA0ODw.{}.{max}.p{max}", max - 1);
    assert!(value.starts_with(&format!("{signed}.")), "{value}");
    let verified = format::verify(config.keys(), "session", value.as_bytes(), 0).unwrap();
    assert_eq!(
        (verified.expires, verified.deadline, verified.mode),
        (max - 1, Some(max), SessionExpiry::Persistent(max))
    );
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
