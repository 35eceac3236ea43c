//! A small HTTP/1.1 client for tests, with a cookie jar.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `json()["session"]`.
    pub fn session(&self) -> Value {
        self.json()["session"].clone()
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The `Set-Cookie` for cookie `name`, if exactly one; panics on several.
    pub fn set_cookie_for(&self, name: &str) -> Option<SetCookie> {
        let mut found: Vec<SetCookie> = self
            .set_cookies()
            .iter()
            .map(|s| SetCookie::parse(s))
            .filter(|c| c.name == name)
            .collect();
        assert!(found.len() <= 1, "several Set-Cookie for {name}: {found:?}");
        found.pop()
    }
}

/// A parsed `Set-Cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// Cookie name.
    pub name: String,
    /// Cookie value.
    pub value: String,
    /// Attributes, lower-cased names, in order (`("path", "/")`, `("secure", "")`).
    pub attrs: Vec<(String, String)>,
}

impl SetCookie {
    /// Parses a `Set-Cookie` header value.
    pub fn parse(s: &str) -> Self {
        let mut parts = s.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .unwrap_or("")
            .split_once('=')
            .unwrap_or(("", ""));
        let attrs = parts
            .map(|a| {
                let (k, v) = a.split_once('=').unwrap_or((a, ""));
                (k.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        SetCookie {
            name: name.to_string(),
            value: value.to_string(),
            attrs,
        }
    }

    /// The value of attribute `name` (lower case), `Some("")` for flags.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True if this cookie removes the cookie (`Max-Age=0` or an empty value).
    pub fn is_removal(&self) -> bool {
        self.attr("max-age") == Some("0")
    }

    /// `name=value`.
    pub fn pair(&self) -> String {
        format!("{}={}", self.name, self.value)
    }
}

/// An app called in-process, without a socket (as tower-sessions' tests call
/// their router with `oneshot`).
pub type InProcessApp =
    BoxCloneSyncService<Request<Empty<Bytes>>, Response<Full<Bytes>>, Infallible>;

/// How a [`Client`] reaches the app.
#[derive(Clone)]
enum Transport {
    /// HTTP/1.1 over loopback TCP to a process.
    Tcp(Box<HyperClient<HttpConnector, Empty<Bytes>>>),
    /// A direct call of the service.
    InProcess(InProcessApp),
}

/// A client for one base URL (`http://127.0.0.1:PORT`), or for an app in
/// this process.
#[derive(Clone)]
pub struct Client {
    inner: Transport,
    base: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

impl Client {
    /// A client for `base`.
    pub fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Client {
            inner: Transport::Tcp(Box::new(inner)),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// A client that calls `app` directly (base `http://in-process`).
    pub fn in_process(app: InProcessApp) -> Self {
        Client {
            inner: Transport::InProcess(app),
            base: "http://in-process".into(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET base+path` with an optional raw `Cookie` header.
    pub async fn get(&self, path: &str, cookie: Option<&[u8]>) -> Reply {
        self.get_with(path, cookie.into_iter().collect()).await
    }

    /// `GET base+path` with several raw `Cookie` headers.
    pub async fn get_with(&self, path: &str, cookies: Vec<&[u8]>) -> Reply {
        let mut req = Request::get(format!("{}{path}", self.base));
        for c in cookies {
            req = req.header(
                COOKIE,
                HeaderValue::from_bytes(c).expect("invalid header bytes"),
            );
        }
        let req = req.body(Empty::new()).unwrap();
        let (status, headers, body) = match &self.inner {
            Transport::Tcp(client) => {
                let res = tokio::time::timeout(Duration::from_secs(30), client.request(req))
                    .await
                    .unwrap_or_else(|_| panic!("GET {path}: no answer in 30 s"))
                    .unwrap_or_else(|e| panic!("GET {path} failed: {e:?}"));
                let (parts, body) = res.into_parts();
                (
                    parts.status,
                    parts.headers,
                    body.collect().await.unwrap().to_bytes(),
                )
            }
            Transport::InProcess(app) => {
                let res = tokio::time::timeout(Duration::from_secs(30), app.clone().oneshot(req))
                    .await
                    .unwrap_or_else(|_| panic!("GET {path}: no answer in 30 s"))
                    .unwrap_or_else(|e| match e {});
                let (parts, body) = res.into_parts();
                (
                    parts.status,
                    parts.headers,
                    body.collect().await.unwrap().to_bytes(),
                )
            }
        };
        let status = status.as_u16();
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// A browser-like cookie jar: keeps what `Set-Cookie` sets, drops removals.
#[derive(Debug, Default, Clone)]
pub struct Jar {
    cookies: BTreeMap<String, String>,
}

impl Jar {
    /// An empty jar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a reply's `Set-Cookie` headers.
    pub fn update(&mut self, reply: &Reply) {
        for sc in reply.set_cookies() {
            let c = SetCookie::parse(&sc);
            if c.is_removal() {
                self.cookies.remove(&c.name);
            } else {
                self.cookies.insert(c.name, c.value);
            }
        }
    }

    /// The value of cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// The `Cookie` header, if any cookie is held.
    pub fn header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// GET with the jar's cookies, then keeps the answer's cookies.
    pub async fn fetch(&mut self, client: &Client, path: &str) -> Reply {
        let header = self.header();
        let reply = client.get(path, header.as_deref().map(str::as_bytes)).await;
        self.update(&reply);
        reply
    }
}
