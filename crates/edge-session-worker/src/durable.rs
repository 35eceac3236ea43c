//! Durable Objects as a session store: one object per session, every
//! operation atomic inside it.

use edge_session::{Changes, Cycled, Error, Record, SessionId, SessionStore, redis_wire};
use serde_json::{Map, Value, json};
use worker::durable::{ObjectNamespace, ScheduledTime, State, Storage};
use worker::js_sys;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Date, Env, Request, Response};

use crate::DurableObjectError;

/// Sessions in Durable Objects: one object per session id (the id is the
/// object's name), holding the record in its transactional storage.
///
/// Cloudflare runs the requests to one object one at a time and its storage
/// calls as one transaction per event, so every operation of the store
/// contract is atomic: `create` never overwrites, `update` applies the
/// request's field-level changes only if the record still exists,
/// increments add up exactly, `touch` moves the expiry, `delete` empties the
/// object. `cycle` takes the record out of the old object (read and delete
/// in one step, so every later write to the old id is refused, everywhere)
/// and creates it, changed, in the new one. Unlike Workers KV, a logout is
/// visible at once in every location and concurrent requests never undo each
/// other.
///
/// Expiry: the object keeps the record's deadline beside it, treats the
/// record as gone once the deadline passes (on every read), and sets an
/// alarm at the deadline that deletes it, so abandoned sessions leave no
/// storage behind. A `touch` moves the alarm.
///
/// The object's class must be exported from the worker (see
/// [`session_durable_object!`](crate::session_durable_object)) and bound in
/// `wrangler.toml`:
///
/// ```toml
/// [[durable_objects.bindings]]
/// name = "SESSIONS_DO"
/// class_name = "SessionObject"
///
/// [[migrations]]
/// tag = "v1"
/// new_sqlite_classes = ["SessionObject"]
/// ```
///
/// Errors: a failed call to the object (the runtime's fetch failing, the
/// object's storage failing) is an [`Error::Store`] holding a
/// [`DurableObjectError`]; the adapter answers 503. A cycle's two steps are
/// two objects: if the worker dies between them, that session is lost (the
/// user logs in again), never resurrected.
#[derive(Clone, Debug)]
pub struct DurableObjectStore {
    namespace: ObjectNamespace,
}

impl DurableObjectStore {
    /// The store over the Durable Object namespace bound as `binding`.
    ///
    /// # Errors
    /// If the binding is missing (add `[[durable_objects.bindings]]` to
    /// wrangler.toml).
    pub fn from_env(env: &Env, binding: &str) -> worker::Result<Self> {
        env.durable_object(binding).map(Self::new).map_err(|e| {
            worker::Error::RustError(format!(
                "Durable Object binding {binding:?} is missing ({e}): add [[durable_objects.bindings]] \
                 with name = {binding:?} to wrangler.toml"
            ))
        })
    }

    /// The store over a Durable Object namespace.
    pub fn new(namespace: ObjectNamespace) -> Self {
        DurableObjectStore { namespace }
    }

    /// Sends `[op, ttl, payload]` to the object for `id`; the answer's
    /// status (200 or 404) and body.
    async fn call(&self, id: &SessionId, body: &Value) -> Result<(u16, String), Error> {
        let failed = |what: &str, e: worker::Error| {
            Error::store(DurableObjectError::new(None, format!("{what}: {e}")))
        };
        let stub = self
            .namespace
            .get_by_name(id.as_str())
            .map_err(|e| failed("Durable Object stub", e))?;
        let request = crate::js::post(OBJECT_URL, &body.to_string(), &[]).map_err(|e| {
            Error::store(DurableObjectError::new(
                None,
                format!("Durable Object request: {}", crate::js::message(&e)),
            ))
        })?;
        let response = stub
            .fetch_with_request(request)
            .await
            .map_err(|e| failed("Durable Object unreachable", e))?;
        let status = response.status_code();
        let text = crate::js::text(response).await.map_err(|e| {
            Error::store(DurableObjectError::new(
                Some(status),
                format!(
                    "Durable Object answer unreadable: {}",
                    crate::js::message(&e)
                ),
            ))
        })?;
        match status {
            200 | 404 => Ok((status, text)),
            _ => Err(Error::store(DurableObjectError::new(
                Some(status),
                format!("Durable Object answered {status}: {text}"),
            ))),
        }
    }

