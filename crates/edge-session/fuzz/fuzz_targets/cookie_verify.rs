//! Cookie header parsing + verification on arbitrary bytes: never panics,
//! and whatever verifies is exactly what `format::encode` produces.
#![no_main]

use edge_session::cookie::cookie_values;
use edge_session::testing::block_on_ready;
use edge_session::adapter::Lifecycle;
use edge_session::{CookieStore, Key, KeyRing, SessionConfig, SessionStore, format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes(&[0x42; 32]);
    let config = SessionConfig::new(KeyRing::new(key.clone()));
    let now = 1_700_000_000;

    // A whole Cookie header, and the same bytes split in two headers.
    let mid = data.len() / 2;
    for headers in [vec![data], vec![&data[..mid], &data[mid..]]] {
        let mut lc = Lifecycle::start(&config, headers, now);
        if let Some(id) = lc.incoming_id() {
            assert!(edge_session::SessionId::parse(id.as_str()).is_some());
        }
        // Loading through the cookie store decodes attacker-chosen ids.
        let store = CookieStore::new();
        if let Ok(session) = block_on_ready(lc.load(&store)) {
            let _ = session.len();
        }
        let _ = block_on_ready(lc.commit(&config, &store, now));
    }

    // Every candidate value: anything accepted must be canonical.
    for value in cookie_values(data, "session") {
        if let Some(ok) = format::verify(config.keys(), "session", value, now) {
            let again = format::encode(config.keys(), "session", &ok.id, ok.expires);
            assert_eq!(again.as_bytes(), value);
        }
    }
    // The raw bytes as a value too.
    if let Some(ok) = format::verify(config.keys(), "session", data, now) {
        let again = format::encode(config.keys(), "session", &ok.id, ok.expires);
        assert_eq!(again.as_bytes(), data);
    }
    if let Ok(text) = core::str::from_utf8(data)
        && let Some(id) = edge_session::SessionId::parse(text)
    {
        let _ = block_on_ready(CookieStore::new().load(&id));
    }
});
