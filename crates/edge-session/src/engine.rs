//! The lifecycle engine: one request's session, from cookie to commit.

use alloc::string::String;

use crate::config::{SessionConfig, SessionExpiry};
use crate::cookie::{MAX_COOKIE_SIZE, cookie_values};
use crate::error::{Error, Result};
use crate::format::{self, VerifiedCookie};
use crate::id::SessionId;
use crate::session::SessionData;
use crate::store::{Cycled, SessionStore};

/// At most this many cookies with the session's name are verified per
/// request (each costs one HMAC); more are ignored.
pub const MAX_COOKIE_CANDIDATES: usize = 8;

/// The latest a session can expire: the end of the year 9999 (unix
/// seconds), the last instant a cookie's `Expires` date can say. Longer
/// lifetimes ("never", as `u64::MAX` seconds, in the configuration or a
/// handler's [`SessionExpiry::Persistent`]) are capped here, in the cookie
/// and in the store TTL alike, so every store can hold them: Redis refuses
/// an `EXPIRE` past about 9.2e15 seconds and a Durable Object's alarm date
/// ends near 8.6e12. A store is never asked for a TTL above this.
pub const MAX_EXPIRES: u64 = 253_402_300_799;

/// New ids tried when a store reports a collision before giving up.
const CREATE_ATTEMPTS: usize = 3;

/// What the commit did to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Nothing: no store write, no cookie.
    None,
    /// A new session was written under a new id.
    Created,
    /// The request's changes were applied to the existing session.
    Saved,
    /// The data moved to a new id (`cycle_id`, or data written after `clear`).
    Cycled,
    /// The session was deleted and its cookie removed.
    Deleted,
    /// An unchanged session's expiry was pushed back (sliding expiry); its
    /// data was not rewritten.
    Refreshed,
    /// The session's record was gone when the request committed (a logout
    /// or a login committed by a concurrent request, or expiry): nothing was
    /// written, the request's changes were dropped, and the cookie is
    /// removed. Adapters log it.
    Gone,
    /// A read-only request's sliding refresh failed in the store (KV's one
    /// write per second per key, a Redis timeout): the request was served
    /// without it, the cookie left as it was, and a later request retries.
    /// Adapters log it ([`Commit::refresh_error`]).
    RefreshFailed,
}

/// The result of [`Lifecycle::commit`]: what to add to the response.
#[derive(Clone, Debug)]
pub struct Commit {
    /// A `Set-Cookie` header value to **append** to the response (never
    /// replace other `Set-Cookie` headers), or `None`.
    pub set_cookie: Option<String>,
    /// What happened in the store.
    pub action: Action,
    /// The store held a record for the cookie's id that did not decode; it
    /// was treated as missing. Adapters log this.
    pub corrupt_record: bool,
    /// Why the refresh failed ([`Action::RefreshFailed`]).
    pub refresh_error: Option<crate::error::StoreError>,
}

impl Commit {
    fn new(set_cookie: Option<String>, action: Action, corrupt_record: bool) -> Self {
        Commit {
            set_cookie,
            action,
            corrupt_record,
            refresh_error: None,
        }
    }
}

