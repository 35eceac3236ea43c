//! The store trait: where session records live.

use core::future::Future;

use crate::error::Result;
use crate::id::SessionId;

/// A session record: the session's JSON object. Server-side stores keep it as
/// JSON text under `<prefix><id>` with a TTL (see the README's "Wire format").
pub type Record = serde_json::Map<alloc::string::String, serde_json::Value>;

/// The key prefix every server-side store uses by default: records live
/// under `session:<id>`.
pub const DEFAULT_KEY_PREFIX: &str = "session:";

/// The storage key of `id` under `prefix` (`<prefix><id>`): the one
/// definition of the wire format's keys, shared by every server-side store so
/// a native server and a worker find each other's records.
pub fn record_key(prefix: &str, id: &SessionId) -> alloc::string::String {
    let mut key = alloc::string::String::with_capacity(prefix.len() + id.as_str().len());
    key.push_str(prefix);
    key.push_str(id.as_str());
    key
}

/// A record as the wire format stores it: its JSON object as text.
///
/// # Errors
/// [`Error::Json`](crate::Error::Json) if a value cannot be serialized.
pub fn encode_record(record: &Record) -> Result<alloc::string::String> {
    Ok(serde_json::to_string(record)?)
}

/// A stored value read back as a record.
///
/// # Errors
/// [`Error::CorruptRecord`](crate::Error::CorruptRecord) if it is not a JSON
/// object (the lifecycle then treats the session as missing).
pub fn decode_record(bytes: &[u8]) -> Result<Record> {
    serde_json::from_slice(bytes).map_err(|_| crate::Error::CorruptRecord)
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
/// * **TTL**: the store owns expiry. A record saved with `ttl` seconds must
///   not be returned by `load` after that time. (The cookie carries its own
///   signed expiry too, so an expired cookie never reaches the store.)
/// * `load` returns `Ok(None)` for a missing or expired record, and
///   [`Error::CorruptRecord`](crate::Error::CorruptRecord) for one that does
///   not decode (the lifecycle treats it as missing and reports it).
/// * `create` never overwrites: if `id` exists it returns `Ok(None)` and the
///   lifecycle retries with a fresh id.
/// * `save`, `create`, `touch` and `cycle` return the id the cookie must carry
///   from now on: for a server-side store the id it was given; a store that
///   keeps the data in the cookie returns the data encoded as the id.
/// * Failures of the backend are [`Error::Store`](crate::Error::Store).
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

    /// Writes (or overwrites) the record of `id` for `ttl` seconds.
    fn save(
        &self,
        id: &SessionId,
        record: &Record,
        ttl: u64,
    ) -> impl Future<Output = Result<SessionId>> + MaybeSend;

    /// Deletes the record of `id` (no error if it is missing).
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<()>> + MaybeSend;

    /// Extends the life of `id`'s record to `ttl` seconds from now without
    /// changing it; `Ok(None)` if it is missing. The default loads and saves;
    /// stores with a native expire command (Redis `EXPIRE`) override it.
    fn touch(
        &self,
        id: &SessionId,
        ttl: u64,
    ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
        async move {
            match self.load(id).await? {
                Some(record) => Ok(Some(self.save(id, &record, ttl).await?)),
                None => Ok(None),
            }
        }
    }

    /// Moves `record` from `old` to the new id `new` (login: a new id, same
    /// data), or `Ok(None)` if `new` exists. The default creates then
    /// deletes; stores that can should do both atomically.
    fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        record: &Record,
        ttl: u64,
    ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
        async move {
            let Some(id) = self.create(new, record, ttl).await? else {
                return Ok(None);
            };
            self.delete(old).await?;
            Ok(Some(id))
        }
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
                record: &Record,
                ttl: u64,
            ) -> impl Future<Output = Result<Option<SessionId>>> + MaybeSend {
                (**self).cycle(old, new, record, ttl)
            }
        }
    )+};
}

delegate_store!(&S, alloc::sync::Arc<S>);
