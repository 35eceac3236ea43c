//! What an adversarial review found: ids a store cannot hold, junk cookies
//! hiding the real one, a cancelled call losing the session, a failed
//! refresh failing a read, caches, the memory store's bound, secrets in
//! `Debug`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

/// A validly signed cookie (the test key) for `id`, expiring in a day.
fn signed_cookie(config: &SessionConfig, id: &str) -> String {
    let keys = KeyRing::new(Key::from_bytes(&[0x5a; 32]));
    let _ = config;
    let id = SessionId::parse(id).unwrap();
    format!(
        "session={}",
        format::encode(&keys, "session", &id, T0 + DAY)
    )
}

/// A memory store whose clock stays at `T0` (wasm32 has no system clock);
/// clones share its records.
fn fixed_clock_store() -> MemoryStore {
    MemoryStore::with_clock(|| T0)
}

#[test]
fn ids_not_of_the_generated_shape_never_reach_a_server_side_store() {
    let config = config();
    let long = "A".repeat(4000);
    let cookie = signed_cookie(&config, &long);
    // The cookie is genuine: the bare lifecycle accepts it...
    let lc = Lifecycle::start(&config, [cookie.as_bytes()], T0);
    assert!(lc.has_valid_cookie());
    // ...but a server-side store never sees the id.
    let lc = Lifecycle::start_for::<MemoryStore>(&config, [cookie.as_bytes()], T0);
    assert!(
        !lc.has_valid_cookie(),
        "a 4000-character id reached the store"
    );
    for id in ["short", "A", &"B".repeat(21), &"C".repeat(23)] {
        let cookie = signed_cookie(&config, id);
        let lc = Lifecycle::start_for::<MemoryStore>(&config, [cookie.as_bytes()], T0);
        assert!(!lc.has_valid_cookie(), "{id}");
    }
    // The cookie store's ids are its data: they pass.
    let lc = Lifecycle::start_for::<CookieStore>(&config, [cookie.as_bytes()], T0);
    assert!(lc.has_valid_cookie());

    // Through the request driver: a missing session, no store call at all.
    let (store, _) = memory();
    let manager = SessionManager::new(store, config).unwrap();
    let cookie = signed_cookie(manager.config(), &long);
    let pending = manager.begin([cookie.as_bytes()], T0);
    let session = pending.session();
    assert_eq!(block_on_ready(session.get::<String>("data")).unwrap(), None);
    let outcome = block_on_ready(pending.finish(T0));
    assert!(outcome.set_cookie().is_none(), "{outcome:?}");
    assert_eq!(manager.store().calls(), calls(0, 0, 0, 0, 0, 0));
    // A generated id goes through as before.
    let id = SessionId::generate(|b| {
        b.fill(7);
        Ok(())
    })
    .unwrap();
    assert!(id.is_generated());
}

#[test]
fn junk_cookies_do_not_use_up_the_candidate_budget() {
    let (store, _) = memory();
    let config = config();
    let set = request(&config, &store, None, T0, write_data)
        .set_cookie
        .unwrap();
    let genuine = pair(&set).to_string();
    // Twenty values a sibling subdomain could plant, none shaped like a
    // session cookie, before the genuine one.
    let junk = ["session=x"; 20].join("; ");
    let header = format!("{junk}; {genuine}");
    let lc = Lifecycle::start(&config, [header.as_bytes()], T0 + 1);
    assert!(lc.has_valid_cookie(), "junk hid the genuine cookie");
    let mut lc = lc;
    assert_eq!(read_data(&mut lc, &store).as_deref(), Some("session_data"));

    // Well-formed candidates still count: eight forgeries (another key)
    // use up the budget of HMACs, so a ninth, genuine, is not reached.
    let other = KeyRing::new(Key::from_bytes(&[0x11; 32]));
    let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let forged = format!(
        "session={}",
        format::encode(&other, "session", &id, T0 + DAY)
    );
    let header = format!(
        "{}; {genuine}",
        [forged.as_str(); MAX_COOKIE_CANDIDATES].join("; ")
    );
    let lc = Lifecycle::start(&config, [header.as_bytes()], T0 + 1);
    assert!(!lc.has_valid_cookie(), "the HMAC budget must hold");
}

