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
use crate::store::{Record, SessionStore};

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

    /// Calls that write (`create`, `save`, `delete`, `touch`, `cycle`).
    pub fn writes(&self) -> usize {
        self.create + self.save + self.delete + self.touch + self.cycle
    }

    /// All calls.
    pub fn total(&self) -> usize {
        self.reads() + self.writes()
    }
}

/// Wraps a store, counts the calls made to it, and can make every call fail
/// with [`Error::Store`] to simulate an outage.
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    load: AtomicUsize,
    create: AtomicUsize,
    save: AtomicUsize,
    delete: AtomicUsize,
    touch: AtomicUsize,
    cycle: AtomicUsize,
    failing: AtomicBool,
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
            touch: AtomicUsize::new(0),
            cycle: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
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

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>> {
        self.enter(&self.touch)?;
        self.inner.touch(id, ttl).await
    }

    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>> {
        self.enter(&self.cycle)?;
        self.inner.cycle(old, new, record, ttl).await
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

    use crate::id::{SessionId, default_rng};
    use crate::store::{Record, SessionStore};

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

        // create then load round-trips, including unicode, nesting, numbers.
        let rec1 = record(json!({
            "data": "session_data",
            "unicode": "h\u{e9}llo \u{1f980} \"quoted\" \\ back",
            "nested": {"list": [1, 2.5, -3, true, null], "empty": {}},
            "big": 9_007_199_254_740_993_u64,
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

        // cycle moves the data to a new id.
        let new = fresh_id();
        let cycled = ok(
            "cycle",
            store.cycle(&touched, new.clone(), &rec2, ttl).await,
        )
        .unwrap_or_else(|| panic!("cycle to a fresh id must succeed"));
        let loaded = ok("load after cycle", store.load(&cycled).await);
        assert_eq!(loaded.as_ref(), Some(&rec2), "cycle must keep the data");
        if server_side {
            assert_eq!(
                cycled, new,
                "a server-side store must use the id it was given"
            );
            let old = ok("load(old id)", store.load(&touched).await);
            assert!(old.is_none(), "after cycle the old id must be gone");
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
}
