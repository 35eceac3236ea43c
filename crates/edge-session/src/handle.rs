//! The per-request session handle handlers use ([`Session`]), and the
//! driver adapters hold ([`SessionManager`], in [`crate::adapter`]).
//!
//! One implementation for every runtime, so requests behave the same on a
//! native server and on Workers: an adapter calls
//! [`SessionManager::begin`] with the request's `Cookie` headers, gives the
//! handler the [`Session`], and after the handler calls
//! [`Pending::finish`], which commits and returns an [`Outcome`] that
//! already knows its HTTP meaning. Handlers can only make data calls: the
//! commit is reachable through the [`Pending`] token alone.

extern crate std;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::SessionConfig;
use crate::engine::{Action, Commit, Lifecycle};
use crate::error::{Error, Result};
use crate::session::SessionData;
use crate::store::{MaybeSend, MaybeSync, Record, SessionStore};

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

trait Loader: MaybeSend + MaybeSync {
    fn load<'a>(&'a self, lifecycle: &'a mut Lifecycle) -> BoxFuture<'a, Result<()>>;
}

struct StoreLoader<S>(Arc<S>);

impl<S: SessionStore + 'static> Loader for StoreLoader<S> {
    fn load<'a>(&'a self, lifecycle: &'a mut Lifecycle) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { lifecycle.load(&*self.0).await.map(|_| ()) })
    }
}

/// A request's session as handlers see it: cheap to clone, loaded from the
/// store on the first data call (at most once per request, even if two
/// futures of the handler ask at the same time), committed by the adapter
/// after the handler returns. Handlers get data calls only.
///
/// `E` is the error type its calls return: [`Error`] by default; an adapter
/// may pick its own (anything `From<Error>`), so that `?` works in its
/// framework's handlers (the Workers adapter's converts into
/// `worker::Error`).
///
/// # Errors
/// The data methods return [`Error::Store`] when the store cannot be read
/// (adapters answer 503 whatever the handler does with it), [`Error::Json`]
/// when a stored value is not of the asked type, and [`Error::Finished`]
/// once the response was committed.
pub struct Session<E = Error> {
    shared: Arc<Shared>,
    error: core::marker::PhantomData<fn() -> E>,
}

impl<E> Clone for Session<E> {
    fn clone(&self) -> Self {
        Session {
            shared: self.shared.clone(),
            error: core::marker::PhantomData,
        }
    }
}

struct Shared {
    lifecycle: Mutex<Option<Lifecycle>>,
    gate: Gate,
    loader: Arc<dyn Loader>,
    /// The store error met while loading, if any (the request answers 503).
    load_error: Mutex<Option<Error>>,
}

impl Shared {
    fn load_error(&self) -> MutexGuard<'_, Option<Error>> {
        self.load_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<E> fmt::Debug for Session<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    // On wasm32 (Workers) the store is `!Send` and everything runs on one
    // thread; elsewhere `Shared` is `Send + Sync`.
    #[allow(clippy::arc_with_non_send_sync)]
    fn new(lifecycle: Lifecycle, loader: Arc<dyn Loader>) -> Self {
        Session {
            shared: Arc::new(Shared {
                lifecycle: Mutex::new(Some(lifecycle)),
                gate: Gate::default(),
                loader,
                load_error: Mutex::new(None),
            }),
            error: core::marker::PhantomData,
        }
    }
}

impl<E> Session<E> {
    /// The same session, its calls returning errors of type `F`.
    pub fn with_error_type<F: From<Error>>(self) -> Session<F> {
        Session {
            shared: self.shared,
            error: core::marker::PhantomData,
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Lifecycle>> {
        self.shared
            .lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn with_core<R>(&self, f: impl FnOnce(&mut SessionData) -> R) -> Result<R> {
        let _turn = self.shared.gate.acquire().await;
        // Held out of the slot while the store is read; put back when this
        // call ends, also if it is dropped mid-load (a timeout, `select!`):
        // a later `clear()` must still find the session.
        let mut held = Held {
            slot: &self.shared.lifecycle,
            lifecycle: Some(self.slot().take().ok_or(Error::Finished)?),
        };
        let lifecycle = held.lifecycle.as_mut().ok_or(Error::Finished)?;
        // Without a valid cookie there is nothing to read: no store call,
        // so no (boxed) loader future either.
        lifecycle.load_empty();
        if !lifecycle.is_loaded()
            && let Err(e) = self.shared.loader.load(lifecycle).await
        {
            if let Some(shared) = e.share_store() {
                *self.shared.load_error() = Some(shared);
            }
            return Err(e);
        }
        lifecycle.loaded_mut().map(f).ok_or(Error::Finished)
    }
}

/// A lifecycle taken out of the session's slot, put back on drop.
struct Held<'a> {
    slot: &'a Mutex<Option<Lifecycle>>,
    lifecycle: Option<Lifecycle>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(lifecycle) = self.lifecycle.take() {
            *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(lifecycle);
        }
    }
}

impl<E: From<Error>> Session<E> {
    /// Runs `f` on the loaded session data, loading it first if needed.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn with<R>(&self, f: impl FnOnce(&mut SessionData) -> R) -> Result<R, E> {
        self.with_core(f).await.map_err(E::from)
    }