#[test]
fn a_dropped_call_keeps_the_session_for_a_later_clear() {
    let memory = fixed_clock_store();
    let config = config();
    let set = request(&config, &memory, None, T0, write_data)
        .set_cookie
        .unwrap();
    let cookie = pair(&set).to_string();
    let store = Arc::new(CountingStore::new(RequiredOnly {
        inner: memory.clone(),
        yield_on_load: true,
    }));
    let manager = SessionManager::new(store.clone(), config).unwrap();
    let pending = manager.begin([cookie.as_bytes()], T0 + 1);
    let session = pending.session();
    // A data call dropped while the store is being read (a timeout, a
    // `select!` that took the other branch).
    {
        let mut call = Box::pin(session.get::<String>("data"));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
    }
    // The logout still happens.
    block_on_ready(session.clear()).unwrap();
    let outcome = block_on_ready(pending.finish(T0 + 1));
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
    let id = SessionId::parse(cookie.split('.').nth(1).unwrap()).unwrap();
    assert_eq!(block_on_ready(memory.load(&id)).unwrap(), None);

    // And a dropped call followed by another call loads and answers.
    let set = request(manager.config(), &memory, None, T0, write_data)
        .set_cookie
        .unwrap();
    let cookie = pair(&set).to_string();
    let pending = manager.begin([cookie.as_bytes()], T0 + 1);
    let session = pending.session();
    {
        let mut call = Box::pin(session.get::<String>("data"));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
    }
    let got = join2(session.get::<String>("data"), std::future::ready(())).0;
    assert_eq!(got.unwrap().as_deref(), Some("session_data"));
}

#[test]
fn a_failed_refresh_serves_the_read_and_a_later_request_retries() {
    let memory = fixed_clock_store();
    let config = config().with_expiry(Expiry::OnInactivity(DAY));
    let set = request(&config, &memory, None, T0, write_data)
        .set_cookie
        .unwrap();
    let cookie = pair(&set).to_string();
    let store = CountingStore::new(memory.clone());
    store.set_failing_touch(true);
    let manager = SessionManager::new(store, config).unwrap();
    // Late enough in the day that a read is due a refresh.
    let later = T0 + DAY - 60;
    for touched in [false, true] {
        let pending = manager.begin([cookie.as_bytes()], later);
        let data = block_on_ready(pending.session().get::<String>("data")).unwrap();
        assert_eq!(data.as_deref(), Some("session_data"), "the read is served");
        let outcome = block_on_ready(pending.finish(later));
        assert!(!matches!(outcome, Outcome::Error(_)), "{outcome:?}");
        if touched {
            assert!(
                matches!(
                    outcome,
                    Outcome::Respond {
                        action: Action::Refreshed,
                        ..
                    }
                ),
                "the retry refreshes: {outcome:?}"
            );
            assert!(outcome.set_cookie().is_some());
        } else {
            assert!(
                matches!(
                    outcome,
                    Outcome::Respond {
                        action: Action::RefreshFailed,
                        ..
                    }
                ),
                "{outcome:?}"
            );
            assert!(outcome.set_cookie().is_none(), "the cookie stays as it was");
            let lines = outcome.log_lines();
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert_eq!(lines[0].level, LogLevel::Warn);
            assert!(
                lines[0].message.contains("refresh failed")
                    && lines[0].message.contains("simulated write limit")
                    && lines[0].message.matches("session").count() == 1,
                "{}",
                lines[0].message
            );
            // The next request is still due and tries again.
            manager.store().set_failing_touch(false);
        }
    }
}

#[test]
fn a_response_with_the_session_cookie_is_not_stored_by_caches() {
    let (store, _) = memory();
    let manager = SessionManager::new(store, config()).unwrap();
    let pending = manager.begin([], T0);
    block_on_ready(pending.session().insert("k", 1)).unwrap();
    let outcome = block_on_ready(pending.finish(T0));
    assert!(outcome.set_cookie().is_some());
    assert_eq!(outcome.cache_control(), Some("no-store"));
    // No cookie, no header.
    let pending = manager.begin([], T0);
    let outcome = block_on_ready(pending.finish(T0));
    assert_eq!(outcome.cache_control(), None);
    // Switched off.
    let (store, _) = memory();
    let manager = SessionManager::new(store, config().with_no_store_on_set_cookie(false)).unwrap();
    let pending = manager.begin([], T0);
    block_on_ready(pending.session().insert("k", 1)).unwrap();
    let outcome = block_on_ready(pending.finish(T0));
    assert!(outcome.set_cookie().is_some());
    assert_eq!(outcome.cache_control(), None);
}

