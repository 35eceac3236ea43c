//! Sessions for Cloudflare Workers (workers-rs), from edge-session's core.
//!
//! Build the workers-rs `Router` as usual; `Sessions::run` gives it your
//! app's data with the request's session beside it, runs it, and commits
//! the session after the router returns (one store write at most, then a
//! `Set-Cookie` **appended** to the response). Handlers keep their shape,
//! `async fn(Request, RouteContext<WithSession<D>>) -> worker::Result<Response>`,
//! reach the session with `ctx.session()` and the app's data with
//! `ctx.data`, and use `?` on session calls.
//!
//! ```ignore
//! use edge_session_worker::{KvSessionStore, SessionContext, Sessions, WithSession, config_from_env};
//! use worker::*;
//!
//! struct App { greeting: &'static str }
//!
//! #[event(fetch)]
//! async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
//!     let store = KvSessionStore::from_env(&env, "SESSIONS")?;
//!     let sessions = Sessions::new(store, config_from_env(&env)?)?; // SESSION_SECRET
//!     sessions
//!         .run(req, env, App { greeting: "hello" }, |router| {
//!             router.get_async("/setup_session", setup)
//!         })
//!         .await
//! }
//!
//! async fn setup(_req: Request, ctx: RouteContext<WithSession<App>>) -> Result<Response> {
//!     ctx.session().insert("data", "session_data").await?;
//!     Response::ok(ctx.data.greeting)
//! }
//! ```
//!
//! Stores: `DurableObjectStore` (one Durable Object per session, strongly
//! consistent; export its class with `session_durable_object!`),
//! `KvSessionStore` (Workers KV, eventually consistent) and `UpstashStore`
//! (Upstash Redis over its REST API, the same records as the native
//! `RedisStore`, so a worker and a native server share sessions through one
//! Redis); `AnyStore` picks one at run time.
//!
//! On targets other than `wasm32` this crate is empty.

#[cfg(target_arch = "wasm32")]
mod adapter;
#[cfg(target_arch = "wasm32")]
mod any;
#[cfg(target_arch = "wasm32")]
mod durable;
mod error;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod kv;
mod store_errors;
#[cfg(target_arch = "wasm32")]
mod upstash;

#[cfg(target_arch = "wasm32")]
pub use adapter::{
    SessionContext, Sessions, WithSession, config_from_env, session_error, store_unavailable,
};
#[cfg(target_arch = "wasm32")]
pub use any::AnyStore;
#[cfg(target_arch = "wasm32")]
pub use durable::{DurableObjectStore, LATEST_ALARM_MS, SessionObject};
pub use edge_session;
pub use error::SessionError;
#[cfg(target_arch = "wasm32")]
pub use kv::{KV_MAX_TTL, KV_MIN_TTL, KvSessionStore};
pub use store_errors::{DurableObjectError, KvStoreError};
#[cfg(target_arch = "wasm32")]
pub use upstash::{UpstashError, UpstashStore};

/// A request's session, as handlers reach it (`ctx.session()`): the core's
/// [`edge_session::Session`], its calls returning [`SessionError`] so that
/// `?` works in a workers-rs handler.
pub type Session = edge_session::Session<SessionError>;
