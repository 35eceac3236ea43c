//! Test support, public so that users can check their own stores and
//! adapters the way this crate checks its own: a store wrapper that counts
//! calls (and can simulate an outage), a conformance suite every store must
//! pass, and a tiny executor for futures that are always ready.

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::store::{Changes, Cycled, Record, SessionStore};

/// Runs a future that completes without waiting (the memory and cookie
/// stores never wait) and returns its output.
///
/// # Panics
/// If the future is not ready on its first poll: use a real executor for
/// stores that do I/O.
pub fn block_on_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("block_on_ready: the future was not ready"),
    }
}

/// How many times each store method was called through a [`CountingStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// `load` calls.
    pub load: usize,
    /// `create` calls.
    pub create: usize,
    /// `save` calls.
    pub save: usize,
    /// `delete` calls.
    pub delete: usize,
    /// `update` calls.
    pub update: usize,
    /// `touch` calls.
    pub touch: usize,
    /// `cycle` calls.
    pub cycle: usize,
}

impl Calls {
    /// Calls that read (`load`).
    pub fn reads(&self) -> usize {
        self.load
    }

    /// Calls that write (`create`, `save`, `delete`, `update`, `touch`,
    /// `cycle`).
    pub fn writes(&self) -> usize {
        self.create + self.save + self.delete + self.update + self.touch + self.cycle
    }

    /// All calls.
    pub fn total(&self) -> usize {
        self.reads() + self.writes()
    }
}

/// Wraps a store, counts the calls made to it, and can make every call fail
/// with [`Error::Store`] to simulate an outage, or only `touch` (a sliding
/// refresh hitting Workers KV's write limit or a Redis timeout).
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    load: AtomicUsize,
    create: AtomicUsize,
    save: AtomicUsize,
    delete: AtomicUsize,
    update: AtomicUsize,
    touch: AtomicUsize,
    cycle: AtomicUsize,
    failing: AtomicBool,
    failing_touch: AtomicBool,
}

impl<S> CountingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            load: AtomicUsize::new(0),
            create: AtomicUsize::new(0),
            save: AtomicUsize::new(0),
            delete: AtomicUsize::new(0),
            update: AtomicUsize::new(0),
            touch: AtomicUsize::new(0),
            cycle: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            failing_touch: AtomicBool::new(false),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The calls so far.
    pub fn calls(&self) -> Calls {
        Calls {
            load: self.load.load(Ordering::SeqCst),
            create: self.create.load(Ordering::SeqCst),
            save: self.save.load(Ordering::SeqCst),
            delete: self.delete.load(Ordering::SeqCst),
            update: self.update.load(Ordering::SeqCst),
            touch: self.touch.load(Ordering::SeqCst),
            cycle: self.cycle.load(Ordering::SeqCst),
        }
    }

    /// Resets the counts to zero.
    pub fn reset(&self) {
        for c in [
            &self.load,
            &self.create,
            &self.save,
            &self.delete,
            &self.update,
            &self.touch,
            &self.cycle,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }

    /// While `failing` is true every call fails with [`Error::Store`] (and
    /// is still counted).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// While `failing` is true `touch` fails with [`Error::Store`] (and is
    /// still counted); the other calls work.
    pub fn set_failing_touch(&self, failing: bool) {
        self.failing_touch.store(failing, Ordering::SeqCst);
    }

    fn enter(&self, counter: &AtomicUsize) -> Result<()> {
        counter.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::store_msg("store unavailable (simulated outage)"));
        }
        Ok(())
    }
}

impl<S: SessionStore> SessionStore for CountingStore<S> {
    const SERVER_SIDE: bool = S::SERVER_SIDE;

    async fn load(&self, id: &SessionId) -> Result<Option<Record>> {
        self.enter(&self.load)?;
        self.inner.load(id).await
    }

