//! The load benchmark's measured server: edge-session's tower layer in a
//! compact axum 0.8 app on 2 tokio worker threads, no request log, the same
//! shape as the peers' benchmark servers. Routes: `GET /view_session`
//! (the session as JSON), `GET /setup_session` (sets `data`), `GET /incr`
//! (increments `count`), and `GET /plain` (the same JSON, outside the
//! session layer: axum's own cost).
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
            serve(listener, store.clone(), Some(store)).await;
        });
}

async fn serve<S: SessionStore + Clone + Send + Sync + 'static>(
    listener: TcpListener,
    store: S,
    redis: Option<RedisStore>,
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
    let app = app.route(
        "/__cache_stats",
        get(move || async move {
            let stats = redis.as_ref().and_then(RedisStore::cache_stats);
            stats.map_or_else(String::new, |s| {
                let lookups = (s.hits + s.misses + s.bypassed).max(1);
                format!(
                    "hits {} misses {} bypassed {} after_write {} hit ratio {:.4} invalidations {} raced {} flushes {} entries {}\n",
                    s.hits,
                    s.misses,
                    s.bypassed,
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
