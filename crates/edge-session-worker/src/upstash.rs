//! Upstash Redis over its REST API, through the Workers Fetch API.

use edge_session::{Error, Record, SessionId, SessionStore};
use serde_json::{Value, json};
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

/// Sessions in Upstash Redis, spoken to over its REST API with `fetch`:
/// `POST <url>` with a JSON command array (`["SET","session:<id>","{...}","EX",
/// "1209600"]`), `Authorization: Bearer <token>`, `Content-Type:
/// application/json`; `POST <url>/multi-exec` for the two commands of a
/// `cycle_id` (`SET` of the new id, `DEL` of the old, in one transaction).
///
/// Records are the same as the native `RedisStore`'s (key `<prefix><id>`,
/// value the session's JSON, TTL through `EX`), so a worker and a native
/// server pointed at one Upstash database (REST for the worker, the Redis
/// protocol for the server) share sessions.
///
/// Errors: a refused token (HTTP 401), a bad request (400), `{"error": ...}`
/// answers and network failures are [`Error::Store`] with what Upstash said;
/// the adapter answers 503. Nothing here panics on a malformed answer.
#[derive(Clone, Debug)]
pub struct UpstashStore {
    url: String,
    token: String,
    prefix: String,
}

impl UpstashStore {
    /// A store for the database at `url` (`https://<name>.upstash.io`) with
    /// its REST `token`.
    pub fn new(url: &str, token: &str) -> Self {
        UpstashStore {
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            prefix: String::from(edge_session::DEFAULT_KEY_PREFIX),
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
        edge_session::record_key(&self.prefix, id)
    }

    /// POSTs `body` to `path` and returns the decoded JSON answer.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let headers = Headers::new();
        let set = |name: &str, value: &str| {
            headers
                .set(name, value)
                .map_err(|e| Error::store_msg(format!("Upstash request headers: {e}")))
        };
        set("Authorization", &format!("Bearer {}", self.token))?;
        set("Content-Type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.to_string().into()));
        let url = format!("{}{path}", self.url);
        let request = Request::new_with_init(&url, &init)
            .map_err(|e| Error::store_msg(format!("Upstash request to {url}: {e}")))?;
        let mut response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| Error::store_msg(format!("Upstash unreachable at {url}: {e}")))?;
        let status = response.status_code();
        let text = response
            .text()
            .await
            .map_err(|e| Error::store_msg(format!("Upstash answer unreadable ({status}): {e}")))?;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        let upstash_error = value
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string);
        match (status, upstash_error) {
            (401, e) => Err(Error::store_msg(format!(
                "Upstash refused the token (401 {}): check UPSTASH_REDIS_REST_TOKEN",
                e.unwrap_or_default()
            ))),
            (_, Some(e)) => Err(Error::store_msg(format!("Upstash error ({status}): {e}"))),
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

fn is_ok(v: &Value) -> bool {
    v.as_str() == Some("OK")
}

impl SessionStore for UpstashStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, Error> {
        match self.command(json!(["GET", self.key(id)])).await? {
            Value::Null => Ok(None),
            // Undecodable: CorruptRecord, which the adapter logs.
            Value::String(text) => edge_session::decode_record(text.as_bytes()).map(Some),
            _ => Err(Error::CorruptRecord),
        }
    }

    async fn create(
        &self,
        id: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let json = edge_session::encode_record(record)?;
        let result = self
            .command(json!([
                "SET",
                self.key(&id),
                json,
                "NX",
                "EX",
                ttl.max(1).to_string()
            ]))
            .await?;
        Ok(is_ok(&result).then_some(id))
    }

    async fn save(&self, id: &SessionId, record: &Record, ttl: u64) -> Result<SessionId, Error> {
        let json = edge_session::encode_record(record)?;
        let result = self
            .command(json!([
                "SET",
                self.key(id),
                json,
                "EX",
                ttl.max(1).to_string()
            ]))
            .await?;
        if is_ok(&result) {
            Ok(id.clone())
        } else {
            Err(Error::store_msg(format!("Upstash SET answered {result}")))
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.command(json!(["DEL", self.key(id)])).await?;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, ttl: u64) -> Result<Option<SessionId>, Error> {
        let result = self
            .command(json!(["EXPIRE", self.key(id), ttl.max(1).to_string()]))
            .await?;
        Ok((result.as_i64() == Some(1)).then(|| id.clone()))
    }

    /// One `/multi-exec` transaction: `SET new NX EX` then `DEL old`. If the
    /// new id existed (a 128-bit collision, never seen in practice) the old
    /// record is written back and the lifecycle retries with another id.
    async fn cycle(
        &self,
        old: &SessionId,
        new: SessionId,
        record: &Record,
        ttl: u64,
    ) -> Result<Option<SessionId>, Error> {
        let json = edge_session::encode_record(record)?;
        let ttl = ttl.max(1).to_string();
        let answer = self
            .post(
                "/multi-exec",
                &json!([
                    ["SET", self.key(&new), json, "NX", "EX", ttl],
                    ["DEL", self.key(old)],
                ]),
            )
            .await?;
        let results = answer
            .as_array()
            .ok_or_else(|| Error::store_msg("Upstash /multi-exec answer is not an array"))?;
        if let Some(e) = results
            .iter()
            .find_map(|r| r.get("error").and_then(Value::as_str))
        {
            return Err(Error::store_msg(format!(
                "Upstash error in /multi-exec: {e}"
            )));
        }
        let set = results.first().and_then(|r| r.get("result"));
        if set.is_some_and(is_ok) {
            Ok(Some(new))
        } else {
            self.save(old, record, ttl.parse().unwrap_or(1)).await?;
            Ok(None)
        }
    }
}
