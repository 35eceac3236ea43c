//! Workers KV as a session store.

use edge_session::{Error, Record, SessionId, SessionStore};
use worker::Env;
use worker::js_sys;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

use crate::KvStoreError;

/// The shortest TTL Workers KV accepts (`expirationTtl`), in seconds.
pub const KV_MIN_TTL: u64 = 60;

/// The longest `expirationTtl` KV takes: 2^31 - 1 seconds (68 years);
/// workerd refuses more with "Value out of range". A longer session TTL
/// (the lifecycle allows up to the year 9999) is shortened to this.
pub const KV_MAX_TTL: u64 = i32::MAX as u64;

/// Sessions in a Workers KV namespace: key `<prefix><id>` (default prefix
/// `session:`), value the session's JSON object, `expirationTtl` = the
/// session's TTL, clamped to KV's range ([`KV_MIN_TTL`] to [`KV_MAX_TTL`]).
///
/// Workers KV is eventually consistent: a write is visible at once in the
/// location that made it but can take up to ~60 s to reach the others. A
/// session created or changed in one place may read as missing or stale
/// elsewhere for that long, and a logout (delete) may not reach every
/// location at once: for instant server-side revocation use the Upstash
/// store. KV also allows one write per second per key; the lifecycle writes
/// only on change (and refreshes sliding expiry at most about twice per
/// TTL), and a rate-limited write (HTTP 429) is an [`Error::Store`] holding a
/// [`KvStoreError`] whose `is_rate_limited()` is true, answered with 503.
///
/// KV has no conditional write and no TTL-only update, so `update`, `touch`
/// and `cycle` are the trait's defaults: read the record at commit, apply
/// the request's changes to what was read (not to the copy the handler
/// loaded), write it back. A logout, a login or a write that lands between
/// that read and that write (one KV round trip, not the whole request) can
/// still be undone or lost, and concurrent increments can be lost; a refresh
/// re-reads before it rewrites, so it only rolls back a write made in that
/// same window. The README has the rates measured under `wrangler dev`.
#[derive(Clone, Debug)]
pub struct KvSessionStore {
    /// The namespace binding, called directly (`get`, `put`, `delete`):
    /// workers-rs's builders serialize their options through
    /// serde-wasm-bindgen, which costs the wasm more than these three calls.
    kv: js_sys::Object,
    prefix: String,
}

/// The runtime's error, typed once ([`KvStoreError`]).
fn kv_error(e: &JsValue) -> Error {
    Error::store(KvStoreError::from_message(crate::js::message(e)))
}

impl KvSessionStore {
    /// The store over the KV namespace bound as `binding`.
    ///
    /// # Errors
    /// If the binding is missing (add `[[kv_namespaces]]` to wrangler.toml).
    pub fn from_env(env: &Env, binding: &str) -> worker::Result<Self> {
        let kv = js_sys::Reflect::get(env, &JsValue::from_str(binding))
            .ok()
            .filter(|kv| kv.is_object())
            .ok_or_else(|| {
                worker::Error::RustError(format!(
                    "KV binding {binding:?} is missing: add [[kv_namespaces]] with \
                     binding = {binding:?} to wrangler.toml"
                ))
            })?;
        Ok(KvSessionStore {
            kv: kv.unchecked_into(),
            prefix: String::from(edge_session::store::DEFAULT_KEY_PREFIX),
        })
    }

    /// Uses `prefix` for keys instead of `session:`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    fn key(&self, id: &SessionId) -> JsValue {
        JsValue::from(edge_session::store::record_key(&self.prefix, id))
    }

    /// `kv.<method>(...args)`, awaited.
    async fn call(&self, method: &str, args: &[&JsValue]) -> Result<JsValue, Error> {
        let function: js_sys::Function = js_sys::Reflect::get(&self.kv, &JsValue::from_str(method))
            .and_then(JsCast::dyn_into)
            .map_err(|e| kv_error(&e))?;
        let array: js_sys::Array = args.iter().copied().collect();
        let promise: js_sys::Promise = function
            .apply(&self.kv, &array)
            .and_then(JsCast::dyn_into)
            .map_err(|e| kv_error(&e))?;
        JsFuture::from(promise).await.map_err(|e| kv_error(&e))
    }

    /// The record's text (`get` returns text by default), if any.
    async fn get(&self, id: &SessionId) -> Result<Option<String>, Error> {
        Ok(self.call("get", &[&self.key(id)]).await?.as_string())
    }

    async fn put(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<(), Error> {
        let json = edge_session::store::encode_record(record)?;
        let options = js_sys::Object::new();
        // TTLs are whole seconds, far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        let ttl = JsValue::from_f64(ttl.clamp(KV_MIN_TTL, KV_MAX_TTL) as f64);
        js_sys::Reflect::set(&options, &JsValue::from_str("expirationTtl"), &ttl)
            .map_err(|e| kv_error(&e))?;
        self.call("put", &[&self.key(id), &JsValue::from(json), &options])
            .await
            .map(drop)
    }
}

impl SessionStore for KvSessionStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        match self.get(id).await? {
            None => Ok(None),
            // Undecodable: CorruptRecord, which the adapter logs.
            Some(text) => edge_session::store::decode_record(text.as_bytes()).map(Some),
        }
    }

    /// KV has no conditional put: this reads first and refuses an existing
    /// id (a 128-bit random id never collides in practice).
    async fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        if self.get(&id).await?.is_some() {
            return Ok(None);
        }
        self.put(&id, record, ttl).await?;
        Ok(Some(id))
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId, Error> {
        self.put(id, record, ttl).await?;
        Ok(id.clone())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.call("delete", &[&self.key(id)]).await.map(drop)
    }
}
