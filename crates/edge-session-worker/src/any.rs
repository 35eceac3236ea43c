//! A store chosen at run time (from a var), compiled once.

use edge_session::{Changes, Cycled, Error, Record, SessionId, SessionStore};
use worker::Env;

use crate::{DurableObjectStore, KvSessionStore, UpstashStore};

/// One of the Workers stores, chosen at run time. Code generic over the
/// store (the whole session engine) is compiled once for it, not once per
/// store: a worker that can run on either store stays small.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// Durable Objects (strongly consistent).
    DurableObject(DurableObjectStore),
    /// Workers KV.
    Kv(KvSessionStore),
    /// Upstash Redis over REST.
    Upstash(UpstashStore),
}

impl AnyStore {
    /// The store named by `kind`, with the conventional binding names:
    /// `"do"` (Durable Objects bound as `SESSIONS_DO`), `"kv"` (Workers KV
    /// bound as `SESSIONS`) or `"upstash"` (`UPSTASH_REDIS_REST_URL`,
    /// `UPSTASH_REDIS_REST_TOKEN`). Other binding names: build the variant
    /// yourself (`AnyStore::Kv(KvSessionStore::from_env(env, "MY_KV")?)`).
    ///
    /// # Errors
    /// An unknown `kind`, a missing binding or Upstash setting.
    pub fn from_env(env: &Env, kind: &str) -> worker::Result<Self> {
        Ok(match kind {
            "do" => AnyStore::DurableObject(DurableObjectStore::from_env(env, "SESSIONS_DO")?),
            "kv" => AnyStore::Kv(KvSessionStore::from_env(env, "SESSIONS")?),
            "upstash" => AnyStore::Upstash(UpstashStore::from_env(env)?),
            other => {
                return Err(worker::Error::RustError(format!(
                    "unknown session store {other:?}: use \"do\", \"kv\" or \"upstash\""
                )));
            }
        })
    }

    /// `"do"`, `"kv"` or `"upstash"`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyStore::DurableObject(_) => "do",
            AnyStore::Kv(_) => "kv",
            AnyStore::Upstash(_) => "upstash",
        }
    }
}

impl SessionStore for AnyStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        match self {
            AnyStore::DurableObject(s) => s.load(id).await,
            AnyStore::Kv(s) => s.load(id).await,
            AnyStore::Upstash(s) => s.load(id).await,
        }
    }

    async fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        match self {
            AnyStore::DurableObject(s) => s.create(id, record, ttl).await,
            AnyStore::Kv(s) => s.create(id, record, ttl).await,
            AnyStore::Upstash(s) => s.create(id, record, ttl).await,
        }
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId, Error> {
        match self {
            AnyStore::DurableObject(s) => s.save(id, record, ttl).await,
            AnyStore::Kv(s) => s.save(id, record, ttl).await,
            AnyStore::Upstash(s) => s.save(id, record, ttl).await,
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        match self {
            AnyStore::DurableObject(s) => s.delete(id).await,
            AnyStore::Kv(s) => s.delete(id).await,
            AnyStore::Upstash(s) => s.delete(id).await,
        }
    }

    async fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        match self {
            AnyStore::DurableObject(s) => s.update(id, changes, ttl).await,
            AnyStore::Kv(s) => s.update(id, changes, ttl).await,
            AnyStore::Upstash(s) => s.update(id, changes, ttl).await,
        }
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>, Error> {
        match self {
            AnyStore::DurableObject(s) => s.touch(id, ttl).await,
            AnyStore::Kv(s) => s.touch(id, ttl).await,
            AnyStore::Upstash(s) => s.touch(id, ttl).await,
        }
    }

    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Cycled, Error> {
        match self {
            AnyStore::DurableObject(s) => s.cycle(old, new, changes, ttl).await,
            AnyStore::Kv(s) => s.cycle(old, new, changes, ttl).await,
            AnyStore::Upstash(s) => s.cycle(old, new, changes, ttl).await,
        }
    }
}
