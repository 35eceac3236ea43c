//! The tower `Layer` and `Service`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use edge_session::{
    Action, Error, Lifecycle, Outcome, SessionConfig, SessionHandle, SessionStore, StoreRef,
};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, RETRY_AFTER, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::Session;

/// Adds sessions to a tower service.
///
/// Secure by default (the defaults of [`SessionConfig`]: `Secure`,
/// `HttpOnly`, `SameSite=Lax`, `Path=/`, 14-day sliding expiry). Cookie
/// attributes and expiry are set on the [`SessionConfig`] and checked once,
/// by [`SessionLayer::try_new`]: the layer has no setter that could change an
/// attribute after that check.
///
/// ```
/// use edge_session::{Expiry, MemoryStore, SessionConfig};
/// use edge_session_tower::SessionLayer;
///
/// let config = SessionConfig::from_secret(b"a secret of at least thirty-two bytes")?
///     .with_cookie_name("__Host-session")
///     .with_expiry(Expiry::OnInactivity(3600));
/// let layer = SessionLayer::try_new(MemoryStore::new(), config)?;
///
/// // Anything that could smuggle attributes into Set-Cookie is refused.
/// let bad = SessionConfig::from_secret(b"a secret of at least thirty-two bytes")?
///     .with_path("/app; Domain=attacker.example");
/// assert!(SessionLayer::try_new(MemoryStore::new(), bad).is_err());
/// # Ok::<(), edge_session::Error>(())
/// ```
#[must_use]
pub struct SessionLayer<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    store: Arc<S>,
    loader: StoreRef,
    config: SessionConfig,
    load_error_passthrough: bool,
}

impl<S> Clone for SessionLayer<S> {
    fn clone(&self) -> Self {
        SessionLayer {
            inner: self.inner.clone(),
        }
    }
}

impl<S> fmt::Debug for SessionLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore + Send + Sync + 'static> SessionLayer<S> {
    /// A layer over `store` with `config`, checked with
    /// [`SessionConfig::validate`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting to change.
    pub fn try_new(store: S, config: SessionConfig) -> Result<Self, Error> {
        config.validate()?;
        let store = Arc::new(store);
        Ok(SessionLayer {
            inner: Arc::new(Inner {
                loader: StoreRef::new(store.clone()),
                store,
                config,
                load_error_passthrough: false,
            }),
        })
    }

    /// The configuration in use (validated when the layer was made).
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    fn map_inner(self, f: impl FnOnce(&mut Inner<S>)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                store: shared.store.clone(),
                loader: shared.loader.clone(),
                config: shared.config.clone(),
                load_error_passthrough: shared.load_error_passthrough,
            },
        };
        f(&mut inner);
        SessionLayer {
            inner: Arc::new(inner),
        }
    }

    /// When loading fails because of the store, the layer answers 503
    /// whatever the handler returned (default). With `true` the handler's
    /// response stands: it received the error and decided. Commit failures
    /// always answer 503.
    pub fn with_load_error_passthrough(self, passthrough: bool) -> Self {
        self.map_inner(|inner| inner.load_error_passthrough = passthrough)
    }
}

impl<I, S> Layer<I> for SessionLayer<S> {
    type Service = SessionService<I, S>;

    fn layer(&self, inner: I) -> Self::Service {
        SessionService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`SessionLayer`].
pub struct SessionService<I, S> {
    inner: I,
    layer: SessionLayer<S>,
}

impl<I: Clone, S> Clone for SessionService<I, S> {
    fn clone(&self) -> Self {
        SessionService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<I: fmt::Debug, S> fmt::Debug for SessionService<I, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<I, S, ReqB, ResB> Service<Request<ReqB>> for SessionService<I, S>
where
    I: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    S: SessionStore + Send + Sync + 'static,
    ReqB: Send + 'static,
    ResB: From<&'static str> + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = I::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResB>, I::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // Use the service that was driven to readiness; leave a clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.inner.clone();

        let lifecycle = Lifecycle::start(
            &layer.config,
            req.headers()
                .get_all(COOKIE)
                .iter()
                .map(HeaderValue::as_bytes),
            now(),
        );
        let session = SessionHandle::new(lifecycle, layer.loader.clone());
        req.extensions_mut().insert(Session(session.clone()));

        Box::pin(async move {
            let mut response = inner.call(req).await?;
            let outcome = session
                .commit(
                    &layer.config,
                    &*layer.store,
                    now(),
                    layer.load_error_passthrough,
                )
                .await;
            Ok(match outcome {
                Outcome::Respond {
                    set_cookie,
                    corrupt_record,
                    action,
                } => {
                    if corrupt_record {
                        tracing::warn!(
                            "a session record did not decode; it was treated as missing"
                        );
                    }
                    if action == Action::Gone {
                        tracing::info!(
                            "the session was gone at commit (logged out or cycled concurrently); its changes were dropped and its cookie removed"
                        );
                    }
                    if let Some(set_cookie) = set_cookie {
                        match HeaderValue::try_from(set_cookie) {
                            // Append: never replace the handler's own cookies.
                            Ok(value) => {
                                response.headers_mut().append(SET_COOKIE, value);
                            }
                            Err(_) => {
                                tracing::error!("the session cookie is not a valid header value");
                                return Ok(error_response(StatusCode::INTERNAL_SERVER_ERROR));
                            }
                        }
                    }
                    response
                }
                Outcome::Unavailable(e) => {
                    tracing::error!(error = %e, "session store unavailable");
                    error_response(StatusCode::SERVICE_UNAVAILABLE)
                }
                Outcome::Failed(e) => {
                    tracing::error!(error = %e, "session commit failed");
                    error_response(StatusCode::INTERNAL_SERVER_ERROR)
                }
                _ => error_response(StatusCode::INTERNAL_SERVER_ERROR),
            })
        })
    }
}

fn error_response<B: From<&'static str>>(status: StatusCode) -> Response<B> {
    let body = if status == StatusCode::SERVICE_UNAVAILABLE {
        "session store unavailable; try again shortly\n"
    } else {
        "session error\n"
    };
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
