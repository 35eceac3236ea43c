//! The session's data and its change tracking.

use alloc::string::String;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::{Change, Changes, Record};

/// A session's data: a JSON object, with typed access through serde.
///
/// It remembers which keys changed ([`SessionData::changes`]), so the lifecycle
/// writes the store only when it must, and then only those keys: inserting a
/// value equal to the current one or removing a missing key is not a change.
///
/// ```
/// use edge_session::SessionData;
/// let mut session = SessionData::default();
/// session.insert("user", 42)?;
/// assert_eq!(session.get::<u32>("user")?, Some(42));
/// assert!(session.is_changed());
///
/// let mut loaded = SessionData::from_record(session.into_record());
/// loaded.insert("user", 42)?; // same value: not a change
/// assert!(!loaded.is_changed());
/// # Ok::<(), edge_session::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionData {
    data: Record,
    changes: Changes,
    cleared: bool,
    cycle: bool,
    expiry: Option<crate::SessionExpiry>,
}

impl SessionData {
    /// A session holding `record`, as loaded from a store (not changed).
    pub fn from_record(record: Record) -> Self {
        SessionData {
            data: record,
            ..SessionData::default()
        }
    }

    /// The value under `key`, deserialized as `T`; `None` if absent.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored value is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.data.get(key) {
            Some(value) => Ok(Some(T::deserialize(value)?)),
            None => Ok(None),
        }
    }

    /// The raw JSON value under `key`.
    pub fn get_value(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// Stores `value` under `key` and returns the previous value. Marks the
    /// session changed only if the new value differs from the old one.
    ///
    /// # Errors
    /// [`Error::Json`] if `value` does not serialize to JSON
    /// (for example a map with non-string keys); the session is unchanged then.
    pub fn insert<T: Serialize>(&mut self, key: &str, value: T) -> Result<Option<Value>> {
        let value = serde_json::to_value(value)?;
        Ok(self.insert_value(key, value))
    }

    /// Stores a raw JSON value; see [`SessionData::insert`].
    pub fn insert_value(&mut self, key: &str, value: Value) -> Option<Value> {
        if self.data.get(key) == Some(&value) {
            return Some(value);
        }
        self.changes.set(key, value.clone());
        self.put(key, value)
    }

    /// Sets `key` in the data, in place if it is there (no new key string);
    /// the old value, if any.
    fn put(&mut self, key: &str, value: Value) -> Option<Value> {
        match self.data.get_mut(key) {
            Some(old) => Some(core::mem::replace(old, value)),
            None => self.data.insert(String::from(key), value),
        }
    }

    /// Adds `by` to the integer under `key` (a missing key counts as 0) and
    /// returns the new value as this request sees it. The store applies the
    /// increment itself, atomically, at commit: N concurrent requests that
    /// each add 1 add exactly N, even though each handler only saw its own
    /// local result. (If one request's increments of a key add up to a
    /// delta beyond i64, possible only near its ends, that request stores
    /// the sum it returned, as a set.)
    ///
    /// # Errors
    /// [`Error::Json`] if the value under `key` is not an
    /// `i64`, or the sum would overflow; the session is unchanged then.
    ///
    /// ```
    /// use edge_session::SessionData;
    /// let mut session = SessionData::default();
    /// assert_eq!(session.increment("visits", 1)?, 1);
    /// assert_eq!(session.increment("visits", 2)?, 3);
    /// # Ok::<(), edge_session::Error>(())
    /// ```
    pub fn increment(&mut self, key: &str, by: i64) -> Result<i64> {
        let current = self.get::<i64>(key)?.unwrap_or(0);
        let sum = current.checked_add(by).ok_or_else(|| {
            Error::Json(<serde_json::Error as serde::de::Error>::custom(
                "the increment overflows an i64",
            ))
        })?;
        if by != 0 {
            match self.changes.get(key) {
                // This request's increments of `key`, added up, no longer
                // fit one i64 delta (the sum it sees does): it stores the
                // sum it saw, as a set.
                Some(Change::Increment(n)) if n.checked_add(by).is_none() => {
                    self.changes.set(key, sum.into());
                }
                _ => self.changes.increment(key, by),
            }
            self.put(key, sum.into());
        }
        Ok(sum)
    }

    /// Removes `key` and returns its value. A change only if it was present.
    pub fn remove_value(&mut self, key: &str) -> Option<Value> {
        let old = self.data.remove(key);
        if old.is_some() {
            self.changes.remove(key);
        }
        old
    }

    /// Removes `key` and returns its value deserialized as `T`.
    ///
    /// # Errors
    /// [`Error::Json`] if the value was not a `T` (it is
    /// removed all the same).
    pub fn remove<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        match self.remove_value(key) {
            Some(value) => Ok(Some(serde_json::from_value(value)?)),
            None => Ok(None),
        }
    }

    /// Empties the session and marks it for deletion: at commit, the record
    /// is deleted from the store and the cookie removed (logout). Data
    /// inserted after `clear` goes to a brand-new session id.
    pub fn clear(&mut self) {
        self.data.clear();
        self.changes.clear();
        self.expiry = None;
        self.cleared = true;
    }

    /// Sets this session's own expiry from now on, kept in its signed
    /// cookie and its store TTL: [`SessionExpiry::Persistent`](crate::SessionExpiry::Persistent) for "remember
    /// me", [`SessionExpiry::BrowserSession`](crate::SessionExpiry::BrowserSession) for a cookie that ends with the
    /// browser, [`SessionExpiry::Default`](crate::SessionExpiry::Default) to go back to the configuration's.
    /// The configuration's absolute timeout still caps it. A change: the
    /// cookie is re-issued (and the record's TTL set) at commit, if the
    /// session holds data.
    pub fn set_expiry(&mut self, expiry: crate::SessionExpiry) {
        self.expiry = Some(expiry);
    }

    /// The expiry asked for with [`SessionData::set_expiry`] in this request.
    pub fn expiry_request(&self) -> Option<crate::SessionExpiry> {
        self.expiry
    }

    /// Gives the session a new id at commit, keeping its data: call it when
    /// the user logs in, against session fixation (OWASP ASVS 3.2.1).
    pub fn cycle_id(&mut self) {
        self.cycle = true;
    }

    /// True if the data changed (or a clear or an id cycle was asked for).
    pub fn is_changed(&self) -> bool {
        self.cleared || self.cycle || self.expiry.is_some() || !self.changes.is_empty()
    }

    /// The keys this request set, removed and incremented (since the load,
    /// or since [`SessionData::clear`]).
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// True once [`SessionData::clear`] was called.
    pub fn is_cleared(&self) -> bool {
        self.cleared
    }

    /// True once [`SessionData::cycle_id`] was called.
    pub fn is_cycle_requested(&self) -> bool {
        self.cycle
    }

    /// True if the session holds no data.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.data.contains_key(key)
    }

    /// The data, read-only (for example to render it as JSON).
    pub fn record(&self) -> &Record {
        &self.data
    }

    /// Takes the data out.
    pub fn into_record(self) -> Record {
        self.data
    }
}
