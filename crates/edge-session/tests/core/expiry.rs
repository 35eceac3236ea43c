//! Expiry: sliding refresh, per-session expiry (`set_expiry`), idle + absolute timeouts, browser sessions.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

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
fn lifetimes_past_the_year_9999_are_capped_in_the_cookie_and_the_store() {
    // "Never expire" as u64::MAX seconds, from the configuration or from a
    // handler: the cookie and the store TTL end at MAX_EXPIRES (a TTL every
    // store can hold), and a session at the cap is never refreshed.
    use edge_session::adapter::MAX_EXPIRES;
    let forever = [
        (config().with_expiry(Expiry::OnInactivity(u64::MAX)), None),
        (config().with_expiry(Expiry::Absolute(u64::MAX)), None),
        (
            config().with_expiry(Expiry::IdleAndAbsolute {
                idle: u64::MAX,
                absolute: u64::MAX,
            }),
            None,
        ),
        (config(), Some(SessionExpiry::Persistent(u64::MAX))),
    ];
    for (config, own) in forever {
        let (store, clock) = memory();
        let created = request(&config, &store, None, T0, |lc, s| {
            write_data(lc, s);
            if let Some(own) = own {
                block_on_ready(lc.load(s)).unwrap().set_expiry(own);
            }
        });
        let cookie = created.set_cookie.unwrap();
        let v = verified(&config, &cookie, T0);
        assert_eq!(v.expires, MAX_EXPIRES, "{cookie}");
        assert!(v.deadline.is_none_or(|d| d == MAX_EXPIRES), "{cookie}");
        assert_eq!(max_age(&cookie), Some(MAX_EXPIRES - T0), "{cookie}");
        assert!(
            cookie.contains("Expires=Fri, 31 Dec 9999 23:59:59 GMT"),
            "{cookie}"
        );
        assert_eq!(store.inner().ttl(&v.id), Some(MAX_EXPIRES - T0));

        // Years later, a read needs no refresh: nothing moves past the cap.
        let later = T0 + 10 * 365 * DAY;
        clock.store(later, Ordering::SeqCst);
        store.reset();
        let read = request(&config, &store, Some(pair(&cookie)), later, |lc, s| {
            assert_eq!(read_data(lc, s).as_deref(), Some("session_data"));
        });
        assert_eq!((read.action, read.set_cookie), (Action::None, None));
        assert_eq!(store.calls(), calls(1, 0, 0, 0, 0, 0));

        // A change is re-issued at the same cap, with the TTL to it.
        let changed = request(&config, &store, Some(pair(&cookie)), later, write_more);
        let again = changed.set_cookie.unwrap();
        assert_eq!(verified(&config, &again, later).expires, MAX_EXPIRES);
        assert_eq!(store.inner().ttl(&v.id), Some(MAX_EXPIRES - later));
    }
}

fn write_more<S: SessionStore>(lc: &mut Lifecycle, store: &S) {
    block_on_ready(lc.load(store))
        .unwrap()
        .insert("more", 1)
        .unwrap();
}
