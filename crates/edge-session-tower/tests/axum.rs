//! The layer in an axum router: the session as an extractor, `?` on session
//! calls, cookies of the handler kept, store outages as 503.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use edge_session::testing::CountingStore;
use edge_session::{MemoryStore, SessionConfig};
use edge_session_tower::{Session, SessionError, SessionLayer};
use http_body_util::BodyExt;
use tower::ServiceExt;

type Store = Arc<CountingStore<MemoryStore>>;

async fn setup(session: Session) -> Result<impl IntoResponse, SessionError> {
    session.insert("data", "session_data").await?;
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, "theme=dark; Path=/".parse().unwrap());
    Ok((
        headers,
        axum::Json(serde_json::json!({ "session": session.record().await? })),
    ))
}

async fn view(session: Session) -> Result<axum::Json<serde_json::Value>, SessionError> {
    Ok(axum::Json(
        serde_json::json!({ "session": session.record().await? }),
    ))
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.cycle_id().await?;
    session.insert("user", 42).await?;
    Ok("welcome")
}

async fn clear(session: Session) -> Result<&'static str, SessionError> {
    session.clear().await?;
    Ok("bye")
}

async fn untouched() -> &'static str {
    "no session here"
}

fn app(store: Store) -> Router {
    let config = SessionConfig::from_secret(&[7; 32]).unwrap();
    Router::new()
        .route("/setup_session", get(setup))
        .route("/view_session", get(view))
        .route("/login", get(login))
        .route("/clear_session", get(clear))
        .route("/untouched", get(untouched))
        .layer(SessionLayer::try_new(store, config).unwrap())
}

async fn call(app: &Router, path: &str, cookie: Option<&str>) -> (StatusCode, Vec<String>, String) {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let res = app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let cookies = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let body =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, cookies, body)
}

