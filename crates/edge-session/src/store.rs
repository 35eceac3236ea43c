//! The store trait: where session records live.

use core::future::Future;

use crate::error::Result;
use crate::id::SessionId;

/// A session record: the session's JSON object. Redis and Upstash keep it as
/// a hash (one field per key, the value's JSON text), Workers KV as the
/// object's JSON text, under `<prefix><id>` with a TTL (the README's "Store
/// wire format").
pub type Record = serde_json::Map<alloc::string::String, serde_json::Value>;

/// The key prefix every server-side store uses by default: records live
/// under `session:<id>`.
pub const DEFAULT_KEY_PREFIX: &str = "session:";

/// The storage key of `id` under `prefix` (`<prefix><id>`): the one
/// definition of the wire format's keys, shared by every server-side store so
/// a native server and a worker find each other's records.
pub fn record_key(prefix: &str, id: &SessionId) -> alloc::string::String {
    let mut key = alloc::string::String::with_capacity(prefix.len() + id.as_bytes().len());
    key.push_str(prefix);
    key.push_str(id.as_str());
    key
}

/// A record as one JSON text (the Workers KV and cookie wire format).
///
/// # Errors
/// [`Error::Json`](crate::Error::Json) if a value cannot be serialized.
pub fn encode_record(record: &Record) -> Result<alloc::string::String> {
    Ok(serde_json::to_string(record)?)
}

/// A stored JSON text read back as a record.
///
/// # Errors
/// [`Error::CorruptRecord`](crate::Error::CorruptRecord) if it is not a JSON
/// object (the lifecycle then treats the session as missing).
pub fn decode_record(bytes: &[u8]) -> Result<Record> {
    serde_json::from_slice(bytes).map_err(|_| crate::Error::CorruptRecord)
}

/// One field of a hash record (Redis, Upstash): a value's JSON text.
///
/// # Errors
/// [`Error::Json`](crate::Error::Json) if the value cannot be serialized.
pub fn encode_field(value: &serde_json::Value) -> Result<alloc::string::String> {
    Ok(serde_json::to_string(value)?)
}

/// A hash record (field name, the value's JSON text) read back as a record.
/// Field values are parsed one by one, never inside the store, so integers
/// beyond 2^53 keep every digit.
///
/// # Errors
/// [`Error::CorruptRecord`](crate::Error::CorruptRecord) if a field is not
/// UTF-8 or its value is not JSON.
pub fn decode_fields<K, V>(fields: impl IntoIterator<Item = (K, V)>) -> Result<Record>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut record = Record::new();
    for (name, value) in fields {
        let name = core::str::from_utf8(name.as_ref()).map_err(|_| crate::Error::CorruptRecord)?;
        let value =
            serde_json::from_slice(value.as_ref()).map_err(|_| crate::Error::CorruptRecord)?;
        record.insert(alloc::string::String::from(name), value);
    }
    Ok(record)
}

/// What a request did to one key of its session.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// The key was set to this value.
    Set(serde_json::Value),
    /// The key was removed.
    Remove,
    /// The key's integer was incremented by this amount (applied to the value
    /// in the store at commit time, atomically where the store can).
    Increment(i64),
}

/// The keys one request set, removed and incremented: what a store applies
/// to an existing record at commit, and nothing else, so requests editing
/// different keys of one session keep each other's edits.
///
/// ```
/// use edge_session::{Change, Changes, Record};
/// let mut changes = Changes::new();
/// changes.set("user", 42.into());
/// changes.increment("visits", 1);
/// changes.remove("flash");
///
/// let mut record = Record::new();
/// record.insert("visits".into(), 9.into());
/// record.insert("flash".into(), "hi".into());
/// changes.apply_to(&mut record);
/// assert_eq!(serde_json::Value::Object(record), serde_json::json!({"user": 42, "visits": 10}));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    // Sorted by key. A request changes a handful of keys: a small sorted
    // vector beats a map, in time and in wasm size.
    entries: alloc::vec::Vec<(alloc::string::String, Change)>,
}

impl Changes {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of changed keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The changes, by key (in key order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Change)> {
        self.entries.iter().map(|(k, c)| (k.as_str(), c))
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    fn put(&mut self, key: &str, change: Change) {
        match self.position(key) {
            Ok(i) => self.entries[i].1 = change,
            Err(i) => self
                .entries
                .insert(i, (alloc::string::String::from(key), change)),
        }
    }

    /// The change recorded for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Change> {
        self.position(key).ok().map(|i| &self.entries[i].1)
    }

    /// Records that `key` was set to `value` (replacing an earlier change).
    pub fn set(&mut self, key: &str, value: serde_json::Value) {
        self.put(key, Change::Set(value));
    }

    /// Records that `key` was removed (replacing an earlier change).
    pub fn remove(&mut self, key: &str) {
        self.put(key, Change::Remove);
    }

