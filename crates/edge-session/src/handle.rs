//! The per-request session handle adapters give to handlers (feature `std`).
//!
//! One implementation for every runtime, so handlers behave the same on a
//! native server and on Workers: the adapter creates a [`SessionHandle`] from
//! the request's [`Lifecycle`], hands clones to the handler, and after the
//! handler takes the lifecycle back with [`SessionHandle::finish`] to commit.

extern crate std;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::SessionConfig;
use crate::engine::{Action, Lifecycle};
use crate::error::{Error, Result};
use crate::session::Session;
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

/// A store as [`SessionHandle`]s reach it: its type erased, so handles are
/// not generic. Make one per application (it is an `Arc`) and clone it.
#[derive(Clone)]
pub struct StoreRef(Arc<dyn Loader>);

impl StoreRef {
    /// Wraps `store`.
    pub fn new<S: SessionStore + 'static>(store: Arc<S>) -> Self {
        StoreRef(Arc::new(StoreLoader(store)))
    }
}

impl fmt::Debug for StoreRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreRef")
    }
}

/// A request's session as handlers see it: cheap to clone, loaded from the
/// store on the first data call (at most once per request, even if two
/// futures of the handler ask at the same time), committed by the adapter
/// after the handler returns.
///
/// # Errors
/// The data methods return [`Error::Store`] when the store cannot be read
/// (adapters answer 503), [`Error::Json`] when a stored value is not of the
/// asked type, and [`Error::Finished`] once the response was committed.
#[derive(Clone)]
pub struct SessionHandle {
    shared: Arc<Shared>,
}

struct Shared {
    lifecycle: Mutex<Option<Lifecycle>>,
    gate: Gate,
    store: StoreRef,
    store_failed: AtomicBool,
    load_error: Mutex<Option<String>>,
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHandle").finish_non_exhaustive()
    }
}

impl SessionHandle {
    /// A handle over a request's `lifecycle` (for adapters).
    // On wasm32 (Workers) the store is `!Send` and everything runs on one
    // thread; elsewhere `Shared` is `Send + Sync`.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn new(lifecycle: Lifecycle, store: StoreRef) -> Self {
        SessionHandle {
            shared: Arc::new(Shared {
                lifecycle: Mutex::new(Some(lifecycle)),
                gate: Gate::default(),
                store,
                store_failed: AtomicBool::new(false),
                load_error: Mutex::new(None),
            }),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Lifecycle>> {
        self.shared
            .lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the lifecycle back to commit it (for adapters); afterwards every
    /// call on the handle fails with [`Error::Finished`].
    pub async fn finish(&self) -> Option<Lifecycle> {
        let _turn = self.shared.gate.acquire().await;
        self.slot().take()
    }

    /// True if loading failed because of the store during this request (for
    /// adapters: answer 503 even if the handler swallowed the error).
    pub fn store_failed(&self) -> bool {
        self.shared.store_failed.load(Ordering::SeqCst)
    }

    /// After the handler: takes the lifecycle back and commits it, the same
    /// way on every runtime. Returns what the adapter must do to the
    /// handler's response.
    ///
    /// A store failure seen while the handler loaded the session turns into
    /// [`Outcome::Unavailable`] (the handler may have swallowed the error and
    /// answered as if logged out), unless `load_error_passthrough`. A request
    /// without a valid cookie whose handler never touched the session costs
    /// nothing.
    pub async fn commit<S: SessionStore>(
        &self,
        config: &SessionConfig,
        store: &S,
        now: u64,
        load_error_passthrough: bool,
    ) -> Outcome {
        let lifecycle = self.finish().await;
        if self.store_failed() && !load_error_passthrough {
            let message = self
                .shared
                .load_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_default();
            return Outcome::Unavailable(Error::store_msg(message));
        }
        let untouched = Outcome::Respond {
            set_cookie: None,
            corrupt_record: false,
            action: Action::None,
        };
        let Some(lifecycle) = lifecycle else {
            return untouched;
        };
        if !lifecycle.has_valid_cookie() && !lifecycle.is_loaded() {
            return untouched;
        }
        match lifecycle.commit(config, store, now).await {
            Ok(commit) => Outcome::Respond {
                set_cookie: commit.set_cookie,
                corrupt_record: commit.corrupt_record,
                action: commit.action,
            },
            Err(e) if e.is_store() => Outcome::Unavailable(e),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// Runs `f` on the loaded session data, loading it first if needed.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn with<R>(&self, f: impl FnOnce(&mut Session) -> R) -> Result<R> {
        let _turn = self.shared.gate.acquire().await;
        let mut lifecycle = self.slot().take().ok_or(Error::Finished)?;
        if !lifecycle.is_loaded() {
            let loaded = self.shared.store.0.load(&mut lifecycle).await;
            if let Err(e) = loaded {
                if e.is_store() {
                    self.shared.store_failed.store(true, Ordering::SeqCst);
                    *self
                        .shared
                        .load_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                }
                *self.slot() = Some(lifecycle);
                return Err(e);
            }
        }
        let out = lifecycle.loaded_mut().map(f);
        *self.slot() = Some(lifecycle);
        out.ok_or(Error::Finished)
    }

    /// The value under `key` as a `T`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.with(|s| s.get(key)).await?
    }

    /// The raw JSON value under `key`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>> {
        self.with(|s| s.get_value(key).cloned()).await
    }

    /// Stores `value` under `key` (a change only if it differs).
    ///
    /// # Errors
    /// See the type's docs; also [`Error::Json`] if `value` is not JSON.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<()> {
        let value = serde_json::to_value(value)?;
        self.with(|s| {
            s.insert_value(key, value);
        })
        .await
    }

