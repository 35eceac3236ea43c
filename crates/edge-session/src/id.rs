//! Session ids.

use alloc::string::String;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};

/// Random bytes in a generated session id (128 bits).
pub const ID_BYTES: usize = 16;

/// Characters in a generated id: [`ID_BYTES`] in base64url, no padding.
pub const GENERATED_LEN: usize = (ID_BYTES * 8).div_ceil(6);

/// The longest id accepted from a cookie or a store, in characters.
pub const MAX_ID_LEN: usize = 4096;

/// A source of cryptographically secure random bytes.
pub type RandomSource = fn(&mut [u8]) -> Result<()>;

/// A session id: the key of the session's record in the store.
///
/// Generated ids are 128 random bits from a CSPRNG, base64url without
/// padding (22 characters). Any id is a non-empty string of base64url
/// characters (`A-Z a-z 0-9 - _`) of at most [`MAX_ID_LEN`] characters;
/// stores that keep data in the cookie (the cookie store) put the data there.
///
/// `Debug` does not print the id (ids must not reach logs); use
/// [`SessionId::as_str`] deliberately.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// Generates a new id from `rng`.
    ///
    /// # Errors
    /// [`Error::Random`] if the random source fails.
    pub fn generate(rng: RandomSource) -> Result<Self> {
        let mut bytes = [0u8; ID_BYTES];
        rng(&mut bytes)?;
        Ok(SessionId(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// True if the id has the shape of a generated one: 22 base64url
    /// characters (128 bits). Server-side stores see no other.
    pub fn is_generated(&self) -> bool {
        self.0.len() == GENERATED_LEN
    }

    /// Checks and wraps an id read from a cookie, a store or a test.
    ///
    /// ```
    /// use edge_session::SessionId;
    /// assert!(SessionId::parse("c2Vzc2lvbi1pZA").is_some());
    /// assert!(SessionId::parse("has.dot").is_none());
    /// assert!(SessionId::parse("").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        is_valid_id(s.as_bytes()).then(|| SessionId(String::from(s)))
    }

    /// Wraps bytes already checked by `is_valid_id` (ASCII, so UTF-8).
    pub(crate) fn from_checked(s: &[u8]) -> Option<Self> {
        core::str::from_utf8(s)
            .ok()
            .map(|s| SessionId(String::from(s)))
    }

    /// The id as text (the storage key suffix and the cookie's id field).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn is_valid_id(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(<{} chars>)", self.0.len())
    }
}

/// The default random source: `getrandom` when that feature is on, else
/// always [`Error::Random`].
pub(crate) fn default_rng(buf: &mut [u8]) -> Result<()> {
    #[cfg(feature = "getrandom")]
    {
        getrandom::fill(buf).map_err(|_| Error::Random)
    }
    #[cfg(not(feature = "getrandom"))]
    {
        let _ = buf;
        Err(Error::Random)
    }
}