    /// Records an increment of `key` by `by`. After a set of the same key in
    /// this request the set's value is incremented instead, and after a
    /// remove the key is set to `by` (that request decided the value, so it
    /// stays a set; the same rule as [`Changes::apply_to`]). Two increments
    /// whose deltas add up past i64 saturate: [`SessionData::increment`]
    /// records the sum it returned as a set instead.
    ///
    /// [`SessionData::increment`]: crate::SessionData::increment
    pub fn increment(&mut self, key: &str, by: i64) {
        match self.position(key) {
            Ok(i) => {
                let change = &mut self.entries[i].1;
                *change = match &*change {
                    Change::Increment(n) => Change::Increment(n.saturating_add(by)),
                    Change::Remove => Change::Set(by.into()),
                    Change::Set(value) => Change::Set(
                        value
                            .as_i64()
                            .and_then(|n| n.checked_add(by))
                            .unwrap_or(by)
                            .into(),
                    ),
                };
            }
            Err(i) => self
                .entries
                .insert(i, (alloc::string::String::from(key), Change::Increment(by))),
        }
    }

    /// Forgets every change (after a `clear`).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Applies the changes to `record`, the way every store must: sets
    /// replace, removes delete, an increment adds to the stored integer (a
    /// missing value, one that is not an `i64`, or a sum that would overflow
    /// is replaced by the increment itself, as Redis scripts do).
    pub fn apply_to(&self, record: &mut Record) {
        for (key, change) in &self.entries {
            match change {
                Change::Set(value) => {
                    record.insert(key.clone(), value.clone());
                }
                Change::Remove => {
                    record.remove(key);
                }
                Change::Increment(by) => {
                    let sum = record
                        .get(key)
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|n| n.checked_add(*by))
                        .unwrap_or(*by);
                    record.insert(key.clone(), sum.into());
                }
            }
        }
    }
}

/// What [`SessionStore::cycle`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cycled {
    /// The record moved to this id (with the changes applied); the old id is
    /// gone.
    Moved(SessionId),
    /// The old record was gone (a concurrent logout or login): nothing was
    /// written.
    Gone,
    /// The new id exists already: nothing was written; try another id.
    Collision,
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod maybe {
    /// `Send` on native targets; nothing on `wasm32-unknown-unknown`, where
    /// JavaScript objects (and so the futures of Workers stores) are `!Send`.
    pub trait MaybeSend: Send {}
    impl<T: Send + ?Sized> MaybeSend for T {}

    /// `Sync` on native targets; nothing on `wasm32-unknown-unknown`.
    pub trait MaybeSync: Sync {}
    impl<T: Sync + ?Sized> MaybeSync for T {}
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod maybe {
    /// `Send` on native targets; nothing on `wasm32-unknown-unknown`, where
    /// JavaScript objects (and so the futures of Workers stores) are `!Send`.
    pub trait MaybeSend {}
    impl<T: ?Sized> MaybeSend for T {}

    /// `Sync` on native targets; nothing on `wasm32-unknown-unknown`.
    pub trait MaybeSync {}
    impl<T: ?Sized> MaybeSync for T {}
}

pub use maybe::{MaybeSend, MaybeSync};

/// A place to keep session records.
///
/// One definition for every runtime: the futures are `Send` on native
/// targets (so the tower middleware can run on a multi-threaded runtime) and
/// need not be on `wasm32-unknown-unknown` (Workers). Implement the methods
/// with `async fn`.
///
/// # Contract
/// * **TTL**: the store owns expiry. A record written with `ttl` seconds must
///   not be returned by `load` after that time. (The cookie carries its own
///   signed expiry too, so an expired cookie never reaches the store.)
/// * `load` returns `Ok(None)` for a missing or expired record, and
///   [`Error::CorruptRecord`](crate::Error::CorruptRecord) for one that does
///   not decode or has the wrong type (the lifecycle treats it as missing).
/// * `create` never overwrites: if `id` exists it returns `Ok(None)` and the
///   lifecycle retries with a fresh id.
/// * **Writes to an existing session are conditional on it existing**:
///   `update`, `touch` and `cycle` write nothing and say so (`Ok(None)`,
///   [`Cycled::Gone`]) when the record is gone, so once a logout (`delete`)
///   or a login (`cycle`) has committed, no request still in flight for the
///   old id can write it back.
/// * `update` applies exactly the request's [`Changes`] (field level) to the
///   record as it is in the store, not a copy the request read: requests
///   that edit different keys keep each other's edits, and increments add up.
///   A record left without keys is deleted.
/// * `touch` extends the TTL only; it never rewrites data (a refresh must
///   not roll back a concurrent write).
/// * `save`, `create`, `update`, `touch` and `cycle` return the id the cookie
///   must carry from now on: for a server-side store the id it was given; a
///   store that keeps the data in the cookie returns the data encoded as the
///   id.
/// * Failures of the backend are [`Error::Store`](crate::Error::Store).
///
/// Only `load`, `create`, `save` and `delete` are required. The defaults of
/// `update`, `touch` and `cycle` read, merge and write: correct when requests
/// do not overlap, but a write landing between their read and their write is
/// lost. Stores that can do better (a script, a lock, a transaction) override
/// them; the crate's stores say which guarantee they give.
///
/// The crate's `testing::conformance` suite checks all of this against any
/// store.
pub trait SessionStore: MaybeSend + MaybeSync {
    /// False for stores that keep the data in the cookie itself (like
    /// [`CookieStore`](crate::CookieStore)): they cannot revoke a session on
    /// the server, and `delete` only drops the cookie.
    const SERVER_SIDE: bool = true;

    /// Reads the record of `id`.
    fn load(&self, id: &SessionId) -> impl Future<Output = Result<Option<Record>>> + MaybeSend;

    /// Writes a new record under `id` for `ttl` seconds, unless `id` exists
    /// (then `Ok(None)`).
    fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend;

    /// Writes (or overwrites) the whole record of `id` for `ttl` seconds. The
    /// lifecycle never calls it directly; the default `update`, `touch` and
    /// `cycle` do.
    fn save(
        &self,
        id: &SessionId,
        record: &Record,
        ttl: u64,
    ) -> impl Future<Output = Result<SessionId>> + MaybeSend;

    /// Deletes the record of `id` (no error if it is missing).
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<()>> + MaybeSend;

    /// Applies `changes` to the record of `id` if it still exists, and gives
    /// it `ttl` seconds to live; `Ok(None)` (nothing written) if it is gone.
    /// The default loads, merges and saves.
    fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
        async move {
            let Some(mut record) = load_live(self, id).await? else {
                return Ok(None);
            };
            changes.apply_to(&mut record);
            if record.is_empty() && Self::SERVER_SIDE {
                self.delete(id).await?;
                return Ok(Some(id.clone()));
            }
            Ok(Some(self.save(id, &record, ttl).await?))
        }
    }

    /// Extends the life of `id`'s record to `ttl` seconds from now without
    /// changing its data; `Ok(None)` if it is missing. The default loads and
    /// saves what it just read (the window for a lost write is one round
    /// trip); stores with an expire command (Redis `EXPIRE`) override it.
    fn touch(
        &self,
        id: &SessionId,
        ttl: u64,
    ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
        async move {
            match load_live(self, id).await? {
                Some(record) => Ok(Some(self.save(id, &record, ttl).await?)),
                None => Ok(None),
            }
        }
    }

    /// Moves the record of `old`, with `changes` applied, to the new id `new`
    /// (login: a new id, same data), if `old` still exists and `new` does not.
    /// The default loads `old`, creates `new`, then deletes `old`; stores that
    /// can should do it atomically.
    fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> impl Future<Output = Result<Cycled>> + MaybeSend {
        async move {
            let Some(mut record) = load_live(self, old).await? else {
                return Ok(Cycled::Gone);
            };
            changes.apply_to(&mut record);
            let Some(id) = self.create(new, &record, ttl).await? else {
                return Ok(Cycled::Collision);
            };
            self.delete(old).await?;
            Ok(Cycled::Moved(id))
        }
    }
}