    /// Adds `by` to the integer under `key` (missing: 0) and returns the new
    /// value as this request sees it; the store applies the increment
    /// atomically at commit, so concurrent increments add up exactly (see
    /// [`Session::increment`]).
    ///
    /// # Errors
    /// See the type's docs; also [`Error::Json`] if the value is not an
    /// `i64` or the sum would overflow.
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64> {
        self.with(|s| s.increment(key, by)).await?
    }

    /// Removes `key` and returns its value as a `T`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.with(|s| s.remove(key)).await?
    }

    /// Removes `key` and returns its raw value.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn remove_value(&self, key: &str) -> Result<Option<Value>> {
        self.with(|s| s.remove_value(key)).await
    }

    /// Clears the session (logout): the record is deleted and the cookie
    /// removed when the response goes out. Reads nothing from the store.
    ///
    /// # Errors
    /// [`Error::Finished`] if the response was already committed.
    pub async fn clear(&self) -> Result<()> {
        let _turn = self.shared.gate.acquire().await;
        self.slot().as_mut().ok_or(Error::Finished)?.clear();
        Ok(())
    }

    /// Gives the session a new id at commit, keeping its data (call it at
    /// login, against session fixation).
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn cycle_id(&self) -> Result<()> {
        self.with(Session::cycle_id).await
    }

    /// A copy of all the data.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn record(&self) -> Result<Record> {
        self.with(|s| s.record().clone()).await
    }

    /// True if the session holds no data.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn is_empty(&self) -> Result<bool> {
        self.with(|s| s.is_empty()).await
    }
}

/// What an adapter does to the handler's response once the session is
/// committed ([`SessionHandle::commit`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Send the handler's response, with `set_cookie` **appended** if any.
    Respond {
        /// A `Set-Cookie` value to append.
        set_cookie: Option<String>,
        /// A store record did not decode and was treated as missing: log it.
        corrupt_record: bool,
        /// What the commit did; [`Action::Gone`] (the record was gone at
        /// commit, the changes were dropped) is worth a log line.
        action: Action,
    },
    /// The store failed, while the handler loaded the session or while
    /// committing: answer 503 Service Unavailable and log the error.
    Unavailable(Error),
    /// The commit failed for another reason (the cookie store's 4096-byte
    /// limit, no randomness): answer 500 and log the error.
    Failed(Error),
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
