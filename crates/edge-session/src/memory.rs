//! An in-memory store (feature `std`).

extern crate std;

use alloc::collections::BTreeMap;
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
///
/// Bounded: at most [`DEFAULT_MAX_ENTRIES`] records unless
/// [`MemoryStore::with_max_entries`] says otherwise. Expired records are
/// never returned and are purged before a new record is added; when the
/// store is still full, the new record evicts the one **closest to its
/// expiry** (under sliding expiry, the least recently active session). An
/// evicted session reads as missing: that user starts a new session. Writes
/// to existing records never evict.
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

/// The default cap on records held ([`MemoryStore::with_max_entries`]).
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

struct Inner {
    /// Each record with its expiry and its sequence number in the index.
    map: HashMap<SessionId, (Record, u64, u64)>,
    /// Every record's `(expiry, sequence)`, soonest first: purging and
    /// eviction. The sequence number makes the key `Copy`, so moving an
    /// expiry (every update, every touch) allocates nothing.
    by_expiry: BTreeMap<(u64, u64), SessionId>,
    next_seq: u64,
    max_entries: usize,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            map: HashMap::new(),
            by_expiry: BTreeMap::new(),
            next_seq: 0,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

impl Inner {
    /// Inserts or replaces `id`'s record. A new id first purges expired
    /// records, then evicts the soonest to expire while the store is full.
    fn put(&mut self, id: SessionId, record: Record, exp: u64, now: u64) {
        if let Some(entry) = self.map.get_mut(&id) {
            entry.0 = record;
            self.set_expiry(&id, exp);
            return;
        }
        self.purge_expired(now);
        while self.map.len() >= self.max_entries {
            let Some((_, victim)) = self.by_expiry.pop_first() else {
                break;
            };
            self.map.remove(&victim);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_expiry.insert((exp, seq), id.clone());
        self.map.insert(id, (record, exp, seq));
    }

    /// Moves `id`'s expiry to `exp` (if the record exists).
    fn set_expiry(&mut self, id: &SessionId, exp: u64) {
        if let Some((_, old, seq)) = self.map.get_mut(id) {
            move_expiry(&mut self.by_expiry, old, *seq, exp);
        }
    }

    fn remove(&mut self, id: &SessionId) -> Option<(Record, u64)> {
        let (record, exp, seq) = self.map.remove(id)?;
        self.by_expiry.remove(&(exp, seq));
        Some((record, exp))
    }

    fn purge_expired(&mut self, now: u64) {
        while let Some((&(exp, _), _)) = self.by_expiry.first_key_value() {
            if exp > now {
                break;
            }
            if let Some((_, id)) = self.by_expiry.pop_first() {
                self.map.remove(&id);
            }
        }
    }
}

/// Moves a record's expiry from `*old` to `exp` in the record and in the
/// index; a write in the same second as the last one moves nothing.
fn move_expiry(index: &mut BTreeMap<(u64, u64), SessionId>, old: &mut u64, seq: u64, exp: u64) {
    if *old == exp {
        return;
    }
    let previous = core::mem::replace(old, exp);
    if let Some(id) = index.remove(&(previous, seq)) {
        index.insert((exp, seq), id);
    }
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

    /// At most `max` records (at least 1; default [`DEFAULT_MAX_ENTRIES`]);
    /// see the type's docs for what happens when the store is full.
    #[must_use]
    pub fn with_max_entries(self, max: usize) -> Self {
        self.lock().max_entries = max.max(1);
        self
    }

    /// The number of live (unexpired) records.
    pub fn len(&self) -> usize {
        let now = (self.clock)();
        self.lock()
            .map
            .values()
            .filter(|(_, exp, _)| *exp > now)
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
        let (_, exp, _) = inner.map.get(id)?;
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
        if only_new && inner.map.get(&id).is_some_and(|(_, exp, _)| *exp > now) {
            return false;
        }
        inner.put(id, record.clone(), now.saturating_add(ttl), now);
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
            Some((record, exp, _)) if *exp > now => Ok(Some(record.clone())),
            Some(_) => {
                inner.remove(id);
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
        self.lock().remove(id);
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
        let Inner { map, by_expiry, .. } = &mut *inner;
        let Some((record, exp, seq)) = map.get_mut(id).filter(|(_, exp, _)| *exp > now) else {
            return Ok(None);
        };
        changes.apply_to(record);
        if record.is_empty() {
            inner.remove(id);
        } else {
            move_expiry(by_expiry, exp, *seq, now.saturating_add(ttl));
        }
        Ok(Some(id.clone()))
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>> {
        let now = (self.clock)();
        let mut inner = self.lock();
        match inner.map.get(id) {
            Some((_, exp, _)) if *exp > now => {
                inner.set_expiry(id, now.saturating_add(ttl));
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
        if inner.map.get(old).is_none_or(|(_, exp, _)| *exp <= now) {
            return Ok(Cycled::Gone);
        }
        if inner.map.get(&new).is_some_and(|(_, exp, _)| *exp > now) {
            return Ok(Cycled::Collision);
        }
        let Some((mut record, _)) = inner.remove(old) else {
            return Ok(Cycled::Gone);
        };
        changes.apply_to(&mut record);
        if !record.is_empty() {
            inner.put(new.clone(), record, now.saturating_add(ttl), now);
        }
        Ok(Cycled::Moved(new))
    }
}
