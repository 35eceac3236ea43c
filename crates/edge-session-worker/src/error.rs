//! The error session calls return in a worker.

use core::fmt;

use edge_session::Error;

/// An [`edge_session::Error`] from a session call in a worker. `?` turns it
/// into a `worker::Error` in a workers-rs handler; the adapter answers 503
/// by itself when the store failed, whatever the handler returns.
#[derive(Debug)]
pub struct SessionError(pub Error);

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

#[cfg(target_arch = "wasm32")]
impl From<SessionError> for worker::Error {
    fn from(e: SessionError) -> Self {
        worker::Error::RustError(e.0.to_string())
    }
}
