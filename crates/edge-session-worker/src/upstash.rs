//! Upstash Redis over its REST API, through the Workers Fetch API.

use edge_session::redis_wire;
use edge_session::{Changes, Cycled, Error, Record, SessionId, SessionStore};
use serde_json::{Value, json};
use worker::{Env, Fetch};

/// Sessions in Upstash Redis, spoken to over its REST API with `fetch`:
/// `POST <url>` with a JSON command array (`["HGETALL","session:<id>"]`,
/// `["EVAL","<script>","1","session:<id>","1209600",...]`),
/// `Authorization: Bearer <token>`, `Content-Type: application/json`.
///
/// Records and scripts are the native `RedisStore`'s
/// ([`edge_session::redis_wire`]: a hash per session, one Lua script per
/// write), so a worker and a native server pointed at one Upstash database
/// (REST for the worker, the Redis protocol for the server) share sessions,
/// and the same guarantees hold: writes conditional on the record existing
/// (logout and login stick), field-level changes, exact increments, and a
/// `cycle_id` that is one atomic script.
///
/// Errors: a refused token (HTTP 401), a bad request (400), `{"error": ...}`
/// answers and network failures are [`Error::Store`] with what Upstash said;
/// the adapter answers 503. Nothing here panics on a malformed answer.
///
/// `Debug` shows the URL and the key prefix, never the token.
#[derive(Clone)]
pub struct UpstashStore {
    url: String,
    token: String,
    prefix: String,
}

impl core::fmt::Debug for UpstashStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UpstashStore")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl UpstashStore {
    /// A store for the database at `url` (`https://<name>.upstash.io`) with
    /// its REST `token`.
    pub fn new(url: &str, token: &str) -> Self {
        UpstashStore {
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            prefix: String::from(edge_session::store::DEFAULT_KEY_PREFIX),
        }
    }

    /// The store from `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`
    /// (secrets or vars).
    ///
    /// # Errors
    /// If either is missing.
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        let read = |name: &str| {
            crate::adapter::env_string(env, name)
                .ok_or_else(|| worker::Error::RustError(format!("{name} is not set")))
        };
        Ok(Self::new(
            &read("UPSTASH_REDIS_REST_URL")?,
            &read("UPSTASH_REDIS_REST_TOKEN")?,
        ))
    }

    /// Uses `prefix` for keys instead of `session:`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    fn key(&self, id: &SessionId) -> String {
        edge_session::store::record_key(&self.prefix, id)
    }

    /// POSTs `body` to `path` and returns the decoded JSON answer.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let url = format!("{}{path}", self.url);
        let authorization = format!("Bearer {}", self.token);
        let request = crate::js::post(
            &url,
            &body.to_string(),
            &[
                ("Authorization", &authorization),
                ("Content-Type", "application/json"),
            ],
        )
        .map_err(|e| {
            Error::store_msg(format!(
                "Upstash request to {url}: {}",
                crate::js::message(&e)
            ))
        })?;
        let response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| Error::store_msg(format!("Upstash unreachable at {url}: {e}")))?;
        let status = response.status_code();
        let text = crate::js::text(response).await.map_err(|e| {
            Error::store_msg(format!(
                "Upstash answer unreadable ({status}): {}",
                crate::js::message(&e)
            ))
        })?;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        let upstash_error = value
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string);
        match (status, upstash_error) {
            (401, e) => Err(Error::store(UpstashError {
                status,
                code: None,
                message: format!(
                    "Upstash refused the token (401 {}): check UPSTASH_REDIS_REST_TOKEN",
                    e.unwrap_or_default()
                ),
            })),
            (_, Some(e)) => Err(Error::store(UpstashError {
                status,
                // Redis errors start with their code (`WRONGTYPE`, `OOM`...).
                code: e.split_whitespace().next().map(str::to_string),
                message: format!("Upstash error ({status}): {e}"),
            })),
            (200..=299, None) => value.ok_or_else(|| {
                Error::store_msg(format!(
                    "Upstash answered {status} with a body that is not JSON"
                ))
            }),
            (_, None) => Err(Error::store_msg(format!("Upstash answered HTTP {status}"))),
        }
    }

    /// Runs one command; returns its `result`.
    async fn command(&self, args: Value) -> Result<Value, Error> {
        let answer = self.post("", &args).await?;
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| Error::store_msg("Upstash answer has no \"result\""))
    }
}

