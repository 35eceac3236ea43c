//! The request lifecycle: what reaches the store and the cookie, outages, corrupt records, collisions, the cookie store.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

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
    // Junk does not count against the MAX_COOKIE_CANDIDATES tried (well-formed
    // forgeries do: `hardening::junk_cookies_do_not_use_up_the_candidate_budget`).
    let many = format!(
        "{}{a}",
        "session=junk; ".repeat(edge_session::engine::MAX_COOKIE_CANDIDATES)
    );
    assert!(Lifecycle::start(&config, [many.as_bytes()], T0).has_valid_cookie());
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