    /// A call whose answer is `1` (done) or `0` (refused).
    async fn flag(&self, id: &SessionId, body: &Value) -> Result<bool, Error> {
        match self.call(id, body).await? {
            (200, text) if text == "1" => Ok(true),
            (200, text) if text == "0" => Ok(false),
            (status, text) => Err(Error::store(DurableObjectError::new(
                Some(status),
                format!("Durable Object answered {status} {text:?} where 1 or 0 was expected"),
            ))),
        }
    }

    /// A call whose answer is a record (200) or nothing (404).
    async fn record(&self, id: &SessionId, body: &Value) -> Result<Option<Record>, Error> {
        match self.call(id, body).await? {
            (200, text) => edge_session::store::decode_record(text.as_bytes()).map(Some),
            _ => Ok(None),
        }
    }
}

/// The URL of every request to an object (only the body matters).
const OBJECT_URL: &str = "https://edge-session.invalid/";

/// The changes as [`redis_wire::change_args`] writes them for the Redis
/// scripts, without the TTL: `op, key, value` triplets (`s` and the value's
/// JSON text, `d` and nothing, `i` and the increment).
fn changes_json(changes: &Changes) -> Result<Value, Error> {
    let mut args = redis_wire::change_args(changes, 1)?;
    args.remove(0);
    Ok(Value::from(args))
}

/// The inverse of [`changes_json`]; `None` if malformed.
fn changes_from(value: &Value) -> Option<Changes> {
    let args = value.as_array()?;
    let mut changes = Changes::new();
    for triplet in args.chunks(3) {
        let [op, key, value] = triplet else {
            return None;
        };
        let (op, key, value) = (op.as_str()?, key.as_str()?, value.as_str()?);
        match op {
            "s" => changes.set(key, serde_json::from_str(value).ok()?),
            "d" => changes.remove(key),
            "i" => changes.increment(key, value.parse().ok()?),
            _ => return None,
        }
    }
    Some(changes)
}

impl SessionStore for DurableObjectStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        self.record(id, &json!(["load"])).await
    }

    async fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let created = self.flag(&id, &json!(["create", ttl, record])).await?;
        Ok(created.then_some(id))
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId, Error> {
        self.flag(id, &json!(["save", ttl, record])).await?;
        Ok(id.clone())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.flag(id, &json!(["delete"])).await?;
        Ok(())
    }

    async fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let body = json!(["update", ttl, changes_json(changes)?]);
        Ok(self.flag(id, &body).await?.then(|| id.clone()))
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>, Error> {
        Ok(self
            .flag(id, &json!(["touch", ttl]))
            .await?
            .then(|| id.clone()))
    }

    /// Takes the record out of the old object (every later write to the old
    /// id is refused from then on), then creates it, changed, in the new
    /// one. On a collision (the new id exists) the record goes back to the
    /// old object.
    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Cycled, Error> {
        let Some(mut record) = self.record(old, &json!(["take"])).await? else {
            return Ok(Cycled::Gone);
        };
        let taken = record.clone();
        changes.apply_to(&mut record);
        if record.is_empty() {
            return Ok(Cycled::Moved(new));
        }
        if self.create(new.clone(), &record, ttl).await?.is_some() {
            return Ok(Cycled::Moved(new));
        }
        // Put it back as it was; nothing else can have created the old id.
        self.create(old.clone(), &taken, ttl).await?;
        Ok(Cycled::Collision)
    }
}

