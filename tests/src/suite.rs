//! The black-box HTTP suite every demo must pass (the native demo over each
//! store now; the worker demo reuses it). It speaks only HTTP to the
//! starlette-session routes; checks of a particular store live beside the
//! tests that start that store.

use std::collections::HashSet;

use edge_session::{Key, KeyRing, SessionId, format};
use serde_json::{Value, json};

use crate::SECRET;
use crate::http::{Client, Jar, Reply, SetCookie};

/// What is under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// A client for the demo.
    pub client: Client,
    /// The session cookie's name.
    pub cookie_name: String,
    /// The secret the demo signs with.
    pub secret: Vec<u8>,
    /// The session lifetime the demo uses (Max-Age of new cookies).
    pub ttl: u64,
    /// Whether the store is server-side: a cleared or cycled session's old
    /// cookie is dead. False for the cookie store, which cannot revoke (the
    /// suite then checks that documented limit instead).
    pub revocable: bool,
}

impl Target {
    /// The demos' defaults: cookie `session`, the test secret, 14 days.
    pub fn new(client: Client) -> Self {
        Target {
            client,
            cookie_name: "session".into(),
            secret: SECRET.to_vec(),
            ttl: edge_session::DEFAULT_TTL,
            revocable: true,
        }
    }

    /// The same app over the cookie store (no revocation).
    #[must_use]
    pub fn cookie_store(self) -> Self {
        Target {
            revocable: false,
            ..self
        }
    }

    fn keys(&self) -> KeyRing {
        KeyRing::new(Key::from_bytes(&self.secret))
    }

    /// Verifies a cookie value the demo issued; returns its id.
    pub fn verify(&self, value: &str) -> SessionId {
        let now = now();
        let v = format::verify(&self.keys(), &self.cookie_name, value.as_bytes(), now)
            .unwrap_or_else(|| {
                panic!("the demo's cookie does not verify with the test secret: {value}")
            });
        assert!(v.expires > now, "cookie already expired");
        v.id
    }

    /// A cookie signed with the demo's secret for `id`, expiring at `expires`.
    pub fn forge(&self, id: &str, expires: u64) -> String {
        let id = SessionId::parse(id).unwrap();
        format!(
            "{}={}",
            self.cookie_name,
            format::encode(&self.keys(), &self.cookie_name, &id, expires)
        )
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn assert_ok_json(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        200,
        "{what}: status {} body {:?}",
        reply.status,
        reply.text()
    );
    let ct = reply
        .headers
        .get("content-type")
        .map(|v| v.to_str().unwrap_or(""))
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct:?}"
    );
}

/// Checks the attributes of a session `Set-Cookie` (new or removal).
pub fn check_attributes(t: &Target, c: &SetCookie, removal: bool) {
    assert_eq!(c.attr("path"), Some("/"), "{c:?}");
    assert_eq!(c.attr("secure"), Some(""), "Secure missing: {c:?}");
    assert_eq!(c.attr("httponly"), Some(""), "HttpOnly missing: {c:?}");
    assert_eq!(c.attr("samesite"), Some("Lax"), "{c:?}");
    assert_eq!(c.attr("domain"), None, "{c:?}");
    assert!(c.attr("expires").is_some(), "Expires missing: {c:?}");
    if removal {
        assert_eq!(c.value, "", "{c:?}");
        assert_eq!(c.attr("max-age"), Some("0"), "{c:?}");
    } else {
        let max_age: u64 = c.attr("max-age").expect("Max-Age").parse().unwrap();
        assert!(
            max_age + 5 >= t.ttl && max_age <= t.ttl,
            "Max-Age {max_age} vs {}",
            t.ttl
        );
    }
}

/// What [`flow`] saw.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The session id the setup created.
    pub id: SessionId,
    /// The `name=value` cookie the setup issued (dead after the clear).
    pub cookie: String,
}

