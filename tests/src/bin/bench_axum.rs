//! The load benchmark's measured server: edge-session's tower layer in a
//! compact axum 0.8 app on 2 tokio worker threads, no request log, the same
//! shape as the peers' benchmark servers. Routes: `GET /view_session`
//! (the session as JSON), `GET /setup_session` (sets `data`), `GET /incr`
//! (increments `count`), and `GET /plain` (the same JSON, outside the
//! session layer: axum's own cost). With Redis, two more routes outside the
//! session layer split the gap to the bare one-GET server: `GET /raw_get`
//! (one `GET` of the same JSON, as the bare server does) and
//! `GET /raw_hgetall` (one `HGETALL` of the record as the session store
//! keeps it, turned into the same JSON).
//!
//! `bench-axum --listen 127.0.0.1:PORT --redis redis://127.0.0.1:PORT [--cache]`
//! (`--cache`: the Redis store with its coherent local cache;
//! `--store memory`: the in-memory store).
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use edge_session_tower::edge_session::{MemoryStore, SessionConfig, SessionStore};
use edge_session_tower::redis_store::CacheConfig;
use edge_session_tower::{RedisStore, Session, SessionError, SessionLayer};
use redis::aio::ConnectionManager;
use tokio::net::TcpListener;

const SECRET: &[u8] = b"benchmark secret of at least thirty-two bytes";

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut redis_url, mut cache, mut memory) =
        (String::from("127.0.0.1:8002"), None, false, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap(),
            "--redis" => redis_url = args.next(),
            "--cache" => cache = true,
            "--memory" => memory = true,
            other => panic!("unknown argument {other}"),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let listener = TcpListener::bind(&listen).await.unwrap();
            println!(
                "bench-axum listening on http://{}",
                listener.local_addr().unwrap()
            );
            if memory {
                return serve(listener, MemoryStore::new(), None).await;
            }
            let url = redis_url.expect("--redis URL or --memory");
            let store = if cache {
                RedisStore::connect_with_cache(&url, CacheConfig::default())
                    .await
                    .unwrap()
            } else {
                RedisStore::connect(&url).await.unwrap()
            };
            let raw = raw_connection(&url).await;
            serve(listener, store.clone(), Some((store, raw))).await;
        });
}

const RAW_STRING: &str = "bench:raw-string";
const RAW_HASH: &str = "bench:raw-hash";

/// A connection of its own for the raw routes, and their two keys.
async fn raw_connection(url: &str) -> ConnectionManager {
    let client = redis::Client::open(url).unwrap();
    let mut conn = ConnectionManager::new(client).await.unwrap();
    let () = redis::pipe()
        .cmd("SET")
        .arg(RAW_STRING)
        .arg(r#"{"data":"session_data"}"#)
        .ignore()
        .cmd("HSET")
        .arg(RAW_HASH)
        .arg("data")
        .arg(r#""session_data""#)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    conn
}

async fn raw_get(mut conn: ConnectionManager) -> impl IntoResponse {
    let value: Option<String> = redis::cmd("GET")
        .arg(RAW_STRING)
        .query_async(&mut conn)
        .await
        .unwrap();
    let body = format!("{{\"session\":{}}}", value.unwrap_or_default());
    ([(CONTENT_TYPE, "application/json")], body)
}

async fn raw_hgetall(mut conn: ConnectionManager) -> impl IntoResponse {
    let fields: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(RAW_HASH)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut body = String::from("{\"session\":{");
    for (i, (key, json)) in fields.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&serde_json::to_string(key).unwrap());
        body.push(':');
        body.push_str(json);
    }
    body.push_str("}}");
    ([(CONTENT_TYPE, "application/json")], body)
}

async fn serve<S: SessionStore + Clone + Send + Sync + 'static>(
    listener: TcpListener,
    store: S,
    redis: Option<(RedisStore, ConnectionManager)>,
) {
    let config = SessionConfig::from_secret(SECRET).unwrap();
    let app = Router::new()
        .route("/view_session", get(view))
        .route("/setup_session", get(setup))
        .route("/incr", get(incr))
        .layer(SessionLayer::try_new(store, config).unwrap());
    // Outside the session layer: axum alone, and the cache's counters.
    let app = app.route(
        "/plain",
        get(|| async {
            (
                [(CONTENT_TYPE, "application/json")],
                r#"{"session":{"data":"session_data"}}"#,
            )
        }),
    );
    let app = match &redis {
        Some((_, raw)) => {
            let (get_conn, hgetall_conn) = (raw.clone(), raw.clone());
            app.route("/raw_get", get(move || raw_get(get_conn.clone())))
                .route(
                    "/raw_hgetall",
                    get(move || raw_hgetall(hgetall_conn.clone())),
                )
        }
        None => app,
    };
    let app = app.route(
        "/__cache_stats",
        get(move || async move {
            let stats = redis.as_ref().and_then(|(store, _)| store.cache_stats());
            stats.map_or_else(String::new, |s| {
                let lookups = (s.hits + s.misses + s.bypassed + s.joined).max(1);
                format!(
                    "hits {} misses {} bypassed {} joined {} after_write {} hit ratio {:.4} invalidations {} raced {} flushes {} entries {}\n",
                    s.hits,
                    s.misses,
                    s.bypassed,
                    s.joined,
                    s.after_write,
                    s.hits as f64 / lookups as f64,
                    s.invalidations,
                    s.raced,
                    s.flushes,
                    s.entries
                )
            })
        }),
    );
    axum::serve(listener, app).await.unwrap();
}

async fn view(session: Session) -> Result<impl IntoResponse, SessionError> {
    let body = session
        .with(|s| native_demo::session_body(s))
        .await?
        .map_err(edge_session_tower::edge_session::Error::store)?;
    Ok(([(CONTENT_TYPE, "application/json")], body))
}

async fn setup(session: Session) -> Result<impl IntoResponse, SessionError> {
    session.insert("data", "session_data").await?;
    view(session).await
}

async fn incr(session: Session) -> Result<impl IntoResponse, SessionError> {
    session.increment("count", 1).await?;
    view(session).await
}
