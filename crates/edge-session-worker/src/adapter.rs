//! Router integration: run the router with the session, then commit.

use std::sync::Arc;

use edge_session::{
    Action, Error, Key, KeyRing, Lifecycle, Outcome, SessionConfig, SessionStore, StoreRef,
};
use worker::{Date, Env, Headers, Request, Response, Router};

use crate::Session;

/// Reads the session configuration from the worker's environment:
/// `SESSION_SECRET` (a secret, or a var; at least 32 bytes), optionally
/// `SESSION_SECRET_PREVIOUS` (still accepted: key rotation), and
/// `COOKIE_SECURE = "false"` to drop `Secure` for plain-HTTP testing.
///
/// # Errors
/// [`Error::InvalidConfig`] if the secret is missing, [`Error::KeyTooShort`]
/// if it is too short.
pub fn config_from_env(env: &Env) -> Result<SessionConfig, Error> {
    let read = |name: &str| env_string(env, name);
    let secret = read("SESSION_SECRET").ok_or(Error::InvalidConfig(
        "SESSION_SECRET is not set: `wrangler secret put SESSION_SECRET` (or .dev.vars locally)",
    ))?;
    let mut keys = KeyRing::new(Key::try_from_bytes(secret.as_bytes())?);
    if let Some(previous) = read("SESSION_SECRET_PREVIOUS") {
        keys = keys.with_previous(Key::try_from_bytes(previous.as_bytes())?);
    }
    let secure = read("COOKIE_SECURE").is_none_or(|v| v != "false");
    let config = SessionConfig::new(keys).with_secure(secure);
    config.validate()?;
    Ok(config)
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

/// Turns a session error into a `worker::Error` for a handler's `?`. The
/// adapter answers 503 by itself when the store failed, whatever the
/// handler returns.
pub fn session_error(e: Error) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// Sessions for one worker: a store and a configuration. Cheap to build per
/// request (bindings come with the request's `Env`).
pub struct Sessions<S> {
    store: Arc<S>,
    store_ref: StoreRef,
    config: SessionConfig,
}

impl<S: SessionStore + 'static> Sessions<S> {
    /// Sessions over `store` with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `config` does not validate.
    pub fn new(store: S, config: SessionConfig) -> Result<Self, Error> {
        config.validate()?;
        let store = Arc::new(store);
        Ok(Sessions {
            store_ref: StoreRef::new(store.clone()),
            store,
            config,
        })
    }

    /// Builds the router with this request's session as its data, runs it,
    /// and commits the session: a changed session is saved and its cookie
    /// appended; a cleared one deleted and its cookie removed; an untouched
    /// one costs nothing. A store failure answers 503.
    ///
    /// # Errors
    /// Whatever the router returns as an error.
    pub async fn run<'a>(
        &self,
        req: Request,
        env: Env,
        router: impl FnOnce(Session) -> Router<'a, Session>,
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
        let lifecycle = Lifecycle::start(&self.config, cookie.as_deref().map(str::as_bytes), now());
        let session = Session::new(lifecycle, self.store_ref.clone());
        let mut response = match router(session.clone()).run(req, env).await {
            Ok(response) => response,
            // A failed handler commits nothing; a store failure behind it is a 503.
            Err(e) if session.store_failed() => {
                worker::console_error!("session store unavailable: {e}");
                return unavailable();
            }
            Err(e) => return Err(e),
        };
        match session
            .commit(&self.config, &*self.store, now(), false)
            .await
        {
            Outcome::Respond {
                set_cookie,
                corrupt_record,
                action,
            } => {
                if corrupt_record {
                    worker::console_warn!(
                        "a session record did not decode; it was treated as missing"
                    );
                }
                if action == Action::Gone {
                    worker::console_log!(
                        "the session was gone at commit (logged out or cycled concurrently); its changes were dropped and its cookie removed"
                    );
                }
                if let Some(set_cookie) = set_cookie {
                    append_set_cookie(&mut response, &set_cookie)?;
                }
                Ok(response)
            }
            Outcome::Unavailable(e) => {
                worker::console_error!("session store unavailable: {e}");
                unavailable()
            }
            Outcome::Failed(e) => {
                worker::console_error!("session commit failed: {e}");
                Response::error("session error", 500)
            }
            _ => Response::error("session error", 500),
        }
    }
}

fn now() -> u64 {
    Date::now().as_millis() / 1000
}

fn unavailable() -> worker::Result<Response> {
    let mut response = Response::error("session store unavailable; try again shortly\n", 503)?;
    let headers = response.headers_mut();
    headers.set("Retry-After", "1")?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("Content-Type", "text/plain; charset=utf-8")?;
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
