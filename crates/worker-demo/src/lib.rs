//! The worker demo: starlette-session's README routes on Cloudflare Workers
//! with edge-session. `npx wrangler dev` from the repository root serves it.
//!
//! Bindings and vars (wrangler.toml, `.dev.vars` locally):
//! * `SESSION_STORE`: `"do"` (the default: Durable Objects bound as
//!   `SESSIONS_DO`, class `SessionObject` exported below), `"kv"` (Workers
//!   KV bound as `SESSIONS`) or `"upstash"` (Upstash Redis over REST, with
//!   `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`);
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
    AnyStore, SessionContext, Sessions, WithSession, config_from_env, store_unavailable,
};
use worker::{Context, Env, Request, Response, Result, RouteContext, Router, event};

// The Durable Object class behind `SESSION_STORE = "do"` (wrangler.toml
// binds it as `SESSIONS_DO`).
edge_session_worker::session_durable_object!(SessionObject);

/// The page at `/`, shared with the native demo.
const INDEX: &str = include_str!("../../../assets/index.html");

/// The demo keeps no router data of its own (an app passes its own as
/// `Sessions::run`'s `data`; handlers reach it as `ctx.data`).
type Ctx = RouteContext<WithSession>;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let config = match config_from_env(&env) {
        Ok(config) => config,
        Err(e) => {
            // The reason goes to the log only; the page says nothing about
            // the secret (not even its length).
            worker::console_error!("session configuration: {e}");
            return Response::error("session configuration error; see the worker's log\n", 500);
        }
    };
    let kind = env
        .var("SESSION_STORE")
        .map_or_else(|_| String::from("do"), |v| v.to_string());
    // One store type for every choice: the session engine is compiled once.
    let store = match AnyStore::from_env(&env, &kind) {
        Ok(store) => store,
        Err(e) => return store_unavailable(e),
    };
    Sessions::new(store, config)?
        .run(req, env, (), routes)
        .await
}

fn routes(router: Router<'_, WithSession>) -> Router<'_, WithSession> {
    router
        .get("/", |_, _| Response::from_html(INDEX))
        .get_async("/setup_session", setup)
        .get_async("/view_session", view)
        .get_async("/clear_session", clear)
        .get_async("/login", login)
        .get_async("/incr", incr)
        .get_async("/expiry", expiry)
}

/// The raw value of query parameter `name`. No percent-decoding: every
/// parameter of the demo is a plain word (`[A-Za-z0-9_-]`) and anything
/// else is refused, so an encoded value fails its check as it should (this
/// keeps URL form-decoding out of the wasm).
fn param(req: &Request, name: &str) -> Result<Option<String>> {
    let url = req.inner().url();
    let query = url
        .split_once('?')
        .map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
    Ok(query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| value.to_string())
    }))
}

/// 1-`max` characters of `A-Z a-z 0-9 - _`.
fn is_word(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /login?user=NAME`: what a login does, a new session id (against
/// fixation) with the data kept, plus `session["user"]`.
async fn login(req: Request, ctx: Ctx) -> Result<Response> {
    let user = param(&req, "user")?
        .filter(|u| (1..=64).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric()));
    let Some(user) = user else {
        return Response::error("user must be 1-64 letters or digits\n", 400);
    };
    let remember = param(&req, "remember")?.as_deref() == Some("1");
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
    let mode = param(&req, "mode")?.and_then(|v| match v.as_str() {
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
    let key = param(&req, "key")?.unwrap_or_else(|| String::from("count"));
    if !is_word(&key, 64) {
        return Response::error("key must be 1-64 characters of A-Z a-z 0-9 - _\n", 400);
    }
    ctx.session().increment(&key, 1).await?;
    view(req, ctx).await
}

/// `?data=VALUE` (optional; default `session_data`), like the native demo.
fn data_param(req: &Request) -> Result<Option<String>> {
    Ok(match param(req, "data")? {
        None => Some(String::from("session_data")),
        Some(value) => is_word(&value, 256).then_some(value),
    })
}

async fn setup(req: Request, ctx: Ctx) -> Result<Response> {
    let Some(data) = data_param(&req)? else {
        return Response::error("data must be 1-256 characters of A-Z a-z 0-9 - _\n", 400);
    };
    ctx.session().insert("data", data).await?;
    view(req, ctx).await
}

async fn view(_req: Request, ctx: Ctx) -> Result<Response> {
    // `{"session": <record>}`, written directly (no intermediate Value).
    let record = ctx
        .session()
        .with(|s| serde_json::to_string(s.record()))
        .await?
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    json(format!("{{\"session\":{record}}}"))
}

async fn clear(_req: Request, ctx: Ctx) -> Result<Response> {
    ctx.session().clear().await?;
    json(String::from(r#"{"session":{}}"#))
}

/// A JSON response from its text.
fn json(body: String) -> Result<Response> {
    let mut response = Response::ok(body)?;
    response
        .headers_mut()
        .set("Content-Type", "application/json")?;
    Ok(response)
}
