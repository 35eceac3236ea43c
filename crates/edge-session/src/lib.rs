//! Signed, server-side sessions for Rust web code, from one `no_std` core
//! that runs on Cloudflare Workers (wasm32) and on native servers.
//!
//! The browser holds only a signed cookie carrying the session id and its
//! expiry; the data lives in a store with a TTL. This crate is the core:
//! keys and signing ([`Key`], [`KeyRing`]), ids ([`SessionId`]), cookies
//! ([`cookie`], [`format`]), the session handlers use ([`Session`]) and its
//! data ([`SessionData`]), the store trait ([`SessionStore`]) with a
//! [`MemoryStore`] and a [`CookieStore`], the Redis wire format
//! ([`redis_wire`]), and the request driver every adapter uses
//! ([`adapter::SessionManager`], over the engine [`adapter::Lifecycle`]), so
//! sessions behave the same everywhere. It does no I/O and reads no clock:
//! adapters pass `now` (unix seconds) in.
//!
//! # Features
//! * `std` (default): [`MemoryStore`], [`Session`] (the handle handlers
//!   use) and the request driver in [`adapter`]. Without it the crate is
//!   `no_std` + `alloc`.
//! * `testing`: [`testing`], the store conformance suite, a call-counting
//!   store and an executor for always-ready futures, for testing stores and
//!   adapters (off by default: test support stays out of products).
//! * `getrandom` (default): session ids from the system CSPRNG (on
//!   `wasm32-unknown-unknown`, the browser's / Workers' `crypto`), and
//!   [`Key::generate`]. Without it, give a random source with
//!   [`SessionConfig::with_rng`].
#![no_std]
#![deny(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod b64;
pub mod config;
pub mod cookie;
pub mod cookie_store;
pub mod engine;
pub mod error;
pub mod format;
#[cfg(feature = "std")]
pub mod handle;
pub mod id;
pub mod key;
#[cfg(feature = "std")]
pub mod memory;
pub mod redis_wire;
pub mod session;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{DEFAULT_TTL, Expiry, SessionConfig, SessionExpiry};
pub use cookie::{CookieConfig, SameSite};
pub use cookie_store::CookieStore;
pub use error::{BoxError, Error, Result, StoreError};
#[cfg(feature = "std")]
pub use handle::Session;
pub use id::SessionId;
pub use key::{Key, KeyRing, MIN_KEY_LEN};
#[cfg(feature = "std")]
pub use memory::MemoryStore;
pub use session::SessionData;
pub use store::{Change, Changes, Cycled, MaybeSend, MaybeSync, Record, SessionStore};

/// What adapter authors use (the tower and Workers adapters do): the
/// request driver, the outcome of a request, and the engine beneath them.
/// Handlers never need this module.
pub mod adapter {
    pub use crate::engine::{Action, Commit, Lifecycle, MAX_COOKIE_CANDIDATES, MAX_EXPIRES};
    pub use crate::error::{FAILED_BODY, UNAVAILABLE_BODY};
    #[cfg(feature = "std")]
    pub use crate::handle::{ErrorResponse, LogLevel, LogLine, Outcome, Pending, SessionManager};
}

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