    /// The value under `key` as a `T`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, E> {
        self.with_core(|s| s.get(key))
            .await
            .and_then(|r| r)
            .map_err(E::from)
    }

    /// The raw JSON value under `key`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, E> {
        self.with(|s| s.get_value(key).cloned()).await
    }

    /// Stores `value` under `key` (a change only if it differs).
    ///
    /// # Errors
    /// See the type's docs; also [`Error::Json`] if `value` is not JSON.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), E> {
        let value = serde_json::to_value(value).map_err(|e| E::from(Error::Json(e)))?;
        self.with(|s| {
            s.insert_value(key, value);
        })
        .await
    }

    /// Adds `by` to the integer under `key` (missing: 0) and returns the new
    /// value as this request sees it; the store applies the increment
    /// atomically at commit, so concurrent increments add up exactly (see
    /// [`SessionData::increment`]).
    ///
    /// # Errors
    /// See the type's docs; also [`Error::Json`] if the value is not an
    /// `i64` or the sum would overflow.
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64, E> {
        self.with_core(|s| s.increment(key, by))
            .await
            .and_then(|r| r)
            .map_err(E::from)
    }

    /// Removes `key` and returns its value as a `T`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, E> {
        self.with_core(|s| s.remove(key))
            .await
            .and_then(|r| r)
            .map_err(E::from)
    }

    /// Removes `key` and returns its raw value.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn remove_value(&self, key: &str) -> Result<Option<Value>, E> {
        self.with(|s| s.remove_value(key)).await
    }

    /// Clears the session (logout): the record is deleted and the cookie
    /// removed when the response goes out. Reads nothing from the store.
    ///
    /// # Errors
    /// [`Error::Finished`] if the response was already committed.
    pub async fn clear(&self) -> Result<(), E> {
        let _turn = self.shared.gate.acquire().await;
        self.slot()
            .as_mut()
            .ok_or(Error::Finished)
            .map_err(E::from)?
            .clear();
        Ok(())
    }

    /// Gives the session a new id at commit, keeping its data (call it at
    /// login, against session fixation).
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn cycle_id(&self) -> Result<(), E> {
        self.with(SessionData::cycle_id).await
    }

    /// Sets this session's own expiry ("remember me": a persistent cookie
    /// for 30 days; a browser-session cookie; back to the configuration's),
    /// kept in its signed cookie and store TTL; see
    /// [`SessionData::set_expiry`].
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn set_expiry(&self, expiry: crate::SessionExpiry) -> Result<(), E> {
        self.with(|s| s.set_expiry(expiry)).await
    }

    /// A copy of all the data.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn record(&self) -> Result<Record, E> {
        self.with(|s| s.record().clone()).await
    }

    /// True if the session holds no data.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn is_empty(&self) -> Result<bool, E> {
        self.with(|s| s.is_empty()).await
    }
}

/// What an adapter holds for the whole application: the store and a
/// configuration validated once, when the manager is made. It begins every
/// request ([`SessionManager::begin`]); cheap to clone.
///
/// ```
/// use edge_session::{MemoryStore, SessionConfig};
/// use edge_session::adapter::{Outcome, SessionManager};
/// # edge_session::testing::block_on_ready(async {
/// let config = SessionConfig::from_secret(b"a secret of at least thirty-two bytes")?;
/// let manager = SessionManager::new(MemoryStore::new(), config)?;
/// let now = 1_700_000_000;
///
/// // Per request: the Cookie headers in, the handler's Session out.
/// let pending = manager.begin([&b"theme=dark"[..]], now);
/// let session = pending.session();
/// session.insert("data", "session_data").await?; // the handler
/// // After the handler: one outcome with its HTTP meaning.
/// let outcome = pending.finish(now).await;
/// assert!(matches!(outcome, Outcome::Respond { .. }));
/// assert!(outcome.set_cookie().unwrap().starts_with("session=v1."));
/// # Ok::<(), edge_session::Error>(())
/// # })?;
/// # Ok::<(), edge_session::Error>(())
/// ```
pub struct SessionManager<S> {
    inner: Arc<ManagerInner<S>>,
}

