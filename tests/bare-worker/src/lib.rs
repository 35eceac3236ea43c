//! The wasm size baseline for the worker demo: the same routes with a
//! workers-rs Router, Workers KV, a cookie read and a `fetch`, but no
//! sessions (no signing, no ids, no lifecycle). Built with the same profile
//! by `scripts/bench-worker-size.sh`.
#![cfg(target_arch = "wasm32")]

use worker::{Context, Env, Fetch, Method, Request, Response, Result, RouteContext, Router, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Router::new()
        .get_async("/setup_session", setup)
        .get_async("/view_session", view)
        .get_async("/clear_session", clear)
        .get_async("/upstream", upstream)
        .run(req, env)
        .await
}

fn cookie(req: &Request) -> Option<String> {
    let header = req.headers().get("Cookie").ok().flatten()?;
    header
        .split(';')
        .find_map(|c| c.trim().strip_prefix("session=").map(str::to_string))
}

async fn setup(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let kv = ctx.kv("SESSIONS")?;
    kv.put("session:bare", r#"{"data":"session_data"}"#)?
        .expiration_ttl(1_209_600)
        .execute()
        .await?;
    let mut response =
        Response::from_json(&serde_json::json!({"session": {"data": "session_data"}}))?;
    response.headers_mut().append(
        "Set-Cookie",
        "session=bare; Path=/; HttpOnly; Secure; SameSite=Lax",
    )?;
    Ok(response)
}

async fn view(req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let Some(id) = cookie(&req) else {
        return Response::from_json(&serde_json::json!({"session": {}}));
    };
    let kv = ctx.kv("SESSIONS")?;
    let data = kv.get(&format!("session:{id}")).text().await?;
    let data: serde_json::Value = data
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    Response::from_json(&serde_json::json!({ "session": data }))
}

async fn clear(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    ctx.kv("SESSIONS")?.delete("session:bare").await?;
    Response::from_json(&serde_json::json!({"session": {}}))
}

async fn upstream(_req: Request, _ctx: RouteContext<()>) -> Result<Response> {
    // A string URL, as the Upstash store fetches (no `url::Url` parse).
    let request = Request::new("http://127.0.0.1:9/", Method::Get)?;
    let mut r = Fetch::Request(request).send().await?;
    Response::ok(r.text().await?)
}