/// One request's session, driven by an adapter:
///
/// 1. [`Lifecycle::start`] reads the `Cookie` headers: no valid cookie means
///    a new, empty session, and no store call for it ever, unless data is
///    written (no id is minted before that);
/// 2. [`Lifecycle::load`] reads the store lazily, the first time the
///    handler touches the session, and at most once;
/// 3. [`Lifecycle::commit`] after the handler: changed → one write of
///    exactly the keys it changed (`update`, conditional on the record still
///    existing; or `create` for a new session, `cycle` for a new id) with TTL
///    and a `Set-Cookie`; cleared → one delete and a removal cookie; a record
///    found gone at commit → nothing written and a removal cookie
///    ([`Action::Gone`]); unchanged → nothing, unless sliding expiry is due
///    for a refresh (`touch`: the TTL only, throttled to when less than the
///    refresh threshold is left).
///
/// ```
/// use edge_session::adapter::{Action, Lifecycle};
/// use edge_session::{MemoryStore, SessionConfig};
/// # edge_session::testing::block_on_ready(async {
/// let config = SessionConfig::from_secret(&[9; 32])?;
/// let store = MemoryStore::new();
/// let now = 1_700_000_000;
///
/// // First request: no cookie; the handler writes.
/// let mut lc = Lifecycle::start(&config, [], now);
/// lc.load(&store).await?.insert("data", "session_data")?;
/// let commit = lc.commit(&config, &store, now).await?;
/// assert_eq!(commit.action, Action::Created);
/// let set_cookie = commit.set_cookie.unwrap();
///
/// // Second request: the browser sends the cookie back.
/// let cookie = set_cookie.split(';').next().unwrap();
/// let mut lc = Lifecycle::start(&config, [cookie.as_bytes()], now + 1);
/// assert_eq!(lc.load(&store).await?.get::<String>("data")?.as_deref(), Some("session_data"));
/// let commit = lc.commit(&config, &store, now + 1).await?;
/// assert_eq!((commit.action, commit.set_cookie), (Action::None, None));
/// # Ok::<(), edge_session::Error>(())
/// # })?;
/// # Ok::<(), edge_session::Error>(())
/// ```
#[derive(Debug)]
pub struct Lifecycle {
    incoming: Option<VerifiedCookie>,
    session: Option<SessionData>,
    found: bool,
    corrupt: bool,
}