struct ManagerInner<S> {
    store: Arc<S>,
    loader: Arc<dyn Loader>,
    config: SessionConfig,
    load_error_passthrough: bool,
}

impl<S> Clone for SessionManager<S> {
    fn clone(&self) -> Self {
        SessionManager {
            inner: self.inner.clone(),
        }
    }
}

impl<S> fmt::Debug for SessionManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("config", &self.inner.config)
            .field("load_error_passthrough", &self.inner.load_error_passthrough)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore + 'static> SessionManager<S> {
    /// A manager over `store`, with `config` checked once
    /// ([`SessionConfig::validate`]); nothing can change it afterwards.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting to change.
    // On wasm32 the store is `!Send` (one thread); elsewhere it is `Send + Sync`.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn new(store: S, config: SessionConfig) -> Result<Self> {
        config.validate()?;
        let store = Arc::new(store);
        let loader: Arc<dyn Loader> = Arc::new(StoreLoader(store.clone()));
        Ok(SessionManager {
            inner: Arc::new(ManagerInner {
                store,
                loader,
                config,
                load_error_passthrough: false,
            }),
        })
    }
}

impl<S> SessionManager<S> {
    /// By default a store failure while the handler loaded the session turns
    /// the response into a 503, whatever the handler answered (it may have
    /// swallowed the error and answered as if logged out). With `true` the
    /// handler's response stands. Commit failures always answer 503.
    #[must_use]
    pub fn with_load_error_passthrough(self, passthrough: bool) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.load_error_passthrough = passthrough;
                inner
            }
            Err(shared) => ManagerInner {
                store: shared.store.clone(),
                loader: shared.loader.clone(),
                config: shared.config.clone(),
                load_error_passthrough: passthrough,
            },
        };
        SessionManager {
            inner: Arc::new(inner),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Begins a request from its `Cookie` header values (all of them) and
    /// `now` (unix seconds): no store call yet. Give
    /// [`Pending::session`] to the handler, then call [`Pending::finish`].
    pub fn begin<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        now: u64,
    ) -> Pending<S>
    where
        S: SessionStore,
    {
        let lifecycle = Lifecycle::start_for::<S>(&self.inner.config, cookie_headers, now);
        Pending {
            session: Session::new(lifecycle, self.inner.loader.clone()),
            manager: self.clone(),
        }
    }
}

/// A request in progress, for the adapter only: it hands out the
/// handler's [`Session`] and commits it with [`Pending::finish`].
pub struct Pending<S> {
    session: Session,
    manager: SessionManager<S>,
}

impl<S> fmt::Debug for Pending<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl<S: SessionStore> Pending<S> {
    /// The handler's session (clones share one state).
    pub fn session(&self) -> Session {
        self.session.clone()
    }

    /// True if loading failed because of the store during this request: a
    /// handler error behind it should be answered with
    /// [`ErrorResponse::unavailable`].
    pub fn store_failed(&self) -> bool {
        self.session.shared.load_error().is_some()
    }

    /// After the handler: takes the session back and commits it. At most
    /// one store write; none for a request without a valid cookie whose
    /// handler never touched the session. Every later call on the handler's
    /// [`Session`] fails with [`Error::Finished`].
    ///
    /// The future is boxed (one allocation): the store's futures make the
    /// commit large (1.7 KB with Redis), and an adapter's own per-request
    /// future stays small. Try [`Pending::finish_now`] first: most requests
    /// (reads) need no future at all.
    pub fn finish(self, now: u64) -> BoxFuture<'static, Outcome>
    where
        S: 'static,
    {
        Box::pin(async move {
            let lifecycle = {
                let _turn = self.session.shared.gate.acquire().await;
                self.session.slot().take()
            };
            match self.settle(lifecycle, now) {
                Settled::Done(outcome) => outcome,
                Settled::Commit(lifecycle) => {
                    let inner = &self.manager.inner;
                    let commit = lifecycle.commit(&inner.config, &*inner.store, now).await;
                    outcome_of(&inner.config, commit)
                }
            }
        })
    }