fn session_pair(cookies: &[String]) -> String {
    cookies
        .iter()
        .find(|c| c.starts_with("session="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("a session cookie")
}

#[tokio::test]
async fn axum_router_flow() {
    let store: Store = Arc::new(CountingStore::new(MemoryStore::new()));
    let app = app(store.clone());

    let (status, cookies, body) = call(&app, "/setup_session", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"session":{"data":"session_data"}}"#);
    assert_eq!(
        cookies.len(),
        2,
        "the handler's cookie is kept beside the session's: {cookies:?}"
    );
    assert!(cookies.iter().any(|c| c.starts_with("theme=dark")));
    let cookie = session_pair(&cookies);

    store.reset();
    let (status, cookies, body) = call(&app, "/view_session", Some(&cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"session":{"data":"session_data"}}"#)
    );
    assert!(cookies.is_empty());
    assert_eq!((store.calls().reads(), store.calls().writes()), (1, 0));

    store.reset();
    let (_, cookies, _) = call(&app, "/untouched", Some(&cookie)).await;
    assert!(cookies.is_empty());
    assert_eq!(
        store.calls().total(),
        0,
        "no store call when the handler ignores the session"
    );

    let (_, cookies, _) = call(&app, "/login", Some(&cookie)).await;
    let new_cookie = session_pair(&cookies);
    assert_ne!(new_cookie, cookie, "login cycles the id");
    let (_, _, body) = call(&app, "/view_session", Some(&new_cookie)).await;
    assert_eq!(body, r#"{"session":{"data":"session_data","user":42}}"#);
    let (_, _, body) = call(&app, "/view_session", Some(&cookie)).await;
    assert_eq!(body, r#"{"session":{}}"#, "the pre-login id is dead");

    let (_, cookies, _) = call(&app, "/clear_session", Some(&new_cookie)).await;
    assert!(
        cookies[0].starts_with("session=; Path=/; Max-Age=0"),
        "{cookies:?}"
    );
    let (_, _, body) = call(&app, "/view_session", Some(&new_cookie)).await;
    assert_eq!(body, r#"{"session":{}}"#);
}

#[tokio::test]
async fn axum_store_outage_is_503_and_recovers() {
    let store: Store = Arc::new(CountingStore::new(MemoryStore::new()));
    let app = app(store.clone());
    let (_, cookies, _) = call(&app, "/setup_session", None).await;
    let cookie = session_pair(&cookies);

    store.set_failing(true);
    let (status, cookies, body) = call(&app, "/view_session", Some(&cookie)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("session store unavailable"), "{body}");
    assert!(cookies.is_empty());
    let (status, _, _) = call(&app, "/clear_session", Some(&cookie)).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a delete that failed is not a success"
    );
    let (status, _, _) = call(&app, "/untouched", Some(&cookie)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "requests that do not need the store still work"
    );

    store.set_failing(false);
    let (status, _, body) = call(&app, "/view_session", Some(&cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"session":{"data":"session_data"}}"#)
    );
}

#[tokio::test]
async fn axum_without_layer_is_a_clear_500() {
    let app: Router = Router::new().route("/view_session", get(view));
    let (status, _, body) = call(&app, "/view_session", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("SessionLayer"), "{body}");
}

/// Regression: `SessionLayer::with_path` used to run after validation, so
/// `"/app; Domain=attacker.example; SameSite=None"` went into every
/// Set-Cookie. Attributes are now set on the config and checked once.
#[test]
fn the_layer_keeps_its_secret_out_of_debug() {
    let secret = b"tower-layer-secret-must-not-leak-0123456789";
    let layer = SessionLayer::try_new(
        MemoryStore::new(),
        SessionConfig::from_secret(secret).unwrap(),
    )
    .unwrap();
    let shown = format!("{layer:?}");
    assert!(shown.contains("SessionLayer"), "{shown}");
    assert!(!shown.contains("must-not-leak"), "{shown}");
    let hex: String = secret.iter().take(8).map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&hex), "{shown}");
    assert!(!shown.contains("116, 111, 119"), "key bytes: {shown}");
}

#[test]
fn layer_refuses_attribute_injection_through_its_config() {
    let secret = b"a secret of at least thirty-two bytes";
    for config in [
        SessionConfig::from_secret(secret)
            .unwrap()
            .with_path("/app; Domain=attacker.example; SameSite=None"),
        SessionConfig::from_secret(secret)
            .unwrap()
            .with_domain(Some("example.com; Secure".into())),
        SessionConfig::from_secret(secret)
            .unwrap()
            .with_cookie_name("__Host-session")
            .with_path("/app"),
    ] {
        let err = SessionLayer::try_new(MemoryStore::new(), config).unwrap_err();
        assert!(
            matches!(err, edge_session::Error::InvalidConfig(_)),
            "{err}"
        );
    }
}

async fn cached(session: Session) -> Result<impl IntoResponse, SessionError> {
    session.insert("n", 1).await?;
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, "private, max-age=60".parse().unwrap());
    Ok((headers, "the handler's own Cache-Control"))
}

/// `Cache-Control: no-store` on every response that carries the session's
/// `Set-Cookie` (so no shared cache hands one user's cookie to another),
/// the handler's own `Cache-Control` kept, nothing added without a cookie,
/// and none when switched off.
#[tokio::test]
async fn responses_with_the_session_cookie_are_not_cached() {
    let store: Store = Arc::new(CountingStore::new(MemoryStore::new()));
    let app = app(store.clone());
    let get_cc = |app: Router, path: &'static str, cookie: Option<String>| async move {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let res = app
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let cc = res
            .headers()
            .get(CACHE_CONTROL)
            .map(|v| v.to_str().unwrap().to_string());
        let set: Vec<String> = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        (cc, set)
    };
    let (cc, set) = get_cc(app.clone(), "/setup_session", None).await;
    assert_eq!(cc.as_deref(), Some("no-store"), "{set:?}");
    let cookie = session_pair(&set);
    // A view that changes nothing: no cookie, no header.
    let (cc, set) = get_cc(app.clone(), "/view_session", Some(cookie.clone())).await;
    assert!(set.is_empty());
    assert_eq!(cc, None);
    // Logout removes the cookie: also not cacheable.
    let (cc, _) = get_cc(app.clone(), "/clear_session", Some(cookie)).await;
    assert_eq!(cc.as_deref(), Some("no-store"));
    // The handler's own Cache-Control stands.
    let with_cached = Router::new().route("/cached", get(cached)).layer(
        SessionLayer::try_new(
            MemoryStore::new(),
            SessionConfig::from_secret(&[7; 32]).unwrap(),
        )
        .unwrap(),
    );
    let (cc, set) = get_cc(with_cached, "/cached", None).await;
    assert!(!set.is_empty());
    assert_eq!(cc.as_deref(), Some("private, max-age=60"));
    // Switched off in the config.
    let off = Router::new().route("/setup_session", get(setup)).layer(
        SessionLayer::try_new(
            MemoryStore::new(),
            SessionConfig::from_secret(&[7; 32])
                .unwrap()
                .with_no_store_on_set_cookie(false),
        )
        .unwrap(),
    );
    let (cc, set) = get_cc(off, "/setup_session", None).await;
    assert!(!set.is_empty());
    assert_eq!(cc, None);
}
