//! A Redis store on the redis crate (tokio, `ConnectionManager`), with Redis
//! Cluster support behind the `cluster` feature.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edge_session::adapter::MAX_EXPIRES;
use edge_session::id::GENERATED_LEN;
use edge_session::redis_wire::{self, ChangeOp};
use edge_session::store::{decode_fields, record_key};
use edge_session::{Change, Changes, Cycled, Error, Record, SessionId, SessionStore};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{
    Cmd, ErrorKind, FromRedisValue, RedisWrite, Script, ServerErrorKind, ToRedisArgs, Value,
};

pub use crate::redis_cache::{CacheConfig, CacheStats, IDLE_PING};
use crate::redis_cache::{Lookup, Tracker};

/// The key prefix used unless [`RedisStore::with_prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = edge_session::store::DEFAULT_KEY_PREFIX;

/// How long to wait for Redis before failing the request (503).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

/// The store's Lua scripts (their text is in the core, shared with the
/// Upstash REST store).
#[derive(Debug)]
struct Scripts {
    create: Lua,
    save: Lua,
    update: Lua,
    cycle: Lua,
    take: Lua,
    /// Whether `create` writes with `RESTORE`; cleared for good the first
    /// time Redis refuses the command (an ACL without it, a server that
    /// does not take the payload), after which `create` runs its script.
    restore: AtomicBool,
}

/// A script's text and SHA-1: each write is one `EVALSHA`, built straight
/// into one command buffer (`EVAL` once if Redis lost its script cache).
#[derive(Debug)]
struct Lua {
    code: &'static str,
    hash: String,
}

impl Lua {
    fn new(code: &'static str) -> Self {
        Lua {
            code,
            hash: Script::new(code).get_hash().to_owned(),
        }
    }
}

/// Sessions in Redis: a hash under `<prefix><id>` (prefix `session:` by
/// default), one field per session key holding the value's JSON text, with
/// the session's TTL ([`edge_session::redis_wire`]). The same records as the
/// Upstash REST store, so a native server and a worker share sessions.
///
/// Commands: `HGETALL` to load, `EXPIRE` to refresh, `DEL` to log out,
/// `RESTORE` of the record's `DUMP` payload to create (never overwrites;
/// the create script where Redis refuses `RESTORE`), and one Lua script
/// (`EVALSHA`) per other write: update
/// (the request's changed keys only, increments with `HINCRBY`, conditional
/// on the record still existing) and cycle (rename to the new id and apply
/// the changes, conditional on the old record). Concurrent requests of one
/// session never undo each other: a logout or login sticks, edits to
/// different keys all survive, increments add up exactly.
///
/// Redis being down makes every call fail fast (2 s timeouts) with
/// [`Error::Store`]; the `ConnectionManager` reconnects by itself when Redis
/// is back.
///
/// On Redis Cluster (feature `cluster`) the two keys of a `cycle_id` live in
/// different hash slots, so the move is two scripts: take the old record
/// (read and delete in one step) then create the new one. Writes racing the
/// login still never revive the old id, but if the process dies between the
/// two steps the session is lost (the user logs in again).
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    atomic_cycle: bool,
    scripts: Arc<Scripts>,
    cache: Option<Arc<Tracker>>,
}

impl<C> fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// A session's key as one command argument, written straight into the
/// command (no key string per request).
struct KeyArg<'a>(&'a str, &'a [u8]);

impl ToRedisArgs for KeyArg<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // Writing to the command's own buffer cannot fail.
        let _ = arg.write_all(self.0.as_bytes());
        let _ = arg.write_all(self.1);
    }
}

/// `<prefix><id>` written into `buf`, if it fits.
fn inline_key<'a>(buf: &'a mut [u8], prefix: &str, id: &SessionId) -> Option<&'a str> {
    let id = id.as_bytes();
    let len = prefix.len() + id.len();
    let out = buf.get_mut(..len)?;
    out[..prefix.len()].copy_from_slice(prefix.as_bytes());
    out[prefix.len()..].copy_from_slice(id);
    // Two strings joined: always UTF-8.
    core::str::from_utf8(out).ok()
}

/// `ARGV` of the update and cycle scripts, written straight into the
/// command: the same arguments as [`redis_wire::change_args`] (the TTL,
/// then an operation, the key and the value's JSON text for each change),
/// with no string of their own.
struct ChangeArgs<'a> {
    changes: &'a Changes,
    ttl: u64,
}

