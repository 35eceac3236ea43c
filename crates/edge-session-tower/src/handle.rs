//! The per-request session handle that handlers use.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use edge_session::{Error, Lifecycle, Record, SessionStore};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Loads a lifecycle's session from a store whose type is erased, so that
/// [`Session`] does not carry the store as a type parameter.
pub(crate) trait Loader: Send + Sync {
    fn load<'a>(&'a self, lifecycle: &'a mut Lifecycle) -> BoxFuture<'a, Result<(), Error>>;
}

pub(crate) struct StoreLoader<S>(pub(crate) Arc<S>);

impl<S: SessionStore + Send + Sync + 'static> Loader for StoreLoader<S> {
    fn load<'a>(&'a self, lifecycle: &'a mut Lifecycle) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { lifecycle.load(&*self.0).await.map(|_| ()) })
    }
}

/// A request's session: cheap to clone, found in the request extensions
/// (and, with the `axum` feature, an axum extractor).
///
/// Every method that needs the data loads it from the store on first use,
/// at most once per request; [`Session::clear`] needs no load. Changes are
/// written once, after the handler returns.
///
/// # Errors
/// The data methods return [`edge_session::Error::Store`] when the store
/// cannot be read (answer 503: [`SessionError`] does that for axum), and
/// [`edge_session::Error::Json`] when a stored value is not of the asked
/// type.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

struct Shared {
    lifecycle: Mutex<Option<Lifecycle>>,
    loader: Arc<dyn Loader>,
    store_failed: AtomicBool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(lifecycle: Lifecycle, loader: Arc<dyn Loader>) -> Self {
        Session {
            shared: Arc::new(Shared {
                lifecycle: Mutex::new(Some(lifecycle)),
                loader,
                store_failed: AtomicBool::new(false),
            }),
        }
    }

    /// Takes the lifecycle out for the commit; later calls get `Finished`.
    pub(crate) async fn finish(&self) -> Option<Lifecycle> {
        self.shared.lifecycle.lock().await.take()
    }

    /// True if a load failed because of the store during this request.
    pub(crate) fn store_failed(&self) -> bool {
        self.shared.store_failed.load(Ordering::SeqCst)
    }

    /// Runs `f` on the loaded session data (loading it first if needed).
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn with<R>(
        &self,
        f: impl FnOnce(&mut edge_session::Session) -> R,
    ) -> Result<R, Error> {
        let mut guard = self.shared.lifecycle.lock().await;
        let lifecycle = guard.as_mut().ok_or(Error::Finished)?;
        if !lifecycle.is_loaded()
            && let Err(e) = self.shared.loader.load(lifecycle).await
        {
            if e.is_store() {
                self.shared.store_failed.store(true, Ordering::SeqCst);
            }
            return Err(e);
        }
        match lifecycle.loaded_mut() {
            Some(session) => Ok(f(session)),
            None => Err(Error::Finished),
        }
    }

    /// The value under `key` as a `T`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with(|s| s.get(key)).await?
    }

    /// The raw JSON value under `key`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, Error> {
        self.with(|s| s.get_value(key).cloned()).await
    }

    /// Stores `value` under `key` (a change only if it differs).
    ///
    /// # Errors
    /// See the type's docs; also [`Error::Json`] if `value` is not JSON.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        let value = serde_json::to_value(value)?;
        self.with(|s| {
            s.insert_value(key, value);
        })
        .await
    }

    /// Removes `key` and returns its value as a `T`.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with(|s| s.remove(key)).await?
    }

    /// Removes `key` and returns its raw value.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn remove_value(&self, key: &str) -> Result<Option<Value>, Error> {
        self.with(|s| s.remove_value(key)).await
    }

    /// Clears the session (logout): the record is deleted and the cookie
    /// removed when the response goes out. Reads nothing from the store.
    ///
    /// # Errors
    /// [`Error::Finished`] if the response was already committed.
    pub async fn clear(&self) -> Result<(), Error> {
        let mut guard = self.shared.lifecycle.lock().await;
        guard.as_mut().ok_or(Error::Finished)?.clear();
        Ok(())
    }

    /// Gives the session a new id, keeping its data (call it at login).
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn cycle_id(&self) -> Result<(), Error> {
        self.with(edge_session::Session::cycle_id).await
    }

    /// A copy of all the data (to render it, for example).
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn record(&self) -> Result<Record, Error> {
        self.with(|s| s.record().clone()).await
    }

    /// True if the session holds no data.
    ///
    /// # Errors
    /// See the type's docs.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        self.with(|s| s.is_empty()).await
    }
}

/// An [`edge_session::Error`] as an HTTP answer: 503 when the store failed,
/// 500 otherwise. With the `axum` feature it is an `IntoResponse`, so axum
/// handlers can use `?` on session calls.
#[derive(Debug)]
pub struct SessionError(pub Error);

impl SessionError {
    /// The status this error answers with.
    pub fn status(&self) -> http::StatusCode {
        if self.0.is_store() {
            http::StatusCode::SERVICE_UNAVAILABLE
        } else {
            http::StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl From<Error> for SessionError {
    fn from(e: Error) -> Self {
        SessionError(e)
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[cfg(feature = "axum")]
mod axum_impls {
    use axum::extract::FromRequestParts;
    use axum::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::{Session, SessionError};

    impl IntoResponse for SessionError {
        fn into_response(self) -> Response {
            let body = if self.0.is_store() {
                "session store unavailable; try again shortly"
            } else {
                "session error"
            };
            tracing::error!(error = %self.0, "session error");
            (self.status(), body).into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Session {
        type Rejection = (http::StatusCode, &'static str);

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<Session>().cloned().ok_or((
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "no session: add edge_session_tower::SessionLayer to the router",
            ))
        }
    }
}
