//! The worker demo: starlette-session's README routes on Cloudflare Workers
//! with edge-session. `npx wrangler dev` from the repository root serves it.
//!
//! Bindings and vars (wrangler.toml, `.dev.vars` locally):
//! * `SESSIONS`: the KV namespace (the default store);
//! * `SESSION_STORE = "upstash"` switches to Upstash Redis over REST, with
//!   `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`;
//! * `SESSION_SECRET` (secret, at least 32 bytes), optional
//!   `SESSION_SECRET_PREVIOUS`, `COOKIE_SECURE = "false"`.
//!
//! Routes: `GET /setup_session` (sets `session["data"] = "session_data"`, or
//! an optional `?data=` value), `GET /view_session`, `GET /clear_session`,
//! `GET /login?user=NAME[&remember=1]` (a new session id, data kept, plus
//! `user`; `remember=1`: a persistent cookie for 30 days, this session only),
//! `GET /expiry?mode=remember|browser|default` (this session's own expiry),
//! `GET /incr?key=NAME` (the integer under `key`, default `count`, plus one,
//! through the store's atomic increment), each answering
//! `{"session": {...}}`, and `GET /`: the same as the native demo.
#![cfg(target_arch = "wasm32")]

use edge_session_worker::edge_session::SessionExpiry;
use edge_session_worker::{
    KvSessionStore, SessionContext, Sessions, UpstashStore, WithSession, config_from_env,
};
use worker::{Context, Env, Request, Response, Result, RouteContext, Router, event};

/// The page at `/`, shared with the native demo.
const INDEX: &str = include_str!("../../../assets/index.html");

/// The demo's own router data, beside the session: which store serves it.
struct Demo {
    store: &'static str,
}

type Ctx = RouteContext<WithSession<Demo>>;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let config = match config_from_env(&env) {
        Ok(config) => config,
        Err(e) => return Response::error(format!("session configuration: {e}\n"), 500),
    };
    let store = env
        .var("SESSION_STORE")
        .map(|v| v.to_string())
        .unwrap_or_default();
    if store == "upstash" {
        let sessions = Sessions::new(UpstashStore::from_env(&env)?, config)?;
        sessions
            .run(req, env, Demo { store: "upstash" }, routes)
            .await
    } else {
        let sessions = Sessions::new(KvSessionStore::from_env(&env, "SESSIONS")?, config)?;
        sessions.run(req, env, Demo { store: "kv" }, routes).await
    }
}

fn routes(router: Router<'_, WithSession<Demo>>) -> Router<'_, WithSession<Demo>> {
    router
        .get("/", |_, _| Response::from_html(INDEX))
        .get_async("/setup_session", setup)
        .get_async("/view_session", view)
        .get_async("/clear_session", clear)
        .get_async("/login", login)
        .get_async("/incr", incr)
        .get_async("/expiry", expiry)
        .get_async("/__conformance", conformance)
}

/// `GET /login?user=NAME`: what a login does, a new session id (against
/// fixation) with the data kept, plus `session["user"]`.
async fn login(req: Request, ctx: Ctx) -> Result<Response> {
    let url = req.url()?;
    let user = url
        .query_pairs()
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned())
        .filter(|u| (1..=64).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric()));
    let Some(user) = user else {
        return Response::error("user must be 1-64 letters or digits\n", 400);
    };
    let remember = url.query_pairs().any(|(k, v)| k == "remember" && v == "1");
    ctx.session().cycle_id().await?;
    ctx.session().insert("user", user).await?;
    if remember {
        ctx.session().set_expiry(REMEMBER).await?;
    }
    view(req, ctx).await
}

/// "Remember me": a persistent cookie for 30 days of inactivity.
const REMEMBER: SessionExpiry = SessionExpiry::Persistent(30 * 24 * 60 * 60);

/// `GET /expiry?mode=remember|browser|default`: this session's own expiry.
async fn expiry(req: Request, ctx: Ctx) -> Result<Response> {
    let url = req.url()?;
    let mode = url
        .query_pairs()
        .find(|(k, _)| k == "mode")
        .and_then(|(_, v)| match v.as_ref() {
            "remember" => Some(REMEMBER),
            "browser" => Some(SessionExpiry::BrowserSession),
            "default" => Some(SessionExpiry::Default),
            _ => None,
        });
    let Some(mode) = mode else {
        return Response::error("mode must be remember, browser or default\n", 400);
    };
    ctx.session().set_expiry(mode).await?;
    view(req, ctx).await
}

/// `GET /incr?key=NAME`: the counter under `key` (default `count`) plus one,
/// added by the store at commit (atomically with Upstash).
async fn incr(req: Request, ctx: Ctx) -> Result<Response> {
    let url = req.url()?;
    let key = url
        .query_pairs()
        .find(|(k, _)| k == "key")
        .map_or_else(|| String::from("count"), |(_, v)| v.into_owned());
    let ok = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Response::error("key must be 1-64 characters of A-Z a-z 0-9 - _\n", 400);
    }
    ctx.session().increment(&key, 1).await?;
    view(req, ctx).await
}

/// The store conformance suite against the store this worker uses, in the
/// real runtime: only when the var `E2E_CONFORMANCE` is "1" (the tests set it).
async fn conformance(_req: Request, ctx: Ctx) -> Result<Response> {
    if ctx
        .env
        .var("E2E_CONFORMANCE")
        .map(|v| v.to_string())
        .unwrap_or_default()
        != "1"
    {
        return Response::error("Not Found", 404);
    }
    use edge_session_worker::edge_session::testing::conformance;
    if ctx.data.store == "upstash" {
        let store = UpstashStore::from_env(&ctx.env)?;
        conformance::run(&store).await;
        conformance::atomic(&store).await;
        Response::ok("conformance ok: upstash (atomic: 100 of 100 concurrent increments)\n")
    } else {
        // KV has no atomic write: the step-by-step interleavings must pass;
        // concurrent increments are measured, not required.
        let store = KvSessionStore::from_env(&ctx.env, "SESSIONS")?;
        conformance::run(&store).await;
        conformance::interleavings(&store).await;
        let n = conformance::concurrent_increments(&store, 100).await;
        Response::ok(format!(
            "conformance ok: kv (concurrent increments kept: {n} of 100)\n"
        ))
    }
}

/// `?data=VALUE` (optional; default `session_data`), like the native demo.
fn data_param(req: &Request) -> Result<Option<String>> {
    let url = req.url()?;
    let Some(value) = url
        .query_pairs()
        .find(|(k, _)| k == "data")
        .map(|(_, v)| v.into_owned())
    else {
        return Ok(Some(String::from("session_data")));
    };
    let ok = (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    Ok(ok.then_some(value))
}

async fn setup(req: Request, ctx: Ctx) -> Result<Response> {
    let Some(data) = data_param(&req)? else {
        return Response::error("data must be 1-256 characters of A-Z a-z 0-9 - _\n", 400);
    };
    ctx.session().insert("data", data).await?;
    view(req, ctx).await
}

async fn view(_req: Request, ctx: Ctx) -> Result<Response> {
    let record = ctx.session().record().await?;
    Response::from_json(&serde_json::json!({ "session": record }))
}

async fn clear(_req: Request, ctx: Ctx) -> Result<Response> {
    ctx.session().clear().await?;
    Response::from_json(&serde_json::json!({ "session": {} }))
}