impl Lifecycle {
    /// Starts a request's session from its `Cookie` header values (all of
    /// them: HTTP/2 may split cookies over several headers). The first
    /// cookie with the configured name that verifies and has not expired
    /// wins; anything else is ignored and the session starts empty. Costs
    /// one HMAC per well-formed candidate cookie, at most
    /// [`MAX_COOKIE_CANDIDATES`]; values that are not even shaped like a
    /// session cookie (`session=x`, planted by a sibling subdomain) are
    /// skipped without counting, so they cannot hide the real one.
    ///
    /// Any id a valid cookie carries is accepted here; a server-side store
    /// should only see ids of the shape the core generates: use
    /// [`Lifecycle::start_for`] (the adapters do).
    pub fn start<'a>(
        config: &SessionConfig,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        now: u64,
    ) -> Self {
        let name = config.cookie.name.as_str();
        let incoming = cookie_headers
            .into_iter()
            .flat_map(|header| cookie_values(header, name))
            .filter_map(format::parse)
            .take(MAX_COOKIE_CANDIDATES)
            .find_map(|parsed| format::verify_parsed(&config.keys, name, parsed, now));
        Lifecycle {
            incoming,
            session: None,
            found: false,
            corrupt: false,
        }
    }

    /// [`Lifecycle::start`] for store `S`: a server-side store
    /// ([`SessionStore::SERVER_SIDE`]) only ever sees ids of the shape the
    /// core generates ([`SessionId::is_generated`]); a validly signed
    /// cookie with any other id (a 4000-character id from an app sharing
    /// the key with a cookie store) is a missing session, with no store
    /// call. The cookie store's ids are its data and pass as they are.
    pub fn start_for<'a, S: SessionStore>(
        config: &SessionConfig,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        now: u64,
    ) -> Self {
        let mut lifecycle = Self::start(config, cookie_headers, now);
        if S::SERVER_SIDE
            && lifecycle
                .incoming
                .as_ref()
                .is_some_and(|c| !c.id.is_generated())
        {
            lifecycle.incoming = None;
        }
        lifecycle
    }

    /// True if the request carried a valid, unexpired session cookie.
    pub fn has_valid_cookie(&self) -> bool {
        self.incoming.is_some()
    }

    /// The session id of the valid incoming cookie (keep it out of logs).
    pub fn incoming_id(&self) -> Option<&SessionId> {
        self.incoming.as_ref().map(|c| &c.id)
    }

    /// True once the session was loaded (or cleared without loading).
    pub fn is_loaded(&self) -> bool {
        self.session.is_some()
    }

    /// Marks a lifecycle without a valid cookie loaded, with an empty
    /// session: what [`Lifecycle::load`] does for it, without a future.
    /// Does nothing if it has a valid cookie or is loaded already.
    #[cfg(feature = "std")]
    pub(crate) fn load_empty(&mut self) {
        if self.incoming.is_none() && self.session.is_none() {
            self.session = Some(SessionData::default());
        }
    }

    /// The session, loading it from `store` on the first call only. Without
    /// a valid cookie no store call is made. A missing, expired or corrupt
    /// record gives an empty session.
    ///
    /// # Errors
    /// The store's error if it failed; nothing is cached then, so a later
    /// call tries again.
    pub async fn load<S: SessionStore>(&mut self, store: &S) -> Result<&mut SessionData> {
        if self.session.is_none() {
            let session = match &self.incoming {
                None => SessionData::default(),
                Some(cookie) => match store.load(&cookie.id).await {
                    Ok(Some(record)) => {
                        self.found = true;
                        SessionData::from_record(record)
                    }
                    Ok(None) => SessionData::default(),
                    Err(Error::CorruptRecord) => {
                        self.corrupt = true;
                        SessionData::default()
                    }
                    Err(e) => return Err(e),
                },
            };
            self.session = Some(session);
        }
        Ok(self.session.get_or_insert_with(SessionData::default))
    }

    /// The session if it is loaded.
    pub fn loaded(&self) -> Option<&SessionData> {
        self.session.as_ref()
    }

    /// The session if it is loaded, mutably.
    pub fn loaded_mut(&mut self) -> Option<&mut SessionData> {
        self.session.as_mut()
    }

    /// Clears the session without reading it first (logout without a store
    /// read): at commit the record is deleted and the cookie removed.
    pub fn clear(&mut self) {
        match &mut self.session {
            Some(session) => session.clear(),
            None => {
                let mut session = SessionData::default();
                session.clear();
                self.session = Some(session);
            }
        }
    }

    /// The commit of a request that needs no store call (untouched, or
    /// read and left unchanged, with no sliding refresh due), decided
    /// without running [`Lifecycle::commit`]'s future; `None` when the
    /// store has to be called. [`Lifecycle::commit`] gives the same result.
    #[cfg(feature = "std")]
    pub(crate) fn commit_without_store(&self, config: &SessionConfig, now: u64) -> Option<Commit> {
        matches!(self.first_step(config, now), FirstStep::Nothing)
            .then(|| Commit::new(None, Action::None, self.corrupt))
    }

    /// What the commit does first, decided without the store: nothing, a
    /// sliding refresh (untouched, or read and unchanged, with the
    /// refresh due), or the handler's changes.
    fn first_step(&self, config: &SessionConfig, now: u64) -> FirstStep<'_> {
        let due = |cookie: &&VerifiedCookie| refresh_due(config, cookie, now);
        let refresh = match &self.session {
            None => self.incoming.as_ref().filter(due),
            Some(session) if !session.is_changed() => {
                self.incoming.as_ref().filter(|_| self.found).filter(due)
            }
            Some(session) => return FirstStep::Changed(session),
        };
        refresh.map_or(FirstStep::Nothing, FirstStep::Refresh)
    }

    /// Writes what the handler did to the store and says which
    /// `Set-Cookie`, if any, the response needs. At most one store write.
    ///
    /// # Errors
    /// * [`Error::Store`] if the store failed: nothing was committed and the
    ///   adapter should answer with an error (503), not pretend success;
    /// * [`Error::CookieTooLarge`] if the cookie would exceed 4096 bytes
    ///   (the cookie store with too much data);
    /// * [`Error::Random`] / [`Error::IdCollision`] if no new id could be had.
    pub async fn commit<S: SessionStore>(
        self,
        config: &SessionConfig,
        store: &S,
        now: u64,
    ) -> Result<Commit> {
        let corrupt = self.corrupt;
        // A session that starts now (new, or a login): a fresh deadline.
        let fresh = |mode| {
            Plan::new(
                config,
                mode,
                config.expiry.absolute().map(|a| now.saturating_add(a)),
                now,
            )
        };
        // The incoming session's own expiry and deadline, carried on.
        let carried =
            |c: &VerifiedCookie, mode| Plan::new(config, mode, deadline_of(config, c), now);

        let session = match self.first_step(config, now) {
            FirstStep::Nothing => return Ok(Commit::new(None, Action::None, corrupt)),
            FirstStep::Refresh(cookie) => {
                let plan = carried(cookie, cookie.mode);
                return refresh(config, store, &cookie.id, &plan, now, corrupt).await;
            }
            FirstStep::Changed(session) => session,
        };

        // The live record this request read, if any.
        let existing = self.incoming.as_ref().filter(|_| self.found);
        let mode = session
            .expiry_request()
            .or(self.incoming.as_ref().map(|c| c.mode))
            .unwrap_or_default();

        if session.is_cleared() {
            // Logout: the old record goes, whatever else happened.
            if let Some(cookie) = &self.incoming {
                store.delete(&cookie.id).await?;
            }
            if session.is_empty() {
                let removal = self.incoming.is_some().then(|| config.cookie.removal());
                let action = if removal.is_some() {
                    Action::Deleted
                } else {
                    Action::None
                };
                return Ok(Commit::new(removal, action, corrupt));
            }
            // Data written after the clear: a brand-new session.
            let plan = fresh(session.expiry_request().unwrap_or_default());
            let (id, _) = create(config, store, session.record(), plan.ttl(now)).await?;
            let set_cookie = issue(config, &id, &plan, now)?;
            return Ok(Commit::new(Some(set_cookie), Action::Cycled, corrupt));
        }

        let Some(cookie) = existing else {
            // No record to change: the data goes to a new session.
            if session.is_empty() {
                return Ok(Commit::new(None, Action::None, corrupt));
            }
            let plan = fresh(mode);
            let (id, action) = create(config, store, session.record(), plan.ttl(now)).await?;
            let set_cookie = issue(config, &id, &plan, now)?;
            return Ok(Commit::new(Some(set_cookie), action, corrupt));
        };

        let cycle = session.is_cycle_requested() && !session.is_empty();
        // A login starts a new absolute period; other writes carry it on.
        let plan = if cycle {
            fresh(mode)
        } else {
            carried(cookie, mode)
        };
        let ttl = plan.ttl(now);
        let gone = || Commit::new(Some(config.cookie.removal()), Action::Gone, corrupt);

        if !cycle {
            if session.changes().is_empty() && session.expiry_request().is_none() {
                // `cycle_id` on an empty session: nothing to keep.
                return Ok(Commit::new(None, Action::None, corrupt));
            }
            return match store.update(&cookie.id, session.changes(), ttl).await? {
                None => Ok(gone()),
                Some(_) if session.is_empty() => Ok(Commit::new(
                    Some(config.cookie.removal()),
                    Action::Deleted,
                    corrupt,
                )),
                Some(id) => {
                    let set_cookie = issue(config, &id, &plan, now)?;
                    Ok(Commit::new(Some(set_cookie), Action::Saved, corrupt))
                }
            };
        }

        for _ in 0..CREATE_ATTEMPTS {
            let candidate = SessionId::generate(config.rng)?;
            match store
                .cycle(&cookie.id, candidate, session.changes(), ttl)
                .await?
            {
                Cycled::Moved(id) => {
                    let set_cookie = issue(config, &id, &plan, now)?;
                    return Ok(Commit::new(Some(set_cookie), Action::Cycled, corrupt));
                }
                Cycled::Gone => return Ok(gone()),
                Cycled::Collision => {}
            }
        }
        Err(Error::IdCollision)
    }
}

