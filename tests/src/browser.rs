//! Headless Chromium over WebDriver (Debian's chromedriver, fantoccini).

use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::procs::{Proc, TempDir, free_port, wait_for_port};

/// chromedriver on a free port plus a fantoccini session in headless Chromium.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: Proc,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session.
    pub async fn start() -> Self {
        let port = free_port();
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = Proc::spawn_group(
            "chromedriver",
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        assert!(
            wait_for_port(port, Duration::from_secs(20)),
            "chromedriver did not start"
        );
        let profile = TempDir::new("chromium-profile");
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session with headless Chromium");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Opens `url` and returns the page's JSON (Chromium shows it as text).
    pub async fn json(&self, url: &str) -> Value {
        self.client.goto(url).await.unwrap();
        let text = self
            .client
            .execute("return document.body.innerText", vec![])
            .await
            .unwrap();
        let text = text.as_str().unwrap_or_default().to_string();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text:?}"))
    }

    /// The browser's cookie `name` for the current page, if it holds one.
    pub async fn cookie(&self, name: &str) -> Option<fantoccini::cookies::Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// `document.cookie` as scripts on the page see it.
    pub async fn script_cookies(&self) -> String {
        let v = self
            .client
            .execute("return document.cookie", vec![])
            .await
            .unwrap();
        v.as_str().unwrap_or_default().to_string()
    }
}

/// setup -> view -> login -> view -> clear -> view at `base` (a demo): the
/// browser keeps the session cookie with its attributes, sends it back,
/// takes the new id a login gives, and drops the cookie on clear.
pub async fn session_flow(browser: &Browser, base: &str) {
    assert_eq!(
        browser.json(&format!("{base}/view_session")).await,
        json!({"session": {}})
    );
    assert!(browser.cookie("session").await.is_none());

    let page = browser.json(&format!("{base}/setup_session")).await;
    assert_eq!(page, json!({"session": {"data": "session_data"}}));
    let cookie = browser
        .cookie("session")
        .await
        .expect("Chromium kept the session cookie");
    assert!(cookie.value().starts_with("v1."), "{cookie:?}");
    assert_eq!(cookie.http_only(), Some(true), "{cookie:?}");
    assert_eq!(cookie.secure(), Some(true), "{cookie:?}");
    assert_eq!(cookie.path(), Some("/"), "{cookie:?}");
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()).as_deref(),
        Some("Lax"),
        "{cookie:?}"
    );
    assert!(
        !browser.script_cookies().await.contains("session="),
        "HttpOnly: scripts must not see the session cookie"
    );

    let page = browser.json(&format!("{base}/view_session")).await;
    assert_eq!(
        page,
        json!({"session": {"data": "session_data"}}),
        "the browser sent the cookie back"
    );

    // Login: a new session id, the data kept, the browser holds the new cookie.
    let page = browser.json(&format!("{base}/login?user=ada")).await;
    assert_eq!(
        page,
        json!({"session": {"data": "session_data", "user": "ada"}})
    );
    let after_login = browser
        .cookie("session")
        .await
        .expect("Chromium kept the session cookie after login");
    let id = |value: &str| value.split('.').nth(1).map(str::to_string);
    assert_ne!(
        id(after_login.value()),
        id(cookie.value()),
        "login must give a new session id"
    );
    let page = browser.json(&format!("{base}/view_session")).await;
    assert_eq!(
        page,
        json!({"session": {"data": "session_data", "user": "ada"}})
    );

    let page = browser.json(&format!("{base}/clear_session")).await;
    assert_eq!(page, json!({"session": {}}));
    assert!(
        browser.cookie("session").await.is_none(),
        "Chromium dropped the cookie on clear"
    );

    let page = browser.json(&format!("{base}/view_session")).await;
    assert_eq!(page, json!({"session": {}}));
}
