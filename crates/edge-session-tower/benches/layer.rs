//! The tower layer's own cost per request, in process (no network, no
//! Redis): a request through `SessionLayer` over the memory store against
//! the same service without the layer. What the layer adds is what the
//! load benchmark's view pays above axum plus its one Redis command.
//!
//! `cargo bench -p edge-session-tower --bench layer`
#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use edge_session::testing::block_on_ready;
use edge_session::{MemoryStore, SessionConfig};
use edge_session_tower::{Session, SessionLayer};
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt, service_fn};

const SECRET: &[u8] = b"benchmark secret of at least thirty-two bytes";

fn request(cookie: Option<&str>) -> Request<()> {
    let mut builder = Request::builder().uri("/view_session");
    if let Some(cookie) = cookie {
        builder = builder.header(COOKIE, cookie);
    }
    builder.body(()).unwrap()
}

/// The handler: reads `data` (view), or increments `n` (changed).
async fn handler(req: Request<()>) -> Result<Response<String>, Infallible> {
    let Some(session) = req.extensions().get::<Session>() else {
        return Ok(Response::new(String::from("{\"session\":{}}")));
    };
    if req.uri().query() == Some("incr") {
        session.increment("n", 1).await.unwrap();
    }
    let data: Option<String> = session.get("data").await.unwrap();
    Ok(Response::new(format!(
        "{{\"session\":{{\"data\":{data:?}}}}}"
    )))
}

fn call<S>(service: &S, req: Request<()>) -> Response<String>
where
    S: Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone,
{
    block_on_ready(service.clone().oneshot(req)).unwrap()
}

fn main() {
    let config = SessionConfig::from_secret(SECRET).unwrap();
    let layer = SessionLayer::try_new(MemoryStore::new(), config).unwrap();
    let bare = service_fn(handler);
    let layered = layer.layer(service_fn(handler));
    let first = call(&layered, request(None));
    assert!(
        first.headers().get(SET_COOKIE).is_none(),
        "nothing written, no cookie"
    );
    // One session holding `data`, as the setup route leaves it.
    let make = layer
        .clone()
        .layer(service_fn(|req: Request<()>| async move {
            let session = req.extensions().get::<Session>().unwrap();
            session.insert("data", "session_data").await.unwrap();
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let created = call(&make, request(None));
    let cookie = created.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = format!("theme=dark; {}; lang=en", cookie.split(';').next().unwrap());

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("layer");
    group.bench_function("service_alone_view", |b| {
        b.iter(|| black_box(call(&bare, request(Some(&cookie)))))
    });
    group.bench_function("layer_view_untouched", |b| {
        b.iter(|| {
            let reply = call(&layered, request(Some(&cookie)));
            debug_assert!(reply.headers().get(SET_COOKIE).is_none());
            black_box(reply)
        })
    });
    let incr = |cookie: &str| {
        let mut req = request(Some(cookie));
        *req.uri_mut() = "/incr?incr".parse().unwrap();
        req
    };
    group.bench_function("layer_changed", |b| {
        b.iter(|| black_box(call(&layered, incr(&cookie))))
    });
    group.bench_function("layer_no_cookie", |b| {
        b.iter(|| black_box(call(&layered, request(None))))
    });
    group.finish();
    c.final_summary();
}
