//! The one configuration type shared by every adapter.

use alloc::string::String;

use crate::cookie::{CookieConfig, SameSite};
use crate::error::{Error, Result};
use crate::id::{RandomSource, default_rng};
use crate::key::{Key, KeyRing};

/// Fourteen days, starlette-session's default `max_age`.
pub const DEFAULT_TTL: u64 = 14 * 24 * 60 * 60;

/// When a session expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// After this many seconds without a request (sliding expiry; the
    /// default, 14 days). The cookie is persistent (`Max-Age`). The deadline
    /// is pushed back when less than the refresh threshold (default: half the
    /// TTL) is left, so an active session is written at most about twice per
    /// TTL, not on every request.
    OnInactivity(u64),
    /// This many seconds after the session was created (or its id cycled),
    /// however active it is; never extended.
    Absolute(u64),
    /// The cookie has no `Max-Age` and dies with the browser session; the
    /// server-side record still expires after this many seconds of
    /// inactivity (sliding, like [`Expiry::OnInactivity`]).
    BrowserSession(u64),
    /// Both timeouts (OWASP ASVS 3.3.2, level 2): after `idle` seconds
    /// without a request, and at most `absolute` seconds after the session
    /// was created (or its id cycled at login), however active it is. The
    /// deadline is signed into the cookie; no refresh passes it.
    IdleAndAbsolute {
        /// The idle timeout, seconds (sliding).
        idle: u64,
        /// The absolute timeout, seconds from creation or the last login.
        absolute: u64,
    },
}

/// One session's own expiry, set by its handler with `Session::set_expiry`
/// (for example "remember me"), kept in the session's signed cookie and in
/// its store TTL. The configuration's absolute timeout, if any, still caps
/// it.
///
/// ```
/// use edge_session::SessionExpiry;
/// // Remember me: a persistent cookie, sliding by 30 days of inactivity.
/// let remember = SessionExpiry::Persistent(30 * 24 * 3600);
/// assert_ne!(remember, SessionExpiry::Default);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SessionExpiry {
    /// The configuration's [`Expiry`].
    #[default]
    Default,
    /// A cookie without `Max-Age`, which ends with the browser session; the
    /// record still expires after the configuration's idle timeout.
    BrowserSession,
    /// A persistent cookie (`Max-Age`) and record that expire after this
    /// many seconds without a request (sliding).
    Persistent(u64),
}

impl Default for Expiry {
    fn default() -> Self {
        Expiry::OnInactivity(DEFAULT_TTL)
    }
}

impl Expiry {
    /// The lifetime in seconds given to a new session: the idle timeout if
    /// there is one, else the absolute one.
    pub fn ttl(self) -> u64 {
        match self {
            Expiry::OnInactivity(s) | Expiry::Absolute(s) | Expiry::BrowserSession(s) => s,
            Expiry::IdleAndAbsolute { idle, absolute } => idle.min(absolute),
        }
    }

    /// The idle (sliding) timeout, if any.
    pub fn idle(self) -> Option<u64> {
        match self {
            Expiry::OnInactivity(s) | Expiry::BrowserSession(s) => Some(s),
            Expiry::IdleAndAbsolute { idle, .. } => Some(idle),
            Expiry::Absolute(_) => None,
        }
    }

    /// The absolute timeout, if any.
    pub fn absolute(self) -> Option<u64> {
        match self {
            Expiry::Absolute(s) | Expiry::IdleAndAbsolute { absolute: s, .. } => Some(s),
            Expiry::OnInactivity(_) | Expiry::BrowserSession(_) => None,
        }
    }

    /// True if activity extends the session.
    pub fn is_sliding(self) -> bool {
        self.idle().is_some()
    }

    /// True if the cookie carries `Max-Age`/`Expires`.
    pub fn is_persistent(self) -> bool {
        !matches!(self, Expiry::BrowserSession(_))
    }
}

/// Keys, cookie attributes and expiry: everything that decides what a
/// session cookie looks like. The same settings give the same cookies on
/// Workers and on native servers.
///
/// Secure by default: `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`, 14-day
/// sliding expiry, keys of at least 32 bytes. Every default can be changed
/// with a `with_*` method; adapters call [`SessionConfig::validate`] when
/// they are built.
///
/// ```
/// use edge_session::{Expiry, SameSite, SessionConfig};
/// let config = SessionConfig::from_secret(b"an example secret of at least 32 bytes!")?
///     .with_cookie_name("__Host-session")
///     .with_same_site(Some(SameSite::Strict))
///     .with_expiry(Expiry::OnInactivity(3600));
/// config.validate()?;
/// # Ok::<(), edge_session::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub(crate) keys: KeyRing,
    pub(crate) cookie: CookieConfig,
    pub(crate) expiry: Expiry,
    pub(crate) refresh_threshold: Option<u64>,
    pub(crate) rng: RandomSource,
    pub(crate) no_store: bool,
}

