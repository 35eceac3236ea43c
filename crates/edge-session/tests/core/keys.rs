//! Keys, key rings and session ids.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

#[test]
fn short_keys_are_refused_with_a_clear_error() {
    for len in [0, 1, 16, 31] {
        match Key::try_from_bytes(&vec![1; len]) {
            Err(Error::KeyTooShort { len: l }) => assert_eq!(l, len),
            other => panic!("{len}: {other:?}"),
        }
    }
    let msg = Key::try_from_bytes(b"short").unwrap_err().to_string();
    assert!(msg.contains("too short") && msg.contains("32"), "{msg}");
    assert!(
        !msg.contains("5 bytes"),
        "the length is a hint about the secret: {msg}"
    );
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
