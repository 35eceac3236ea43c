//! An Upstash-compatible Redis REST server for tests, backed by a real
//! redis-server (no Upstash emulator can be installed on these machines).
//!
//! `upstash-emulator --listen 127.0.0.1:PORT --redis redis://127.0.0.1:PORT --token TOKEN`
//!
//! What it serves, as Upstash documents its REST API:
//! * `POST /` with a JSON array command (`["SET","k","v","EX",60]`) →
//!   `{"result": ...}`; a Redis error → HTTP 400 `{"error": "ERR ..."}`;
//! * `POST /pipeline` with an array of commands → an array of
//!   `{"result": ...}` / `{"error": ...}`, one per command, in order;
//! * `POST /multi-exec` → the same, run as one MULTI/EXEC transaction;
//! * `Authorization: Bearer <token>` required: otherwise HTTP 401
//!   `{"error": "Unauthorized"}`;
//! * `Upstash-Encoding: base64`: bulk-string results base64-encoded (status
//!   replies such as "OK" stay plain), as the official client asks;
//! * an `upstash-sync-token` response header, as the official client reads;
//! * a body that is not a JSON command → HTTP 400 `{"error": ...}`.
//!
//! Redis being down → HTTP 500 `{"error": ...}`.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use redis::Value as Rv;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};
use tokio::net::TcpListener;

struct State {
    client: redis::Client,
    shared: MultiplexedConnection,
    token: String,
    sync: AtomicU64,
    /// Faults the tests inject (`POST /__faults`): a delay before every
    /// answer, and answering 503 to everything.
    delay_ms: AtomicU64,
    failing: std::sync::atomic::AtomicBool,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut redis_url, mut token) = (String::from("127.0.0.1:8079"), None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap(),
            "--redis" => redis_url = args.next(),
            "--token" => token = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    let client = redis::Client::open(redis_url.expect("--redis URL")).unwrap();
    let shared = client.get_multiplexed_async_connection().await.unwrap();
    let state = Arc::new(State {
        client,
        shared,
        token: token.expect("--token"),
        sync: AtomicU64::new(1),
        delay_ms: AtomicU64::new(0),
        failing: std::sync::atomic::AtomicBool::new(false),
    });
    let listener = TcpListener::bind(&listen).await.unwrap();
    println!(
        "upstash-emulator listening on http://{}",
        listener.local_addr().unwrap()
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(state: &State, status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    let sync = state.sync.fetch_add(1, Ordering::SeqCst).to_string();
    h.insert("upstash-sync-token", sync.parse().unwrap());
    r
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == state.token);
    if !authorized {
        return reply(
            state,
            StatusCode::UNAUTHORIZED,
            &json!({"error": "Unauthorized"}),
        );
    }
    if req.method() != Method::POST {
        return reply(
            state,
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "only POST is served"}),
        );
    }
    let base64 = req
        .headers()
        .get("upstash-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"base64"));
    let path = req.uri().path().trim_end_matches('/').to_string();
    if path == "/__faults" {
        // {"delay_ms": N, "fail": true|false}: for the fault tests.
        let body = req.into_body().collect().await.map(|b| b.to_bytes());
        let faults: Value = body
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        state
            .delay_ms
            .store(faults["delay_ms"].as_u64().unwrap_or(0), Ordering::SeqCst);
        state
            .failing
            .store(faults["fail"].as_bool().unwrap_or(false), Ordering::SeqCst);
        return reply(state, StatusCode::OK, &json!({"result": "OK"}));
    }
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if state.failing.load(Ordering::SeqCst) {
        return reply(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "Service Unavailable (injected)"}),
        );
    }
    let Ok(body) = req.into_body().collect().await else {
        return reply(
            state,
            StatusCode::BAD_REQUEST,
            &json!({"error": "unreadable body"}),
        );
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return reply(
            state,
            StatusCode::BAD_REQUEST,
            &json!({"error": "ERR failed to parse command"}),
        );
    };
    match path.as_str() {
        "" => {
            let Some(cmd) = command(&body) else {
                return reply(
                    state,
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "ERR failed to parse command"}),
                );
            };
            let mut conn = state.shared.clone();
            match cmd.query_async::<Rv>(&mut conn).await {
                Ok(v) => reply(
                    state,
                    StatusCode::OK,
                    &json!({"result": to_json(v, base64)}),
                ),
                Err(e) => redis_failure(state, &e),
            }
        }
        "/pipeline" | "/multi-exec" => {
            let Some(cmds) = body
                .as_array()
                .and_then(|a| a.iter().map(command).collect::<Option<Vec<_>>>())
            else {
                return reply(
                    state,
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "ERR failed to parse pipeline request"}),
                );
            };
            // /multi-exec gets a dedicated connection: MULTI/EXEC must not
            // interleave with other clients' commands on a shared one.
            let mut conn = if path == "/multi-exec" {
                match state.client.get_multiplexed_async_connection().await {
                    Ok(c) => c,
                    Err(e) => {
                        return reply(
                            state,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &json!({"error": error_text(&e)}),
                        );
                    }
                }
            } else {
                state.shared.clone()
            };
            let mut pipe = redis::pipe();
            if path == "/multi-exec" {
                pipe.atomic();
            }
            pipe.ignore_errors();
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            match pipe.query_async::<Vec<Rv>>(&mut conn).await {
                Ok(values) => {
                    let out = values
                        .into_iter()
                        .map(|v| match v {
                            Rv::ServerError(e) => json!({"error": server_error_text(&e)}),
                            v => json!({"result": to_json(v, base64)}),
                        })
                        .collect();
                    reply(state, StatusCode::OK, &Value::Array(out))
                }
                Err(e) => redis_failure(state, &e),
            }
        }
        _ => reply(state, StatusCode::NOT_FOUND, &json!({"error": "Not Found"})),
    }
}