/// The Durable Object behind [`DurableObjectStore`]: one session's record in
/// the object's storage. Export it from the worker with
/// [`session_durable_object!`](crate::session_durable_object), which wraps
/// this type in a `#[durable_object]` class.
///
/// Storage: one key, `s`, holding `<deadline in ms> <record JSON>`, and an
/// alarm at the deadline. Requests: `POST` with the JSON body `[op, ttl,
/// payload]`; answers `1`/`0`, a record (200) or nothing (404); a storage
/// failure answers 500 with the runtime's message.
#[derive(Debug)]
pub struct SessionObject {
    storage: Storage,
}

/// The storage key of the record.
const KEY: &str = "s";

impl SessionObject {
    /// The object over its state.
    pub fn new(state: &State) -> Self {
        SessionObject {
            storage: state.storage(),
        }
    }

    /// Serves one request from a [`DurableObjectStore`].
    ///
    /// # Errors
    /// Never: failures are answered with status 500 and the message.
    pub async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let answer = match req.text().await {
            Ok(body) => self.serve(&body).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(Answer::Flag(done)) => Response::ok(if done { "1" } else { "0" }),
            Ok(Answer::Record(Some(text))) => Response::ok(text),
            Ok(Answer::Record(None)) => Response::error("", 404),
            Err(e) => Response::error(format!("session object: {e}"), 500),
        }
    }

    /// The deadline passed: deletes the record (or, if a touch moved the
    /// deadline without moving the alarm, sets the alarm again).
    ///
    /// # Errors
    /// A storage failure (the runtime retries the alarm).
    pub async fn alarm(&self) -> worker::Result<Response> {
        if let Some((deadline, _)) = self.live(now()).await? {
            self.set_alarm(deadline).await?;
        }
        Response::ok("")
    }

    async fn serve(&self, body: &str) -> worker::Result<Answer> {
        let request: Value = serde_json::from_str(body)
            .map_err(|e| worker::Error::RustError(format!("malformed request: {e}")))?;
        let malformed = || worker::Error::RustError(format!("malformed request: {body}"));
        let op = request
            .get(0)
            .and_then(Value::as_str)
            .ok_or_else(malformed)?;
        let ttl = request.get(1).and_then(Value::as_u64).unwrap_or(0);
        let payload = request.get(2).unwrap_or(&Value::Null);
        let now = now();
        let deadline = now
            .saturating_add(ttl.max(1).saturating_mul(1000))
            .min(LATEST_ALARM_MS);
        let live = self.live(now).await?;
        Ok(match op {
            "load" => Answer::Record(live.map(|(_, text)| text.to_string())),
            "take" => {
                if live.is_some() {
                    self.clear().await?;
                }
                Answer::Record(live.map(|(_, text)| text.to_string()))
            }
            "create" | "save" => {
                if op == "create" && live.is_some() {
                    return Ok(Answer::Flag(false));
                }
                let record = payload.as_object().ok_or_else(malformed)?;
                self.put(deadline, record).await?;
                Answer::Flag(true)
            }
            "update" => {
                let changes = changes_from(payload).ok_or_else(malformed)?;
                let Some((_, text)) = live else {
                    return Ok(Answer::Flag(false));
                };
                let mut record = edge_session::store::decode_record(text.as_bytes())
                    .map_err(|e| worker::Error::RustError(format!("stored record: {e}")))?;
                changes.apply_to(&mut record);
                if record.is_empty() {
                    self.clear().await?;
                } else {
                    self.put(deadline, &record).await?;
                }
                Answer::Flag(true)
            }
            "touch" => match live {
                Some((_, text)) => {
                    self.put_raw(deadline, text).await?;
                    Answer::Flag(true)
                }
                None => Answer::Flag(false),
            },
            "delete" => {
                self.clear().await?;
                Answer::Flag(true)
            }
            _ => return Err(malformed()),
        })
    }

    /// The record and its deadline, if present and not expired; an expired
    /// one is deleted.
    async fn live(&self, now: u64) -> worker::Result<Option<(u64, String)>> {
        // The raw value (a string we wrote), without serde's JS bridge.
        let promise = self.storage.as_raw().get(KEY)?;
        let Some(stored) = JsFuture::from(promise).await?.as_string() else {
            return Ok(None);
        };
        let parsed = stored
            .split_once(' ')
            .and_then(|(deadline, text)| Some((deadline.parse::<u64>().ok()?, text)));
        match parsed {
            Some((deadline, text)) if deadline > now => Ok(Some((deadline, text.to_string()))),
            // Expired, or not ours: gone.
            _ => {
                self.clear().await?;
                Ok(None)
            }
        }
    }

    async fn put(&self, deadline: u64, record: &Map<String, Value>) -> worker::Result<()> {
        let text = edge_session::store::encode_record(record)
            .map_err(|e| worker::Error::RustError(format!("record: {e}")))?;
        self.put_raw(deadline, text).await
    }

    async fn put_raw(&self, deadline: u64, text: impl core::fmt::Display) -> worker::Result<()> {
        self.storage
            .put_raw(KEY, format!("{deadline} {text}"))
            .await?;
        self.set_alarm(deadline).await
    }

    async fn set_alarm(&self, deadline: u64) -> worker::Result<()> {
        // Milliseconds since 1970 are exact in an f64 for 285 000 years.
        #[allow(clippy::cast_precision_loss)]
        let at = js_sys::Date::new(&js_sys::Number::from(deadline as f64).into());
        self.storage.set_alarm(ScheduledTime::new(at)).await
    }

    /// Deletes the record and the alarm: the object's storage is empty.
    async fn clear(&self) -> worker::Result<()> {
        self.storage.delete_alarm().await?;
        self.storage.delete_all().await
    }
}

