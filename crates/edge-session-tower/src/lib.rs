//! Sessions for tower services: hyper 1.x (through hyper-util) and axum.
//!
//! [`SessionLayer`] wraps a service; each request finds a [`Session`] in its
//! extensions (axum handlers take it as an extractor with the `axum`
//! feature). The session is read from the store lazily, on first use, and
//! written after the handler returns, by the core's request driver
//! ([`edge_session::adapter::SessionManager`]), which every edge-session
//! adapter shares: this layer only moves headers.
//!
//! ```
//! use edge_session::{MemoryStore, SessionConfig};
//! use edge_session_tower::{Session, SessionLayer};
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionConfig::from_secret(b"a secret of at least thirty-two bytes")?;
//! let layer = SessionLayer::try_new(MemoryStore::new(), config)?;
//! let service = ServiceBuilder::new().layer(layer).service_fn(|req: Request<String>| async move {
//!     let session = req.extensions().get::<Session>().cloned().expect("SessionLayer is installed");
//!     session.insert("data", "session_data").await?;
//!     Ok::<_, edge_session::Error>(Response::new(String::from("ok")))
//! });
//! let response = service.oneshot(Request::new(String::new())).await?;
//! assert!(response.headers()["set-cookie"].to_str()?.starts_with("session=v1."));
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour on failure
//! * Any cookie (garbage, forged, expired, oversized, duplicated): a fresh,
//!   empty session; never an error.
//! * The store fails while loading: the handler's session call returns
//!   [`edge_session::Error::Store`], and by default the layer answers
//!   **503 Service Unavailable** whatever the handler returned (see
//!   [`SessionLayer::with_load_error_passthrough`]). The store fails while
//!   committing: always 503, so a write is never silently lost.
//! * A store record that does not decode: treated as missing, logged
//!   (`tracing` warning).
//!
//! # Features
//! * `redis`: `RedisStore` (module `redis_store`) on the redis crate.
//! * `cluster`: Redis Cluster for it.
//! * `axum`: [`Session`] as an axum extractor and [`SessionError`] as a
//!   response.
//!
//! # Concurrency
//! Requests of one session running at once never undo each other: writes
//! are conditional on the record still existing (a logout or login sticks),
//! only the keys a request changed are written, increments add up, and a
//! sliding refresh only extends the TTL. Requests never see another
//! session's data: each request has its own handle and the id comes only
//! from its own verified cookie.

mod handle;
mod layer;
#[cfg(feature = "redis")]
mod redis_cache;
#[cfg(feature = "redis")]
pub mod redis_store;

pub use edge_session;
pub use handle::{Session, SessionError};
pub use layer::{ResponseFuture, SessionLayer, SessionService, error_response};
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
