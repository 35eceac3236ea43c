//! The load benchmark's baseline: a bare hyper 1.x server that does the
//! fewest Redis commands a session request could need and nothing else (no
//! cookies, no signing, no parsing of what Redis returns):
//! `GET /view_session` -> one `GET` of the session's JSON,
//! `GET /new_session` -> one `SET ... EX` of a key never written before
//! (what any new session costs Redis: a new key, with its TTL),
//! `GET /setup_session` -> one `SET ... EX` of one fixed key (an overwrite:
//! the new-session baseline before 2026-11-28, kept to compare),
//! `GET /incr` -> one `GET` then one `SET ... EX` (a read-modify-write with
//! no atomicity: what a session write costs at the least),
//! `GET /static` -> the same JSON answer with no Redis at all (the HTTP
//! ceiling of this machine).
//!
//! `bare-redis-server --listen 127.0.0.1:PORT --redis redis://127.0.0.1:PORT`
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use redis::aio::ConnectionManager;
use tokio::net::TcpListener;

const KEY: &str = "session:bare-benchmark-baseline";
const COUNTER_KEY: &str = "session:bare-benchmark-counter";
const VALUE: &str = r#"{"data":"session_data"}"#;
/// The number in the next new key (`session:bare-new-<n>`), starting from
/// the clock so a restarted server writes new keys too.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut redis_url) = (String::from("127.0.0.1:8001"), None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap(),
            "--redis" => redis_url = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    NEXT_KEY.store(u64::try_from(start).unwrap_or(0), Ordering::Relaxed);
    let client = redis::Client::open(redis_url.expect("--redis URL")).unwrap();
    let mut conn = ConnectionManager::new(client).await.unwrap();
    let () = redis::cmd("SET")
        .arg(KEY)
        .arg(VALUE)
        .query_async(&mut conn)
        .await
        .unwrap();
    let listener = TcpListener::bind(&listen).await.unwrap();
    println!(
        "bare-redis-server listening on http://{}",
        listener.local_addr().unwrap()
    );
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let conn = conn.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut conn = conn.clone();
                async move { Ok::<_, Infallible>(handle(&mut conn, req.uri().path()).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(conn: &mut ConnectionManager, path: &str) -> Response<Full<Bytes>> {
    let result: redis::RedisResult<String> = match path {
        "/static" => Ok(String::from(VALUE)),
        "/view_session" => redis::cmd("GET")
            .arg(KEY)
            .query_async::<Option<String>>(conn)
            .await
            .map(Option::unwrap_or_default),
        "/incr" => {
            let read = redis::cmd("GET")
                .arg(COUNTER_KEY)
                .query_async::<Option<i64>>(&mut *conn)
                .await;
            match read {
                Ok(n) => {
                    let n = n.unwrap_or(0) + 1;
                    set_ex(conn, COUNTER_KEY, n)
                        .await
                        .map(|()| format!("{{\"count\":{n}}}"))
                }
                Err(e) => Err(e),
            }
        }
        "/new_session" => {
            let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
            set_ex(conn, &format!("session:bare-new-{n}"), VALUE)
                .await
                .map(|()| String::from(VALUE))
        }
        "/setup_session" => set_ex(conn, KEY, VALUE).await.map(|()| String::from(VALUE)),
        _ => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        }
    };
    match result {
        Ok(data) => {
            let mut r = Response::new(Full::new(Bytes::from(format!("{{\"session\":{data}}}"))));
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }
        Err(_) => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"redis error\n")));
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r
        }
    }
}

/// One `SET key value EX <14 days>`: the bare server's only kind of write.
async fn set_ex(
    conn: &mut ConnectionManager,
    key: &str,
    value: impl redis::ToRedisArgs,
) -> redis::RedisResult<()> {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(1_209_600)
        .query_async(conn)
        .await
}