    /// [`Pending::finish`] without awaiting, for the requests that need
    /// nothing awaited (most reads): the same outcome, when no store call
    /// is due and no future of the handler still holds the session. Gives
    /// the request back otherwise, for [`Pending::finish`]. An adapter
    /// tries this first and so needs no future of its own for most
    /// requests.
    ///
    /// # Errors
    /// The request itself, untouched, when the commit must call the store
    /// or a handler future is still using the session.
    pub fn finish_now(self, now: u64) -> core::result::Result<Outcome, Self> {
        let Some(turn) = self.session.shared.gate.try_acquire() else {
            return Err(self);
        };
        let lifecycle = self.session.slot().take();
        match self.settle(lifecycle, now) {
            Settled::Done(outcome) => Ok(outcome),
            Settled::Commit(lifecycle) => {
                // Back as it was, before anyone else can take a turn.
                *self.session.slot() = Some(lifecycle);
                drop(turn);
                Err(self)
            }
        }
    }

    /// The outcome of a request whose lifecycle was taken, if no store call
    /// is needed for it; else the lifecycle back, for the commit (nothing
    /// else was consumed then).
    fn settle(&self, lifecycle: Option<Lifecycle>, now: u64) -> Settled {
        let inner = &self.manager.inner;
        if !inner.load_error_passthrough
            && let Some(error) = self.session.shared.load_error().take()
        {
            return Settled::Done(Outcome::Error(ErrorResponse::new(error)));
        }
        let untouched = Outcome::Respond {
            set_cookie: None,
            action: Action::None,
            corrupt_record: false,
            refresh_error: None,
            cache_control: None,
        };
        let Some(lifecycle) = lifecycle else {
            return Settled::Done(untouched);
        };
        if !lifecycle.has_valid_cookie() && !lifecycle.is_loaded() {
            return Settled::Done(untouched);
        }
        match lifecycle.commit_without_store(&inner.config, now) {
            Some(commit) => Settled::Done(outcome_of(&inner.config, Ok(commit))),
            None => Settled::Commit(lifecycle),
        }
    }
}

/// What [`Pending::settle`] decided.
enum Settled {
    /// The request's outcome, with no store call.
    Done(Outcome),
    /// The commit must call the store: the lifecycle to commit.
    Commit(Lifecycle),
}

/// The outcome of a commit.
fn outcome_of(config: &SessionConfig, commit: Result<Commit>) -> Outcome {
    match commit {
        Ok(commit) => Outcome::Respond {
            cache_control: (commit.set_cookie.is_some() && config.no_store).then_some("no-store"),
            set_cookie: commit.set_cookie,
            action: commit.action,
            corrupt_record: commit.corrupt_record,
            refresh_error: commit.refresh_error,
        },
        Err(e) => Outcome::Error(ErrorResponse::new(e)),
    }
}

/// What an adapter does to the handler's response once the session is
/// committed ([`Pending::finish`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Send the handler's response, with `set_cookie` **appended** (never
    /// replacing the handler's own `Set-Cookie` headers).
    Respond {
        /// A `Set-Cookie` value to append.
        set_cookie: Option<String>,
        /// What the commit did.
        action: Action,
        /// A store record did not decode and was treated as missing.
        corrupt_record: bool,
        /// Why a read-only request's refresh failed ([`Action::RefreshFailed`]):
        /// the request is served without it.
        refresh_error: Option<crate::error::StoreError>,
        /// A `Cache-Control` value to set **if the response has none**
        /// (`no-store` when `set_cookie` is there; see
        /// [`SessionConfig::with_no_store_on_set_cookie`](crate::SessionConfig::with_no_store_on_set_cookie)).
        cache_control: Option<&'static str>,
    },
    /// Replace the handler's response with this error response.
    Error(ErrorResponse),
}

impl Outcome {
    /// The `Set-Cookie` value to append, if any.
    pub fn set_cookie(&self) -> Option<&str> {
        match self {
            Outcome::Respond { set_cookie, .. } => set_cookie.as_deref(),
            Outcome::Error(_) => None,
        }
    }

    /// The `Cache-Control` value to set if the handler's response has no
    /// `Cache-Control` of its own.
    pub fn cache_control(&self) -> Option<&'static str> {
        match self {
            Outcome::Respond { cache_control, .. } => *cache_control,
            Outcome::Error(_) => None,
        }
    }

    /// What the adapter should log for this request, in order.
    pub fn log_lines(&self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        match self {
            Outcome::Respond {
                action,
                corrupt_record,
                refresh_error,
                ..
            } => {
                if let Some(cause) = refresh_error {
                    lines.push(LogLine {
                        level: LogLevel::Warn,
                        message: alloc::format!(
                            "session refresh failed (the request was served without it; a later request retries): {cause}"
                        ),
                    });
                }
                if *corrupt_record {
                    lines.push(LogLine {
                        level: LogLevel::Warn,
                        message: String::from(
                            "a session record did not decode; it was treated as missing",
                        ),
                    });
                }
                if *action == Action::Gone {
                    lines.push(LogLine {
                        level: LogLevel::Info,
                        message: String::from(
                            "the session was gone at commit (logged out or cycled concurrently); its changes were dropped and its cookie removed",
                        ),
                    });
                }
            }
            Outcome::Error(e) => lines.push(LogLine {
                level: LogLevel::Error,
                message: e.log_message(),
            }),
        }
        lines
    }
}

