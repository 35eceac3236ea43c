//! Router integration: run the router with the session, then commit.

use std::ops::Deref;

use edge_session::adapter::{ErrorResponse, LogLevel, Outcome, SessionManager};
use edge_session::{Error, Key, KeyRing, SessionConfig, SessionStore};
use worker::{Date, Env, Headers, Request, Response, RouteContext, Router};

use crate::{Session, SessionError};

/// Reads the session configuration from the worker's environment:
/// `SESSION_SECRET` (a secret, or a var; at least 32 bytes), optionally
/// `SESSION_SECRET_PREVIOUS` (still accepted: key rotation), and
/// `COOKIE_SECURE = "false"` to drop `Secure` for plain-HTTP testing.
///
/// The configuration is checked once, by [`Sessions::new`].
///
/// # Errors
/// [`Error::InvalidConfig`] if the secret is missing, [`Error::KeyTooShort`]
/// if it is too short (`?` turns either into a `worker::Error`).
pub fn config_from_env(env: &Env) -> Result<SessionConfig, SessionError> {
    let read = |name: &str| env_string(env, name);
    let secret = read("SESSION_SECRET").ok_or(Error::InvalidConfig(
        "SESSION_SECRET is not set: `wrangler secret put SESSION_SECRET` (or .dev.vars locally)",
    ))?;
    let mut keys = KeyRing::new(Key::try_from_bytes(secret.as_bytes())?);
    if let Some(previous) = read("SESSION_SECRET_PREVIOUS") {
        keys = keys.with_previous(Key::try_from_bytes(previous.as_bytes())?);
    }
    let secure = read("COOKIE_SECURE").is_none_or(|v| v != "false");
    Ok(SessionConfig::new(keys).with_secure(secure))
}

/// A non-empty secret or var (wrangler's `[vars]` and `--var` are vars;
/// `wrangler secret put` and `.dev.vars` give secrets).
pub(crate) fn env_string(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

/// Turns a session error into a `worker::Error`. Rarely needed: session
/// calls return [`SessionError`], which `?` converts by itself.
pub fn session_error(e: Error) -> worker::Error {
    SessionError(e).into()
}

/// The router's data: the app's own `D` (reached through `Deref`, so
/// `ctx.data.my_field` works) with the request's [`Session`] beside it
/// (`ctx.session()`, through [`SessionContext`]).
pub struct WithSession<D = ()> {
    session: Session,
    data: D,
}

impl<D> WithSession<D> {
    /// The request's session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The app's data.
    pub fn data(&self) -> &D {
        &self.data
    }
}

impl<D> Deref for WithSession<D> {
    type Target = D;

    fn deref(&self) -> &D {
        &self.data
    }
}

/// `ctx.session()` in a workers-rs handler.
pub trait SessionContext {
    /// The request's session.
    fn session(&self) -> &Session;
}

impl<D> SessionContext for RouteContext<WithSession<D>> {
    fn session(&self) -> &Session {
        &self.data.session
    }
}

/// Sessions for one worker: a store and a configuration, validated once
/// when made. Cheap to build per request (bindings come with the request's
/// `Env`).
pub struct Sessions<S> {
    manager: SessionManager<S>,
}

impl<S> core::fmt::Debug for Sessions<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The manager shows the configuration, never its keys.
        f.debug_struct("Sessions")
            .field("manager", &self.manager)
            .finish()
    }
}