impl ToRedisArgs for ChangeArgs<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        self.ttl.max(1).write_redis_args(out);
        for (key, op) in redis_wire::change_ops(self.changes) {
            out.write_arg(op.letter().as_bytes());
            out.write_arg(key.as_bytes());
            match op {
                ChangeOp::Set(value) => {
                    // A JSON value always serializes (its map keys are
                    // strings); the command's buffer takes every byte.
                    let _ = serde_json::to_writer(out.writer_for_next_arg(), value);
                }
                ChangeOp::Delete => out.write_arg(b""),
                ChangeOp::Increment(by) => by.write_redis_args(out),
            }
        }
    }

    fn num_of_args(&self) -> usize {
        1 + 3 * self.changes.len()
    }
}

impl ChangeArgs<'_> {
    /// About the bytes [`ToRedisArgs::write_redis_args`] writes (a value's
    /// JSON is guessed at 16 bytes), to size the command up front.
    fn size_hint(&self) -> usize {
        let changes: usize = self.changes.iter().map(|(key, _)| key.len() + 18).sum();
        20 + changes
    }
}

/// A record from `HGETALL`'s reply, read in place: a flat array of field
/// and value (RESP2) or a map (RESP3); empty means no record.
pub(crate) fn record_of(hash: &Value) -> Result<Option<Record>, Error> {
    fn bytes(v: &Value) -> &[u8] {
        match v {
            Value::BulkString(b) => b,
            Value::SimpleString(s) => s.as_bytes(),
            // Not a string: fails to decode as JSON (corrupt).
            _ => &[],
        }
    }
    match hash {
        Value::Array(items) if items.is_empty() => Ok(None),
        Value::Map(pairs) if pairs.is_empty() => Ok(None),
        Value::Nil => Ok(None),
        Value::Array(items) if items.len() % 2 == 0 => decode_fields(
            items
                .chunks_exact(2)
                .map(|kv| (bytes(&kv[0]), bytes(&kv[1]))),
        )
        .map(Some),
        Value::Map(pairs) => {
            decode_fields(pairs.iter().map(|(k, v)| (bytes(k), bytes(v)))).map(Some)
        }
        _ => Err(Error::CorruptRecord),
    }
}

/// A failed load: a key of another type (a string from an older format) is
/// a corrupt record, anything else the store failing.
pub(crate) fn load_error(e: redis::RedisError) -> Error {
    if e.code() == Some("WRONGTYPE") {
        Error::CorruptRecord
    } else {
        store_error(e)
    }
}

fn store_error(e: redis::RedisError) -> Error {
    Error::store(e)
}

impl RedisStore<ConnectionManager> {
    /// Connects to the Redis at `url` (`redis://127.0.0.1:6379/0`).
    ///
    /// # Errors
    /// [`Error::Store`] if the URL is invalid or Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(store_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(store_error)?;
        // Load the scripts the lifecycle writes with now, so each write is
        // one EVALSHA (after a Redis restart, or for the rarely used SAVE,
        // the first call loads the script by itself).
        for script in [redis_wire::CREATE, redis_wire::UPDATE, redis_wire::CYCLE] {
            let _: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(script)
                .query_async(&mut conn)
                .await
                .map_err(store_error)?;
        }
        Ok(Self::new(conn))
    }

    /// Connects like [`connect`](Self::connect), plus a local cache of
    /// records kept coherent by Redis (RESP3 client tracking, Redis 6 or
    /// later): a load found in the cache costs no round trip, and any
    /// change to a session by any client invalidates it. The guarantees,
    /// as [`CacheConfig`] sets them:
    ///
    /// * a hit reflects every write, delete or expiry Redis applied more
    ///   than `max_staleness` (5 ms) before it, whoever made it;
    /// * a logout or login through this store (a delete, an id change, or
    ///   a write that removes keys) is acknowledged only `max_staleness`
    ///   after Redis applied it, so the client's next request, on any server
    ///   caching with the same bound, never sees the old session;
    /// * a lost, restarted, killed or silently cut connection stops all hits
    ///   within `max_staleness`; the cache empties and refills through a new
    ///   connection;
    /// * at most `max_entries` records and about `max_bytes`.
    ///
    /// # Errors
    /// [`Error::Store`] if the URL is invalid or Redis cannot be reached or
    /// does not support tracking.
    pub async fn connect_with_cache(url: &str, config: CacheConfig) -> Result<Self, Error> {
        let mut store = Self::connect(url).await?;
        store.cache = Some(Tracker::start(url, config).await?);
        Ok(store)
    }
}

