//! A Redis store on the redis crate (tokio, `ConnectionManager`), with Redis
//! Cluster support behind the `cluster` feature.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use edge_session::{
    Error, Record, SessionId, SessionStore, decode_record, encode_record, record_key,
};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Script};

/// The key prefix used unless [`RedisStore::with_prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = edge_session::DEFAULT_KEY_PREFIX;

/// How long to wait for Redis before failing the request (503).
const TIMEOUT: Duration = Duration::from_secs(2);

/// Moves a record to a new key atomically, refusing an existing new key.
const CYCLE_SCRIPT: &str = r"
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// Sessions in Redis: key `<prefix><id>` (prefix `session:` by default),
/// value the session's JSON object, TTL through `SET ... EX`. The same
/// records as every other edge-session server-side store, so a native
/// server and a worker (through Upstash's REST API) can share sessions.
///
/// Commands: `GET` to load, `SET NX EX` to create, `SET EX` to save, `DEL`,
/// `EXPIRE` to refresh, and a Lua script that moves a record to a new id
/// atomically for `cycle_id`. Redis being down makes every call fail fast
/// (2 s timeouts) with [`Error::Store`]; the `ConnectionManager` reconnects
/// by itself when Redis is back.
///
/// On Redis Cluster (feature `cluster`) the two keys of a `cycle_id` live in
/// different hash slots, so the move is `SET NX` on the new key then `DEL` of
/// the old one: not atomic, and a failed `DEL` is reported as an error (the
/// login answers 503 rather than leave the old id alive silently).
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    atomic_cycle: bool,
    script: Arc<Script>,
}

impl<C> fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
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
        // Load the cycle script now, so a login's cycle_id is one EVALSHA
        // (after a Redis restart the first one reloads it by itself).
        let _: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(CYCLE_SCRIPT)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(Self::new(conn))
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
            script: Arc::new(Script::new(CYCLE_SCRIPT)),
        }
    }

    /// Uses `prefix` for keys instead of `session:`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
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
}

impl<C> SessionStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let bytes: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(self.key(id))).await?;
        match bytes {
            None => Ok(None),
            Some(bytes) => decode_record(&bytes).map(Some),
        }
    }

    async fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&id))
            .arg(encode_record(record)?)
            .arg("NX")
            .arg("EX")
            .arg(ttl.max(1));
        let set: Option<String> = self.query(&cmd).await?;
        Ok(set.map(|_| id))
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId, Error> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(id))
            .arg(encode_record(record)?)
            .arg("EX")
            .arg(ttl.max(1));
        let () = self.query(&cmd).await?;
        Ok(id.clone())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let _: i64 = self.query(redis::cmd("DEL").arg(self.key(id))).await?;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>, Error> {
        let found: i64 = self
            .query(redis::cmd("EXPIRE").arg(self.key(id)).arg(ttl.max(1)))
            .await?;
        Ok((found == 1).then(|| id.clone()))
    }

    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        if !self.atomic_cycle {
            let Some(id) = self.create(new, record, ttl).await? else {
                return Ok(None);
            };
            self.delete(old).await?;
            return Ok(Some(id));
        }
        let mut conn = self.conn.clone();
        let moved: i64 = self
            .script
            .key(self.key(old))
            .key(self.key(&new))
            .arg(encode_record(record)?)
            .arg(ttl.max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok((moved == 1).then_some(new))
    }
}
