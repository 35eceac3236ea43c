//! The signed cookie value: `v1.<id>.<expires>.<tag>`, or
//! `v2.<id>.<expires>.<deadline>.<mode>.<tag>` when the session carries more
//! than an expiry.
//!
//! * `v1` / `v2` — the format version;
//! * `<id>` — the session id, base64url characters;
//! * `<expires>` — unix seconds, decimal, no leading zeros;
//! * `<deadline>` (v2) — the absolute deadline no refresh may pass, unix
//!   seconds, `0` for none;
//! * `<mode>` (v2) — the session's own expiry ([`SessionExpiry`]): `d` the
//!   configuration's, `b` a browser-session cookie, `p<seconds>` a
//!   persistent cookie sliding by that many seconds ("remember me");
//! * `<tag>` — HMAC-SHA256, base64url without padding (43 characters), over
//!   the bytes `<cookie name>=` followed by everything before the last dot:
//!   the cookie's name is bound in so a value cannot be moved to another
//!   cookie.
//!
//! A v1 value is what a v2 value with no deadline (or a deadline equal to
//! `<expires>`) and mode `d` would say; sessions write v1 then, so the
//! common cookie stays short and every v1 cookie stays valid.

use alloc::string::String;

use crate::b64;
use crate::config::SessionExpiry;
use crate::cookie::{Ascii, MAX_COOKIE_SIZE};
use crate::id::{SessionId, is_valid_id};
use crate::key::KeyRing;

/// The version marker of the short format.
pub const FORMAT_VERSION: &str = "v1";

/// The version marker of the format with a deadline and a mode.
pub const FORMAT_VERSION_2: &str = "v2";

const TAG_B64_LEN: usize = 43;

/// A cookie value whose signature verified and which has not expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCookie {
    /// The session id it carries.
    pub id: SessionId,
    /// Its expiry, unix seconds.
    pub expires: u64,
    /// The absolute deadline it carries (v2), unix seconds.
    pub deadline: Option<u64>,
    /// The session's own expiry (v2; [`SessionExpiry::Default`] for v1).
    pub mode: SessionExpiry,
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

/// An upper bound of the encoded value's length (either version).
pub(crate) fn encoded_len(id: &SessionId) -> usize {
    FORMAT_VERSION.len() + id.as_bytes().len() + 2 + 20 + 1 + 20 + 1 + 21 + 1 + TAG_B64_LEN
}

/// Appends the signed value for cookie `name`: v1 when `deadline` and
/// `mode` add nothing to `expires`, v2 otherwise.
pub(crate) fn encode_full_into(
    out: &mut String,
    keys: &KeyRing,
    name: &str,
    id: &SessionId,
    expires: u64,
    deadline: Option<u64>,
    mode: SessionExpiry,
) {
    let v1 = mode == SessionExpiry::Default && deadline.is_none_or(|d| d == expires);
    write_signed(
        out,
        keys,
        name,
        id,
        expires,
        (!v1).then_some((deadline, mode)),
    );
}

/// Encodes and signs a cookie value with a deadline and a mode (v2 when
/// they say more than `expires`; see the module docs).
pub fn encode_full(
    keys: &KeyRing,
    name: &str,
    id: &SessionId,
    expires: u64,
    deadline: Option<u64>,
    mode: SessionExpiry,
) -> String {
    let mut value = String::with_capacity(encoded_len(id));
    encode_full_into(&mut value, keys, name, id, expires, deadline, mode);
    value
}

/// Appends the signed value for cookie `name` to `out`.
pub(crate) fn encode_into(
    out: &mut String,
    keys: &KeyRing,
    name: &str,
    id: &SessionId,
    expires: u64,
) {
    write_signed(out, keys, name, id, expires, None);
}

