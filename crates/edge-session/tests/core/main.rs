//! The core suite, one module per concern. The same files run natively
//! (`cargo test`) and, compiled to wasm32, in headless Chromium
//! (`cargo test --target wasm32-unknown-unknown --test core`, through
//! wasm-bindgen-test), so both runtimes are held to the same rules.
//! The shared helpers are here; each module starts with `use super::*`.
#![allow(
    clippy::unwrap_used,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    missing_docs
)]

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use edge_session::adapter::{
    Action, Lifecycle, LogLevel, MAX_COOKIE_CANDIDATES, Outcome, SessionManager,
};
use edge_session::cookie::{cookie_values, parse_cookie_header};
use edge_session::testing::{Calls, CountingStore, block_on_ready, conformance};
use edge_session::{
    CookieStore, Error, Expiry, Key, KeyRing, MemoryStore, SameSite, SessionConfig, SessionData,
    SessionExpiry, SessionId, SessionStore, format,
};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const T0: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

// ---------------------------------------------------------------- helpers

fn config() -> SessionConfig {
    SessionConfig::from_secret(&[0x5a; 32]).unwrap()
}

/// A memory store on a clock the test moves, wrapped in a counter.
fn memory() -> (CountingStore<MemoryStore>, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(T0));
    let c = clock.clone();
    let store = MemoryStore::with_clock(move || c.load(Ordering::SeqCst));
    (CountingStore::new(store), clock)
}

/// Store calls: the lifecycle never calls `save` (whole-record overwrite);
/// changes go through `update`.
fn calls(
    load: usize,
    create: usize,
    update: usize,
    delete: usize,
    touch: usize,
    cycle: usize,
) -> Calls {
    Calls {
        load,
        create,
        save: 0,
        delete,
        update,
        touch,
        cycle,
    }
}

/// The `name=value` part of a Set-Cookie.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

fn attrs(set_cookie: &str) -> Vec<String> {
    set_cookie.split("; ").skip(1).map(String::from).collect()
}

fn max_age(set_cookie: &str) -> Option<u64> {
    attrs(set_cookie)
        .iter()
        .find_map(|a| a.strip_prefix("Max-Age=").map(|v| v.parse().unwrap()))
}

/// Runs one request: start from `cookie` (a `name=value` pair), let
/// `handler` act, commit. Returns the commit.
fn request<S: SessionStore>(
    config: &SessionConfig,
    store: &S,
    cookie: Option<&str>,
    now: u64,
    handler: impl FnOnce(&mut Lifecycle, &S),
) -> edge_session::adapter::Commit {
    let headers: Vec<&[u8]> = cookie.map(str::as_bytes).into_iter().collect();
    let mut lc = Lifecycle::start(config, headers, now);
    handler(&mut lc, store);
    block_on_ready(lc.commit(config, store, now)).unwrap()
}

fn write_data<S: SessionStore>(lc: &mut Lifecycle, store: &S) {
    block_on_ready(lc.load(store))
        .unwrap()
        .insert("data", "session_data")
        .unwrap();
}

fn read_data<S: SessionStore>(lc: &mut Lifecycle, store: &S) -> Option<String> {
    block_on_ready(lc.load(store)).unwrap().get("data").unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A store with only the four required methods of the trait (so the
/// defaults of the others run), whose `load` can wait one poll before
/// answering (like a network store).
struct RequiredOnly<S> {
    inner: S,
    yield_on_load: bool,
}

struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

impl<S: SessionStore> SessionStore for RequiredOnly<S> {
    async fn load(&self, id: &SessionId) -> edge_session::Result<Option<edge_session::Record>> {
        YieldOnce(!self.yield_on_load).await;
        self.inner.load(id).await
    }
    async fn create(
        &self,
        id: SessionId,
        r: &edge_session::Record,
        ttl: u64,
    ) -> edge_session::Result<Option<SessionId>> {
        self.inner.create(id, r, ttl).await
    }
    async fn save(
        &self,
        id: &SessionId,
        r: &edge_session::Record,
        ttl: u64,
    ) -> edge_session::Result<SessionId> {
        self.inner.save(id, r, ttl).await
    }
    async fn delete(&self, id: &SessionId) -> edge_session::Result<()> {
        self.inner.delete(id).await
    }
}

/// Polls two futures in turn until both finish (a tiny join for tests).
fn join2<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..100 {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(&mut cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(&mut cx)
        {
            rb = Some(v);
        }
        if let (Some(_), Some(_)) = (&ra, &rb) {
            return (ra.unwrap(), rb.unwrap());
        }
    }
    panic!("join2: the futures never finished");
}

mod cookies;
mod expiry;
mod handle;
mod hardening;
mod keys;
mod lifecycle;
mod session;
mod stores;
mod vectors;