/// setup -> view -> (setup again) -> view -> change -> clear -> view, with a
/// cookie-keeping client: bodies, cookie attributes, and Set-Cookie only
/// when the session changed.
pub async fn flow(t: &Target) -> Flow {
    let mut jar = Jar::new();
    let name = t.cookie_name.as_str();

    let r = jar.fetch(&t.client, "/view_session").await;
    assert_ok_json(&r, "first view");
    assert_eq!(r.session(), json!({}), "a new visitor has an empty session");
    assert!(
        r.set_cookies().is_empty(),
        "no Set-Cookie for an untouched empty session: {:?}",
        r.set_cookies()
    );

    let r = jar.fetch(&t.client, "/setup_session").await;
    assert_ok_json(&r, "setup");
    assert_eq!(r.json(), json!({"session": {"data": "session_data"}}));
    let c = r
        .set_cookie_for(name)
        .expect("setup must set the session cookie");
    check_attributes(t, &c, false);
    let id = t.verify(&c.value);
    let cookie = c.pair();

    let r = jar.fetch(&t.client, "/view_session").await;
    assert_ok_json(&r, "view");
    assert_eq!(r.session(), json!({"data": "session_data"}));
    assert!(
        r.set_cookies().is_empty(),
        "view must not set cookies: {:?}",
        r.set_cookies()
    );

    let r = jar.fetch(&t.client, "/setup_session").await;
    assert_eq!(r.session(), json!({"data": "session_data"}));
    assert!(
        r.set_cookies().is_empty(),
        "writing an equal value is not a change: {:?}",
        r.set_cookies()
    );

    let r = jar.fetch(&t.client, "/setup_session?data=changed").await;
    assert_eq!(r.session(), json!({"data": "changed"}));
    let c = r
        .set_cookie_for(name)
        .expect("a change re-issues the cookie");
    check_attributes(t, &c, false);
    if t.revocable {
        assert_eq!(t.verify(&c.value), id, "a plain change keeps the id");
    } else {
        assert_ne!(t.verify(&c.value), id, "the cookie store's id is its data");
    }

    let r = jar.fetch(&t.client, "/clear_session").await;
    assert_ok_json(&r, "clear");
    assert_eq!(r.json(), json!({"session": {}}));
    let c = r
        .set_cookie_for(name)
        .expect("clear must remove the cookie");
    check_attributes(t, &c, true);
    assert!(jar.get(name).is_none(), "the jar dropped the cookie");

    let r = jar.fetch(&t.client, "/view_session").await;
    assert_eq!(r.session(), json!({}));
    assert!(r.set_cookies().is_empty());

    // The old cookie, replayed, is dead server-side (the cookie store cannot
    // revoke it: the replay shows the data it carries, as documented).
    let r = t.client.get("/view_session", Some(cookie.as_bytes())).await;
    assert_ok_json(&r, "replayed cookie");
    let expected = if t.revocable {
        json!({})
    } else {
        json!({"data": "session_data"})
    };
    assert_eq!(
        r.session(),
        expected,
        "a cleared session must not come back (revocable: {})",
        t.revocable
    );
    assert!(r.set_cookies().is_empty());

    Flow { id, cookie }
}

/// Sets up a session and returns its `name=value` cookie and id.
pub async fn setup(t: &Target, data: Option<&str>) -> (String, SessionId) {
    let path = match data {
        Some(d) => format!("/setup_session?data={d}"),
        None => "/setup_session".into(),
    };
    let r = t.client.get(&path, None).await;
    assert_eq!(r.status, 200, "setup: {}", r.text());
    let c = r
        .set_cookie_for(&t.cookie_name)
        .expect("setup sets the cookie");
    let id = t.verify(&c.value);
    (c.pair(), id)
}

