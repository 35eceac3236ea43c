//! tower-sessions over Redis, as a user would write it: axum 0.8 on 2 tokio
//! worker threads, `SessionManagerLayer` with tower-sessions-redis-store
//! (fred) and a signed cookie. The routes of edge-session's `bench-axum`:
//! `/view_session`, `/setup_session`, `/incr`.
//!
//! `peer-tower-sessions --listen 127.0.0.1:PORT --redis redis://127.0.0.1:PORT`
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_sessions::cookie::Key;
use tower_sessions::{Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

const SECRET: &[u8] =
    b"benchmark secret of at least sixty-four bytes, as the cookie crate's Key wants";

/// The session's two keys as JSON (tower-sessions has no public way to list
/// a session's entries).
async fn body(session: &Session) -> impl IntoResponse + use<> {
    let mut body = String::from("{\"session\":{");
    let mut first = true;
    for key in ["data", "count"] {
        if let Some(value) = session.get::<serde_json::Value>(key).await.unwrap() {
            if !first {
                body.push(',');
            }
            first = false;
            body.push_str(&serde_json::to_string(key).unwrap());
            body.push(':');
            body.push_str(&value.to_string());
        }
    }
    body.push_str("}}");
    ([(CONTENT_TYPE, "application/json")], body)
}

async fn view(session: Session) -> impl IntoResponse {
    body(&session).await
}

async fn setup(session: Session) -> impl IntoResponse {
    session.insert("data", "session_data").await.unwrap();
    body(&session).await
}

async fn incr(session: Session) -> impl IntoResponse {
    let count = session.get::<i64>("count").await.unwrap().unwrap_or(0);
    session.insert("count", count + 1).await.unwrap();
    body(&session).await
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut redis) = (String::from("127.0.0.1:8004"), None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap(),
            "--redis" => redis = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let config = Config::from_url(&redis.expect("--redis URL")).unwrap();
            let pool = Pool::new(config, None, None, None, 2).unwrap();
            let _connection = pool.connect();
            pool.wait_for_connect().await.unwrap();
            let layer = SessionManagerLayer::new(RedisStore::new(pool))
                .with_secure(false)
                .with_signed(Key::from(SECRET));
            let app = Router::new()
                .route("/view_session", get(view))
                .route("/setup_session", get(setup))
                .route("/incr", get(incr))
                .layer(layer);
            let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
            println!("peer-tower-sessions listening on http://{listen}");
            axum::serve(listener, app).await.unwrap();
        });
}
