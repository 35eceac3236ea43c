//! The tower `Layer` and `Service`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{SystemTime, UNIX_EPOCH};

use edge_session::adapter::{ErrorResponse, LogLevel, Outcome, Pending, SessionManager};
use edge_session::{Error, SessionConfig, SessionStore};
use http::header::{CACHE_CONTROL, COOKIE, HeaderName, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
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
    manager: SessionManager<S>,
}

impl<S> Clone for SessionLayer<S> {
    fn clone(&self) -> Self {
        SessionLayer {
            manager: self.manager.clone(),
        }
    }
}

impl<S> fmt::Debug for SessionLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("manager", &self.manager)
            .finish()
    }
}

impl<S: SessionStore + Send + Sync + 'static> SessionLayer<S> {
    /// A layer over `store` with `config`, checked once
    /// ([`SessionConfig::validate`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting to change.
    pub fn try_new(store: S, config: SessionConfig) -> Result<Self, Error> {
        Ok(SessionLayer {
            manager: SessionManager::new(store, config)?,
        })
    }
}

impl<S> SessionLayer<S> {
    /// The configuration in use (validated when the layer was made).
    pub fn config(&self) -> &SessionConfig {
        self.manager.config()
    }

    /// When loading fails because of the store, the layer answers 503
    /// whatever the handler returned (default). With `true` the handler's
    /// response stands: it received the error and decided. Commit failures
    /// always answer 503.
    pub fn with_load_error_passthrough(self, passthrough: bool) -> Self {
        SessionLayer {
            manager: self.manager.with_load_error_passthrough(passthrough),
        }
    }
}

impl<I, S> Layer<I> for SessionLayer<S> {
    type Service = SessionService<I, S>;

    fn layer(&self, inner: I) -> Self::Service {
        SessionService {
            inner,
            manager: self.manager.clone(),
        }
    }
}

/// The service made by [`SessionLayer`].
pub struct SessionService<I, S> {
    inner: I,
    manager: SessionManager<S>,
}

impl<I: Clone, S> Clone for SessionService<I, S> {
    fn clone(&self) -> Self {
        SessionService {
            inner: self.inner.clone(),
            manager: self.manager.clone(),
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
    I: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    I::Future: Send + 'static,
    S: SessionStore + Send + Sync + 'static,
    ReqB: Send + 'static,
    ResB: From<&'static str> + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = I::Error;
    type Future = ResponseFuture<I::Future, S, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // The inner service is called right here, on the service that was
        // driven to readiness, and its future owns what it needs (`'static`):
        // no clone of it (in axum a clone of a route is an allocation).
        let cookies = req.headers().get_all(COOKIE);
        let pending = self
            .manager
            .begin(cookies.iter().map(HeaderValue::as_bytes), now());
        req.extensions_mut().insert(Session(pending.session()));
        ResponseFuture {
            state: State::Handler {
                handler: self.inner.call(req),
                pending: Some(pending),
            },
        }
    }
}

/// The commit of a request that must call the store.
type Committing = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pin_project! {
    /// The response future of [`SessionService`]: the handler's future, then
    /// the session's commit. Most requests (reads) commit without awaiting
    /// and allocate nothing here; a commit that calls the store is boxed.
    pub struct ResponseFuture<F, S, B> {
        #[pin]
        state: State<F, S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, B> {
        Handler {
            #[pin]
            handler: F,
            pending: Option<Pending<S>>,
        },
        Committing {
            commit: Committing,
            response: Option<Response<B>>,
        },
        Done,
    }
}

impl<F, S, B> fmt::Debug for ResponseFuture<F, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E, S, B> Future for ResponseFuture<F, S, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    S: SessionStore + Send + Sync + 'static,
    B: From<&'static str>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Handler { handler, pending } => {
                    let result = ready!(handler.poll(cx));
                    let pending = pending.take();
                    let response = match (result, pending) {
                        (Ok(response), Some(pending)) => {
                            let now = now();
                            match pending.finish_now(now) {
                                Ok(outcome) => Ok(respond(outcome, response)),
                                Err(pending) => {
                                    let commit: Committing = pending.finish(now);
                                    state.set(State::Committing {
                                        commit,
                                        response: Some(response),
                                    });
                                    continue;
                                }
                            }
                        }
                        // The handler failed: nothing to commit.
                        (result, _) => result,
                    };
                    state.set(State::Done);
                    return Poll::Ready(response);
                }
                StateProj::Committing { commit, response } => {
                    let outcome = ready!(commit.as_mut().poll(cx));
                    let response = response.take().map(|r| respond(outcome, r));
                    state.set(State::Done);
                    if let Some(response) = response {
                        return Poll::Ready(Ok(response));
                    }
                    panic!("ResponseFuture: the response was taken twice");
                }
                StateProj::Done => panic!("ResponseFuture polled after it completed"),
            }
        }
    }
}

/// Applies the request's outcome to the handler's response.
fn respond<B: From<&'static str>>(outcome: Outcome, mut response: Response<B>) -> Response<B> {
    for line in outcome.log_lines() {
        match line.level {
            LogLevel::Info => tracing::info!("{}", line.message),
            LogLevel::Warn => tracing::warn!("{}", line.message),
            _ => tracing::error!("{}", line.message),
        }
    }
    if let Some(cache_control) = outcome.cache_control() {
        // The handler's own Cache-Control stands.
        response
            .headers_mut()
            .entry(CACHE_CONTROL)
            .or_insert(HeaderValue::from_static(cache_control));
    }
    match outcome {
        Outcome::Error(error) => error_response(&error),
        Outcome::Respond {
            set_cookie: Some(set_cookie),
            ..
        } => match HeaderValue::try_from(set_cookie) {
            // Append: never replace the handler's own cookies.
            Ok(value) => {
                response.headers_mut().append(SET_COOKIE, value);
                response
            }
            Err(_) => {
                tracing::error!("the session cookie is not a valid header value");
                error_response(&ErrorResponse::internal())
            }
        },
        _ => response,
    }
}

/// The response for a session error, as the core describes it (status,
/// body, headers): what the layer answers, for handlers that want to answer
/// the same way.
///
/// ```
/// use edge_session::Error;
/// use edge_session::adapter::ErrorResponse;
/// let response: http::Response<String> =
///     edge_session_tower::error_response(&ErrorResponse::new(Error::store_msg("down")));
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "1");
/// ```
pub fn error_response<B: From<&'static str>>(error: &ErrorResponse) -> Response<B> {
    let mut response = Response::new(B::from(error.body()));
    *response.status_mut() =
        StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in error.headers() {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}
