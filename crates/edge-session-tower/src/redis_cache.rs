//! The Redis store's opt-in local cache, kept coherent by Redis itself
//! (server-assisted client-side caching: RESP3 and `CLIENT TRACKING`).
//!
//! How it stays correct (docs/design.md has the long form):
//!
//! * **One tracking connection.** Loads that may fill the cache go through
//!   one RESP3 connection with `CLIENT TRACKING ON`. Redis remembers which
//!   keys it read and, when any client changes, deletes or expires one of
//!   them, pushes an `invalidate` message on that same connection. The
//!   connection's reader hands each push to this module *synchronously*,
//!   before it reads the next reply, so every invalidation Redis wrote
//!   before a reply has been applied by the time that reply is seen.
//! * **No fetch race.** Before a load is sent, its key is marked
//!   "fetching" with a fresh token. An invalidation removes the mark; the
//!   reply fills the cache only if its own mark is still there. A reply that
//!   raced a write is served to its request (it was true when Redis read
//!   it) but never cached. This is the race redis-rs's `cache-aio` loses.
//! * **Bounded staleness, by heartbeat.** A hit is served only if a
//!   command *sent* at most `max_staleness` ago has been answered on the
//!   connection the entry was read through (a heartbeat `PING`, or a miss's
//!   own read): Redis answered it after every write it had applied before
//!   it was sent, and the invalidations for those writes came first on the
//!   stream. So a hit reflects every write, delete or expiry Redis applied
//!   more than `max_staleness` before it, whoever made it (another server,
//!   a worker over Upstash REST, `redis-cli`). A dead, restarted, killed or
//!   silently cut connection stops answering, so hits stop within
//!   `max_staleness`; the cache is emptied when the connection is seen to
//!   fail (at once on a close, after the ping timeout on a silent cut) and
//!   refilled only through a new tracking connection.
//! * **Pings while hits flow.** A background task pings every `heartbeat`
//!   (a quarter of the bound) while hits are served, so they keep flowing;
//!   with no hit since its last tick it waits for one (a hit wakes it) and
//!   pings once per [`IDLE_PING`] meanwhile. A cached record whose proof is
//!   too old is read through, and that answer lets the loads after it hit.
//!   So an idle server sends Redis one ping a second, not one per
//!   `heartbeat`; a server whose loads come more than the bound apart reads
//!   through instead of paying ~800 pings a second for its hits; and a
//!   silent cut is noticed within `IDLE_PING` plus the ping timeout when no
//!   hits flow (sooner when a read through the connection breaks, or times
//!   out: that sends a ping at once).
//! * **Logouts stick everywhere.** A delete (logout), an id change
//!   (login) or a write that removes keys (`remove("user")`) made through a
//!   caching store is acknowledged only `max_staleness` after Redis applied
//!   it. The client's next request
//!   starts after that, on whatever server, and by the rule above no server
//!   whose `max_staleness` is at most that long can serve the old session
//!   from its cache.
//! * **Expiry.** Each entry keeps the key's remaining TTL, read with the
//!   record (`PTTL`), measured from when the read was sent.
//! * **Bounded.** At most `max_entries` records and about `max_bytes` of
//!   keys and JSON text, in 16 shards; a full shard evicts before it
//!   inserts.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use edge_session::{Error, Record};
use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;

use crate::redis_store::{load_error, record_of};
use redis::{
    AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
};

const SHARDS: usize = 16;

/// The shard of `key`, from its last 8 bytes: the end of a session id,
/// random characters the server made (only verified ids reach the store),
/// so no second hash of the whole key (the shard's map hashes it once).
fn shard_of(key: &str) -> usize {
    let bytes = key.as_bytes();
    let mut tail = [0u8; 8];
    let end = &bytes[bytes.len().saturating_sub(8)..];
    tail[..end.len()].copy_from_slice(end);
    // Fibonacci hashing: the product's top 4 bits pick one of 16.
    let mixed = u64::from_le_bytes(tail).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    usize::try_from(mixed >> (64 - SHARDS.trailing_zeros())).unwrap_or(0)
}

/// A fetch's mark older than this is taken over by the next load: its
/// fetch was dropped mid-way (a live one has answered or timed out by then,
/// [`crate::redis_store::TIMEOUT`]).
const FETCH_TAKEOVER_NS: u64 = 2 * crate::redis_store::TIMEOUT.as_nanos() as u64;