/// Bad cookies of every kind get 200 and a fresh, empty session (never a
/// 5xx), and a setup under them gets a new id, never one the client sent.
pub async fn bad_input(t: &Target) {
    let name = t.cookie_name.as_str();
    let (good, good_id) = setup(t, Some("mine")).await;
    let good_value = good.split_once('=').unwrap().1.to_string();

    let other = Target {
        secret: b"another secret, also at least 32 bytes long".to_vec(),
        ..t.clone()
    };
    let wrong_mac = other.forge(good_id.as_str(), now() + 3600);
    let expired = t.forge(good_id.as_str(), now() - 1);
    let mut tampered = good_value.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{name}={}", String::from_utf8(tampered).unwrap());
    let swapped_name = format!("other_{name}={good_value}");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", format!("{name}=garbage").into_bytes()),
        (
            "structured garbage",
            format!("{name}=v1.abc.123.xyz").into_bytes(),
        ),
        (
            "wrong base64",
            format!("{name}=v1.!!!.99999999999.%%%").into_bytes(),
        ),
        ("wrong MAC (other key)", wrong_mac.into_bytes()),
        ("tampered tag", tampered.into_bytes()),
        ("expired", expired.into_bytes()),
        (
            "oversized",
            format!("{name}=v1.{}.9999999999.x", "A".repeat(6000)).into_bytes(),
        ),
        (
            "duplicated garbage",
            format!("{name}=a; {name}=b; {name}=c").into_bytes(),
        ),
        (
            "non-UTF-8",
            [format!("{name}=").as_bytes(), b"\xff\xfe\x80v1.\xc3\x28"].concat(),
        ),
        ("empty value", format!("{name}=").into_bytes()),
        ("quoted garbage", format!("{name}=\"v1.x\"").into_bytes()),
        ("only separators", b";;;  ; =; ==".to_vec()),
        ("value under another name", swapped_name.into_bytes()),
    ];
    for (what, cookie) in &cases {
        let r = t.client.get("/view_session", Some(cookie)).await;
        assert_eq!(r.status, 200, "{what}: {} {}", r.status, r.text());
        assert_eq!(r.session(), json!({}), "{what}: must be a fresh session");
        assert!(
            r.set_cookies().is_empty(),
            "{what}: no Set-Cookie for a view"
        );

        let r = t.client.get("/setup_session", Some(cookie)).await;
        assert_eq!(r.status, 200, "{what}: {} {}", r.status, r.text());
        let c = r.set_cookie_for(name).expect("setup sets a cookie");
        assert_ne!(
            t.verify(&c.value),
            good_id,
            "{what}: a fresh id, never one from the client"
        );
    }

    // The genuine cookie still works, also surrounded by junk and duplicates.
    let junk = format!("{name}=junk; theme=dark; {good}; {name}=later");
    let r = t.client.get("/view_session", Some(junk.as_bytes())).await;
    assert_eq!(
        r.session(),
        json!({"data": "mine"}),
        "the first cookie that verifies wins"
    );
    let r = t
        .client
        .get_with(
            "/view_session",
            vec![b"theme=dark".as_slice(), good.as_bytes()],
        )
        .await;
    assert_eq!(
        r.session(),
        json!({"data": "mine"}),
        "cookies split over several headers"
    );
}

/// `clients` parallel clients, each with its own session and data; none
/// ever sees another's data, and ids are all distinct.
pub async fn concurrency(t: &Target, clients: usize) {
    let run = std::process::id();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mine = format!("client-{run}-{i}");
            let mut jar = Jar::new();
            let r = jar
                .fetch(&t.client, &format!("/setup_session?data={mine}"))
                .await;
            assert_eq!(r.status, 200, "client {i}: {}", r.text());
            assert_eq!(r.session(), json!({"data": mine}));
            let id = t.verify(jar.get(&t.cookie_name).expect("cookie kept"));
            for round in 0..3 {
                let r = jar.fetch(&t.client, "/view_session").await;
                assert_eq!(r.status, 200);
                assert_eq!(
                    r.session(),
                    json!({"data": mine}),
                    "client {i} round {round} saw another session's data"
                );
            }
            id
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        let id = task.await.expect("a client task panicked");
        assert!(ids.insert(id), "two clients got the same session id");
    }
    assert_eq!(ids.len(), clients);
}

/// Concurrent writes to ONE session: every request succeeds and the final
/// state is one of the written values (last writer wins).
pub async fn same_session_writes(t: &Target, writers: usize) {
    let (cookie, _) = setup(t, Some("start")).await;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let t = t.clone();
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let r = t
                .client
                .get(
                    &format!("/setup_session?data=w{i}"),
                    Some(cookie.as_bytes()),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.session(), json!({"data": format!("w{i}")}));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let r = t.client.get("/view_session", Some(cookie.as_bytes())).await;
    let data = r.session()["data"].clone();
    let written: Vec<Value> = (0..writers).map(|i| json!(format!("w{i}"))).collect();
    assert!(
        written.contains(&data),
        "final value {data} was never written"
    );
}