    async fn create(&self, id: SessionId, record: &Record, ttl: u64) -> Result<Option<SessionId>> {
        self.enter(&self.create)?;
        self.inner.create(id, record, ttl).await
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId> {
        self.enter(&self.save)?;
        self.inner.save(id, record, ttl).await
    }

    async fn delete(&self, id: &SessionId) -> Result<()> {
        self.enter(&self.delete)?;
        self.inner.delete(id).await
    }

    async fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Option<SessionId>> {
        self.enter(&self.update)?;
        self.inner.update(id, changes, ttl).await
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>> {
        self.enter(&self.touch)?;
        if self.failing_touch.load(Ordering::SeqCst) {
            return Err(Error::store_msg("refresh refused (simulated write limit)"));
        }
        self.inner.touch(id, ttl).await
    }

    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Cycled> {
        self.enter(&self.cycle)?;
        self.inner.cycle(old, new, changes, ttl).await
    }
}

/// The store conformance suite.
///
/// Every store shipped with edge-session runs it, and any store a user
/// writes can: call [`conformance::run`] (and [`conformance::expiry`] with a
/// way to let time pass) from a test. Failures panic with a message naming
/// the broken rule of the [`SessionStore`] contract.
#[cfg(feature = "getrandom")]
pub mod conformance {
    use alloc::string::String;
    use core::future::Future;

    use serde_json::json;

    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use crate::config::SessionConfig;
    use crate::engine::{Action, Commit, Lifecycle};
    use crate::id::{SessionId, default_rng};
    use crate::key::Key;
    use crate::store::{Changes, Cycled, Record, SessionStore};

    fn fresh_id() -> SessionId {
        match SessionId::generate(default_rng) {
            Ok(id) => id,
            Err(e) => panic!("no random id: {e}"),
        }
    }

    fn record(value: serde_json::Value) -> Record {
        match value {
            serde_json::Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn ok<T>(what: &str, r: crate::Result<T>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("{what} failed: {e}"),
        }
    }

    /// Checks load/create/save/delete/touch/cycle against the contract.
    /// Uses fresh random ids, so it can run against a shared backend.
    ///
    /// # Panics
    /// On the first broken rule.
    pub async fn run<S: SessionStore>(store: &S) {
        let server_side = S::SERVER_SIDE;
        let ttl = 600;

        // A missing id loads as None.
        if server_side {
            let missing = ok("load(missing)", store.load(&fresh_id()).await);
            assert!(missing.is_none(), "load of a missing id must be Ok(None)");
        }

        // create then load round-trips, including unicode, nesting, numbers:
        // every float exactly (the shortest text that reads back as the same
        // double, the extremes, a subnormal).
        let rec1 = record(json!({
            "data": "session_data",
            "unicode": "h\u{e9}llo \u{1f980} \"quoted\" \\ back",
            "nested": {"list": [1, 2.5, -3, true, null], "empty": {}},
            "big": 9_007_199_254_740_993_u64,
            "floats": [0.1 + 0.2, 92.285_714_285_714_29, 646.0 / 7.0, 1e-300, -f64::MAX, 5e-324],
            // Any text is a key: empty, controls, separators, non-ASCII.
            "": "empty key",
            "\u{0}nul\r\n": 1,
            "a.b:c=d;e \"f\" \\": 2,
            "cl\u{e9} \u{1f36a}": 3,
        }));
        let id = ok("create", store.create(fresh_id(), &rec1, ttl).await)
            .unwrap_or_else(|| panic!("create of a fresh id must succeed"));
        let loaded = ok("load after create", store.load(&id).await);
        assert_eq!(
            loaded.as_ref(),
            Some(&rec1),
            "load must return what create stored"
        );

        // create refuses an existing id and leaves it alone.
        if server_side {
            let other = record(json!({"intruder": true}));
            let again = ok(
                "create(existing)",
                store.create(id.clone(), &other, ttl).await,
            );
            assert!(
                again.is_none(),
                "create must refuse an existing id with Ok(None)"
            );
            let still = ok("load", store.load(&id).await);
            assert_eq!(
                still.as_ref(),
                Some(&rec1),
                "a refused create must not overwrite"
            );
        }

        // save overwrites.
        let rec2 = record(json!({"data": "changed", "n": 2}));
        let id = ok("save", store.save(&id, &rec2, ttl).await);
        let loaded = ok("load after save", store.load(&id).await);
        assert_eq!(
            loaded.as_ref(),
            Some(&rec2),
            "load must return what save stored"
        );

        // touch keeps the data.
        let touched = ok("touch", store.touch(&id, ttl).await)
            .unwrap_or_else(|| panic!("touch of a live record must return its id"));
        let loaded = ok("load after touch", store.load(&touched).await);
        assert_eq!(
            loaded.as_ref(),
            Some(&rec2),
            "touch must not change the data"
        );
        if server_side {
            let gone = ok("touch(missing)", store.touch(&fresh_id(), ttl).await);
            assert!(gone.is_none(), "touch of a missing id must be Ok(None)");
        }

        // cycle moves the data, with changes, to a new id.
        let new = fresh_id();
        let mut login = Changes::new();
        login.set("user", json!("alice"));
        let cycled = match ok(
            "cycle",
            store.cycle(&touched, new.clone(), &login, ttl).await,
        ) {
            Cycled::Moved(id) => id,
            other => panic!("cycle of a live record to a fresh id must move it, not {other:?}"),
        };
        let mut expected = rec2.clone();
        expected.insert("user".into(), json!("alice"));
        let loaded = ok("load after cycle", store.load(&cycled).await);
        assert_eq!(
            loaded.as_ref(),
            Some(&expected),
            "cycle must keep the data and apply the changes"
        );
        if server_side {
            assert_eq!(
                cycled, new,
                "a server-side store must use the id it was given"
            );
            let old = ok("load(old id)", store.load(&touched).await);
            assert!(old.is_none(), "after cycle the old id must be gone");
            let stale = ok(
                "cycle(gone)",
                store.cycle(&touched, fresh_id(), &login, ttl).await,
            );
            assert_eq!(
                stale,
                Cycled::Gone,
                "cycle of a gone record must write nothing"
            );
        }

        // delete removes; deleting a missing id is fine.
        ok("delete", store.delete(&cycled).await);
        if server_side {
            let gone = ok("load after delete", store.load(&cycled).await);
            assert!(gone.is_none(), "after delete the record must be gone");
        }
        ok("delete(missing)", store.delete(&fresh_id()).await);

        // Independent sessions do not see each other.
        let mut ids = alloc::vec::Vec::new();
        for i in 0..8 {
            let rec = record(json!({ "owner": i }));
            let id = ok("create", store.create(fresh_id(), &rec, ttl).await)
                .unwrap_or_else(|| panic!("create must succeed"));
            ids.push((id, rec));
        }
        for (id, rec) in &ids {
            let loaded = ok("load", store.load(id).await);
            assert_eq!(loaded.as_ref(), Some(rec), "sessions must not mix");
            ok("delete", store.delete(id).await);
        }

        // Values round-trip exactly, through create and through update.
        let exact = record(json!({
            "u64max": u64::MAX,
            "i64min": i64::MIN,
            "float": 0.1,
            "tiny": 5e-324,
            "huge": 1.7976931348623157e308,
            "nested": {"a": [{"b": [u64::MAX, "\u{0}\u{7f}"]}], "c": null},
            "unicode": "\u{1f980} \u{e9}\u{301} \u{202e}rtl \"\\ \n\t",
            "": "empty key",
            "key with spaces \u{1f600}": true,
        }));
        let id = ok("create exact", store.create(fresh_id(), &exact, ttl).await)
            .unwrap_or_else(|| panic!("create must succeed"));
        let loaded = ok("load exact", store.load(&id).await);
        assert_eq!(
            loaded.as_ref(),
            Some(&exact),
            "values must round-trip exactly"
        );
        let mut changes = Changes::new();
        changes.set("u64max", json!(u64::MAX - 1));
        changes.set("added", json!({"deep": [i64::MIN, 2.5]}));
        changes.remove("tiny");
        changes.increment("counter", 7);
        changes.increment("i64min", 1);
        let updated = ok("update", store.update(&id, &changes, ttl).await);
        let id = updated.unwrap_or_else(|| panic!("update of a live record must return its id"));
        let mut expected = exact.clone();
        changes.apply_to(&mut expected);
        assert_eq!(expected.get("counter"), Some(&json!(7)));
        assert_eq!(expected.get("i64min"), Some(&json!(i64::MIN + 1)));
        let loaded = ok("load after update", store.load(&id).await);
        assert_eq!(
            loaded.as_ref(),
            Some(&expected),
            "update must apply exactly the changes"
        );
        if server_side {
            // Conditional writes: nothing comes back to life.
            ok("delete", store.delete(&id).await);
            let gone = ok("update(gone)", store.update(&id, &changes, ttl).await);
            assert!(
                gone.is_none(),
                "update of a deleted record must be Ok(None)"
            );
            let after = ok("load", store.load(&id).await);
            assert!(
                after.is_none(),
                "a refused update must not write the record back"
            );
            let touched = ok("touch(gone)", store.touch(&id, ttl).await);
            assert!(
                touched.is_none(),
                "touch of a deleted record must be Ok(None)"
            );
            let after = ok("load", store.load(&id).await);
            assert!(
                after.is_none(),
                "a refused touch must not write the record back"
            );

            // A record whose last key is removed is deleted.
            let one = record(json!({"only": 1}));
            let id = ok("create", store.create(fresh_id(), &one, ttl).await)
                .unwrap_or_else(|| panic!("create must succeed"));
            let mut remove = Changes::new();
            remove.remove("only");
            let _ = ok("update(remove last)", store.update(&id, &remove, ttl).await);
            let after = ok("load", store.load(&id).await);
            assert!(after.is_none(), "a record left without keys must be gone");
        }

        // Large values survive (8 KiB for server-side stores).
        if server_side {
            let big: String = "x".repeat(8192);
            let rec = record(json!({ "big": big }));
            let id = ok("save large", store.save(&fresh_id(), &rec, ttl).await);
            let loaded = ok("load large", store.load(&id).await);
            assert_eq!(
                loaded.as_ref(),
                Some(&rec),
                "a large record must round-trip"
            );
            ok("delete", store.delete(&id).await);
        }

        // The longest TTL there is: the lifecycle caps every expiry at
        // `MAX_EXPIRES` (the end of the year 9999), so a store is never
        // asked for more than that many seconds, and must hold it.
        let longest = crate::engine::MAX_EXPIRES;
        let rec = record(json!({"forever": true}));
        let id = ok(
            "create(longest TTL)",
            store.create(fresh_id(), &rec, longest).await,
        )
        .unwrap_or_else(|| panic!("create with the longest TTL must succeed"));
        let mut changes = Changes::new();
        changes.increment("visits", 1);
        let id = ok(
            "update(longest TTL)",
            store.update(&id, &changes, longest).await,
        )
        .unwrap_or_else(|| panic!("update with the longest TTL must succeed"));
        let id = ok("touch(longest TTL)", store.touch(&id, longest).await)
            .unwrap_or_else(|| panic!("touch with the longest TTL must succeed"));
        let loaded = ok("load(longest TTL)", store.load(&id).await);
        assert_eq!(
            loaded.as_ref(),
            Some(&record(json!({"forever": true, "visits": 1}))),
            "a record with the longest TTL must be there"
        );
        ok("delete", store.delete(&id).await);
    }

    /// Checks that the store owns expiry: a record saved with a TTL of one
    /// second is gone once `let_time_pass(seconds)` has let that much time
    /// pass, and `touch` extends a record. For server-side stores only.
    ///
    /// # Panics
    /// On a broken rule.
    pub async fn expiry<S, F, Fut>(store: &S, mut let_time_pass: F)
    where
        S: SessionStore,
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = ()>,
    {
        if !S::SERVER_SIDE {
            return;
        }
        let rec = record(json!({"data": "short-lived"}));
        let short = ok("save", store.save(&fresh_id(), &rec, 1).await);
        let long = ok("save", store.save(&fresh_id(), &rec, 1).await);
        let _ = ok("touch", store.touch(&long, 600).await);
        let_time_pass(2).await;
        let gone = ok("load expired", store.load(&short).await);
        assert!(gone.is_none(), "a record must not outlive its TTL");
        let kept = ok("load touched", store.load(&long).await);
        assert_eq!(kept.as_ref(), Some(&rec), "touch must extend the TTL");
        let created = ok(
            "create over expired",
            store.create(short.clone(), &rec, 60).await,
        );
        assert!(
            created.is_some(),
            "create may reuse an id whose record expired"
        );
        ok("delete", store.delete(&short).await);
        ok("delete", store.delete(&long).await);
    }

    /// The clock of the lifecycle steps below: cookies carry expiries
    /// relative to it; store TTLs are relative, so any fixed value works.
    const NOW: u64 = 1_700_000_000;

    fn steps_config() -> SessionConfig {
        SessionConfig::new(Key::from_bytes(&[0x5e; 32]))
    }

    /// A request of the session whose cookie is `cookie` (`None`: none).
    fn request(config: &SessionConfig, cookie: Option<&str>) -> Lifecycle {
        Lifecycle::start(config, cookie.map(str::as_bytes), NOW)
    }

    /// A cookie for `id`, valid until `expires`.
    fn cookie_for(config: &SessionConfig, id: &SessionId, expires: u64) -> String {
        let name = config.cookie.name.as_str();
        alloc::format!(
            "{name}={}",
            crate::format::encode(&config.keys, name, id, expires)
        )
    }

    async fn commit<S: SessionStore>(config: &SessionConfig, store: &S, lc: Lifecycle) -> Commit {
        ok("commit", lc.commit(config, store, NOW).await)
    }

    async fn load<'a, S: SessionStore>(
        lc: &'a mut Lifecycle,
        store: &S,
    ) -> &'a mut crate::SessionData {
        ok("lifecycle load", lc.load(store).await)
    }

    /// A new session holding `data`: its id and its cookie.
    async fn new_session<S: SessionStore>(
        config: &SessionConfig,
        store: &S,
        data: serde_json::Value,
    ) -> (SessionId, String) {
        let mut lc = request(config, None);
        let session = load(&mut lc, store).await;
        for (k, v) in record(data) {
            session.insert_value(&k, v);
        }
        let done = commit(config, store, lc).await;
        assert_eq!(
            done.action,
            Action::Created,
            "a first write creates the session"
        );
        let set_cookie = done
            .set_cookie
            .unwrap_or_else(|| panic!("a new session must set its cookie"));
        let pair = set_cookie.split(';').next().unwrap_or_default();
        let value = pair.split_once('=').map(|(_, v)| v).unwrap_or_default();
        let verified = crate::format::verify(
            &config.keys,
            config.cookie.name.as_str(),
            value.as_bytes(),
            NOW,
        )
        .unwrap_or_else(|| panic!("the new cookie must verify"));
        (verified.id, String::from(pair))
    }

    async fn stored<S: SessionStore>(store: &S, id: &SessionId) -> Option<Record> {
        ok("load", store.load(id).await)
    }

    /// The concurrency rules, as interleavings written step by step through
    /// the real [`Lifecycle`] (request A reads, request B commits, then A
    /// commits): a logout or a login commits and a request that read the
    /// session before never writes the old id back (it gets
    /// [`Action::Gone`] and the removal cookie); a refresh after a
    /// concurrent write keeps the write; disjoint changes of two requests
    /// both survive; on one key the last writer wins for that key only.
    ///
    /// Every server-side store must pass it, even without atomic writes
    /// (each step completes before the next). Does nothing for a store that
    /// is not server-side (the cookie store cannot revoke a session).
    ///
    /// # Panics
    /// On the first broken rule.
    pub async fn interleavings<S: SessionStore>(store: &S) {
        if !S::SERVER_SIDE {
            return;
        }
        let config = steps_config();
        let config = &config;
        let removal = config.cookie.removal();

        // Logout sticks: load A; delete by B; commit A -> gone, removal cookie.
        let (id, cookie) =
            new_session(config, store, json!({"user": "alice", "role": "admin"})).await;
        let mut a = request(config, Some(&cookie));
        let _ = load(&mut a, store).await.insert("seen", true);
        let mut b = request(config, Some(&cookie));
        b.clear();
        assert_eq!(commit(config, store, b).await.action, Action::Deleted);
        let late = commit(config, store, a).await;
        assert_eq!(
            (late.action, late.set_cookie.as_deref()),
            (Action::Gone, Some(removal.as_str())),
            "a write committed after a logout must write nothing and remove the cookie"
        );
        assert!(stored(store, &id).await.is_none(), "logout must stick");

        // Logout racing an untouched request due a refresh: touch finds nothing.
        let (id, cookie) = new_session(config, store, json!({"user": "alice"})).await;
        let due = cookie_for(config, &id, NOW + 60);
        let a = request(config, Some(&due));
        let mut b = request(config, Some(&cookie));
        b.clear();
        assert_eq!(commit(config, store, b).await.action, Action::Deleted);
        let late = commit(config, store, a).await;
        assert_eq!(
            late.action,
            Action::Gone,
            "a refresh after a logout must not revive it"
        );
        assert!(
            stored(store, &id).await.is_none(),
            "logout must stick after a refresh"
        );

        // Logout racing a login: the login finds the record gone.
        let (id, cookie) = new_session(config, store, json!({"user": "alice"})).await;
        let mut a = request(config, Some(&cookie));
        let session = load(&mut a, store).await;
        session.cycle_id();
        let _ = session.insert("user", "mallory");
        let mut b = request(config, Some(&cookie));
        b.clear();
        assert_eq!(commit(config, store, b).await.action, Action::Deleted);
        let late = commit(config, store, a).await;
        assert_eq!(
            (late.action, late.set_cookie.as_deref()),
            (Action::Gone, Some(removal.as_str())),
            "a login committed after a logout must not move the session to a new id"
        );
        assert!(stored(store, &id).await.is_none());

        // Login, then a stale write to the old id: the old id stays dead.
        let (old, cookie) = new_session(config, store, json!({"cart": 1})).await;
        let mut a = request(config, Some(&cookie));
        let _ = load(&mut a, store).await.insert("cart", 2);
        let mut b = request(config, Some(&cookie));
        let session = load(&mut b, store).await;
        session.cycle_id();
        let _ = session.insert("user", "alice");
        let login = commit(config, store, b).await;
        assert_eq!(login.action, Action::Cycled);
        let late = commit(config, store, a).await;
        assert_eq!(
            late.action,
            Action::Gone,
            "a stale write after cycle_id must write nothing"
        );
        assert!(
            stored(store, &old).await.is_none(),
            "the pre-login id must stay dead"
        );
        let new_pair = login.set_cookie.unwrap_or_default();
        let new_value = new_pair
            .split(';')
            .next()
            .and_then(|p| p.split_once('='))
            .map(|(_, v)| v)
            .unwrap_or_default();
        let new_id = crate::format::verify(&config.keys, "session", new_value.as_bytes(), NOW)
            .unwrap_or_else(|| panic!("the login cookie must verify"))
            .id;
        assert_eq!(
            stored(store, &new_id).await,
            Some(record(json!({"cart": 1, "user": "alice"}))),
            "the new id holds the session as the login saw it"
        );
        ok("delete", store.delete(&new_id).await);

        // Disjoint changes from two requests both survive.
        let (id, cookie) = new_session(config, store, json!({"x": 0, "y": 0, "drop": true})).await;
        let mut a = request(config, Some(&cookie));
        let mut b = request(config, Some(&cookie));
        let _ = load(&mut a, store).await.insert("x", 1);
        let session = load(&mut b, store).await;
        let _ = session.insert("y", 2);
        let _ = session.remove_value("drop");
        assert_eq!(commit(config, store, a).await.action, Action::Saved);
        assert_eq!(commit(config, store, b).await.action, Action::Saved);
        assert_eq!(
            stored(store, &id).await,
            Some(record(json!({"x": 1, "y": 2}))),
            "edits to different keys must all survive"
        );

        // One key: the last writer wins for that key only.
        let mut a = request(config, Some(&cookie));
        let mut b = request(config, Some(&cookie));
        let session = load(&mut a, store).await;
        let _ = session.insert("x", "a");
        let _ = session.insert("a_only", true);
        let _ = load(&mut b, store).await.insert("x", "b");
        assert_eq!(commit(config, store, a).await.action, Action::Saved);
        assert_eq!(commit(config, store, b).await.action, Action::Saved);
        assert_eq!(
            stored(store, &id).await,
            Some(record(json!({"x": "b", "y": 2, "a_only": true}))),
            "the last writer wins for its keys only"
        );

        // A refresh after a concurrent write keeps the write (read, then untouched).
        let due = cookie_for(config, &id, NOW + 60);
        let mut reader = request(config, Some(&due));
        let _ = load(&mut reader, store).await.get_value("x");
        let untouched = request(config, Some(&due));
        let mut writer = request(config, Some(&cookie));
        let _ = load(&mut writer, store).await.insert("role", "user");
        assert_eq!(commit(config, store, writer).await.action, Action::Saved);
        assert_eq!(
            commit(config, store, reader).await.action,
            Action::Refreshed
        );
        assert_eq!(
            commit(config, store, untouched).await.action,
            Action::Refreshed
        );
        assert_eq!(
            stored(store, &id).await,
            Some(record(
                json!({"x": "b", "y": 2, "a_only": true, "role": "user"})
            )),
            "a refresh must never roll back a concurrent write"
        );

        // Increments: each request sees its local value; the store adds.
        let mut a = request(config, Some(&cookie));
        let mut b = request(config, Some(&cookie));
        assert_eq!(
            ok("increment", load(&mut a, store).await.increment("n", 1)),
            1
        );
        assert_eq!(
            ok("increment", load(&mut b, store).await.increment("n", 5)),
            5
        );
        let _ = commit(config, store, a).await;
        let _ = commit(config, store, b).await;
        let n = stored(store, &id).await.and_then(|r| r.get("n").cloned());
        assert_eq!(n, Some(json!(6)), "increments must add up");

        // Removing every key deletes the session.
        let mut a = request(config, Some(&cookie));
        let session = load(&mut a, store).await;
        for key in ["x", "y", "a_only", "role", "n"] {
            let _ = session.remove_value(key);
        }
        let done = commit(config, store, a).await;
        assert_eq!(
            (done.action, done.set_cookie.as_deref()),
            (Action::Deleted, Some(removal.as_str()))
        );
        assert!(stored(store, &id).await.is_none());
    }

    /// `clients` requests of one session run at once, each loading the
    /// session, incrementing `"n"` by one and committing; returns the final
    /// value of `"n"`. A store whose `update` is atomic returns `clients`
    /// exactly (see [`atomic`]); one that reads, merges and writes (Workers
    /// KV) loses some, and this measures how many.
    ///
    /// # Panics
    /// If a commit fails.
    pub async fn concurrent_increments<S: SessionStore>(store: &S, clients: usize) -> i64 {
        let config = steps_config();
        let config = &config;
        let (id, cookie) = new_session(config, store, json!({"n": 0})).await;
        let cookie = cookie.as_str();
        let requests: Vec<Pin<Box<dyn Future<Output = Action> + '_>>> = (0..clients)
            .map(|_| {
                Box::pin(async move {
                    let mut lc = request(config, Some(cookie));
                    let _ = ok("increment", load(&mut lc, store).await.increment("n", 1));
                    commit(config, store, lc).await.action
                }) as Pin<Box<dyn Future<Output = Action> + '_>>
            })
            .collect();
        let actions = JoinAll::new(requests).await;
        assert!(
            actions.iter().all(|a| *a == Action::Saved),
            "every increment must commit: {actions:?}"
        );
        let n = stored(store, &id)
            .await
            .and_then(|r| r.get("n").and_then(serde_json::Value::as_i64))
            .unwrap_or(-1);
        ok("delete", store.delete(&id).await);
        n
    }

    /// [`interleavings`], plus 100 concurrent increments that must add
    /// exactly 100: what a store with atomic, conditional, field-level writes
    /// (memory, Redis, Upstash) guarantees.
    ///
    /// # Panics
    /// On the first broken rule.
    pub async fn atomic<S: SessionStore>(store: &S) {
        interleavings(store).await;
        if S::SERVER_SIDE {
            let n = concurrent_increments(store, 100).await;
            assert_eq!(n, 100, "100 concurrent increments must add exactly 100");
        }
    }

    /// Polls every future until all are done (no executor needed).
    struct JoinAll<'a, T> {
        pending: Vec<Option<Pin<Box<dyn Future<Output = T> + 'a>>>>,
        done: Vec<Option<T>>,
    }

    impl<'a, T> JoinAll<'a, T> {
        fn new(futures: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>) -> Self {
            let done = futures.iter().map(|_| None).collect();
            JoinAll {
                pending: futures.into_iter().map(Some).collect(),
                done,
            }
        }
    }

    // Only boxed (pinned) futures and finished outputs are held.
    impl<T> Unpin for JoinAll<'_, T> {}

    impl<T> Future for JoinAll<'_, T> {
        type Output = Vec<T>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
            let this = self.get_mut();
            let mut all = true;
            for (slot, out) in this.pending.iter_mut().zip(this.done.iter_mut()) {
                if let Some(future) = slot {
                    match future.as_mut().poll(cx) {
                        Poll::Ready(v) => {
                            *out = Some(v);
                            *slot = None;
                        }
                        Poll::Pending => all = false,
                    }
                }
            }
            if all {
                Poll::Ready(this.done.iter_mut().filter_map(Option::take).collect())
            } else {
                Poll::Pending
            }
        }
    }
}