/// Whether `slot` is a fetch's mark that other loads must leave alone (not
/// older than [`FETCH_TAKEOVER_NS`] at `now`).
fn fetch_in_flight(slot: Option<&Slot>, now: u64) -> bool {
    matches!(slot, Some(Slot::Fetching { since, .. }) if now.saturating_sub(*since) < FETCH_TAKEOVER_NS)
}

/// How often the heartbeat pings while no hits are served: it keeps a
/// silent cut of a tracking connection from going unnoticed (the cache is
/// emptied within this plus the ping timeout).
pub const IDLE_PING: Duration = Duration::from_secs(1);

/// Settings of the Redis store's local cache
/// ([`RedisStore::connect_with_cache`](crate::RedisStore::connect_with_cache)).
///
/// ```
/// use std::time::Duration;
/// use edge_session_tower::redis_store::CacheConfig;
/// let config = CacheConfig::default()
///     .with_max_entries(50_000)
///     .with_max_bytes(32 << 20)
///     .with_max_staleness(Duration::from_millis(10));
/// assert_eq!(config.max_staleness(), Duration::from_millis(10));
/// ```
#[derive(Clone, Debug)]
pub struct CacheConfig {
    max_entries: usize,
    max_bytes: usize,
    max_staleness: Duration,
    ping_timeout: Duration,
    write_cooldown: Duration,
}

impl Default for CacheConfig {
    /// 10,000 records, 16 MiB, 5 ms of staleness at most, a 500 ms ping
    /// timeout, a 100 ms write cooldown.
    fn default() -> Self {
        CacheConfig {
            max_entries: 10_000,
            max_bytes: 16 << 20,
            max_staleness: Duration::from_millis(5),
            ping_timeout: Duration::from_millis(500),
            write_cooldown: Duration::from_millis(100),
        }
    }
}

impl CacheConfig {
    /// At most this many records in the cache.
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// At most about this many bytes of keys and record JSON in the cache.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The staleness bound (at least 2 ms): a cache hit reflects every
    /// change Redis applied this long before it, and logouts and logins are
    /// acknowledged this long after Redis applied them. Every server sharing
    /// a Redis should use the same bound (or a smaller one).
    #[must_use]
    pub fn with_max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness.max(Duration::from_millis(2));
        self
    }

    /// How long an unanswered ping may take before the tracking connection
    /// counts as cut: the cache is emptied and a new connection made
    /// (default 500 ms; hits already stopped after the staleness bound).
    #[must_use]
    pub fn with_ping_timeout(mut self, ping_timeout: Duration) -> Self {
        self.ping_timeout = ping_timeout;
        self
    }

    /// After this process writes a session, its loads go straight to
    /// Redis, uncached, for this long (default 100 ms; zero turns it off).
    /// A session written on most of its requests then costs what it would
    /// without the cache, one `HGETALL` per load, instead of a miss (two
    /// commands and a tracking entry in Redis) followed by an invalidation
    /// on every write. Sessions written now and then are cached again once
    /// the cooldown has passed. Such loads count as
    /// [`CacheStats::after_write`].
    #[must_use]
    pub fn with_write_cooldown(mut self, write_cooldown: Duration) -> Self {
        self.write_cooldown = write_cooldown;
        self
    }

    /// The write cooldown.
    pub fn write_cooldown(&self) -> Duration {
        self.write_cooldown
    }

    /// The staleness bound.
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness
    }

    /// The interval between heartbeat pings while hits are served: a
    /// quarter of the bound, at least 1 ms. With no hit since its last
    /// tick, the heartbeat pings once per [`IDLE_PING`] until one comes.
    pub fn heartbeat(&self) -> Duration {
        (self.max_staleness / 4).max(Duration::from_millis(1))
    }
}

/// Counters of the local cache, since the store was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Loads answered from the cache.
    pub hits: u64,
    /// Loads read from Redis through the tracking connection.
    pub misses: u64,
    /// Loads read without the cache because the tracking connection was
    /// down or not yet confirmed.
    pub bypassed: u64,
    /// Loads read straight from Redis, uncached, while another load of the
    /// same session was filling the cache: requests of one session at the
    /// same time make one fill, not a race of fills that each undoes the
    /// last.
    pub joined: u64,
    /// Loads read straight from Redis, uncached, because this process
    /// wrote the session less than the write cooldown ago
    /// ([`CacheConfig::with_write_cooldown`]).
    pub after_write: u64,
    /// Keys Redis said changed (one per key in each invalidation).
    pub invalidations: u64,
    /// Replies not cached because their key changed while they were read.
    pub raced: u64,
    /// Times the whole cache was emptied (connection lost, `FLUSHALL`).
    pub flushes: u64,
    /// Tracking connections made (1 unless one was lost).
    pub connections: u64,
    /// Heartbeat pings answered (one per heartbeat while hits are served,
    /// one per [`IDLE_PING`] otherwise).
    pub pings: u64,
    /// Records in the cache now.
    pub entries: u64,
}

