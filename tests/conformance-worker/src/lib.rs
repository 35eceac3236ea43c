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
//! * anything else: 200 "conformance worker" (the harness's readiness probe).
//!
//! A broken rule panics inside the worker: the request fails and the test
//! reads the panic message in wrangler's log.
#![cfg(target_arch = "wasm32")]

use edge_session::testing::conformance;
use edge_session_worker::{KvSessionStore, UpstashStore};
use worker::{Context, Env, Request, Response, Result, event};

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
        _ => Response::ok("conformance worker\n"),
    }
}