/// `/login?user=NAME` cycles the id: the data is kept under a new id, the
/// pre-login cookie is dead (OWASP ASVS 3.2.1, session fixation).
pub async fn login_cycles_id(t: &Target) {
    let (cookie, id) = setup(t, Some("before-login")).await;
    let r = t
        .client
        .get("/login?user=ada", Some(cookie.as_bytes()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.session(), json!({"data": "before-login", "user": "ada"}));
    let c = r
        .set_cookie_for(&t.cookie_name)
        .expect("login re-issues the cookie");
    let new_id = t.verify(&c.value);
    assert_ne!(new_id, id, "login must give a new session id");
    let r = t
        .client
        .get("/view_session", Some(c.pair().as_bytes()))
        .await;
    assert_eq!(r.session(), json!({"data": "before-login", "user": "ada"}));
    let r = t.client.get("/view_session", Some(cookie.as_bytes())).await;
    let expected = if t.revocable {
        json!({})
    } else {
        json!({"data": "before-login"})
    };
    assert_eq!(
        r.session(),
        expected,
        "the pre-login id must be dead (revocable: {})",
        t.revocable
    );
    assert_eq!(t.client.get("/login?user=a%20b", None).await.status, 400);
}

/// GETs `path` with `cookie` until it answers 200 (a store coming back), at
/// most `timeout`; returns the last answer.
pub async fn wait_for_200(
    t: &Target,
    path: &str,
    cookie: &str,
    timeout: std::time::Duration,
) -> Reply {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let r = t.client.get(path, Some(cookie.as_bytes())).await;
        if r.status == 200 || std::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// GETs every path at once with `cookie`; panics unless all answer 200.
async fn all_at_once(t: &Target, cookie: &str, paths: Vec<String>) -> Vec<Reply> {
    let tasks: Vec<_> = paths
        .into_iter()
        .map(|path| {
            let client = t.client.clone();
            let cookie = cookie.to_string();
            tokio::spawn(async move {
                let r = client.get(&path, Some(cookie.as_bytes())).await;
                assert_eq!(r.status, 200, "{path}: {}", r.text());
                r
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(tasks.len());
    for task in tasks {
        replies.push(task.await.expect("a request task panicked"));
    }
    replies
}

/// `/incr` under load on ONE session: `clients` concurrent clients each
/// increment their own key `per_client` times (every key must end at exactly
/// `per_client`), then all increment one key (it must end at exactly
/// `clients * per_client`). Returns the two totals it saw, for stores that
/// cannot promise exactness (Workers KV) to report.
pub async fn increments(t: &Target, clients: usize, per_client: usize) -> (u64, u64) {
    let (cookie, _) = setup(t, Some("counting")).await;
    let run = |key_of: fn(usize) -> String| {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let client = t.client.clone();
                let cookie = cookie.clone();
                let path = format!("/incr?key={}", key_of(c));
                tokio::spawn(async move {
                    for _ in 0..per_client {
                        let r = client.get(&path, Some(cookie.as_bytes())).await;
                        assert_eq!(r.status, 200, "{path}: {}", r.text());
                    }
                })
            })
            .collect::<Vec<_>>();
        async move {
            for task in tasks {
                task.await.expect("an increment task panicked");
            }
        }
    };
    run(|c| format!("own{c}")).await;
    run(|_| String::from("shared")).await;
    let session = t
        .client
        .get("/view_session", Some(cookie.as_bytes()))
        .await
        .session();
    let own: u64 = (0..clients)
        .map(|c| session[format!("own{c}")].as_u64().unwrap_or(0))
        .sum();
    let shared = session["shared"].as_u64().unwrap_or(0);
    (own, shared)
}

/// The same, asserting exactness: every own key at `per_client`, the shared
/// key at `clients * per_client`.
pub async fn exact_increments(t: &Target, clients: usize, per_client: usize) {
    let (own, shared) = increments(t, clients, per_client).await;
    let total = (clients * per_client) as u64;
    assert_eq!(
        own, total,
        "{clients} clients x {per_client} increments of their own keys: some were lost"
    );
    assert_eq!(
        shared, total,
        "{clients} clients x {per_client} increments of one key: some were lost"
    );
}

/// What [`races`] counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Races {
    /// Trials run.
    pub trials: usize,
    /// Trials after which the logged-out session had data again.
    pub resurrections: usize,
    /// Acknowledged writes missing afterwards (rolled back by a refresh or
    /// overwritten by another request).
    pub rolled_back: usize,
    /// Trials after which the pre-login id of a login had data again.
    pub login_resurrections: usize,
}

/// Logout and login racing in-flight requests of the same session, `trials`
/// times, as a page firing parallel fetches (or a thief replaying the
/// cookie) would:
///
/// 1. 12 writes (`/incr` of 12 keys already at 1) and 12 views due a
///    sliding refresh, all at once: afterwards every key must be at 2 (a
///    refresh must never roll a write back);
/// 2. 12 more writes, 12 views due a refresh and one `/clear_session`, all
///    at once: afterwards the session must be empty for good (no
///    resurrection);
/// 3. a `/login` racing 12 writes: afterwards the pre-login id must be dead.
///
/// Returns the counts; stores that promise it assert all zero.
pub async fn races(t: &Target, trials: usize) -> Races {
    let mut out = Races {
        trials,
        ..Races::default()
    };
    for trial in 0..trials {
        // Views carry a cookie expiring in an hour: far less than half the
        // 14-day TTL is left, so each is due a refresh.
        let (cookie, id) = setup(t, Some(&format!("trial{trial}"))).await;
        let due = t.forge(id.as_str(), now() + 3600);

        // Seed the keys (each at 1), so a view rewriting the copy it read
        // would put an older value back.
        let seed: Vec<String> = (0..12).map(|i| format!("/incr?key=w{i}")).collect();
        all_at_once(t, &cookie, seed).await;
        let mut paths: Vec<String> = (0..12).map(|i| format!("/incr?key=w{i}")).collect();
        for i in 0..12 {
            paths.insert(2 * i, String::from("/view_session"));
        }
        all_at_once(t, &due, paths).await;
        let session = t
            .client
            .get("/view_session", Some(cookie.as_bytes()))
            .await
            .session();
        out.rolled_back += (0..12)
            .filter(|i| session[format!("w{i}")] != json!(2))
            .count();
        if session["data"] != json!(format!("trial{trial}")) {
            out.rolled_back += 1;
        }

        let mut paths: Vec<String> = Vec::new();
        for i in 0..12 {
            paths.push(format!("/incr?key=x{i}"));
            paths.push(String::from("/view_session"));
            if i == 5 {
                paths.push(String::from("/clear_session"));
            }
        }
        all_at_once(t, &due, paths).await;
        let after = t.client.get("/view_session", Some(cookie.as_bytes())).await;
        if after.session() != json!({}) {
            out.resurrections += 1;
        }

        let (cookie, _) = setup(t, Some(&format!("login{trial}"))).await;
        let mut paths: Vec<String> = (0..12).map(|i| format!("/incr?key=y{i}")).collect();
        paths.insert(6, String::from("/login?user=racer"));
        let replies = all_at_once(t, &cookie, paths).await;
        let old = t.client.get("/view_session", Some(cookie.as_bytes())).await;
        if old.session() != json!({}) {
            out.login_resurrections += 1;
        }
        let login = &replies[6];
        let new = login
            .set_cookie_for(&t.cookie_name)
            .expect("the login re-issues the cookie");
        let r = t
            .client
            .get("/view_session", Some(new.pair().as_bytes()))
            .await;
        assert_eq!(
            r.session()["user"],
            json!("racer"),
            "the logged-in session must hold its user"
        );
    }
    out
}

/// [`races`], asserting what a store with conditional writes promises: no
/// resurrection, no rolled-back write, the pre-login id dead, in every trial.
pub async fn no_races(t: &Target, trials: usize) -> Races {
    let races = races(t, trials).await;
    println!("races: {races:?}");
    assert_eq!(
        races,
        Races {
            trials,
            ..Races::default()
        },
        "concurrent requests undid each other"
    );
    races
}

/// "Remember me" (`set_expiry`), over HTTP: a login with `remember=1` makes
/// this session's cookie persistent for 30 days (a v2 cookie carrying the
/// mode, signed) while another client's stays at the default; the session
/// can switch to a browser-session cookie and back. Returns the remembered
/// session's id (to check its store TTL).
pub async fn remember_me(t: &Target) -> SessionId {
    let month = 30 * 24 * 3600;
    let (other, _) = setup(t, Some("someone-else")).await;
    let (cookie, _) = setup(t, Some("remember")).await;

    let r = t
        .client
        .get("/login?user=ada&remember=1", Some(cookie.as_bytes()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r
        .set_cookie_for(&t.cookie_name)
        .expect("login re-issues the cookie");
    assert_eq!(c.attr("max-age"), Some(month.to_string().as_str()), "{c:?}");
    assert!(
        c.value.starts_with("v2.") && c.value.contains(".p2592000."),
        "{c:?}"
    );
    let id = t.verify(&c.value);
    let remembered = c.pair();

    // Another client's session is not affected.
    let r = t
        .client
        .get("/setup_session?data=changed", Some(other.as_bytes()))
        .await;
    let o = r
        .set_cookie_for(&t.cookie_name)
        .expect("a change re-issues the cookie");
    check_attributes(t, &o, false);

    // Browser-session from now on: no Max-Age, same id, data kept.
    let r = t
        .client
        .get("/expiry?mode=browser", Some(remembered.as_bytes()))
        .await;
    assert_eq!(r.session(), json!({"data": "remember", "user": "ada"}));
    let c = r
        .set_cookie_for(&t.cookie_name)
        .expect("the cookie is re-issued");
    assert_eq!(c.attr("max-age"), None, "{c:?}");
    assert_eq!(t.verify(&c.value), id);

    // Back to the default: the configuration's Max-Age again.
    let r = t
        .client
        .get("/expiry?mode=default", Some(c.pair().as_bytes()))
        .await;
    let c = r
        .set_cookie_for(&t.cookie_name)
        .expect("the cookie is re-issued");
    check_attributes(t, &c, false);
    assert_eq!(t.verify(&c.value), id);

    // And remembered again (what the store TTL check looks at).
    let r = t
        .client
        .get("/expiry?mode=remember", Some(c.pair().as_bytes()))
        .await;
    let c = r
        .set_cookie_for(&t.cookie_name)
        .expect("the cookie is re-issued");
    assert_eq!(c.attr("max-age"), Some(month.to_string().as_str()));
    assert_eq!(t.client.get("/expiry?mode=forever", None).await.status, 400);
    id
}

/// The suite's cases with the parameters every target runs them with, one
/// `async fn(&Target)` each: what [`route_tests!`](crate::route_tests)
/// turns into one test per case.
pub mod case {
    use super::Target;

    /// [`super::flow`].
    pub async fn flow(t: &Target) {
        super::flow(t).await;
    }

    /// [`super::bad_input`].
    pub async fn bad_input(t: &Target) {
        super::bad_input(t).await;
    }

    /// [`super::login_cycles_id`].
    pub async fn login_cycles_id(t: &Target) {
        super::login_cycles_id(t).await;
    }

    /// [`super::concurrency`] with 200 clients.
    pub async fn concurrency(t: &Target) {
        super::concurrency(t, 200).await;
    }

    /// [`super::same_session_writes`] with 20 writers.
    pub async fn same_session_writes(t: &Target) {
        super::same_session_writes(t, 20).await;
    }

    /// [`super::exact_increments`]: 32 clients x 50 increments.
    pub async fn exact_increments(t: &Target) {
        super::exact_increments(t, 32, 50).await;
    }

    /// [`super::no_races`]: 40 trials.
    pub async fn no_races(t: &Target) {
        super::no_races(t, 40).await;
    }

    /// [`super::remember_me`].
    pub async fn remember_me(t: &Target) {
        super::remember_me(t).await;
    }
}

/// A target and whatever keeps it running (servers, processes), dropped
/// together when the test ends.
pub struct Fixture {
    /// What the cases talk to.
    pub target: Target,
    _guard: Box<dyn std::any::Any + Send + Sync>,
}

impl Fixture {
    /// `target`, kept alive by `guard`.
    pub fn new(target: Target, guard: impl std::any::Any + Send + Sync) -> Self {
        Fixture {
            target,
            _guard: Box::new(guard),
        }
    }
}

/// A server started once and shared by the tests that run at the same time
/// (starting `wrangler dev` takes seconds): the first test to ask starts it,
/// the last one to drop its handle stops it. A later test starts a new one,
/// so nothing outlives the tests that use it.
pub struct Shared<T> {
    slot: std::sync::Mutex<std::sync::Weak<T>>,
}

impl<T> Shared<T> {
    /// Nothing started yet.
    pub const fn new() -> Self {
        Shared {
            slot: std::sync::Mutex::new(std::sync::Weak::new()),
        }
    }

    /// The running server, or a new one from `start`.
    pub fn get(&self, start: impl FnOnce() -> T) -> std::sync::Arc<T> {
        let mut slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(running) = slot.upgrade() {
            return running;
        }
        let started = std::sync::Arc::new(start());
        *slot = std::sync::Arc::downgrade(&started);
        started
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self::new()
    }
}