/// How loud a [`LogLine`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogLevel {
    /// Worth knowing (a session that was gone at commit).
    Info,
    /// Something was wrong but the request was served (a corrupt record).
    Warn,
    /// The request failed (a store outage, a commit that could not be made).
    Error,
}

/// One line for the adapter's log (`tracing`, `console_log!`...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// Its text (never a session id or a secret).
    pub message: String,
}

/// An error response, the same on every runtime: status, body and headers,
/// and the error behind it for the log.
#[derive(Debug)]
pub struct ErrorResponse {
    unavailable: bool,
    error: Option<Error>,
}

impl ErrorResponse {
    /// The response for `error`: 503 for a store failure, 500 otherwise.
    pub fn new(error: Error) -> Self {
        ErrorResponse {
            unavailable: error.is_store(),
            error: Some(error),
        }
    }

    /// A 503: the store failed (for example while the handler loaded the
    /// session, and the handler then failed).
    pub fn unavailable() -> Self {
        ErrorResponse {
            unavailable: true,
            error: None,
        }
    }

    /// A 500 for a failure that is not the session's (a handler error):
    /// the same body and headers, nothing about internals.
    pub fn internal() -> Self {
        ErrorResponse {
            unavailable: false,
            error: None,
        }
    }

    /// The HTTP status: 503 (`Retry-After: 1`) when the store failed, 500
    /// otherwise.
    pub fn status(&self) -> u16 {
        if self.unavailable { 503 } else { 500 }
    }

    /// The body (plain text, says nothing about internals).
    pub fn body(&self) -> &'static str {
        if self.unavailable {
            crate::error::UNAVAILABLE_BODY
        } else {
            crate::error::FAILED_BODY
        }
    }

    /// The headers to set: `Content-Type`, `Cache-Control: no-store`, and
    /// `Retry-After: 1` for a 503.
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        const FAILED: &[(&str, &str)] = &[
            ("content-type", "text/plain; charset=utf-8"),
            ("cache-control", "no-store"),
        ];
        const UNAVAILABLE: &[(&str, &str)] = &[
            ("content-type", "text/plain; charset=utf-8"),
            ("cache-control", "no-store"),
            ("retry-after", "1"),
        ];
        if self.unavailable {
            UNAVAILABLE
        } else {
            FAILED
        }
    }

    /// The error behind it, if it came from the session.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    fn log_message(&self) -> String {
        match &self.error {
            // One prefix, the cause once.
            Some(Error::Store(cause)) => alloc::format!("session store unavailable: {cause}"),
            Some(other) => alloc::format!("session commit failed: {other}"),
            None if self.unavailable => String::from("session store unavailable"),
            None => String::from("request failed"),
        }
    }
}

/// An async gate letting one caller at a time through, without `unsafe` and
/// without a runtime: the holder may await (the store read) while others
/// wait their turn.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    held: bool,
    waiters: VecDeque<Waker>,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn acquire(&self) -> Acquire<'_> {
        Acquire { gate: self }
    }

    /// A turn now, if no one holds one.
    fn try_acquire(&self) -> Option<Turn<'_>> {
        let mut state = self.lock();
        (!state.held).then(|| {
            state.held = true;
            Turn { gate: self }
        })
    }
}

struct Acquire<'a> {
    gate: &'a Gate,
}

impl<'a> Future for Acquire<'a> {
    type Output = Turn<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn<'a>> {
        let mut state = self.gate.lock();
        if state.held {
            if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiters.push_back(cx.waker().clone());
            }
            Poll::Pending
        } else {
            state.held = true;
            Poll::Ready(Turn { gate: self.gate })
        }
    }
}

struct Turn<'a> {
    gate: &'a Gate,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.gate.lock();
            state.held = false;
            core::mem::take(&mut state.waiters)
        };
        // Wake every waiter: one gets through, the others re-register. Few
        // futures of one request ever wait here, and none can be lost.
        for waker in waiters {
            waker.wake();
        }
    }
}
