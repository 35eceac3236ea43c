//! The whole HTTP path on arbitrary bytes: request headers (`Cookie` and
//! others, split as the input says) and a route through edge-session's
//! tower layer over the memory store, then the same again with whatever
//! cookie the first answer set. Never a panic, never a 5xx.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;

use edge_session::testing::block_on_ready;
use edge_session::{MemoryStore, SessionConfig};
use edge_session_tower::{Session, SessionLayer, SessionService};
use http::header::{COOKIE, HeaderName, HeaderValue, SET_COOKIE};
use http::{Request, Response};
use libfuzzer_sys::fuzz_target;
use tower::util::{ServiceFn, service_fn};
use tower::{Layer, Service};

type Handler = fn(Request<()>) -> std::future::Ready<Result<Response<String>, Infallible>>;
type App = SessionService<ServiceFn<Handler>, MemoryStore>;

/// The routes: what the first byte of the path picks, all through the
/// session's data calls.
fn route(req: Request<()>) -> std::future::Ready<Result<Response<String>, Infallible>> {
    let session = req.extensions().get::<Session>().cloned();
    let op = req.uri().path().as_bytes().get(1).copied().unwrap_or(0);
    std::future::ready(Ok(Response::new(match session {
        None => String::from("no session"),
        Some(session) => {
            let r = match op % 6 {
                0 => block_on_ready(session.record()).map(|r| r.len().to_string()),
                1 => block_on_ready(session.insert("k", "v")).map(|()| String::new()),
                2 => block_on_ready(session.increment("n", 1)).map(|n| n.to_string()),
                3 => block_on_ready(session.clear()).map(|()| String::new()),
                4 => block_on_ready(session.cycle_id()).map(|()| String::new()),
                _ => block_on_ready(session.remove_value("k")).map(|_| String::new()),
            };
            // A session error is the layer's to answer; the handler says ok.
            r.unwrap_or_default()
        }
    })))
}

fn app() -> App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let config = SessionConfig::from_secret(&[0x42; 32]).unwrap();
        let layer = SessionLayer::try_new(MemoryStore::new().with_max_entries(10_000), config)
            .unwrap();
        layer.layer(service_fn(route as Handler))
    })
    .clone()
}

fn call(path: &str, headers: &[(HeaderName, HeaderValue)]) -> Response<String> {
    let mut req = Request::builder().uri(path);
    for (name, value) in headers {
        req = req.header(name.clone(), value.clone());
    }
    let Ok(req) = req.body(()) else {
        return Response::new(String::new());
    };
    let response = match block_on_ready(app().call(req)) {
        Ok(r) => r,
        Err(e) => match e {},
    };
    assert!(
        response.status().as_u16() < 500,
        "{} for {path} {headers:?}",
        response.status()
    );
    response
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, rest)) = data.split_first() else {
        return;
    };
    let path = format!("/{}", char::from(b'a' + op % 6));
    // Split the rest into header values at 0x00 bytes; every other one is a
    // Cookie header, the others go under assorted names.
    let names = [COOKIE, HeaderName::from_static("x-forwarded-for"), http::header::HOST];
    let headers: Vec<(HeaderName, HeaderValue)> = rest
        .split(|&b| b == 0)
        .enumerate()
        .filter_map(|(i, part)| {
            let name = if i % 2 == 0 { COOKIE } else { names[i % names.len()].clone() };
            HeaderValue::from_bytes(part).ok().map(|v| (name, v))
        })
        .collect();
    let first = call(&path, &headers);
    // Whatever cookie came back, sent with the fuzzed ones.
    let mut again = headers.clone();
    for set in first.headers().get_all(SET_COOKIE) {
        if let Some(pair) = set.to_str().ok().and_then(|s| s.split(';').next())
            && let Ok(v) = HeaderValue::from_str(pair)
        {
            again.insert(0, (COOKIE, v));
        }
    }
    for op in 0..6u8 {
        call(&format!("/{}", char::from(b'a' + op)), &again);
    }
});