/// The commit's first step ([`Lifecycle::first_step`]).
enum FirstStep<'a> {
    /// No store call, no cookie.
    Nothing,
    /// A sliding refresh of this (incoming, verified) cookie.
    Refresh(&'a VerifiedCookie),
    /// The handler changed, cleared or cycled the session.
    Changed(&'a SessionData),
}

/// What a cookie issued now says: until when, the deadline no refresh may
/// pass, the session's own expiry, and whether it is persistent.
#[derive(Clone, Copy, Debug)]
struct Plan {
    expires: u64,
    deadline: Option<u64>,
    mode: SessionExpiry,
    persistent: bool,
}

impl Plan {
    fn new(config: &SessionConfig, mode: SessionExpiry, deadline: Option<u64>, now: u64) -> Self {
        let idle = idle_of(config, mode);
        let deadline = deadline.map(|d| d.min(MAX_EXPIRES));
        let expires = match (idle, deadline) {
            (Some(idle), Some(deadline)) => now.saturating_add(idle).min(deadline),
            (Some(idle), None) => now.saturating_add(idle),
            (None, Some(deadline)) => deadline,
            (None, None) => now.saturating_add(config.expiry.ttl()),
        }
        .min(MAX_EXPIRES);
        let persistent = match mode {
            SessionExpiry::Persistent(_) => true,
            SessionExpiry::BrowserSession => false,
            SessionExpiry::Default => config.expiry.is_persistent(),
        };
        Plan {
            expires,
            deadline,
            mode,
            persistent,
        }
    }

    /// The store TTL that matches the cookie.
    fn ttl(&self, now: u64) -> u64 {
        self.expires.saturating_sub(now).max(1)
    }
}

/// The idle timeout of a session in `mode`, if it slides.
fn idle_of(config: &SessionConfig, mode: SessionExpiry) -> Option<u64> {
    match mode {
        SessionExpiry::Persistent(secs) => Some(secs),
        SessionExpiry::Default | SessionExpiry::BrowserSession => config.expiry.idle(),
    }
}

/// The absolute deadline a verified cookie carries. A v1 cookie has none
/// written out: under an absolute timeout its expiry is the deadline (v1 is
/// only issued when they are equal), which can only end a session earlier,
/// never later.
fn deadline_of(config: &SessionConfig, cookie: &VerifiedCookie) -> Option<u64> {
    cookie
        .deadline
        .or_else(|| config.expiry.absolute().map(|_| cookie.expires))
}

/// True if an unchanged session should have its expiry pushed back now:
/// it slides, fewer than the refresh threshold seconds are left, and its
/// deadline (if any) is not already reached by the cookie.
fn refresh_due(config: &SessionConfig, cookie: &VerifiedCookie, now: u64) -> bool {
    let Some(idle) = idle_of(config, cookie.mode) else {
        return false;
    };
    // At its deadline, or at the latest expiry there is: a refresh would
    // move nothing.
    let cap = deadline_of(config, cookie).map_or(MAX_EXPIRES, |d| d.min(MAX_EXPIRES));
    if cookie.expires >= cap {
        return false;
    }
    let threshold = match cookie.mode {
        SessionExpiry::Persistent(_) => idle / 2,
        _ => config.refresh_threshold(),
    };
    cookie.expires.saturating_sub(now) < threshold
}

/// A sliding refresh: the TTL only, never the data.
async fn refresh<S: SessionStore>(
    config: &SessionConfig,
    store: &S,
    id: &SessionId,
    plan: &Plan,
    now: u64,
    corrupt: bool,
) -> Result<Commit> {
    match store.touch(id, plan.ttl(now)).await {
        Ok(Some(id)) => {
            let set_cookie = issue(config, &id, plan, now)?;
            Ok(Commit::new(Some(set_cookie), Action::Refreshed, corrupt))
        }
        Ok(None) => Ok(Commit::new(
            Some(config.cookie.removal()),
            Action::Gone,
            corrupt,
        )),
        // The request only read: serve it without the refresh. The cookie
        // stays as it was, so the next request is still due and retries.
        Err(Error::Store(cause)) => Ok(Commit {
            refresh_error: Some(cause),
            ..Commit::new(None, Action::RefreshFailed, corrupt)
        }),
        Err(e) => Err(e),
    }
}

/// Writes `record` under a fresh id, retrying on collisions.
async fn create<S: SessionStore>(
    config: &SessionConfig,
    store: &S,
    record: &crate::store::Record,
    ttl: u64,
) -> Result<(SessionId, Action)> {
    for _ in 0..CREATE_ATTEMPTS {
        let candidate = SessionId::generate(config.rng)?;
        if let Some(id) = store.create(candidate, record, ttl).await? {
            return Ok((id, Action::Created));
        }
    }
    Err(Error::IdCollision)
}

/// Signs `id` as `plan` says and builds its `Set-Cookie`.
fn issue(config: &SessionConfig, id: &SessionId, plan: &Plan, now: u64) -> Result<String> {
    let name = config.cookie.name.as_str();
    let max_age = plan.persistent.then(|| plan.expires.saturating_sub(now));
    let mut pair_len = 0;
    let set_cookie = config
        .cookie
        .set_cookie_with(format::encoded_len(id), max_age, now, |out| {
            format::encode_full_into(
                out,
                &config.keys,
                name,
                id,
                plan.expires,
                plan.deadline,
                plan.mode,
            );
            pair_len = out.len();
        });
    if pair_len > MAX_COOKIE_SIZE {
        return Err(Error::CookieTooLarge {
            size: pair_len,
            limit: MAX_COOKIE_SIZE,
        });
    }
    Ok(set_cookie)
}
