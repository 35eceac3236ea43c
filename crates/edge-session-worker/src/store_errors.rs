//! The Workers stores' failures, typed: they reach the adapter inside
//! [`edge_session::Error::Store`]; downcast to read them.

use std::fmt;

/// A failed Workers KV call. It reaches the adapter inside
/// [`edge_session::Error::Store`]; downcast to read it.
///
/// The runtime reports a KV failure as a JavaScript `Error` whose only
/// content is its message, e.g. `KV PUT failed: 429 Too Many Requests`
/// (the store calls the KV binding directly and catches it). The HTTP status is read
/// out of that message once, here, so callers match on [`status`](Self::status)
/// or [`is_rate_limited`](Self::is_rate_limited), never on text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvStoreError {
    status: Option<u16>,
    message: String,
}

impl KvStoreError {
    /// The error for the runtime's `message`.
    pub fn from_message(message: impl Into<String>) -> Self {
        let message = message.into();
        KvStoreError {
            status: status_in(&message),
            message,
        }
    }

    /// The HTTP status KV answered with, if the runtime reported one
    /// (`KV GET failed: 414 URI Too Long`, `KV PUT failed: 429 ...`).
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// True for 429: KV allows one write per second per key.
    pub fn is_rate_limited(&self) -> bool {
        self.status == Some(429)
    }

    /// The runtime's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The status in `KV <OP> failed: <status> <reason>`.
fn status_in(message: &str) -> Option<u16> {
    let (_, rest) = message.split_once(" failed: ")?;
    let digits = rest.get(..3)?;
    let after = rest.as_bytes().get(3).copied();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || after.is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|s| (100..600).contains(s))
}

impl fmt::Display for KvStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_rate_limited() {
            write!(
                f,
                "Workers KV refused the write (at most one write per second per key): {}",
                self.message
            )
        } else {
            write!(f, "Workers KV failed: {}", self.message)
        }
    }
}

impl std::error::Error for KvStoreError {}

/// A failed call to a session's Durable Object
/// (`DurableObjectStore`, on wasm32): the runtime's fetch
/// failing (the object unreachable, overloaded, reset), or the object
/// answering an error status (its storage failing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableObjectError {
    status: Option<u16>,
    message: String,
}

impl DurableObjectError {
    /// An error with the object's HTTP `status` (`None`: no answer).
    pub fn new(status: Option<u16>, message: impl Into<String>) -> Self {
        DurableObjectError {
            status,
            message: message.into(),
        }
    }

    /// The status the object answered with; `None` if it did not answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
}

impl fmt::Display for DurableObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DurableObjectError {}

#[cfg(test)]
mod tests {
    use super::KvStoreError;

    #[test]
    fn status_is_read_from_the_runtime_message_once() {
        let e = KvStoreError::from_message("KV PUT failed: 429 Too Many Requests");
        assert_eq!(e.status(), Some(429));
        assert!(e.is_rate_limited());
        assert!(e.to_string().contains("one write per second"), "{e}");

        let e = KvStoreError::from_message("KV GET failed: 414 URI Too Long");
        assert_eq!(e.status(), Some(414));
        assert!(!e.is_rate_limited());

        for text in [
            "Error: internal error",
            "KV PUT failed: ",
            "KV PUT failed: 4290 nope",
            "KV PUT failed: 42",
            "KV PUT failed: 999 odd",
            "a message mentioning 429 elsewhere",
        ] {
            let e = KvStoreError::from_message(text);
            assert_eq!(e.status(), None, "{text}");
            assert!(!e.is_rate_limited(), "{text}");
        }
    }
}