#[cfg(feature = "cluster")]
impl RedisStore<redis::cluster_async::ClusterConnection> {
    /// Connects to a Redis Cluster through any of its `nodes`
    /// (`redis://127.0.0.1:7000`...).
    ///
    /// # Errors
    /// [`Error::Store`] if no node can be reached.
    pub async fn connect_cluster(nodes: &[&str]) -> Result<Self, Error> {
        let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(TIMEOUT)
            .response_timeout(TIMEOUT)
            .retries(2)
            .build()
            .map_err(store_error)?;
        let conn = client.get_async_connection().await.map_err(store_error)?;
        Ok(Self::new_cluster(conn))
    }

    /// A store over an existing cluster connection.
    pub fn new_cluster(conn: redis::cluster_async::ClusterConnection) -> Self {
        let mut store = Self::new(conn);
        store.atomic_cycle = false;
        store
    }
}

impl<C> RedisStore<C> {
    /// A store over an existing connection (a `ConnectionManager` is the
    /// usual choice: it multiplexes and reconnects).
    pub fn new(conn: C) -> Self {
        RedisStore {
            conn,
            prefix: Arc::from(DEFAULT_PREFIX),
            atomic_cycle: true,
            scripts: Arc::new(Scripts {
                create: Lua::new(redis_wire::CREATE),
                save: Lua::new(redis_wire::SAVE),
                update: Lua::new(redis_wire::UPDATE),
                cycle: Lua::new(redis_wire::CYCLE),
                take: Lua::new(redis_wire::TAKE),
                restore: AtomicBool::new(true),
            }),
            cache: None,
        }
    }

    /// Uses `prefix` for keys instead of `session:`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// The local cache's counters, if this store has one
    /// ([`connect_with_cache`](RedisStore::connect_with_cache)).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|cache| cache.stats())
    }

    /// After a write to `id`'s record: the cache forgets it at once (this
    /// process's next read goes to Redis), and a logout or login (`hold`)
    /// is acknowledged only when every other server's cache has seen it.
    async fn written(&self, id: &SessionId, hold: bool) {
        if let Some(cache) = &self.cache {
            cache.forget(&self.key(id));
            if hold {
                tokio::time::sleep(cache.hold()).await;
            }
        }
    }

    /// The Redis key of `id`.
    pub fn key(&self, id: &SessionId) -> String {
        record_key(&self.prefix, id)
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn).await.map_err(store_error)
    }

    /// One `EVALSHA` of `script` (`EVAL` if Redis lost it) with its keys
    /// (one `KeyArg`, or a tuple of them: `numkeys` is their count) and
    /// arguments, all written straight into the command.
    async fn run<T: FromRedisValue>(
        &self,
        script: &Lua,
        keys: &(impl ToRedisArgs + Sync),
        args: &(impl ToRedisArgs + Sync),
        arg_bytes: usize,
    ) -> Result<T, Error> {
        let numkeys = keys.num_of_args();
        let mut conn = self.conn.clone();
        // Sized up front (`EVALSHA`, the hash, numkeys, the keys, about
        // `arg_bytes` of arguments): the common write reallocates nothing.
        let bytes = "EVALSHA".len()
            + script.hash.len()
            + 2
            + numkeys * (self.prefix.len() + GENERATED_LEN)
            + arg_bytes;
        let reply = Cmd::with_capacity(3 + numkeys + args.num_of_args(), bytes)
            .arg("EVALSHA")
            .arg(&script.hash)
            .arg(numkeys)
            .arg(keys)
            .arg(args)
            .query_async(&mut conn)
            .await;
        match reply {
            // Redis restarted or flushed its scripts: EVAL loads it again.
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                redis::cmd("EVAL")
                    .arg(script.code)
                    .arg(numkeys)
                    .arg(keys)
                    .arg(args)
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            }
            reply => reply.map_err(store_error),
        }
    }

    /// Creates `key` with one `RESTORE` of the record's `DUMP` payload
    /// ([`redis_wire::dump_payload`]): `Some(true)` once written,
    /// `Some(false)` if the key exists (`BUSYKEY`), `None` when the create
    /// script has to answer: an empty record, an error reply (the script
    /// fails the same way if Redis cannot write at all), or a Redis that
    /// refuses `RESTORE` for good ([`refuses_restore`]: then never tried
    /// again).
    async fn restore(
        &self,
        key: &KeyArg<'_>,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<bool>, Error> {
        if !self.scripts.restore.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let Some(payload) = redis_wire::dump_payload(record)? else {
            return Ok(None);
        };
        let mut conn = self.conn.clone();
        // Sized up front: the payload is copied in once, with no growth.
        let bytes = "RESTORE".len() + self.prefix.len() + key.1.len() + 20 + payload.len();
        let reply: Result<(), _> = Cmd::with_capacity(4, bytes)
            .arg("RESTORE")
            .arg(key)
            .arg(ttl.max(1).saturating_mul(1000))
            .arg(payload)
            .query_async(&mut conn)
            .await;
        match reply {
            Ok(()) => Ok(Some(true)),
            Err(e) if e.code() == Some("BUSYKEY") => Ok(Some(false)),
            Err(e) if refuses_restore(&e) => {
                if self.scripts.restore.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        "edge-session: Redis refused RESTORE ({e}); new sessions are created by script from now on"
                    );
                }
                Ok(None)
            }
            Err(e) if matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }
}