impl SessionConfig {
    /// A configuration with the secure defaults and these keys.
    pub fn new(keys: impl Into<KeyRing>) -> Self {
        SessionConfig {
            keys: keys.into(),
            cookie: CookieConfig::default(),
            expiry: Expiry::default(),
            refresh_threshold: None,
            rng: default_rng,
            no_store: true,
        }
    }

    /// A configuration with the secure defaults and one key made of `secret`.
    ///
    /// # Errors
    /// [`Error::KeyTooShort`] if `secret` has fewer than 32 bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        Ok(Self::new(Key::try_from_bytes(secret)?))
    }

    /// Replaces the key ring.
    #[must_use]
    pub fn with_keys(mut self, keys: impl Into<KeyRing>) -> Self {
        self.keys = keys.into();
        self
    }

    /// The cookie name (default `session`). A `__Host-` prefix is
    /// recommended in production (ASVS 3.4.4).
    #[must_use]
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// The cookie `Path` (default `/`).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }

    /// The cookie `Domain` (default none: host-only).
    #[must_use]
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.cookie.domain = domain;
        self
    }

    /// `Secure` (default `true`). Passing `false` lets the cookie travel over
    /// plain HTTP: only for local development.
    #[must_use]
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// Whether a response that carries the session's `Set-Cookie` also gets
    /// `Cache-Control: no-store` when the handler set no `Cache-Control` of
    /// its own (default `true`), so that no shared cache stores one user's
    /// cookie and hands it to another. A handler's own `Cache-Control`
    /// always stands.
    #[must_use]
    pub fn with_no_store_on_set_cookie(mut self, no_store: bool) -> Self {
        self.no_store = no_store;
        self
    }

    /// `HttpOnly` (default `true`).
    #[must_use]
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.cookie.http_only = http_only;
        self
    }

    /// `SameSite` (default `Lax`; `None` omits the attribute).
    #[must_use]
    pub fn with_same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// `Partitioned` (CHIPS; default `false`).
    #[must_use]
    pub fn with_partitioned(mut self, partitioned: bool) -> Self {
        self.cookie.partitioned = partitioned;
        self
    }

    /// The expiry mode (default [`Expiry::OnInactivity`] of 14 days).
    #[must_use]
    pub fn with_expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = expiry;
        self
    }

    /// With sliding expiry, refresh an untouched session only when fewer
    /// than `seconds` of its life are left (default: half the TTL).
    #[must_use]
    pub fn with_refresh_threshold(mut self, seconds: u64) -> Self {
        self.refresh_threshold = Some(seconds);
        self
    }

    /// The random source for session ids (default: `getrandom`, when that
    /// feature is on; required without it).
    #[must_use]
    pub fn with_rng(mut self, rng: RandomSource) -> Self {
        self.rng = rng;
        self
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The cookie attributes.
    pub fn cookie(&self) -> &CookieConfig {
        &self.cookie
    }

    /// The expiry mode.
    pub fn expiry(&self) -> Expiry {
        self.expiry
    }

    /// The refresh threshold in seconds.
    pub fn refresh_threshold(&self) -> u64 {
        self.refresh_threshold.unwrap_or(self.expiry.ttl() / 2)
    }

    /// The random source.
    pub fn rng(&self) -> RandomSource {
        self.rng
    }

    /// Checks the cookie attributes (see [`CookieConfig::validate`]) and the
    /// expiry.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting to change.
    pub fn validate(&self) -> Result<()> {
        self.cookie.validate()?;
        if self.expiry.ttl() == 0 || self.expiry.absolute() == Some(0) {
            return Err(Error::InvalidConfig(
                "the session lifetime must be at least one second",
            ));
        }
        if self.refresh_threshold() > self.expiry.ttl() {
            return Err(Error::InvalidConfig(
                "the refresh threshold cannot exceed the session lifetime",
            ));
        }
        Ok(())
    }
}