#[test]
fn the_memory_store_is_bounded_and_evicts_the_soonest_to_expire() {
    let clock = Arc::new(AtomicU64::new(T0));
    let c = clock.clone();
    let store = MemoryStore::with_clock(move || c.load(Ordering::SeqCst)).with_max_entries(3);
    let id = |s: &str| SessionId::parse(s).unwrap();
    let mut rec = edge_session::Record::new();
    rec.insert("k".into(), 1.into());
    let create = |name: &str, ttl| block_on_ready(store.create(id(name), &rec, ttl)).unwrap();
    assert!(create("a", 100).is_some());
    assert!(create("b", 50).is_some());
    assert!(create("c", 200).is_some());
    // Full: writes to existing records never evict.
    let mut changes = edge_session::Changes::new();
    changes.set("k", 2.into());
    assert!(
        block_on_ready(store.update(&id("a"), &changes, 100))
            .unwrap()
            .is_some()
    );
    assert_eq!(store.len(), 3);
    // A new record evicts the one closest to its expiry (b).
    assert!(create("d", 300).is_some());
    assert_eq!(store.len(), 3);
    assert_eq!(block_on_ready(store.load(&id("b"))).unwrap(), None);
    assert!(block_on_ready(store.load(&id("a"))).unwrap().is_some());
    // A touch moves a record back in line: c (200) is now the soonest.
    assert!(
        block_on_ready(store.touch(&id("a"), 1000))
            .unwrap()
            .is_some()
    );
    assert!(create("e", 400).is_some());
    assert_eq!(block_on_ready(store.load(&id("c"))).unwrap(), None);
    // Expired records go first, before any live one is evicted.
    clock.fetch_add(350, Ordering::SeqCst); // d (300) has expired
    assert!(create("f", 400).is_some());
    for live in ["a", "e", "f"] {
        assert!(
            block_on_ready(store.load(&id(live))).unwrap().is_some(),
            "{live}"
        );
    }
    assert_eq!(store.len(), 3);
    // A thousand anonymous sessions later, still three.
    for i in 0..1000 {
        create(&format!("anon{i}"), 1000 + i);
    }
    assert_eq!(store.len(), 3);
    // The bounded store passes the contract.
    let bounded = fixed_clock_store().with_max_entries(1000);
    block_on_ready(conformance::run(&bounded));
    block_on_ready(conformance::atomic(&bounded));
}

#[test]
fn debug_output_never_holds_secrets_or_ids() {
    let secret = [0x5a; 32];
    let marker = "session_id_marker_AAAA";
    let config = SessionConfig::from_secret(&secret).unwrap().with_keys(
        KeyRing::new(Key::from_bytes(&secret)).with_previous(Key::from_bytes(&[0x6b; 32])),
    );
    let id = SessionId::parse(marker).unwrap();
    let keys = KeyRing::new(Key::from_bytes(&secret));
    let cookie = format!(
        "session={}",
        format::encode(&keys, "session", &id, T0 + DAY)
    );
    let (store, _) = memory();
    let manager = SessionManager::new(store, config.clone()).unwrap();
    let pending = manager.begin([cookie.as_bytes()], T0);
    let lifecycle = Lifecycle::start(&config, [cookie.as_bytes()], T0);
    let verified = format::verify(&keys, "session", &cookie.as_bytes()["session=".len()..], T0);
    let outputs = [
        format!("{:?}", Key::from_bytes(&secret)),
        format!("{keys:?}"),
        format!("{config:?}"),
        format!("{manager:?}"),
        format!("{pending:?}"),
        format!("{:?}", pending.session()),
        format!("{lifecycle:?}"),
        format!("{verified:?}"),
        format!("{id:?}"),
    ];
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    for out in outputs {
        assert!(!out.contains(marker), "an id in Debug: {out}");
        assert!(!out.contains(&secret_hex[..16]), "a key in Debug: {out}");
        assert!(!out.contains("90, 90, 90"), "key bytes in Debug: {out}");
        assert!(!out.contains("5a5a5a5a"), "key bytes in Debug: {out}");
        assert!(
            !out.contains("WlpaWlpa"),
            "key bytes (base64) in Debug: {out}"
        );
    }
}