/// Whether an error reply to `RESTORE` says this Redis will never take it
/// from this store: no permission (`RESTORE` is in the ACL category
/// `@dangerous`), an unknown (renamed, disabled) command, a payload of a
/// version or format it does not load (Redis before 5). Anything else (an
/// OOM, a replica, a reply of one call) leaves `RESTORE` on.
fn refuses_restore(e: &redis::RedisError) -> bool {
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::NoPerm) => true,
        ErrorKind::Server(ServerErrorKind::ResponseError) => e.detail().is_some_and(|detail| {
            let detail = detail.to_ascii_lowercase();
            detail.starts_with("unknown command")
                || detail.contains("payload")
                || detail.contains("bad data format")
        }),
        _ => false,
    }
}

impl<C> SessionStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        if let Some(cache) = &self.cache {
            // The key on the stack: a hit allocates nothing for it.
            let mut buf = [0u8; 96];
            let owned;
            let key = match inline_key(&mut buf, &self.prefix, id) {
                Some(key) => key,
                None => {
                    owned = self.key(id);
                    owned.as_str()
                }
            };
            match cache.lookup(key) {
                Lookup::Hit(record) => return Ok(Some(record)),
                Lookup::Miss(ticket) => return cache.fetch(key, ticket).await,
                Lookup::Bypass => {}
            }
        }
        let mut conn = self.conn.clone();
        // Sized up front: two allocations for the command, not three.
        let reply: Result<Value, _> =
            redis::Cmd::with_capacity(2, "HGETALL".len() + self.prefix.len() + id.as_bytes().len())
                .arg("HGETALL")
                .arg(KeyArg(&self.prefix, id.as_bytes()))
                .query_async(&mut conn)
                .await;
        reply.map_err(load_error).and_then(|hash| record_of(&hash))
    }

    async fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        // The lifecycle never asks for more (it caps every expiry at
        // `MAX_EXPIRES`, an instant, so a TTL is below it); a direct caller
        // gets the same cap on both paths, where Redis would refuse the
        // script's `EXPIRE` and overflow `RESTORE`'s deadline.
        let ttl = ttl.min(MAX_EXPIRES);
        let key = KeyArg(&self.prefix, id.as_bytes());
        let created = match self.restore(&key, record, ttl).await {
            Ok(Some(created)) => Ok(created),
            Ok(None) => {
                let args = redis_wire::create_args(record, ttl)?;
                let bytes = args.iter().map(String::len).sum();
                self.run::<i64>(&self.scripts.create, &key, &args, bytes)
                    .await
                    .map(|n| n == 1)
            }
            Err(e) => Err(e),
        };
        self.written(&id, false).await;
        Ok(created?.then_some(id))
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId, Error> {
        let args = redis_wire::create_args(record, ttl)?;
        let key = KeyArg(&self.prefix, id.as_bytes());
        let bytes = args.iter().map(String::len).sum();
        let saved = self
            .run::<i64>(&self.scripts.save, &key, &args, bytes)
            .await;
        self.written(id, false).await;
        saved.map(|_| id.clone())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let key = KeyArg(&self.prefix, id.as_bytes());
        let deleted = self.query::<i64>(redis::cmd("DEL").arg(&key)).await;
        self.written(id, deleted.is_ok()).await;
        deleted.map(|_| ())
    }

    async fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let key = KeyArg(&self.prefix, id.as_bytes());
        let args = ChangeArgs { changes, ttl };
        let bytes = args.size_hint();
        let applied = self
            .run::<i64>(&self.scripts.update, &key, &args, bytes)
            .await;
        // Removing a key is how many apps log out (`remove("user")`): held
        // like a logout, so no cache anywhere serves the removed key after
        // the client has the answer.
        let removes = changes.iter().any(|(_, c)| matches!(c, Change::Remove));
        self.written(id, removes && matches!(applied, Ok(1))).await;
        Ok((applied? == 1).then(|| id.clone()))
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>, Error> {
        let key = KeyArg(&self.prefix, id.as_bytes());
        let found = self
            .query::<i64>(redis::cmd("EXPIRE").arg(&key).arg(ttl.max(1)))
            .await;
        self.written(id, false).await;
        Ok((found? == 1).then(|| id.clone()))
    }

    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Cycled, Error> {
        let old_key = KeyArg(&self.prefix, old.as_bytes());
        if self.atomic_cycle {
            let keys = (&old_key, KeyArg(&self.prefix, new.as_bytes()));
            let args = ChangeArgs { changes, ttl };
            let bytes = args.size_hint();
            let moved = self
                .run::<i64>(&self.scripts.cycle, &keys, &args, bytes)
                .await;
            // A login is held like a logout: the old id must not be served
            // from any server's cache once the client has the new one.
            self.written(old, matches!(moved, Ok(1))).await;
            return Ok(match moved? {
                1 => Cycled::Moved(new),
                2 => Cycled::Collision,
                _ => Cycled::Gone,
            });
        }
        // Cluster (never cached): the keys are in different slots. Take the
        // old record (read and delete in one step: later writes to it find
        // it gone), then create the new one.
        let none: Vec<String> = Vec::new();
        let fields: Vec<(Vec<u8>, Vec<u8>)> =
            self.run(&self.scripts.take, &old_key, &none, 0).await?;
        if fields.is_empty() {
            return Ok(Cycled::Gone);
        }
        let taken = match decode_fields(fields) {
            Ok(record) => record,
            Err(Error::CorruptRecord) => return Ok(Cycled::Gone),
            Err(e) => return Err(e),
        };
        let mut record = taken.clone();
        changes.apply_to(&mut record);
        // Boxed: every commit future has room for this rare path's, so it
        // stays small.
        if Box::pin(self.create(new.clone(), &record, ttl))
            .await?
            .is_some()
        {
            return Ok(Cycled::Moved(new));
        }
        // The new id exists (a 128-bit collision): put the old record back.
        Box::pin(self.create(old.clone(), &taken, ttl)).await?;
        Ok(Cycled::Collision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The cache's key on the stack is the store's key, and a key too long
    /// for the buffer is left to the heap.
    #[test]
    fn inline_key_is_the_record_key_when_it_fits() {
        let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let mut buf = [0u8; 96];
        for prefix in ["", "session:", "é:", &"p".repeat(74)] {
            let key = inline_key(&mut buf, prefix, &id);
            assert_eq!(key, Some(record_key(prefix, &id).as_str()), "{prefix}");
        }
        assert_eq!(inline_key(&mut buf, &"p".repeat(75), &id), None);
    }

    /// The update and cycle scripts get from the native store exactly the
    /// arguments the core lists for them (and the Upstash store sends).
    #[test]
    fn change_args_are_written_as_the_core_lists_them() {
        let mut changes = Changes::default();
        changes.set("s", json!({"a": [1, "x\"y", null], "ü": 2.5}));
        changes.set("n", json!(18_446_744_073_709_551_615u64));
        changes.set("", json!(""));
        changes.remove("d");
        changes.increment("i", -42);
        changes.increment("max", i64::MAX);
        changes.increment("min", i64::MIN);
        // The scripts' own reading of the arguments, spelled out once: the
        // TTL (0 is 1), then each change in key order.
        let mut small = Changes::default();
        small.set("k", json!("v"));
        small.remove("d");
        small.increment("i", -42);
        let small = ChangeArgs {
            changes: &small,
            ttl: 0,
        };
        let want = ["1", "d", "d", "", "i", "i", "-42", "s", "k", "\"v\""];
        assert_eq!(written(&small), want.map(|a| a.as_bytes().to_vec()));
        for changes in [Changes::default(), changes] {
            for ttl in [0, 1, 1_209_600, u64::MAX] {
                let want = redis_wire::change_args(&changes, ttl).unwrap();
                let args = ChangeArgs {
                    changes: &changes,
                    ttl,
                };
                let want: Vec<Vec<u8>> = want.into_iter().map(String::into_bytes).collect();
                assert_eq!(written(&args), want);
                assert_eq!(args.num_of_args(), want.len());
            }
        }
    }

    /// The arguments `args` writes into a command.
    fn written(args: &ChangeArgs<'_>) -> Vec<Vec<u8>> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(args);
        cmd.args_iter()
            .skip(1)
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => panic!("not a plain argument"),
            })
            .collect()
    }
}
