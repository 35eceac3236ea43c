//! The native demo's application: starlette-session's README routes behind
//! edge-session's tower layer, as a library so the same app runs in-process
//! under the end-to-end suite (`route_tests!`) and in the `native-demo`
//! binary (which adds the server, the request log and the settings).
//!
//! Routes: `GET /setup_session` (sets `session["data"] = "session_data"`, or
//! the value of an optional `?data=` parameter), `GET /view_session`,
//! `GET /clear_session`, `GET /login?user=NAME[&remember=1]` (a new session
//! id, data kept, plus `user`; `remember=1` makes this session's cookie
//! persistent for 30 days), `GET /expiry?mode=remember|browser|default`
//! (this session's own expiry), `GET /incr?key=NAME` (the integer under `key`, default
//! `count`, plus one, through the store's atomic increment), each answering
//! `{"session": {...}}`, and `GET /`.

use std::convert::Infallible;

use bytes::Bytes;
use edge_session_tower::edge_session::adapter::ErrorResponse;
use edge_session_tower::edge_session::{
    Error, SessionConfig, SessionData, SessionExpiry, SessionStore,
};
use edge_session_tower::{Session, SessionLayer, SessionService, error_response};
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tower::Layer;
use tower::util::ServiceFn;

/// The response body of every route.
pub type Body = Full<Bytes>;

/// The page at `/`, shared with the worker demo.
const INDEX: &str = include_str!("../../assets/index.html");

/// The routes as a service (what [`app`] wraps in the session layer).
pub type Routes<B> = ServiceFn<fn(Request<B>) -> RouteFuture>;

/// What a route answers.
pub type RouteFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// The demo app over `store`: the routes behind the session layer. Fails only
/// if `config` is invalid.
pub fn app<S, B>(store: S, config: SessionConfig) -> Result<SessionService<Routes<B>, S>, Error>
where
    S: SessionStore + Send + Sync + 'static,
    B: Send + 'static,
{
    let layer = SessionLayer::try_new(store, config)?;
    let routes: fn(Request<B>) -> RouteFuture = |req| Box::pin(route(req));
    Ok(layer.layer(tower::service_fn(routes)))
}

/// The routes (the session comes from the layer in the request's extensions).
pub async fn route<B: Send + 'static>(req: Request<B>) -> Result<Response<Body>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"));
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return Ok(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no session layer\n",
        ));
    };
    let result = match req.uri().path() {
        "/" => {
            let mut response = Response::new(Body::from(INDEX));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return Ok(response);
        }
        "/setup_session" => match data_param(req.uri().query()) {
            Ok(data) => setup(&session, data).await,
            Err(()) => {
                return Ok(text(
                    StatusCode::BAD_REQUEST,
                    "data must be 1-256 characters of A-Z a-z 0-9 - _\n",
                ));
            }
        },
        "/view_session" => view(&session).await,
        "/expiry" => match query_value(req.uri().query(), "mode").and_then(expiry_mode) {
            Some(mode) => expiry(&session, mode).await,
            None => {
                return Ok(text(
                    StatusCode::BAD_REQUEST,
                    "mode must be remember, browser or default\n",
                ));
            }
        },
        "/incr" => match key_param(req.uri().query()) {
            Some(key) => incr(&session, key).await,
            None => {
                return Ok(text(
                    StatusCode::BAD_REQUEST,
                    "key must be 1-64 characters of A-Z a-z 0-9 - _\n",
                ));
            }
        },
        "/clear_session" => clear(&session).await,
        "/login" => {
            let user = req
                .uri()
                .query()
                .into_iter()
                .flat_map(|q| q.split('&'))
                .find_map(|pair| pair.strip_prefix("user="))
                .filter(|u| {
                    (1..=64).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            let remember = query_value(req.uri().query(), "remember") == Some("1");
            match user {
                Some(user) => login(&session, user, remember).await,
                None => {
                    return Ok(text(
                        StatusCode::BAD_REQUEST,
                        "user must be 1-64 letters or digits\n",
                    ));
                }
            }
        }
        _ => return Ok(text(StatusCode::NOT_FOUND, "not found\n")),
    };
    // A session error answers as the layer does (503 for the store, 500
    // otherwise: one mapping, in the core).
    Ok(result.unwrap_or_else(|e| error_response(&ErrorResponse::new(e))))
}

/// `?data=VALUE` (optional; default `session_data`).
fn data_param(query: Option<&str>) -> Result<&str, ()> {
    let Some(value) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("data="))
    else {
        return Ok("session_data");
    };
    let ok = (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(value) } else { Err(()) }
}

/// `?key=NAME` (optional; default `count`).
fn key_param(query: Option<&str>) -> Option<&str> {
    let key = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("key="))
        .unwrap_or("count");
    let ok = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(key)
}

/// `GET /incr`: the counter under `key` plus one, added by the store
/// atomically at commit (concurrent requests add up exactly); the answer
/// shows this request's local view.
async fn incr(session: &Session, key: &str) -> Result<Response<Body>, Error> {
    session.increment(key, 1).await?;
    view(session).await
}

async fn setup(session: &Session, data: &str) -> Result<Response<Body>, Error> {
    session.insert("data", data).await?;
    view(session).await
}

async fn view(session: &Session) -> Result<Response<Body>, Error> {
    let body = session.with(|s| session_body(s)).await??;
    Ok(json(body))
}

/// Every route's answer, `{"session": {...}}`, serialized in place (no copy
/// of the session data); the load benchmark's axum app answers the same.
///
/// # Errors
/// A value serde_json cannot write.
pub fn session_body(data: &SessionData) -> serde_json::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(br#"{"session":"#);
    serde_json::to_writer(&mut body, data.record())?;
    body.push(b'}');
    Ok(body)
}

/// "Remember me": a persistent cookie for 30 days of inactivity.
const REMEMBER: SessionExpiry = SessionExpiry::Persistent(30 * 24 * 60 * 60);

/// What a login does: a new session id (against fixation), data kept;
/// with `remember=1`, a persistent cookie for this session only.
async fn login(session: &Session, user: &str, remember: bool) -> Result<Response<Body>, Error> {
    session.cycle_id().await?;
    session.insert("user", user).await?;
    if remember {
        session.set_expiry(REMEMBER).await?;
    }
    view(session).await
}

/// `?mode=remember|browser|default`.
fn expiry_mode(mode: &str) -> Option<SessionExpiry> {
    match mode {
        "remember" => Some(REMEMBER),
        "browser" => Some(SessionExpiry::BrowserSession),
        "default" => Some(SessionExpiry::Default),
        _ => None,
    }
}

/// `GET /expiry?mode=...`: this session's own expiry from now on.
async fn expiry(session: &Session, mode: SessionExpiry) -> Result<Response<Body>, Error> {
    session.set_expiry(mode).await?;
    view(session).await
}

/// The value of `name` in a query string.
fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

async fn clear(session: &Session) -> Result<Response<Body>, Error> {
    session.clear().await?;
    Ok(json(br#"{"session":{}}"#.to_vec()))
}

fn json(body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
