//! Workers KV allows one write per second per key and answers a second one
//! with 429, which the runtime reports as a JS error whose only content is
//! its message (`KV PUT failed: 429 Too Many Requests`). A read-only
//! request whose sliding refresh hits that limit is served anyway, without
//! the refresh, and says so in the log; the next request retries. This runs
//! natively: the error type and the core's request driver are the same code
//! the worker runs.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};

use edge_session::adapter::{Action, LogLevel, Outcome, SessionManager};
use edge_session::testing::block_on_ready;
use edge_session::{
    Error, Expiry, MemoryStore, Record, Result, SessionConfig, SessionId, SessionStore,
};
use edge_session_worker::KvStoreError;

/// The memory store, whose `touch` answers as a rate-limited KV write does.
struct RateLimited {
    inner: MemoryStore,
    limited: AtomicBool,
}

impl SessionStore for RateLimited {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>> {
        self.inner.load(id).await
    }
    async fn create(&self, id: SessionId, r: &Record, ttl: u64) -> Result<Option<SessionId>> {
        self.inner.create(id, r, ttl).await
    }
    async fn save(&self, id: &SessionId, r: &Record, ttl: u64) -> Result<SessionId> {
        self.inner.save(id, r, ttl).await
    }
    async fn delete(&self, id: &SessionId) -> Result<()> {
        self.inner.delete(id).await
    }
    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>> {
        if self.limited.load(Ordering::SeqCst) {
            return Err(Error::store(KvStoreError::from_message(
                "KV PUT failed: 429 Too Many Requests",
            )));
        }
        self.inner.touch(id, ttl).await
    }
}

#[test]
fn a_rate_limited_refresh_serves_the_read_and_the_next_request_retries() {
    const DAY: u64 = 86_400;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let config = SessionConfig::from_secret(&[9; 32])
        .unwrap()
        .with_expiry(Expiry::OnInactivity(DAY));
    let store = RateLimited {
        inner: MemoryStore::new(),
        limited: AtomicBool::new(true),
    };
    let manager = SessionManager::new(store, config).unwrap();
    // A session made a day ago (less the last minute): due a refresh.
    let born = now - DAY + 60;
    let pending = manager.begin([], born);
    block_on_ready(pending.session().insert("data", "kept")).unwrap();
    let outcome = block_on_ready(pending.finish(born));
    let cookie = outcome
        .set_cookie()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let pending = manager.begin([cookie.as_bytes()], now);
    let data = block_on_ready(pending.session().get::<String>("data")).unwrap();
    assert_eq!(data.as_deref(), Some("kept"));
    let outcome = block_on_ready(pending.finish(now));
    let Outcome::Respond {
        action,
        refresh_error,
        ..
    } = &outcome
    else {
        panic!("a failed refresh must not fail the read: {outcome:?}");
    };
    assert_eq!(*action, Action::RefreshFailed);
    assert!(outcome.set_cookie().is_none());
    let cause = refresh_error.as_ref().unwrap();
    let kv = cause.downcast_ref::<KvStoreError>().unwrap();
    assert!(kv.is_rate_limited(), "recognised by status: {kv:?}");
    let lines = outcome.log_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].level, LogLevel::Warn);
    assert!(
        lines[0].message.contains("one write per second"),
        "{}",
        lines[0].message
    );

    // The limit has passed: the next read refreshes.
    manager.store().limited.store(false, Ordering::SeqCst);
    let pending = manager.begin([cookie.as_bytes()], now);
    block_on_ready(pending.session().get::<String>("data")).unwrap();
    let outcome = block_on_ready(pending.finish(now));
    assert!(
        matches!(
            outcome,
            Outcome::Respond {
                action: Action::Refreshed,
                ..
            }
        ),
        "{outcome:?}"
    );
}
