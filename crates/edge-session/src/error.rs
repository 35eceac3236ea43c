//! The one error type of the crate.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The body of a 503 answered because the store failed (every adapter
/// uses it).
pub const UNAVAILABLE_BODY: &str = "session store unavailable; try again shortly\n";

/// The body of a 500 answered because a commit failed for another reason.
pub const FAILED_BODY: &str = "session error\n";

/// A boxed error from a store's backend (Redis, Workers KV, an HTTP API...).
pub type BoxError = Box<dyn core::error::Error + Send + Sync + 'static>;

/// A store backend's error as [`Error::Store`] holds it: shared, so the
/// handler that met it and the adapter that answers 503 see the same typed
/// error (downcast it to the store's own error type), not a copy of its text.
pub type StoreError = alloc::sync::Arc<dyn core::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in edge-session.
///
/// Each variant says what happened and what to do about it. Verification
/// failures of a cookie are deliberately *not* errors: a bad cookie simply
/// yields a fresh, empty session.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A signing key is shorter than [`MIN_KEY_LEN`](crate::MIN_KEY_LEN) bytes.
    KeyTooShort {
        /// The length that was given.
        len: usize,
    },
    /// A key ring was built without any key.
    NoKeys,
    /// The configuration is inconsistent (for example a `__Host-` cookie with a
    /// `Domain`). The message names the setting to change.
    InvalidConfig(&'static str),
    /// The random number source failed, or none is configured (build without
    /// the `getrandom` feature and no [`SessionConfig::with_rng`](crate::SessionConfig::with_rng)).
    Random,
    /// A value could not be turned into JSON or back into the requested type.
    Json(serde_json::Error),
    /// The session cookie would exceed the browser limit of 4096 bytes for
    /// `name=value`. With the cookie store this means the session data is too
    /// large to live in a cookie: keep less data or use a server-side store.
    CookieTooLarge {
        /// Size in bytes of `name=value`.
        size: usize,
        /// The limit, 4096.
        limit: usize,
    },
    /// A store record did not decode. The lifecycle treats such a record as
    /// missing (the user gets a fresh session) and reports it through
    /// [`Commit::corrupt_record`](crate::adapter::Commit::corrupt_record).
    CorruptRecord,
    /// A new session id collided with an existing one several times in a
    /// row: the random source is broken.
    IdCollision,
    /// The session was used after its response had been committed (a handle
    /// kept past the request, e.g. in a spawned task): the change is lost.
    Finished,
    /// The store failed (unreachable, refused the write, rate limited...).
    /// Adapters answer 503 by default; the source says what the backend said.
    Store(StoreError),
}

impl Error {
    /// Wraps any backend error as [`Error::Store`].
    pub fn store<E>(err: E) -> Self
    where
        E: Into<BoxError>,
    {
        Error::Store(StoreError::from(err.into()))
    }

    /// Makes an [`Error::Store`] from a message.
    pub fn store_msg(msg: impl Into<String>) -> Self {
        Error::Store(alloc::sync::Arc::new(Message(msg.into())))
    }

    /// The same store error again (it is shared), for the adapter to answer
    /// with; `None` for other variants.
    pub fn share_store(&self) -> Option<Error> {
        match self {
            Error::Store(e) => Some(Error::Store(e.clone())),
            _ => None,
        }
    }

    /// True for [`Error::Store`]: the backend, not the request, is at fault
    /// (adapters answer 503 Service Unavailable).
    pub fn is_store(&self) -> bool {
        matches!(self, Error::Store(_))
    }

    /// The HTTP status this error answers with, on every runtime: 503 for a
    /// store failure, 500 for anything else.
    pub fn status(&self) -> u16 {
        if self.is_store() { 503 } else { 500 }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Not the length: a misconfigured secret's length is still a
            // hint about the secret, and messages reach logs and pages.
            Error::KeyTooShort { .. } => write!(
                f,
                "session key is too short: at least {} bytes are required (generate one with `openssl rand -base64 48`)",
                crate::MIN_KEY_LEN
            ),
            Error::NoKeys => f.write_str("the session key ring is empty; give it at least one key"),
            Error::InvalidConfig(msg) => write!(f, "invalid session configuration: {msg}"),
            Error::Random => f.write_str(
                "no random bytes for a session id: the random source failed or none is configured",
            ),
            Error::Json(e) => write!(f, "session value is not valid JSON for this type: {e}"),
            Error::CookieTooLarge { size, limit } => write!(
                f,
                "session cookie would be {size} bytes, over the {limit}-byte browser limit; \
                 store less data in the session or use a server-side store"
            ),
            Error::CorruptRecord => f.write_str("a session record in the store did not decode"),
            Error::IdCollision => f.write_str(
                "new session ids kept colliding with existing ones; check the random source",
            ),
            Error::Finished => f.write_str(
                "the session was already committed with its response; use it only while handling the request",
            ),
            Error::Store(e) => write!(f, "session store failed: {e}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for Message {}
