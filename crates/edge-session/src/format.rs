//! The signed cookie value: `v1.<id>.<expires>.<tag>`.
//!
//! * `v1` — the format version;
//! * `<id>` — the session id, base64url characters;
//! * `<expires>` — unix seconds, decimal, no leading zeros;
//! * `<tag>` — HMAC-SHA256, base64url without padding (43 characters), over
//!   the bytes `<cookie name>=v1.<id>.<expires>`: everything the browser
//!   sends before the last dot, with the cookie's name bound in so a value
//!   cannot be moved to another cookie.

use alloc::string::String;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::cookie::MAX_COOKIE_SIZE;
use crate::id::{SessionId, is_valid_id};
use crate::key::KeyRing;

/// The version marker every cookie value starts with.
pub const FORMAT_VERSION: &str = "v1";

const TAG_B64_LEN: usize = 43;

/// A cookie value whose signature verified and which has not expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCookie {
    /// The session id it carries.
    pub id: SessionId,
    /// Its expiry, unix seconds.
    pub expires: u64,
}

/// Encodes and signs a cookie value for cookie `name`.
///
/// ```
/// use edge_session::{format, Key, KeyRing, SessionId};
/// let ring = KeyRing::new(Key::from_bytes(&[7; 32]));
/// let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
/// let value = format::encode(&ring, "session", &id, 1_700_000_000);
/// assert!(value.starts_with("v1.AAAAAAAAAAAAAAAAAAAAAA.1700000000."));
/// let verified = format::verify(&ring, "session", value.as_bytes(), 1_600_000_000).unwrap();
/// assert_eq!(verified.id, id);
/// ```
pub fn encode(keys: &KeyRing, name: &str, id: &SessionId, expires: u64) -> String {
    let mut value = String::with_capacity(encoded_len(id));
    encode_into(&mut value, keys, name, id, expires);
    value
}

/// An upper bound of the encoded value's length.
pub(crate) fn encoded_len(id: &SessionId) -> usize {
    FORMAT_VERSION.len() + id.as_str().len() + 2 + 20 + 1 + TAG_B64_LEN
}

/// Appends the signed value for cookie `name` to `out`.
pub(crate) fn encode_into(
    out: &mut String,
    keys: &KeyRing,
    name: &str,
    id: &SessionId,
    expires: u64,
) {
    let start = out.len();
    out.push_str(FORMAT_VERSION);
    out.push('.');
    out.push_str(id.as_str());
    out.push('.');
    crate::cookie::push_u64(out, expires);
    let tag = keys.sign(&[name.as_bytes(), b"=", &out.as_bytes()[start..]]);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, out);
}

/// Checks a cookie value sent for cookie `name`: its structure, its tag
/// against every key of the ring (constant-time), and that it has not
/// expired at `now`. Returns `None` for anything else, without saying why.
pub fn verify(keys: &KeyRing, name: &str, value: &[u8], now: u64) -> Option<VerifiedCookie> {
    if value.len() > MAX_COOKIE_SIZE {
        return None;
    }
    let dot = value.iter().rposition(|&b| b == b'.')?;
    let (signed, tag_b64) = (&value[..dot], &value[dot + 1..]);
    if tag_b64.len() != TAG_B64_LEN {
        return None;
    }
    let mut tag = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(tag_b64, &mut tag) {
        Ok(32) => {}
        _ => return None,
    }
    let rest = signed
        .strip_prefix(FORMAT_VERSION.as_bytes())?
        .strip_prefix(b".")?;
    let dot = rest.iter().position(|&b| b == b'.')?;
    let (id, expires) = (&rest[..dot], &rest[dot + 1..]);
    if !is_valid_id(id) {
        return None;
    }
    let expires = parse_canonical_u64(expires)?;
    if !keys.verify(&[name.as_bytes(), b"=", signed], &tag) {
        return None;
    }
    if expires <= now {
        return None;
    }
    let id = SessionId::from_checked(id)?;
    Some(VerifiedCookie { id, expires })
}

fn parse_canonical_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}