enum Slot {
    /// A load is on its way (since `since`, ns since the origin); only the
    /// load holding this token may fill it. Other loads of the key read
    /// through without taking the mark over, unless it is older than
    /// [`FETCH_TAKEOVER_NS`] (its load was dropped mid-way).
    Fetching { token: u64, since: u64 },
    /// This process wrote the key at `at` (ns since the origin): loads skip
    /// the cache until the write cooldown has passed. Holds no data, so an
    /// invalidation leaves it in place.
    Written { at: u64 },
    Ready {
        /// Shared, so that a hit copies it after the shard's lock is
        /// released: requests of one session at the same time do not queue
        /// on the lock for a deep copy.
        record: Arc<Record>,
        /// Nanoseconds since the tracker's origin.
        expires: u64,
        generation: u64,
        bytes: usize,
    },
}

#[derive(Default)]
struct Shard {
    slots: HashMap<Box<str>, Slot>,
    /// Hits served from this shard, counted under its lock (a counter
    /// shared by all shards would be one more cache line that every hit
    /// moves between cores).
    hits: u64,
    ready: usize,
    bytes: usize,
    written: usize,
    /// When `Written` marks past their cooldown were last swept out.
    swept: u64,
}

impl Shard {
    fn remove(&mut self, key: &str) {
        match self.slots.remove(key) {
            Some(Slot::Ready { bytes, .. }) => {
                self.ready -= 1;
                self.bytes -= bytes;
            }
            Some(Slot::Written { .. }) => self.written -= 1,
            Some(Slot::Fetching { .. }) | None => {}
        }
    }

    /// Drops what Redis said changed: a record or a fetch's mark (so the
    /// fetch's reply is not cached); a `Written` mark stays.
    fn invalidate(&mut self, key: &str) {
        if !matches!(self.slots.get(key), Some(Slot::Written { .. })) {
            self.remove(key);
        }
    }

    /// Marks `key` as written at `now`, if the shard has room for marks
    /// (`limit`); marks older than `cooldown` are swept out when it is
    /// full, at most once per cooldown.
    fn mark_written(&mut self, key: &str, now: u64, cooldown: u64, limit: usize) {
        self.remove(key);
        if self.written >= limit && now.saturating_sub(self.swept) >= cooldown {
            self.swept = now;
            let mut swept = 0;
            self.slots.retain(|_, slot| {
                let old =
                    matches!(slot, Slot::Written { at } if now.saturating_sub(*at) >= cooldown);
                swept += usize::from(old);
                !old
            });
            self.written -= swept;
        }
        if self.written < limit {
            self.slots.insert(Box::from(key), Slot::Written { at: now });
            self.written += 1;
        }
    }

    /// Empties the shard (its hit count stays).
    fn clear(&mut self) {
        self.slots.clear();
        self.ready = 0;
        self.bytes = 0;
        self.written = 0;
    }
}

/// The connection's health, changed only under this lock; `confirmed` is
/// published in [`Tracker::confirmed`] for the hit path.
struct Health {
    generation: u64,
    alive: bool,
    conn: Option<MultiplexedConnection>,
}

#[derive(Default)]
struct Counters {
    joined: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    after_write: AtomicU64,
    invalidations: AtomicU64,
    raced: AtomicU64,
    flushes: AtomicU64,
    connections: AtomicU64,
    pings: AtomicU64,
}

