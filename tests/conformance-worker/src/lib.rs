//! A test-only worker: runs edge-session's store conformance suite inside
//! workerd (`wrangler dev`) against the stores that only run there, so the
//! product (the demo worker) carries no test code. The end-to-end tests
//! start it (`tests/tests/worker.rs`).
//!
//! * `GET /kv`: the contract and the step-by-step interleavings against
//!   Workers KV (binding `SESSIONS`); concurrent increments are measured and
//!   reported (KV has no atomic write);
//! * `GET /upstash`: the contract, the interleavings and 100 concurrent
//!   increments that must add exactly 100, against the Upstash REST store
//!   (`UPSTASH_REDIS_REST_URL`, `UPSTASH_REDIS_REST_TOKEN`);
//! * `GET /do`: the contract, the interleavings, 100 concurrent increments
//!   that must add exactly 100 and the expiry rules, against the Durable
//!   Object store (binding `SESSIONS_DO`, class `SessionObject` below);
//! * `GET /do/alarm`: a record with a TTL of 1 s: after 3 s the object's
//!   alarm has emptied its storage (no key, no alarm left) and a read finds
//!   nothing;
//! * `GET /debug`: the `Debug` output of the worker crate's public types
//!   that hold a secret (an Upstash store built with the token
//!   `upstash-token-must-not-leak`, alone, inside `AnyStore` and inside
//!   `Sessions` with a known secret), for the
//!   test to check that no secret appears;
//! * anything else: 200 "conformance worker" (the harness's readiness probe).
//!
//! A broken rule panics inside the worker: the request fails and the test
//! reads the panic message in wrangler's log.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use edge_session::testing::conformance;
use edge_session::{Record, SessionId, SessionStore};
use edge_session_worker::{DurableObjectStore, KvSessionStore, UpstashStore};
use worker::{Context, Delay, Env, Request, Response, Result, event};

pub use object::SessionObject;

/// The class (wasm-bindgen's generated methods carry no docs).
#[allow(missing_docs)]
mod object {
    use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

    // `#[durable_object]`'s generated code names the crate `wasm_bindgen`.
    use worker::wasm_bindgen;

    /// The session object, plus a test-only view of its storage
    /// (`GET /__storage`: `keys=<n> alarm=<bool>`) that the product's class
    /// does not have.
    #[durable_object(alarm)]
    pub struct SessionObject {
        inner: edge_session_worker::SessionObject,
        state: State,
    }

    impl DurableObject for SessionObject {
        fn new(state: State, _env: Env) -> Self {
            SessionObject {
                inner: edge_session_worker::SessionObject::new(&state),
                state,
            }
        }

        async fn fetch(&self, req: Request) -> Result<Response> {
            if req.path() == "/__storage" {
                let storage = self.state.storage();
                let keys = storage.list().await?.size();
                let alarm = storage.get_alarm().await?.is_some();
                return Response::ok(format!("keys={keys} alarm={alarm}"));
            }
            self.inner.fetch(req).await
        }

        async fn alarm(&self) -> Result<Response> {
            self.inner.alarm().await
        }
    }
}

async fn sleep(secs: u64) {
    Delay::from(Duration::from_secs(secs)).await;
}

/// What the object for `id` holds (`keys=<n> alarm=<bool>`).
async fn storage_of(env: &Env, id: &SessionId) -> Result<String> {
    let stub = env
        .durable_object("SESSIONS_DO")?
        .get_by_name(id.as_str())?;
    stub.fetch_with_str("https://edge-session.invalid/__storage")
        .await?
        .text()
        .await
}

/// A short-lived record: the alarm empties the object.
async fn alarm_empties_the_object(env: &Env) -> Result<String> {
    let store = DurableObjectStore::from_env(env, "SESSIONS_DO")?;
    let id = SessionId::parse(&format!("alarm-{}", worker::Date::now().as_millis()))
        .ok_or_else(|| worker::Error::RustError("id".into()))?;
    let mut record = Record::new();
    record.insert("data".into(), "short-lived".into());
    let created = store
        .create(id.clone(), &record, 1)
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    assert_eq!(created.as_ref(), Some(&id), "create");
    let before = storage_of(env, &id).await?;
    assert_eq!(before, "keys=1 alarm=true", "a record and its alarm");
    sleep(3).await;
    // Look before any read: only the alarm can have emptied it.
    let after = storage_of(env, &id).await?;
    assert_eq!(
        after, "keys=0 alarm=false",
        "the alarm must empty the object"
    );
    let loaded = store
        .load(&id)
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    assert!(loaded.is_none(), "an expired session must read as missing");
    Ok(format!("before: {before}; after the TTL: {after}"))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match req.path().as_str() {
        "/kv" => {
            let store = KvSessionStore::from_env(&env, "SESSIONS")?;
            conformance::run(&store).await;
            conformance::interleavings(&store).await;
            let n = conformance::concurrent_increments(&store, 100).await;
            Response::ok(format!(
                "conformance ok: kv (concurrent increments kept: {n} of 100)\n"
            ))
        }
        "/upstash" => {
            let store = UpstashStore::from_env(&env)?;
            conformance::run(&store).await;
            conformance::atomic(&store).await;
            Response::ok("conformance ok: upstash (atomic: 100 of 100 concurrent increments)\n")
        }
        "/do" => {
            let store = DurableObjectStore::from_env(&env, "SESSIONS_DO")?;
            conformance::run(&store).await;
            conformance::interleavings(&store).await;
            conformance::atomic(&store).await;
            conformance::expiry(&store, sleep).await;
            Response::ok("conformance ok: do (atomic: 100 of 100 concurrent increments; expiry)\n")
        }
        "/do/alarm" => Response::ok(format!(
            "alarm ok: {}\n",
            alarm_empties_the_object(&env).await?
        )),
        "/debug" => {
            let upstash =
                UpstashStore::new("https://example.upstash.io", "upstash-token-must-not-leak");
            let any = edge_session_worker::AnyStore::Upstash(upstash.clone());
            let config =
                edge_session::SessionConfig::from_secret(b"worker-secret-must-not-leak-0123456789")
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
            let sessions = edge_session_worker::Sessions::new(upstash.clone(), config)?;
            Response::ok(format!("{upstash:?}\n{any:?}\n{sessions:?}\n"))
        }
        _ => Response::ok("conformance worker\n"),
    }
}
