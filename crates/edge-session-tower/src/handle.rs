//! The handle handlers get, errors as HTTP answers, and the axum extractor.

use std::fmt;
use std::ops::Deref;

use edge_session::Error;

/// A request's session, found in the request extensions (and, with the
/// `axum` feature, an axum extractor). It derefs to the core's
/// [`edge_session::Session`] (a newtype only because an axum extractor
/// cannot be implemented for another crate's type): `get`, `insert`,
/// `remove`, `increment`, `clear`, `cycle_id`, `record`, `with`..., the same
/// data calls the Workers adapter gives, and nothing that could switch the
/// commit off.
#[derive(Clone, Debug)]
pub struct Session(pub(crate) edge_session::Session);

impl Deref for Session {
    type Target = edge_session::Session;

    fn deref(&self) -> &edge_session::Session {
        &self.0
    }
}

impl Session {
    /// The core handle.
    pub fn into_inner(self) -> edge_session::Session {
        self.0
    }
}

/// An [`edge_session::Error`] as an HTTP answer: 503 when the store failed,
/// 500 otherwise. With the `axum` feature it is an `IntoResponse`, so axum
/// handlers can use `?` on session calls.
#[derive(Debug)]
pub struct SessionError(pub Error);

impl SessionError {
    /// The status this error answers with.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::from_u16(self.0.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

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

#[cfg(feature = "axum")]
mod axum_impls {
    use axum::extract::FromRequestParts;
    use axum::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::{Session, SessionError};

    impl IntoResponse for SessionError {
        fn into_response(self) -> Response {
            // The same status, body and headers as the layer's own answers.
            tracing::error!(error = %self.0, "session error");
            crate::layer::error_response(&edge_session::adapter::ErrorResponse::new(self.0))
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Session {
        type Rejection = (http::StatusCode, &'static str);

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<Session>().cloned().ok_or((
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "no session: add edge_session_tower::SessionLayer to the router",
            ))
        }
    }
}
