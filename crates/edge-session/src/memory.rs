//! An in-memory store (feature `std`).

extern crate std;

use alloc::sync::Arc;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::Result;
use crate::id::SessionId;
use crate::store::{Changes, Cycled, Record, SessionStore};

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Keeps sessions in this process's memory, with expiry.
///
/// Every operation runs under one lock, so `update` (field-level changes,
/// increments), `touch` and `cycle` are atomic and conditional on the record
/// existing: concurrent requests of one session never undo each other.
///
/// For development, tests and single-process servers: sessions are lost on
/// restart and not shared between processes. Clones share the same map.
/// Expired records are never returned and are swept as the map grows.
///
/// The clock defaults to the system clock; on `wasm32-unknown-unknown`,
/// where there is none, give one with [`MemoryStore::with_clock`].
///
/// ```
/// use edge_session::{MemoryStore, SessionStore, SessionId, Record};
/// # edge_session::testing::block_on_ready(async {
/// let store = MemoryStore::new();
/// let id = SessionId::parse("abc").unwrap();
/// let mut record = Record::new();
/// record.insert("k".into(), 1.into());
/// store.save(&id, &record, 60).await?;
/// assert_eq!(store.load(&id).await?, Some(record));
/// # Ok::<(), edge_session::Error>(())
/// # })?;
/// # Ok::<(), edge_session::Error>(())
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    clock: Clock,
}

#[derive(Default)]
struct Inner {
    map: HashMap<SessionId, (Record, u64)>,
    writes_since_sweep: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(system_now)
    }

    /// An empty store whose notion of "now" (unix seconds) is `clock`.
    pub fn with_clock(clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        MemoryStore {
            inner: Arc::default(),
            clock: Arc::new(clock),
        }
    }

    /// The number of live (unexpired) records.
    pub fn len(&self) -> usize {
        let now = (self.clock)();
        self.lock()
            .map
            .values()
            .filter(|(_, exp)| *exp > now)
            .count()
    }

    /// True if no live record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seconds left before `id`'s record expires (for tests and tools).
    pub fn ttl(&self, id: &SessionId) -> Option<u64> {
        let now = (self.clock)();
        let inner = self.lock();
        let (_, exp) = inner.map.get(id)?;
        (*exp > now).then(|| *exp - now)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the map consistent
        // (every update is a single insert or remove), so keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, id: SessionId, record: &Record, ttl: u64, only_new: bool) -> bool {
        let now = (self.clock)();
        let mut inner = self.lock();
        if only_new && inner.map.get(&id).is_some_and(|(_, exp)| *exp > now) {
            return false;
        }
        inner.writes_since_sweep += 1;
        if inner.writes_since_sweep > 1024 && inner.writes_since_sweep > inner.map.len() {
            inner.map.retain(|_, (_, exp)| *exp > now);
            inner.writes_since_sweep = 0;
        }
        inner
            .map
            .insert(id, (record.clone(), now.saturating_add(ttl)));
        true
    }
}

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>> {
        let now = (self.clock)();
        let mut inner = self.lock();
        match inner.map.get(id) {
            Some((record, exp)) if *exp > now => Ok(Some(record.clone())),
            Some(_) => {
                inner.map.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn create(&self, id: SessionId, record: &Record, ttl: u64) -> Result<Option<SessionId>> {
        Ok(self.write(id.clone(), record, ttl, true).then_some(id))
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId> {
        self.write(id.clone(), record, ttl, false);
        Ok(id.clone())
    }

    async fn delete(&self, id: &SessionId) -> Result<()> {
        self.lock().map.remove(id);
        Ok(())
    }

    async fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Option<SessionId>> {
        let now = (self.clock)();
        let mut inner = self.lock();
        let Some((record, exp)) = inner.map.get_mut(id).filter(|(_, exp)| *exp > now) else {
            return Ok(None);
        };
        changes.apply_to(record);
        if record.is_empty() {
            inner.map.remove(id);
        } else {
            *exp = now.saturating_add(ttl);
        }
        Ok(Some(id.clone()))
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>> {
        let now = (self.clock)();
        let mut inner = self.lock();
        match inner.map.get_mut(id) {
            Some((_, exp)) if *exp > now => {
                *exp = now.saturating_add(ttl);
                Ok(Some(id.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Cycled> {
        let now = (self.clock)();
        let mut inner = self.lock();
        if inner.map.get(old).is_none_or(|(_, exp)| *exp <= now) {
            return Ok(Cycled::Gone);
        }
        if inner.map.get(&new).is_some_and(|(_, exp)| *exp > now) {
            return Ok(Cycled::Collision);
        }
        let Some((mut record, _)) = inner.map.remove(old) else {
            return Ok(Cycled::Gone);
        };
        changes.apply_to(&mut record);
        inner
            .map
            .insert(new.clone(), (record, now.saturating_add(ttl)));
        Ok(Cycled::Moved(new))
    }
}