/// Appends `v1.<id>.<expires>`, or `v2.<id>.<expires>.<deadline>.<mode>`
/// with `v2`, then `.` and the tag over `<name>=` and all of it.
fn write_signed(
    out: &mut String,
    keys: &KeyRing,
    name: &str,
    id: &SessionId,
    expires: u64,
    v2: Option<(Option<u64>, SessionExpiry)>,
) {
    let start = out.len();
    out.push_str(if v2.is_some() {
        FORMAT_VERSION_2
    } else {
        FORMAT_VERSION
    });
    out.push('.');
    out.push_str(id.as_str());
    // `.<expires>[.<deadline>.<mode>]`: at most 3 dots, 3 numbers, one letter.
    let mut numbers = Ascii::new();
    numbers.bytes(b".").u64(expires);
    if let Some((deadline, mode)) = v2 {
        numbers.bytes(b".").u64(deadline.unwrap_or(0)).bytes(b".");
        match mode {
            SessionExpiry::Default => numbers.bytes(b"d"),
            SessionExpiry::BrowserSession => numbers.bytes(b"b"),
            SessionExpiry::Persistent(secs) => numbers.bytes(b"p").u64(secs),
        };
    }
    numbers.push_to(out);
    let tag = keys.sign(&[name.as_bytes(), b"=", &out.as_bytes()[start..]]);
    let mut text = [0u8; TAG_B64_LEN + 1];
    text[0] = b'.';
    b64::encode(&tag, &mut text[1..]);
    // Only ever ASCII, so this never takes the empty fallback.
    out.push_str(core::str::from_utf8(&text).unwrap_or_default());
}

/// A cookie value that passed the structural checks (not yet the tag).
pub(crate) struct Parsed<'a> {
    signed: &'a [u8],
    tag: [u8; 32],
    id: &'a [u8],
    expires: u64,
    deadline: Option<u64>,
    mode: SessionExpiry,
}

/// The structural checks, no HMAC: a version, a valid id, canonical
/// numbers, a tag of the right length. `Lifecycle::start` runs them first,
/// so junk (`session=x`) does not use up the per-request budget of
/// candidates that get an HMAC.
pub(crate) fn parse(value: &[u8]) -> Option<Parsed<'_>> {
    if value.len() > MAX_COOKIE_SIZE {
        return None;
    }
    // The tag is the last 43 characters, after the last dot (base64url has
    // no dots, so a dot inside them fails the decode below).
    let dot = value.len().checked_sub(TAG_B64_LEN + 1)?;
    if value[dot] != b'.' {
        return None;
    }
    let (signed, tag_b64) = (&value[..dot], &value[dot + 1..]);
    let tag = b64::decode_tag(tag_b64)?;
    let (rest, v2) = match signed.get(..3)? {
        b"v1." => (&signed[3..], false),
        b"v2." => (&signed[3..], true),
        _ => return None,
    };
    let mut fields = rest.split(|&b| b == b'.');
    let id = fields.next()?;
    if !is_valid_id(id) {
        return None;
    }
    let expires = parse_canonical_u64(fields.next()?)?;
    let (deadline, mode) = if v2 {
        let deadline = parse_canonical_u64(fields.next()?)?;
        let mode = parse_mode(fields.next()?)?;
        (Some(deadline).filter(|d| *d != 0), mode)
    } else {
        (None, SessionExpiry::Default)
    };
    if fields.next().is_some() {
        return None;
    }
    Some(Parsed {
        signed,
        tag,
        id,
        expires,
        deadline,
        mode,
    })
}

/// Checks a cookie value sent for cookie `name`: its structure, its tag
/// against every key of the ring (constant-time), and that it has not
/// expired at `now`. Returns `None` for anything else, without saying why.
pub fn verify(keys: &KeyRing, name: &str, value: &[u8], now: u64) -> Option<VerifiedCookie> {
    verify_parsed(keys, name, parse(value)?, now)
}

/// [`verify`] for a value [`parse`] accepted: the tag and the expiry.
pub(crate) fn verify_parsed(
    keys: &KeyRing,
    name: &str,
    parsed: Parsed<'_>,
    now: u64,
) -> Option<VerifiedCookie> {
    if !keys.verify(&[name.as_bytes(), b"=", parsed.signed], &parsed.tag) {
        return None;
    }
    if parsed.expires <= now || parsed.deadline.is_some_and(|d| d <= now) {
        return None;
    }
    let id = SessionId::from_checked(parsed.id)?;
    Some(VerifiedCookie {
        id,
        expires: parsed.expires,
        deadline: parsed.deadline,
        mode: parsed.mode,
    })
}

fn parse_mode(s: &[u8]) -> Option<SessionExpiry> {
    match s {
        b"d" => Some(SessionExpiry::Default),
        b"b" => Some(SessionExpiry::BrowserSession),
        [b'p', secs @ ..] => parse_canonical_u64(secs)
            .filter(|s| *s > 0)
            .map(SessionExpiry::Persistent),
        _ => None,
    }
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