enum Answer {
    Flag(bool),
    Record(Option<String>),
}

/// Unix time in milliseconds.
fn now() -> u64 {
    Date::now().as_millis()
}

/// The latest deadline an object keeps (and sets its alarm to), in unix
/// milliseconds: the end of the year 2189. workerd refuses a later alarm
/// ("This API doesn't support dates after 2189"), so a longer session TTL
/// (the lifecycle allows up to the year 9999) ends there.
pub const LATEST_ALARM_MS: u64 = 7_258_118_399_000;

/// Exports the Durable Object class behind [`DurableObjectStore`] from this
/// worker under the name `$name` (the `class_name` in wrangler.toml):
///
/// ```ignore
/// edge_session_worker::session_durable_object!(SessionObject);
/// ```
///
/// The crate calling it must depend on `worker` (workers-rs), as every
/// worker does.
#[macro_export]
macro_rules! session_durable_object {
    ($name:ident) => {
        /// The module of the class; `wasm_bindgen`'s generated code needs
        /// the crate under that name, which `worker` provides.
        #[doc(hidden)]
        #[allow(unreachable_pub, missing_docs)]
        pub mod __edge_session_durable_object {
            use ::worker::wasm_bindgen;

            /// The Durable Object class that holds sessions
            /// (`edge_session_worker::DurableObjectStore`).
            #[::worker::durable_object(alarm)]
            pub struct $name {
                inner: $crate::SessionObject,
            }

            impl ::worker::DurableObject for $name {
                fn new(state: ::worker::State, _env: ::worker::Env) -> Self {
                    $name {
                        inner: $crate::SessionObject::new(&state),
                    }
                }

                async fn fetch(
                    &self,
                    req: ::worker::Request,
                ) -> ::worker::Result<::worker::Response> {
                    self.inner.fetch(req).await
                }

                async fn alarm(&self) -> ::worker::Result<::worker::Response> {
                    self.inner.alarm().await
                }
            }
        }
        pub use __edge_session_durable_object::$name;
    };
}