/// The record of `id` if it is there to be written to: a missing or corrupt
/// record is gone (the defaults of `update`, `touch` and `cycle`).
async fn load_live<S: SessionStore + ?Sized>(store: &S, id: &SessionId) -> Result<Option<Record>> {
    match store.load(id).await {
        Ok(record) => Ok(record),
        Err(crate::Error::CorruptRecord) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Implements `SessionStore` for a pointer type by delegating to `S`.
macro_rules! delegate_store {
    ($($ty:ty),+) => {$(
        impl<S: SessionStore> SessionStore for $ty {
            const SERVER_SIDE: bool = S::SERVER_SIDE;

            fn load(&self, id: &SessionId) -> impl Future<Output = Result<Option<Record>>> + MaybeSend {
                (**self).load(id)
            }
            fn create(
                &self,
                id: SessionId,
                record: &Record,
                ttl: u64,
            ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
                (**self).create(id, record, ttl)
            }
            fn save(
                &self,
                id: &SessionId,
                record: &Record,
                ttl: u64,
            ) -> impl Future<Output = Result<SessionId>> + MaybeSend {
                (**self).save(id, record, ttl)
            }
            fn delete(&self, id: &SessionId) -> impl Future<Output = Result<()>> + MaybeSend {
                (**self).delete(id)
            }
            fn update(
                &self,
                id: &SessionId,
                changes: &Changes,
                ttl: u64,
            ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
                (**self).update(id, changes, ttl)
            }
            fn touch(
                &self,
                id: &SessionId,
                ttl: u64,
            ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
                (**self).touch(id, ttl)
            }
            fn cycle(
                &self,
                old: &SessionId,
                new: SessionId,
                changes: &Changes,
                ttl: u64,
            ) -> impl Future<Output = Result<Cycled>> + MaybeSend {
                (**self).cycle(old, new, changes, ttl)
            }
        }
    )+};
}

delegate_store!(&S, alloc::sync::Arc<S>);
