//! The handle adapters share: one load under racing calls, failures, what an outcome logs.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

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

/// `finish` settles the requests that need no store call without running
/// the commit's future, and boxes it for the others; either way every
/// request shape ends as `Lifecycle::commit` ends it: the same action and
/// the same store calls.
#[test]
fn finish_ends_every_request_shape_as_the_lifecycle_commit_does() {
    type Shape = (&'static str, bool, u64, Action, Calls);
    let (memory, clock) = memory();
    let config = config();
    let set_cookie = request(&config, &memory, None, T0, write_data).set_cookie;
    let cookie = pair(&set_cookie.unwrap()).to_string();
    let store = Arc::new(memory);
    let manager = SessionManager::new(store.clone(), config.clone()).unwrap();
    // 8 days on, the 14-day session is due for its refresh (under 7 left).
    let (soon, due) = (T0 + 1, T0 + 8 * DAY);
    let (none, load) = (calls(0, 0, 0, 0, 0, 0), calls(1, 0, 0, 0, 0, 0));
    let (touch, load_touch) = (calls(0, 0, 0, 0, 1, 0), calls(1, 0, 0, 0, 1, 0));
    let load_update = calls(1, 0, 1, 0, 0, 0);
    let shapes: [Shape; 8] = [
        ("untouched", false, soon, Action::None, none),
        ("untouched", true, soon, Action::None, none),
        ("untouched", true, due, Action::Refreshed, touch),
        ("read", true, soon, Action::None, load),
        ("read", true, due, Action::Refreshed, load_touch),
        ("same value", true, soon, Action::None, load),
        ("read", false, soon, Action::None, none),
        ("changed", true, soon, Action::Saved, load_update),
    ];
    for (handler, with_cookie, now, action, expected) in shapes {
        clock.store(now, Ordering::SeqCst);
        let headers: Vec<&[u8]> = with_cookie
            .then_some(cookie.as_bytes())
            .into_iter()
            .collect();
        // Through the handle, as the adapters run it: `finish`, and
        // `finish_now` (then `finish` if it gives the request back).
        let mut through_handle = Vec::new();
        for now_first in [false, true] {
            store.reset();
            let pending = manager.begin(headers.clone(), now);
            let session = pending.session();
            match handler {
                "read" => drop(block_on_ready(session.get::<String>("data")).unwrap()),
                "same value" => {
                    block_on_ready(session.insert("data", "session_data")).unwrap();
                }
                "changed" => drop(block_on_ready(session.increment("n", 1)).unwrap()),
                _ => {}
            }
            let outcome = if now_first {
                match pending.finish_now(now) {
                    Ok(outcome) => {
                        assert_eq!(action, Action::None, "{handler}: settled without the store");
                        outcome
                    }
                    Err(pending) => {
                        assert_ne!(action, Action::None, "{handler}: needs no store call");
                        block_on_ready(pending.finish(now))
                    }
                }
            } else {
                block_on_ready(pending.finish(now))
            };
            let Outcome::Respond { action: got, .. } = outcome else {
                panic!("{handler}: an error outcome");
            };
            // The session is finished either way.
            assert!(matches!(
                block_on_ready(session.get::<String>("data")),
                Err(Error::Finished)
            ));
            through_handle.push((got, store.calls()));
        }
        // The lifecycle alone.
        store.reset();
        let mut lc = Lifecycle::start_for::<MemoryStore>(&config, headers, now);
        match handler {
            "read" => drop(read_data(&mut lc, &*store)),
            "same value" => write_data(&mut lc, &*store),
            "changed" => drop(block_on_ready(lc.load(&*store)).unwrap().increment("n", 1)),
            _ => {}
        }
        let commit = block_on_ready(lc.commit(&config, &*store, now)).unwrap();
        let direct = (commit.action, store.calls());
        let shape = format!("{handler}, cookie {with_cookie}, +{}s", now - T0);
        assert_eq!(through_handle[0], (action, expected), "{shape}: finish");
        assert_eq!(through_handle[1], (action, expected), "{shape}: finish_now");
        assert_eq!(direct, (action, expected), "{shape}: the lifecycle");
    }
}

#[test]
fn finish_now_gives_back_a_request_whose_session_a_handler_future_holds() {
    // A handler that spawned a read still in flight when it answered: the
    // session cannot be settled now; `finish` waits for the read's turn.
    let memory = MemoryStore::with_clock(|| T0);
    let config = config();
    let set = request(&config, &memory, None, T0, write_data).set_cookie;
    let cookie = pair(&set.unwrap()).to_string();
    let store = Arc::new(RequiredOnly {
        inner: memory,
        yield_on_load: true,
    });
    let manager = SessionManager::new(store, config).unwrap();
    let pending = manager.begin([cookie.as_bytes()], T0 + 1);
    let session = pending.session();
    let mut read = Box::pin(session.get::<String>("data"));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        read.as_mut().poll(&mut cx).is_pending(),
        "the read holds the turn"
    );
    let Err(pending) = pending.finish_now(T0 + 1) else {
        panic!("settled while a read held the session");
    };
    // The read was not disturbed: `finish`, polled first, waits at the
    // gate; the read finishes with the data, then the request finishes
    // (nothing changed, so no store call and no cookie).
    let (outcome, got) = join2(pending.finish(T0 + 1), read);
    assert_eq!(got.unwrap().as_deref(), Some("session_data"));
    assert!(
        matches!(
            outcome,
            Outcome::Respond {
                action: Action::None,
                set_cookie: None,
                ..
            }
        ),
        "{outcome:?}"
    );
}
