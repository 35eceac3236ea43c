//! Sessions for Cloudflare Workers (workers-rs), from edge-session's core.
//!
//! Build the workers-rs `Router` as usual, with the
//! request's `Session` as its data; `Sessions::run` runs it and commits
//! the session after the router returns (one store call at most, then a
//! `Set-Cookie` **appended** to the response). Handlers keep their shape:
//! `async fn(Request, RouteContext<Session>) -> worker::Result<Response>`.
//!
//! ```ignore
//! use edge_session_worker::{KvSessionStore, Session, Sessions, config_from_env, session_error};
//! use worker::*;
//!
//! #[event(fetch)]
//! async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
//!     let config = config_from_env(&env).map_err(session_error)?; // SESSION_SECRET
//!     let store = KvSessionStore::from_env(&env, "SESSIONS")?;
//!     Sessions::new(store, config).map_err(session_error)?
//!         .run(req, env, |session| {
//!             Router::with_data(session).get_async("/setup_session", |_, ctx| async move {
//!                 ctx.data.insert("data", "session_data").await.map_err(session_error)?;
//!                 Response::ok("ok")
//!             })
//!         })
//!         .await
//! }
//! ```
//!
//! Stores: `KvSessionStore` (Workers KV) and `UpstashStore` (Upstash
//! Redis over its REST API, the same records as the native `RedisStore`, so
//! a worker and a native server share sessions through one Redis).
//!
//! On targets other than `wasm32` this crate is empty.

#[cfg(target_arch = "wasm32")]
mod adapter;
#[cfg(target_arch = "wasm32")]
mod kv;
#[cfg(target_arch = "wasm32")]
mod upstash;

#[cfg(target_arch = "wasm32")]
pub use adapter::{Sessions, config_from_env, session_error};
pub use edge_session;
/// A request's session, as handlers see it in `RouteContext::data` (the
/// core's [`SessionHandle`](edge_session::SessionHandle)).
pub use edge_session::SessionHandle as Session;
#[cfg(target_arch = "wasm32")]
pub use kv::{KV_MIN_TTL, KvSessionStore};
#[cfg(target_arch = "wasm32")]
pub use upstash::UpstashStore;