impl<S: SessionStore + 'static> Sessions<S> {
    /// Sessions over `store` with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `config` does not validate (`?` turns it
    /// into a `worker::Error` through [`SessionError`]).
    pub fn new(store: S, config: SessionConfig) -> Result<Self, SessionError> {
        Ok(Sessions {
            manager: SessionManager::new(store, config)?,
        })
    }

    /// Builds the router over the app's `data` and this request's session
    /// (handlers reach them as `ctx.data` and `ctx.session()`), runs it, and
    /// commits the session: the request's changes written (at most one
    /// store write) and the cookie **appended** to the response; a cleared
    /// session deleted and its cookie removed; an untouched one costs
    /// nothing. A store failure answers 503; a handler error, 500, with
    /// the error in the worker's log and not in the body.
    ///
    /// # Errors
    /// Only if a response cannot be built.
    pub async fn run<'a, D: 'a>(
        &self,
        req: Request,
        env: Env,
        data: D,
        routes: impl FnOnce(Router<'a, WithSession<D>>) -> Router<'a, WithSession<D>>,
    ) -> worker::Result<Response> {
        // The Fetch API joins several `Cookie` headers (HTTP/2 may split
        // them) with ", ". A comma is never part of a cookie value
        // (RFC 6265 cookie-octet), so it separates pairs like ";" does.
        let cookie = req
            .headers()
            .get("Cookie")
            .ok()
            .flatten()
            .map(|c| c.replace(',', ";"));
        let pending = self
            .manager
            .begin(cookie.as_deref().map(str::as_bytes), now());
        let session = pending.session().with_error_type::<SessionError>();
        let router = routes(Router::with_data(WithSession { session, data }));
        let mut response = match router.run(req, env).await {
            Ok(response) => response,
            Err(e) => {
                // A failed handler commits nothing; its error stays in the
                // log, out of the body.
                worker::console_error!("handler failed: {e}");
                return error_response(&if pending.store_failed() {
                    ErrorResponse::unavailable()
                } else {
                    ErrorResponse::internal()
                });
            }
        };
        // Most requests (reads) settle at once; the others await the commit.
        let now = now();
        let outcome = match pending.finish_now(now) {
            Ok(outcome) => outcome,
            Err(pending) => pending.finish(now).await,
        };
        log(&outcome);
        match outcome {
            Outcome::Error(error) => error_response(&error),
            outcome => {
                if let Some(set_cookie) = outcome.set_cookie() {
                    append_set_cookie(&mut response, set_cookie)?;
                }
                if let Some(cache_control) = outcome.cache_control() {
                    // The handler's own Cache-Control stands.
                    let headers = response.headers_mut();
                    if !headers.has("Cache-Control")? {
                        headers.set("Cache-Control", cache_control)?;
                    }
                }
                Ok(response)
            }
        }
    }
}

/// The answer when the session store cannot even be built (a missing
/// binding or setting): the core's 503, the same as a store outage, with
/// `reason` in the worker's log and not in the body.
///
/// # Errors
/// Only if a response cannot be built.
pub fn store_unavailable(reason: impl core::fmt::Display) -> worker::Result<Response> {
    worker::console_error!("session store unavailable: {reason}");
    error_response(&ErrorResponse::unavailable())
}

fn now() -> u64 {
    Date::now().as_millis() / 1000
}

fn log(outcome: &Outcome) {
    for line in outcome.log_lines() {
        match line.level {
            LogLevel::Info => worker::console_log!("{}", line.message),
            LogLevel::Warn => worker::console_warn!("{}", line.message),
            _ => worker::console_error!("{}", line.message),
        }
    }
}

/// The response for an error, as the core describes it.
fn error_response(error: &ErrorResponse) -> worker::Result<Response> {
    let mut response = Response::error(error.body(), error.status())?;
    let headers = response.headers_mut();
    for (name, value) in error.headers() {
        headers.set(name, value)?;
    }
    Ok(response)
}

/// Appends (never sets: other cookies stay) a `Set-Cookie`. Responses with
/// immutable headers (a `fetch` result passed through) get a mutable copy.
fn append_set_cookie(response: &mut Response, value: &str) -> worker::Result<()> {
    if response.headers_mut().append("Set-Cookie", value).is_ok() {
        return Ok(());
    }
    let headers = Headers::new();
    for (name, v) in response.headers().entries() {
        headers.append(&name, &v)?;
    }
    headers.append("Set-Cookie", value)?;
    let taken = std::mem::replace(response, Response::empty()?);
    *response = taken.with_headers(headers);
    Ok(())
}