/// The cache and its tracking connection.
pub(crate) struct Tracker {
    shards: Box<[Mutex<Shard>]>,
    origin: Instant,
    /// When (ns since origin) the newest answered command of the current
    /// generation's tracking connection (a ping, a miss's read) was sent;
    /// 0 when none is.
    confirmed: AtomicU64,
    generation: AtomicU64,
    health: Mutex<Health>,
    tokens: AtomicU64,
    /// A hit was served since the heartbeat's last tick: hits want fresh
    /// pings.
    wanted: AtomicBool,
    /// Wakes the heartbeat when `wanted` is set while it waits.
    wake: Arc<Notify>,
    config: CacheConfig,
    client: redis::Client,
    counters: Counters,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // An idle heartbeat ends now, not at its next idle ping.
        self.wake.notify_one();
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard leaves it consistent enough to clear.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a load through the tracker found.
pub(crate) enum Lookup {
    Hit(Record),
    /// Not cached: read it through the tracking connection with this ticket.
    Miss(Ticket),
    /// The tracking connection is down or unconfirmed: read it elsewhere.
    Bypass,
}

/// A miss's claim on its key.
pub(crate) struct Ticket {
    token: u64,
    generation: u64,
    conn: MultiplexedConnection,
}

impl Tracker {
    /// Starts the tracker: connects the tracking connection and spawns the
    /// heartbeat (which also reconnects). Returns once the first ping was
    /// answered.
    pub(crate) async fn start(url: &str, config: CacheConfig) -> Result<Arc<Self>, Error> {
        let info = url.into_connection_info().map_err(Error::store)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client =
            redis::Client::open(info.set_redis_settings(settings)).map_err(Error::store)?;
        let tracker = Arc::new(Tracker {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            health: Mutex::new(Health {
                generation: 0,
                alive: false,
                conn: None,
            }),
            tokens: AtomicU64::new(0),
            wanted: AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
            config,
            client,
            counters: Counters::default(),
        });
        tracker.connect().await?;
        tracker.ping().await?;
        tokio::spawn(heartbeat(Arc::downgrade(&tracker)));
        Ok(tracker)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        &self.shards[shard_of(key)]
    }

    /// Whether a hit may be served now.
    fn fresh(&self, now: u64) -> bool {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        let bound = u64::try_from(self.config.max_staleness.as_nanos()).unwrap_or(u64::MAX);
        confirmed != 0 && now.saturating_sub(confirmed) <= bound
    }

