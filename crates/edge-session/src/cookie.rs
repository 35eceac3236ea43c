//! `Cookie` header parsing and `Set-Cookie` building.

use crate::error::{Error, Result};
use alloc::string::String;

/// Browsers keep at most this many bytes of a cookie's `name=value`.
pub const MAX_COOKIE_SIZE: usize = 4096;

/// The `SameSite` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level cross-site navigations (the default).
    #[default]
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// Every `(name, value)` pair of a `Cookie` request header, in order.
///
/// Pairs are separated by `;`, surrounding spaces and tabs are trimmed, the
/// name ends at the first `=`, and a value in double quotes is unquoted.
/// Pieces without `=` are skipped. Works on raw bytes, so a header that is
/// not UTF-8 is still parsed (and such values simply never verify).
///
/// ```
/// let pairs: Vec<_> = edge_session::cookie::parse_cookie_header(b"a=1; b=\"2\";c").collect();
/// assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (&b"b"[..], &b"2"[..])]);
/// ```
pub fn parse_cookie_header(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = Some(header);
    core::iter::from_fn(move || {
        loop {
            let unread = rest?;
            let piece = match find_byte(unread, b';') {
                Some(semi) => {
                    rest = Some(&unread[semi + 1..]);
                    &unread[..semi]
                }
                None => {
                    rest = None;
                    unread
                }
            };
            if let Some(pair) = cookie_pair(piece) {
                return Some(pair);
            }
        }
    })
}

/// One `name=value` piece of a `Cookie` header, trimmed and unquoted.
fn cookie_pair(piece: &[u8]) -> Option<(&[u8], &[u8])> {
    let piece = trim(piece);
    let eq = piece.iter().position(|&b| b == b'=')?;
    let name = trim(&piece[..eq]);
    let mut value = trim(&piece[eq + 1..]);
    if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
        value = &value[1..value.len() - 1];
    }
    Some((name, value))
}

/// The index of the first `needle` in `haystack`, eight bytes at a time
/// (a session cookie's value is long, and this runs on every request).
fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Bytes equal to `needle` become zero; the lowest zero byte sets
        // its high bit (higher ones may be false alarms, never lower ones).
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(needle));
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    tail.iter().position(|&b| b == needle).map(|i| offset + i)
}

/// The values of every cookie named `name` in a `Cookie` header, in order.
///
/// ```
/// let values: Vec<_> = edge_session::cookie::cookie_values(b"x=1; session=a; session=b", "session").collect();
/// assert_eq!(values, [&b"a"[..], &b"b"[..]]);
/// ```
pub fn cookie_values<'a>(header: &'a [u8], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    parse_cookie_header(header)
        .filter(move |(n, _)| *n == name.as_bytes())
        .map(|(_, v)| v)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// How the session cookie is written: name and attributes.
///
/// The defaults are the secure ones: name `session`, `Path=/`, no `Domain`,
/// `Secure`, `HttpOnly`, `SameSite=Lax`, not `Partitioned`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: Option<SameSite>,
    pub(crate) partitioned: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: String::from("session"),
            path: String::from("/"),
            domain: None,
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Lax),
            partitioned: false,
        }
    }
}