/// A script's integer result (Upstash answers numbers, the emulator too).
fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

impl UpstashStore {
    /// `EVAL script <keys> <args>`: one round trip, atomic in Redis.
    async fn eval(&self, script: &str, keys: &[String], args: &[String]) -> Result<Value, Error> {
        let mut command = Vec::with_capacity(3 + keys.len() + args.len());
        command.push(Value::from("EVAL"));
        command.push(Value::from(script));
        command.push(Value::from(keys.len().to_string()));
        command.extend(keys.iter().map(|k| Value::from(k.as_str())));
        command.extend(args.iter().map(|a| Value::from(a.as_str())));
        self.command(Value::Array(command)).await
    }
}

/// An error answer from Upstash: its HTTP status and, for a Redis error,
/// the Redis error code (`WRONGTYPE`, `OOM`, `NOSCRIPT`...). It reaches the
/// adapter inside [`Error::Store`]; downcast to read it.
#[derive(Debug)]
pub struct UpstashError {
    status: u16,
    code: Option<String>,
    message: String,
}

impl UpstashError {
    /// The HTTP status Upstash answered with.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The Redis error code, if Upstash relayed a Redis error.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
}

impl core::fmt::Display for UpstashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UpstashError {}

/// True for Upstash's `WRONGTYPE` answer: the key holds another type.
fn is_wrong_type(e: &Error) -> bool {
    match e {
        Error::Store(e) => e
            .downcast_ref::<UpstashError>()
            .is_some_and(|u| u.code() == Some("WRONGTYPE")),
        _ => false,
    }
}

impl SessionStore for UpstashStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        let result = match self.command(json!(["HGETALL", self.key(id)])).await {
            Ok(result) => result,
            // A key of another type (a string from an older format): corrupt.
            Err(e) if is_wrong_type(&e) => return Err(Error::CorruptRecord),
            Err(e) => return Err(e),
        };
        let Value::Array(items) = result else {
            return Err(Error::CorruptRecord);
        };
        if items.is_empty() {
            return Ok(None);
        }
        if items.len() % 2 != 0 {
            return Err(Error::CorruptRecord);
        }
        let mut fields = Vec::with_capacity(items.len() / 2);
        for pair in items.chunks_exact(2) {
            let [Value::String(name), Value::String(value)] = pair else {
                return Err(Error::CorruptRecord);
            };
            fields.push((name.as_str(), value.as_str()));
        }
        edge_session::store::decode_fields(fields).map(Some)
    }

    async fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let args = redis_wire::create_args(record, ttl)?;
        let result = self
            .eval(redis_wire::CREATE, &[self.key(&id)], &args)
            .await?;
        Ok((as_int(&result) == Some(1)).then_some(id))
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId, Error> {
        let args = redis_wire::create_args(record, ttl)?;
        self.eval(redis_wire::SAVE, &[self.key(id)], &args).await?;
        Ok(id.clone())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.command(json!(["DEL", self.key(id)])).await?;
        Ok(())
    }

    async fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let args = redis_wire::change_args(changes, ttl)?;
        let result = self
            .eval(redis_wire::UPDATE, &[self.key(id)], &args)
            .await?;
        Ok((as_int(&result) == Some(1)).then(|| id.clone()))
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>, Error> {
        let result = self
            .command(json!(["EXPIRE", self.key(id), ttl.max(1).to_string()]))
            .await?;
        Ok((as_int(&result) == Some(1)).then(|| id.clone()))
    }

    /// One script: rename the old record to the new id and apply the
    /// changes, only if the old record exists and the new id does not.
    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        changes: &Changes,
        ttl: u64,
    ) -> Result<Cycled, Error> {
        let args = redis_wire::change_args(changes, ttl)?;
        let result = self
            .eval(redis_wire::CYCLE, &[self.key(old), self.key(&new)], &args)
            .await?;
        Ok(match as_int(&result) {
            Some(1) => Cycled::Moved(new),
            Some(2) => Cycled::Collision,
            Some(0) => Cycled::Gone,
            _ => {
                return Err(Error::store_msg(format!(
                    "Upstash cycle script answered {result}"
                )));
            }
        })
    }
}