    /// Tells the heartbeat that hits are being served, or that a ping is
    /// wanted now (one store per heartbeat at most: the flag is read first).
    fn want(&self) {
        if !self.wanted.load(Ordering::Relaxed) && !self.wanted.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// A command sent at `sent` on the connection of `generation` was
    /// answered: if that connection is still the live one, hits may be
    /// served until `max_staleness` after `sent`.
    fn confirm(&self, generation: u64, sent: u64) {
        let health = lock(&self.health);
        if health.generation == generation && health.alive {
            self.confirmed.fetch_max(sent.max(1), Ordering::AcqRel);
        }
    }

    /// Looks `key` up; on a miss, marks it as being fetched.
    pub(crate) fn lookup(&self, key: &str) -> Lookup {
        let now = self.now();
        let generation = self.generation.load(Ordering::Acquire);
        let fresh = self.fresh(now);
        let cooldown = self.cooldown();
        {
            let mut shard = lock(self.shard(key));
            let record = match shard.slots.get(key) {
                Some(Slot::Ready {
                    record,
                    expires,
                    generation: g,
                    ..
                }) if fresh && *g == generation && *expires > now => Arc::clone(record),
                Some(Slot::Written { at }) if now.saturating_sub(*at) < cooldown => {
                    drop(shard);
                    self.counters.after_write.fetch_add(1, Ordering::Relaxed);
                    return Lookup::Bypass;
                }
                slot if fetch_in_flight(slot, now) => {
                    drop(shard);
                    return self.join();
                }
                _ => {
                    drop(shard);
                    return self.miss(key, generation, now);
                }
            };
            shard.hits += 1;
            drop(shard);
            // Hits keep the heartbeat pinging. A cached record whose proof
            // is too old is read through instead: that answer is a proof
            // too, and the hits after it wake the heartbeat.
            self.want();
            Lookup::Hit(Record::clone(&record))
        }
    }

    /// A load of a key another load is fetching: read straight from Redis,
    /// leaving the mark to that load.
    fn join(&self) -> Lookup {
        self.counters.joined.fetch_add(1, Ordering::Relaxed);
        Lookup::Bypass
    }

    /// A miss: marks `key` as being fetched, or bypasses the cache while
    /// the tracking connection is down.
    fn miss(&self, key: &str, generation: u64, now: u64) -> Lookup {
        let conn = {
            let health = lock(&self.health);
            match (&health.conn, health.alive) {
                (Some(conn), true) if health.generation == generation => conn.clone(),
                _ => {
                    self.counters.bypassed.fetch_add(1, Ordering::Relaxed);
                    return Lookup::Bypass;
                }
            }
        };
        let token = self.tokens.fetch_add(1, Ordering::Relaxed) + 1;
        let mut shard = lock(self.shard(key));
        // Another load may have marked the key since this one looked.
        if fetch_in_flight(shard.slots.get(key), now) {
            drop(shard);
            return self.join();
        }
        shard.remove(key);
        shard
            .slots
            .insert(Box::from(key), Slot::Fetching { token, since: now });
        drop(shard);
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        Lookup::Miss(Ticket {
            token,
            generation,
            conn,
        })
    }

    /// Reads `key` through the tracking connection (`PTTL` and `HGETALL` in
    /// one pipeline) and caches the record if nothing changed it meanwhile.
    pub(crate) async fn fetch(&self, key: &str, ticket: Ticket) -> Result<Option<Record>, Error> {
        let Ticket {
            token,
            generation,
            mut conn,
        } = ticket;
        let sent = self.now();
        let reply: redis::RedisResult<(i64, Value)> = redis::pipe()
            .cmd("PTTL")
            .arg(key)
            .cmd("HGETALL")
            .arg(key)
            .query_async(&mut conn)
            .await;
        let (pttl, hash) = match reply {
            Ok(reply) => reply,
            Err(e) => {
                self.abandon(key, token);
                // The heartbeat may not be pinging (no hits): a broken
                // connection is lost now; one that only answered late (a
                // huge record) gets a ping at once, and is lost if that
                // goes unanswered for the ping timeout.
                if e.is_timeout() {
                    self.want();
                } else if e.is_io_error() || e.is_connection_dropped() {
                    self.lost(generation);
                }
                return Err(load_error(e));
            }
        };
        // Answered like a ping: every invalidation Redis owed this
        // connection before the read was applied before this reply.
        self.confirm(generation, sent);
        let record = match record_of(&hash) {
            Ok(Some(record)) => record,
            Ok(None) => {
                self.abandon(key, token);
                return Ok(None);
            }
            Err(e) => {
                self.abandon(key, token);
                return Err(e);
            }
        };
        let bytes = key.len() + text_len(&hash) + 64;
        // Saturating: a session that lives to the year 9999 has a PTTL
        // whose nanoseconds overflow a u64 (past ~584 years).
        let ttl_ns = u64::try_from(pttl)
            .ok()
            .filter(|ms| *ms > 0)
            .map(|ms| ms.saturating_mul(1_000_000));
        self.fill(
            key,
            token,
            generation,
            &record,
            ttl_ns.map(|ns| sent.saturating_add(ns)),
            bytes,
        );
        Ok(Some(record))
    }

    /// Puts `record` in the cache if the ticket's mark is still there.
    fn fill(
        &self,
        key: &str,
        token: u64,
        generation: u64,
        record: &Record,
        expires: Option<u64>,
        bytes: usize,
    ) {
        let shard_entries = self.config.max_entries.div_ceil(SHARDS);
        let shard_bytes = self.config.max_bytes / SHARDS;
        // Copied before the lock is taken, not under it; never when it
        // cannot be cached (no TTL, too big for a shard, an old connection).
        let entry = match expires {
            Some(expires)
                if bytes <= shard_bytes
                    && generation == self.generation.load(Ordering::Acquire) =>
            {
                Some((expires, Arc::new(record.clone())))
            }
            _ => None,
        };
        let mut shard = lock(self.shard(key));
        let ours = matches!(shard.slots.get(key),
            Some(Slot::Fetching { token: t, .. }) if *t == token);
        if !ours {
            self.counters.raced.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The generation is read again under the lock: a connection lost
        // meanwhile emptied the cache, and this reply must not refill it.
        let (Some((expires, record)), true) =
            (entry, generation == self.generation.load(Ordering::Acquire))
        else {
            shard.slots.remove(key);
            return;
        };
        // Make room: expired records first, then any.
        if shard.ready >= shard_entries || shard.bytes + bytes > shard_bytes {
            let now = self.now();
            let mut victims: Vec<Box<str>> = shard
                .slots
                .iter()
                .filter(|(_, slot)| matches!(slot, Slot::Ready { expires, .. } if *expires <= now))
                .map(|(k, _)| k.clone())
                .collect();
            for (k, slot) in &shard.slots {
                if victims.len() >= 8 {
                    break;
                }
                if matches!(slot, Slot::Ready { .. }) && !victims.contains(k) {
                    victims.push(k.clone());
                }
            }
            for victim in victims {
                shard.remove(&victim);
                if shard.ready < shard_entries && shard.bytes + bytes <= shard_bytes {
                    break;
                }
            }
            if shard.ready >= shard_entries || shard.bytes + bytes > shard_bytes {
                shard.slots.remove(key);
                return;
            }
        }
        shard.slots.insert(
            Box::from(key),
            Slot::Ready {
                record,
                expires,
                generation,
                bytes,
            },
        );
        shard.ready += 1;
        shard.bytes += bytes;
    }

    /// Drops a miss's mark (if it is still its own).
    fn abandon(&self, key: &str, token: u64) {
        let mut shard = lock(self.shard(key));
        if matches!(shard.slots.get(key), Some(Slot::Fetching { token: t, .. }) if *t == token) {
            shard.slots.remove(key);
        }
    }

    /// The write cooldown in nanoseconds.
    fn cooldown(&self) -> u64 {
        u64::try_from(self.config.write_cooldown.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Forgets `key` (this process changed it); its loads skip the cache
    /// for the write cooldown.
    pub(crate) fn forget(&self, key: &str) {
        let cooldown = self.cooldown();
        let mut shard = lock(self.shard(key));
        if cooldown == 0 {
            shard.remove(key);
        } else {
            let limit = self.config.max_entries.div_ceil(SHARDS);
            shard.mark_written(key, self.now(), cooldown, limit);
        }
    }

    /// How long a logout or login is held before it is acknowledged.
    pub(crate) fn hold(&self) -> Duration {
        self.config.max_staleness
    }

    fn invalidate(&self, data: &[Value]) {
        match data.first() {
            Some(Value::Array(keys)) => {
                for key in keys {
                    let key = match key {
                        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
                        Value::SimpleString(s) => Some(s.as_str()),
                        _ => None,
                    };
                    if let Some(key) = key {
                        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
                        lock(self.shard(key)).invalidate(key);
                    } else {
                        self.flush();
                    }
                }
            }
            // FLUSHALL / FLUSHDB, or anything unexpected: forget everything.
            _ => self.flush(),
        }
    }

    fn flush(&self) {
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        for shard in &*self.shards {
            lock(shard).clear();
        }
    }

    /// The push handler of the connection of `generation`: runs inside the
    /// connection's reader, before the next reply is handed out.
    fn on_push(&self, generation: u64, push: &PushInfo) {
        match push.kind {
            PushKind::Invalidate => self.invalidate(&push.data),
            PushKind::Disconnection => self.lost(generation),
            _ => {}
        }
    }

    /// The connection of `generation` failed: no more hits, nothing cached.
    fn lost(&self, generation: u64) {
        let mut health = lock(&self.health);
        if health.generation != generation || !health.alive {
            return;
        }
        health.alive = false;
        health.conn = None;
        self.confirmed.store(0, Ordering::Release);
        self.flush();
        // An idle heartbeat reconnects now, not at its next idle ping.
        self.wake.notify_one();
    }

    /// Makes a new tracking connection and puts it in place (a new
    /// generation, an empty cache).
    async fn connect(self: &Arc<Self>) -> Result<(), Error> {
        let generation = self.generation.load(Ordering::Acquire) + 1;
        let weak = Arc::downgrade(self);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(crate::redis_store::TIMEOUT))
            .set_response_timeout(Some(crate::redis_store::TIMEOUT))
            .set_push_sender(move |push: PushInfo| {
                if let Some(tracker) = weak.upgrade() {
                    tracker.on_push(generation, &push);
                }
                Ok::<(), ()>(())
            });
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(Error::store)?;
        let () = redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .query_async(&mut conn)
            .await
            .map_err(Error::store)?;
        let mut health = lock(&self.health);
        self.confirmed.store(0, Ordering::Release);
        self.generation.store(generation, Ordering::Release);
        self.flush();
        health.generation = generation;
        health.alive = true;
        health.conn = Some(conn);
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// One heartbeat: a ping on the tracking connection; when answered in
    /// time, hits may be served for `max_staleness` from when it was sent.
    async fn ping(&self) -> Result<(), Error> {
        let (generation, mut conn) = {
            let health = lock(&self.health);
            match (&health.conn, health.alive) {
                (Some(conn), true) => (health.generation, conn.clone()),
                _ => return Err(Error::store_msg("the tracking connection is down")),
            }
        };
        let sent = self.now();
        let pong = tokio::time::timeout(
            self.config.ping_timeout,
            redis::cmd("PING").query_async::<()>(&mut conn),
        )
        .await;
        match pong {
            Ok(Ok(())) => {
                // Counted before it confirms: a hit it made possible is
                // never seen before the count.
                self.counters.pings.fetch_add(1, Ordering::Relaxed);
                self.confirm(generation, sent);
                Ok(())
            }
            Ok(Err(e)) => {
                self.lost(generation);
                Err(Error::store(e))
            }
            Err(_) => {
                self.lost(generation);
                Err(Error::store_msg(
                    "the tracking connection did not answer a ping",
                ))
            }
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let (hits, entries) = self.shards.iter().fold((0, 0), |(hits, entries), shard| {
            let shard = lock(shard);
            (hits + shard.hits, entries + shard.ready as u64)
        });
        CacheStats {
            hits,
            misses: c.misses.load(Ordering::Relaxed),
            bypassed: c.bypassed.load(Ordering::Relaxed),
            joined: c.joined.load(Ordering::Relaxed),
            after_write: c.after_write.load(Ordering::Relaxed),
            invalidations: c.invalidations.load(Ordering::Relaxed),
            raced: c.raced.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            pings: c.pings.load(Ordering::Relaxed),
            entries,
        }
    }
}

/// The bytes of text in a reply (the record's keys and JSON).
fn text_len(value: &Value) -> usize {
    match value {
        Value::BulkString(b) => b.len(),
        Value::SimpleString(s) => s.len(),
        Value::Array(items) => items.iter().map(text_len).sum(),
        Value::Map(pairs) => pairs.iter().map(|(k, v)| text_len(k) + text_len(v)).sum(),
        _ => 0,
    }
}

/// Pings every `heartbeat` while hits are served, else once per
/// [`IDLE_PING`] (a hit wakes it); after a failure, empties the cache and
/// reconnects (100 ms to 2 s apart). Ends when the last store handle is
/// dropped.
async fn heartbeat(tracker: Weak<Tracker>) {
    let mut backoff = Duration::from_millis(100);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(4));
    // The first ping was sent by `start`: the heartbeat begins idle.
    let mut ping = false;
    loop {
        let Some(t) = tracker.upgrade() else { return };
        let interval = t.config.heartbeat();
        let alive = lock(&t.health).alive;
        let wake = t.wake.clone();
        let wait = if !alive {
            match t.connect().await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    Some(interval)
                }
                Err(e) => {
                    tracing::warn!("edge-session: the cache's tracking connection: {e}");
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    Some(backoff)
                }
            }
        } else {
            let wanted = t.wanted.swap(false, Ordering::AcqRel);
            // Pings overlap (at most 4 in flight): under load a slow answer
            // does not delay the next ping, so hits keep flowing.
            if (wanted || ping)
                && let Ok(permit) = in_flight.clone().try_acquire_owned()
            {
                let t = t.clone();
                tokio::spawn(async move {
                    if let Err(e) = t.ping().await {
                        tracing::warn!("edge-session: the cache's tracking connection: {e}");
                    }
                    drop(permit);
                });
            }
            // No hit since the last tick: wait for one (its `want` leaves a
            // permit if it comes before this wait).
            wanted.then_some(interval)
        };
        drop(t);
        ping = match wait {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                false
            }
            None => tokio::time::timeout(IDLE_PING, wake.notified())
                .await
                .is_err(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{SHARDS, shard_of};
    use edge_session::{SessionConfig, SessionId};

    #[test]
    fn session_keys_spread_over_every_shard() {
        const _: () = assert!(SHARDS.is_power_of_two());
        let rng = SessionConfig::from_secret(&[7; 32]).unwrap().rng();
        let mut counts = [0usize; SHARDS];
        for _ in 0..16_000 {
            let id = SessionId::generate(rng).unwrap();
            counts[shard_of(&format!("session:{}", id.as_str()))] += 1;
        }
        // 1,000 expected per shard; a uniform draw stays well within this.
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
        for key in ["", "k", "session:"] {
            assert!(shard_of(key) < SHARDS);
        }
    }
}
