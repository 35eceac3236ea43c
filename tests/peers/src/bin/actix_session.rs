//! actix-session over Redis, as a user would write it: actix-web 4 with 2
//! workers (one single-threaded runtime each), `SessionMiddleware` with
//! `RedisSessionStore` and a signed cookie (edge-session's cookie is signed,
//! not encrypted; actix-session's default is encrypted). The routes of
//! edge-session's `bench-axum`: `/view_session`, `/setup_session`, `/incr`,
//! and, outside the session middleware, `/plain` (actix-web alone) and
//! `/raw_get` (one Redis `GET` through redis-rs's `ConnectionManager`, as
//! the bare server does): where actix-session's cost goes.
//!
//! `peer-actix-session --listen 127.0.0.1:PORT --redis redis://127.0.0.1:PORT`
#![allow(clippy::unwrap_used)]

use actix_session::config::CookieContentSecurity;
use actix_session::storage::RedisSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};
use redis::aio::ConnectionManager;

const SECRET: &[u8] = b"benchmark secret of at least sixty-four bytes, as actix-web's Key wants";

fn body(session: &Session) -> HttpResponse {
    // Values are kept as JSON text, as edge-session's Redis hash keeps them.
    let entries = session.entries();
    let mut body = String::from("{\"session\":{");
    for (i, (key, json)) in entries.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&serde_json::to_string(key).unwrap());
        body.push(':');
        body.push_str(json);
    }
    body.push_str("}}");
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

const RAW_STRING: &str = "bench:raw-string";
const PLAIN: &str = r#"{"session":{"data":"session_data"}}"#;

async fn plain() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(PLAIN)
}

async fn raw_get(conn: web::Data<ConnectionManager>) -> HttpResponse {
    let mut conn = conn.get_ref().clone();
    let value: Option<String> = redis::cmd("GET")
        .arg(RAW_STRING)
        .query_async(&mut conn)
        .await
        .unwrap();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!("{{\"session\":{}}}", value.unwrap_or_default()))
}

async fn view(session: Session) -> HttpResponse {
    body(&session)
}

async fn setup(session: Session) -> HttpResponse {
    session.insert("data", "session_data").unwrap();
    body(&session)
}

async fn incr(session: Session) -> HttpResponse {
    let count = session.get::<i64>("count").unwrap().unwrap_or(0);
    session.insert("count", count + 1).unwrap();
    body(&session)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut redis) = (String::from("127.0.0.1:8003"), None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap(),
            "--redis" => redis = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    let url = redis.expect("--redis URL");
    let store = RedisSessionStore::new(url.as_str()).await.unwrap();
    let mut raw = ConnectionManager::new(redis::Client::open(url).unwrap())
        .await
        .unwrap();
    let () = redis::cmd("SET")
        .arg(RAW_STRING)
        .arg(r#"{"data":"session_data"}"#)
        .query_async(&mut raw)
        .await
        .unwrap();
    let raw = web::Data::new(raw);
    let key = Key::from(SECRET);
    let server = HttpServer::new(move || {
        let sessions = web::scope("")
            .wrap(
                SessionMiddleware::builder(store.clone(), key.clone())
                    .cookie_secure(false)
                    .cookie_content_security(CookieContentSecurity::Signed)
                    .build(),
            )
            .route("/view_session", web::get().to(view))
            .route("/setup_session", web::get().to(setup))
            .route("/incr", web::get().to(incr));
        App::new()
            .app_data(raw.clone())
            .route("/plain", web::get().to(plain))
            .route("/raw_get", web::get().to(raw_get))
            .service(sessions)
    })
    .workers(2)
    .bind(&listen)?;
    println!("peer-actix-session listening on http://{listen}");
    server.run().await
}
