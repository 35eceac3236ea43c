//! The native demo: starlette-session's README routes on a hyper 1.x server
//! with edge-session's tower layer.
//!
//! ```text
//! cargo run -p native-demo                         # in-memory store, http://127.0.0.1:8000
//! REDIS_URL=redis://127.0.0.1:6379 cargo run -p native-demo
//! ```
//!
//! Settings (environment, or `--listen ADDR`):
//! * `LISTEN_ADDR` (or `--listen`): the address to serve on (default `127.0.0.1:8000`);
//! * `REDIS_URL`: use Redis instead of the in-memory store;
//! * `SESSION_SECRET`: the signing key, at least 32 bytes (default: a random
//!   key for this process, with a warning: sessions end with it);
//! * `COOKIE_SECURE=false`: drop the `Secure` attribute (plain-HTTP testing on
//!   a host other than localhost; browsers accept `Secure` cookies from
//!   `http://127.0.0.1` and `http://localhost`).
//!
//! Routes: `GET /setup_session` (sets `session["data"] = "session_data"`, or
//! the value of an optional `?data=` parameter), `GET /view_session`,
//! `GET /clear_session`, `GET /login?user=NAME[&remember=1]` (a new session
//! id, data kept, plus `user`; `remember=1` makes this session's cookie
//! persistent for 30 days), `GET /expiry?mode=remember|browser|default`
//! (this session's own expiry), `GET /incr?key=NAME` (the integer under `key`, default
//! `count`, plus one, through the store's atomic increment), each answering
//! `{"session": {...}}`, and `GET /`.
//!
//! One log line per request on stdout; SIGINT/SIGTERM stop it gracefully.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edge_session_tower::edge_session::adapter::ErrorResponse;
use edge_session_tower::edge_session::{
    Error, Key, MemoryStore, SessionConfig, SessionExpiry, SessionStore,
};
use edge_session_tower::{RedisStore, Session, SessionLayer, error_response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, ServiceExt};

type Body = Full<Bytes>;

/// The page at `/`, shared with the worker demo.
const INDEX: &str = include_str!("../../assets/index.html");

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("native-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn listen_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = std::env::var("LISTEN_ADDR").ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => addr = args.next(),
            "-h" | "--help" => {
                println!(
                    "usage: native-demo [--listen ADDR]   (env: LISTEN_ADDR, REDIS_URL, SESSION_SECRET, COOKIE_SECURE)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let addr = addr.unwrap_or_else(|| String::from("127.0.0.1:8000"));
    addr.parse()
        .map_err(|e| format!("bad listen address {addr:?}: {e}"))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = listen_addr()?;
    let key = match std::env::var("SESSION_SECRET") {
        Ok(secret) => Key::try_from_bytes(secret.as_bytes())?,
        Err(_) => {
            eprintln!(
                "warning: SESSION_SECRET is not set; using an ephemeral random key (sessions end when the process does)"
            );
            Key::generate()?
        }
    };
    let secure = std::env::var("COOKIE_SECURE").map_or(true, |v| v != "false");
    let config = SessionConfig::new(key).with_secure(secure);

    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let store = RedisStore::connect(&url).await?;
            serve(addr, store, config, "redis").await
        }
        Err(_) => serve(addr, MemoryStore::new(), config, "memory").await,
    }
}

async fn serve<S>(
    addr: SocketAddr,
    store: S,
    config: SessionConfig,
    store_name: &str,
) -> Result<(), Box<dyn std::error::Error>>
where
    S: SessionStore + Send + Sync + 'static,
{
    let app = ServiceBuilder::new()
        .layer(SessionLayer::try_new(store, config)?)
        .service_fn(route);
    let listener = TcpListener::bind(addr).await?;
    println!(
        "native-demo listening on http://{} (store: {store_name})",
        listener.local_addr()?
    );

    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let logged = tower::service_fn(move |req: Request<Incoming>| {
                    let app = app.clone();
                    async move { log_request(app, req).await }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(logged));
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    request_log::flush();
    println!("native-demo: shutting down");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => eprintln!("native-demo: connections still open after 10 s"),
    }
    request_log::flush();
    Ok(())
}

async fn log_request<A>(app: A, req: Request<Incoming>) -> Result<Response<Body>, Infallible>
where
    A: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>,
{
    let start = Instant::now();
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let response = app.oneshot(req).await?;
    let micros = start.elapsed().as_micros();
    request_log::line(format_args!(
        "{method} {} {} {}.{:02}ms",
        uri.path(),
        response.status().as_u16(),
        micros / 1000,
        micros % 1000 / 10
    ));
    Ok(response)
}

/// One line per request on stdout, written in batches by a background
/// thread every few milliseconds: `println!` from every worker thread would
/// contend on the stdout lock and cost a syscall per request.
mod request_log {
    use std::fmt::Write as _;
    use std::io::Write as _;
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::Duration;

    static BUFFER: Mutex<String> = Mutex::new(String::new());
    static WRITER: OnceLock<()> = OnceLock::new();

    /// Queues one log line.
    pub(crate) fn line(args: std::fmt::Arguments<'_>) {
        WRITER.get_or_init(|| {
            std::thread::spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(5));
                    flush();
                }
            });
        });
        let mut buffer = BUFFER.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = buffer.write_fmt(args);
        buffer.push('\n');
    }

    /// Writes what is queued.
    pub(crate) fn flush() {
        let batch = std::mem::take(&mut *BUFFER.lock().unwrap_or_else(PoisonError::into_inner));
        if !batch.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(batch.as_bytes());
            let _ = out.flush();
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn route(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
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
    // Serialize in place: no copy of the session data.
    let body = session
        .with(|s| {
            let mut body = Vec::with_capacity(64);
            body.extend_from_slice(br#"{"session":"#);
            serde_json::to_writer(&mut body, s.record()).map(|()| {
                body.push(b'}');
                body
            })
        })
        .await??;
    Ok(json(body))
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