/// A Redis error as Upstash answers it: 400 for an error reply of Redis
/// (`{"error": "ERR ..."}`), 500 when Redis itself cannot be reached.
fn redis_failure(state: &State, e: &redis::RedisError) -> Response<Full<Bytes>> {
    let status = if is_server_error(e) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    reply(state, status, &json!({"error": error_text(e)}))
}

/// A JSON array of strings / numbers / booleans as a Redis command.
fn command(v: &Value) -> Option<redis::Cmd> {
    let parts = v.as_array()?;
    let (name, args) = parts.split_first()?;
    let mut cmd = redis::cmd(name.as_str()?);
    for a in args {
        match a {
            Value::String(s) => cmd.arg(s.as_str()),
            Value::Number(n) => cmd.arg(n.to_string()),
            Value::Bool(b) => cmd.arg(if *b { "1" } else { "0" }),
            _ => return None,
        };
    }
    Some(cmd)
}

fn is_server_error(e: &redis::RedisError) -> bool {
    e.code().is_some() || e.kind() == redis::ErrorKind::Extension
}

fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

fn server_error_text(e: &redis::ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {d}", e.code()),
        None => e.code().to_string(),
    }
}

fn to_json(v: Rv, base64: bool) -> Value {
    match v {
        Rv::Nil => Value::Null,
        Rv::Int(i) => json!(i),
        Rv::BulkString(bytes) => {
            if base64 {
                Value::String(b64(&bytes))
            } else {
                Value::String(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
        Rv::SimpleString(s) => Value::String(s),
        Rv::Okay => Value::String("OK".into()),
        Rv::Array(items) | Rv::Set(items) => {
            Value::Array(items.into_iter().map(|i| to_json(i, base64)).collect())
        }
        Rv::Map(pairs) => Value::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [to_json(k, base64), to_json(v, base64)])
                .collect(),
        ),
        Rv::Double(d) => json!(d.to_string()),
        Rv::Boolean(b) => json!(i64::from(b)),
        Rv::VerbatimString { text, .. } => Value::String(text),
        Rv::ServerError(e) => json!({"error": server_error_text(&e)}),
        other => Value::String(format!("{other:?}")),
    }
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