impl CookieConfig {
    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the attributes against RFC 6265 and the browsers' rules:
    /// a token name; no `;` or control characters in Path and Domain;
    /// `__Host-` names need `Secure`, `Path=/` and no `Domain`;
    /// `__Secure-` names, `SameSite=None` and `Partitioned` need `Secure`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the rule that failed.
    pub fn validate(&self) -> Result<()> {
        let name = self.name.as_bytes();
        if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
            return Err(Error::InvalidConfig(
                "cookie name must be a non-empty RFC 6265 token (no spaces, `=`, `;`, quotes...)",
            ));
        }
        if !self.path.starts_with('/') || !self.path.bytes().all(is_attr_char) {
            return Err(Error::InvalidConfig(
                "cookie path must start with `/` and contain no `;` or control characters",
            ));
        }
        if let Some(domain) = &self.domain {
            let ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !ok {
                return Err(Error::InvalidConfig(
                    "cookie domain must be a host name (letters, digits, `.` and `-`)",
                ));
            }
        }
        if self.name.starts_with("__Host-") {
            if !self.secure {
                return Err(Error::InvalidConfig("a `__Host-` cookie must be Secure"));
            }
            if self.path != "/" {
                return Err(Error::InvalidConfig("a `__Host-` cookie must have Path=/"));
            }
            if self.domain.is_some() {
                return Err(Error::InvalidConfig(
                    "a `__Host-` cookie must not have a Domain",
                ));
            }
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return Err(Error::InvalidConfig("a `__Secure-` cookie must be Secure"));
        }
        if self.same_site == Some(SameSite::None) && !self.secure {
            return Err(Error::InvalidConfig(
                "SameSite=None requires Secure (browsers drop the cookie otherwise)",
            ));
        }
        if self.partitioned && !self.secure {
            return Err(Error::InvalidConfig("a Partitioned cookie must be Secure"));
        }
        Ok(())
    }

    /// Builds a `Set-Cookie` header value for `value`.
    ///
    /// With `max_age` the cookie is persistent: `Max-Age` and the matching
    /// `Expires` (for old clients) are written, computed from `now` (unix
    /// seconds). Without it the cookie lasts for the browser session.
    ///
    /// ```
    /// let config = edge_session::cookie::CookieConfig::default();
    /// assert_eq!(
    ///     config.set_cookie("abc", Some(60), 0),
    ///     "session=abc; Path=/; Max-Age=60; Expires=Thu, 01 Jan 1970 00:01:00 GMT; Secure; HttpOnly; SameSite=Lax"
    /// );
    /// ```
    pub fn set_cookie(&self, value: &str, max_age: Option<u64>, now: u64) -> String {
        self.set_cookie_with(value.len(), max_age, now, |out| out.push_str(value))
    }

    /// Builds a `Set-Cookie` whose value `write_value` appends to the buffer
    /// right after `name=` (one allocation for the whole header).
    pub(crate) fn set_cookie_with(
        &self,
        value_len: usize,
        max_age: Option<u64>,
        now: u64,
        write_value: impl FnOnce(&mut String),
    ) -> String {
        let mut out = String::with_capacity(self.name.len() + value_len + 112);
        out.push_str(&self.name);
        out.push('=');
        write_value(&mut out);
        self.push_attributes(&mut out, max_age.map(|m| (m, now.saturating_add(m))));
        out
    }

    /// Builds the `Set-Cookie` value that removes the cookie: an empty value,
    /// `Max-Age=0`, an `Expires` in 1970, and the same Path, Domain, Secure,
    /// HttpOnly, SameSite and Partitioned as the cookie it removes (browsers
    /// only replace a cookie whose attributes match).
    ///
    /// ```
    /// let config = edge_session::cookie::CookieConfig::default();
    /// assert_eq!(
    ///     config.removal(),
    ///     "session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax"
    /// );
    /// ```
    pub fn removal(&self) -> String {
        let mut out = String::with_capacity(self.name.len() + 96);
        out.push_str(&self.name);
        out.push('=');
        self.push_attributes(&mut out, Some((0, 0)));
        out
    }

    fn push_attributes(&self, out: &mut String, max_age: Option<(u64, u64)>) {
        out.push_str("; Path=");
        out.push_str(&self.path);
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some((max_age, expires)) = max_age {
            Ascii::new()
                .bytes(b"; Max-Age=")
                .u64(max_age)
                .bytes(b"; Expires=")
                .http_date(expires)
                .push_to(out);
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site.as_str());
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn is_attr_char(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b';'
}

/// ASCII text built on the stack and appended to a `String` in one copy,
/// with one UTF-8 check (no `core::fmt`, which is slow and large in wasm).
/// It holds the longest text written with it, 69 bytes (`; Max-Age=`, 20
/// digits, `; Expires=` and a date); a longer one would panic, which no
/// input can cause (the numbers are `u64`s, at most 20 digits).
pub(crate) struct Ascii {
    buf: [u8; 72],
    len: usize,
}

impl Ascii {
    pub(crate) fn new() -> Self {
        Ascii {
            buf: [0; 72],
            len: 0,
        }
    }

    /// Appends ASCII bytes.
    pub(crate) fn bytes(&mut self, ascii: &[u8]) -> &mut Self {
        let end = self.len + ascii.len();
        self.buf[self.len..end].copy_from_slice(ascii);
        self.len = end;
        self
    }

    /// Appends `n` in decimal.
    pub(crate) fn u64(&mut self, mut n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    /// Appends `unix` seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub(crate) fn http_date(&mut self, unix: u64) -> &mut Self {
        const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        // Clamp to the year 9999 so the four-digit year of the format holds
        // (the lifecycle never issues a later expiry).
        let unix = unix.min(crate::engine::MAX_EXPIRES);
        let days = unix / 86_400;
        let secs = unix % 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        let mut date = *b"Ddd, dd Mmm yyyy hh:mm:ss GMT";
        date[..3].copy_from_slice(DAYS[(days % 7) as usize]);
        date[5..7].copy_from_slice(&two_digits(u64::from(d)));
        date[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
        date[12..14].copy_from_slice(&two_digits(y as u64 / 100));
        date[14..16].copy_from_slice(&two_digits(y as u64));
        date[17..19].copy_from_slice(&two_digits(secs / 3600));
        date[20..22].copy_from_slice(&two_digits(secs / 60 % 60));
        date[23..25].copy_from_slice(&two_digits(secs % 60));
        self.bytes(&date)
    }

    /// Appends the text to `out`.
    pub(crate) fn push_to(&self, out: &mut String) {
        // Only ever ASCII, so this never takes the empty fallback.
        out.push_str(core::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
    }
}

/// The last two decimal digits of `n`.
fn two_digits(n: u64) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
