//! A real browser: headless Chromium driven over WebDriver (chromedriver from
//! Debian, the fantoccini client) walks setup -> view -> login -> view -> clear -> view
//! against the native demo and keeps / drops the cookie as a user's would.
#![allow(clippy::unwrap_used, missing_docs)]

use e2e::browser::Browser;
use e2e::demo::{DemoOptions, NativeDemo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_keeps_and_drops_the_session_cookie() {
    let demo = NativeDemo::start(&DemoOptions::memory());
    let browser = Browser::start().await;
    let base = demo.base();

    e2e::browser::session_flow(&browser, &base).await;

    let log = demo.stdout_when(|l| l.matches("GET /view_session 200").count() >= 4);
    assert_eq!(log.matches("GET /view_session 200").count(), 4, "{log}");
    assert_eq!(log.matches("GET /login 200").count(), 1, "{log}");
    browser.client.close().await.unwrap();
}
