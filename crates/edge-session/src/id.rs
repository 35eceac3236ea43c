//! Session ids.

use alloc::boxed::Box;
use core::fmt;

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
///
/// A generated id is held inline (no allocation: every request with a
/// session cookie makes one); other ids on the heap.
#[derive(Clone)]
pub struct SessionId(Repr);

#[derive(Clone)]
enum Repr {
    /// [`GENERATED_LEN`] base64url characters: every id the core makes.
    Generated([u8; GENERATED_LEN]),
    /// Any other valid id (the cookie store's, an app's own).
    Other(Box<str>),
}

impl SessionId {
    /// Generates a new id from `rng`.
    ///
    /// # Errors
    /// [`Error::Random`] if the random source fails.
    pub fn generate(rng: RandomSource) -> Result<Self> {
        let mut bytes = [0u8; ID_BYTES];
        rng(&mut bytes)?;
        let mut text = [0u8; GENERATED_LEN];
        crate::b64::encode(&bytes, &mut text);
        Ok(SessionId(Repr::Generated(text)))
    }

    /// True if the id has the shape of a generated one: 22 base64url
    /// characters (128 bits). Server-side stores see no other.
    pub fn is_generated(&self) -> bool {
        matches!(self.0, Repr::Generated(_))
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
        is_valid_id(s.as_bytes()).then(|| Self::from_valid(s))
    }

    /// Wraps bytes already checked by `is_valid_id` (ASCII, so UTF-8; the
    /// generated shape is copied without a second check).
    pub(crate) fn from_checked(s: &[u8]) -> Option<Self> {
        match <[u8; GENERATED_LEN]>::try_from(s) {
            Ok(text) => Some(SessionId(Repr::Generated(text))),
            Err(_) => core::str::from_utf8(s).ok().map(Self::from_valid),
        }
    }

    /// Wraps a valid id, inline if it has the generated shape.
    fn from_valid(s: &str) -> Self {
        match <[u8; GENERATED_LEN]>::try_from(s.as_bytes()) {
            Ok(text) => SessionId(Repr::Generated(text)),
            Err(_) => SessionId(Repr::Other(s.into())),
        }
    }

    /// The id as text (the storage key suffix and the cookie's id field).
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Base64url characters only (checked when made), so always
            // UTF-8: the empty fallback is never taken.
            Repr::Generated(text) => core::str::from_utf8(text).unwrap_or_default(),
            Repr::Other(text) => text,
        }
    }

    /// The id's text as bytes, without [`SessionId::as_str`]'s UTF-8 check
    /// (what a store writes into a command buffer).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Generated(text) => text,
            Repr::Other(text) => text.as_bytes(),
        }
    }
}

// Equality, order and hash are the text's (an id of the generated shape is
// always held inline, so equal texts have equal representations too).
impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SessionId {}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionId {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl core::hash::Hash for SessionId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        // What `str`'s hash writes (the bytes, then 0xff), without the
        // UTF-8 check `as_str` makes.
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

/// Which bytes an id may hold: base64url's alphabet.
const ID_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

pub(crate) fn is_valid_id(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && s.iter().all(|&b| ID_BYTE[usize::from(b)])
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(<{} chars>)", self.as_bytes().len())
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
