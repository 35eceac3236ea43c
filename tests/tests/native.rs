//! End-to-end tests of the native demo process, with the in-memory store and
//! with a real redis-server the tests start (and stop) themselves.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use e2e::demo::{DemoOptions, NativeDemo};
use e2e::redis_server::RedisServer;
use e2e::suite::{self, Target};
use serde_json::json;

fn target(demo: &NativeDemo) -> Target {
    Target::new(demo.client())
}

// ---------------------------------------------------------------- memory store

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_request_log() {
    let demo = NativeDemo::start(&DemoOptions::memory());
    let t = target(&demo);
    suite::flow(&t).await;
    suite::bad_input(&t).await;
    suite::login_cycles_id(&t).await;
    let log = demo.stdout_when(|l| l.lines().filter(|l| l.starts_with("GET /")).count() >= 30);
    assert!(log.contains("(store: memory)"), "{log}");
    for line in [
        "GET /setup_session 200",
        "GET /view_session 200",
        "GET /clear_session 200",
    ] {
        assert!(
            log.contains(line),
            "missing request log line {line:?} in:\n{log}"
        );
    }
    // One line per request: count them against the requests made.
    let requests = log.lines().filter(|l| l.starts_with("GET /")).count();
    assert!(requests >= 30, "{requests} log lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_routes_and_methods() {
    let demo = NativeDemo::start(&DemoOptions::memory());
    let c = demo.client();
    assert_eq!(c.get("/nope", None).await.status, 404);
    let index = c.get("/", None).await;
    assert_eq!(index.status, 200);
    assert!(index.text().contains("/setup_session"));
    let bad = c.get("/setup_session?data=%3Cscript%3E", None).await;
    assert_eq!(bad.status, 400);
    assert!(bad.set_cookies().is_empty());
}

#[test]
fn graceful_shutdown_on_sigterm() {
    let mut demo = NativeDemo::start(&DemoOptions::memory());
    let status = demo.terminate(Duration::from_secs(10)).expect("exited");
    assert!(status.success(), "exit status {status:?}");
    assert!(demo.stdout().contains("shutting down"), "{}", demo.stdout());
}

#[test]
fn secret_handling() {
    // No secret: an ephemeral key and a warning.
    let demo = NativeDemo::start(&DemoOptions {
        redis_url: None,
        secret: None,
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        demo.stderr().contains("SESSION_SECRET is not set"),
        "{}",
        demo.stderr()
    );
    drop(demo);

    // A short secret: refused with a clear message, non-zero exit.
    let logs = e2e::procs::TempDir::new("short-secret");
    let options = DemoOptions {
        redis_url: None,
        secret: Some(b"too short".to_vec()),
    };
    let status = e2e::demo::demo_command(&options, e2e::procs::free_port(), &logs)
        .status()
        .unwrap();
    assert!(!status.success());
    let stderr = std::fs::read_to_string(logs.path().join("stderr")).unwrap();
    assert!(
        stderr.contains("9 bytes") && stderr.contains("at least 32"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- Redis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flow_records_ttl_and_no_write_on_view() {
    let redis = RedisServer::start();
    let demo = NativeDemo::start(&DemoOptions::redis(redis.url()));
    let log = demo.stdout_when(|l| l.contains("(store: redis)"));
    assert!(log.contains("(store: redis)"), "{log}");
    let t = target(&demo);
    let flow = suite::flow(&t).await;
    let mut conn = redis.conn().await;
    let key = format!("session:{}", flow.id.as_str());
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "clear deleted the record");

    // Setup: the record exists, holds the JSON, with the full TTL.
    let (cookie, id) = suite::setup(&t, None).await;
    let key = format!("session:{}", id.as_str());
    let (raw, ttl) = redis.record(&key).await;
    assert_eq!(
        raw,
        Some(vec![("data".into(), r#""session_data""#.into())]),
        "a hash: one field per key, the value's JSON text"
    );
    assert!((1_209_590..=1_209_600).contains(&ttl), "TTL {ttl}");

    // A view reads once and writes nothing.
    let before = redis.command_calls().await;
    let writes_before = redis.write_calls().await;
    let r = t.client.get("/view_session", Some(cookie.as_bytes())).await;
    assert_eq!(r.session(), json!({"data": "session_data"}));
    let after = redis.command_calls().await;
    assert_eq!(
        redis.write_calls().await,
        writes_before,
        "a view must not write: {before:?} -> {after:?}"
    );
    assert_eq!(
        after.get("hgetall").copied().unwrap_or(0),
        before.get("hgetall").copied().unwrap_or(0) + 1,
        "exactly one HGETALL"
    );

    // A request that never touches the session (404) makes no Redis call at all.
    let total = |m: &std::collections::HashMap<String, u64>| -> u64 {
        m.iter()
            .filter(|(k, _)| k.as_str() != "info")
            .map(|(_, v)| v)
            .sum()
    };
    let before = redis.command_calls().await;
    assert_eq!(
        t.client.get("/nope", Some(cookie.as_bytes())).await.status,
        404
    );
    assert_eq!(total(&redis.command_calls().await), total(&before));

    // Clear deletes the key.
    let r = t
        .client
        .get("/clear_session", Some(cookie.as_bytes()))
        .await;
    assert_eq!(r.status, 200);
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "clear must delete the record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_bad_input_and_corrupt_record() {
    let redis = RedisServer::start();
    let demo = NativeDemo::start(&DemoOptions::redis(redis.url()));
    let t = target(&demo);
    suite::bad_input(&t).await;
    suite::login_cycles_id(&t).await;

    // A corrupt record is treated as missing (and logged), never a 5xx.
    let (cookie, id) = suite::setup(&t, None).await;
    let mut conn = redis.conn().await;
    let key = format!("session:{}", id.as_str());
    // A key of the wrong type (a string, as an older format wrote), and
    // hash fields that are not JSON.
    for garbage in ["not json {", r#"{"data":"a string record"}"#, ""] {
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(garbage)
            .query_async(&mut conn)
            .await
            .unwrap();
        let r = t.client.get("/view_session", Some(cookie.as_bytes())).await;
        assert_eq!(r.status, 200, "{garbage:?}: {}", r.text());
        assert_eq!(r.session(), json!({}), "{garbage:?}");
        // A write against it: the update script treats it as gone, never a 5xx.
        let r = t.client.get("/incr", Some(cookie.as_bytes())).await;
        assert_eq!(r.status, 200, "{garbage:?}: {}", r.text());
    }
    for garbage in ["not json {", "", "\u{1}"] {
        let _: i64 = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: i64 = redis::cmd("HSET")
            .arg(&key)
            .arg("data")
            .arg(garbage)
            .query_async(&mut conn)
            .await
            .unwrap();
        let r = t.client.get("/view_session", Some(cookie.as_bytes())).await;
        assert_eq!(r.status, 200, "{garbage:?}: {}", r.text());
        assert_eq!(r.session(), json!({}), "{garbage:?}");
    }
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("not json {")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Writing then goes to a new id; the corrupt record is left alone.
    let r = t
        .client
        .get("/setup_session", Some(cookie.as_bytes()))
        .await;
    let c = r.set_cookie_for("session").unwrap();
    assert_ne!(t.verify(&c.value), id);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        demo.stderr().contains("did not decode"),
        "corrupt record not logged: {}",
        demo.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_gives_503_and_recovers_without_restart() {
    let mut redis = RedisServer::start_persistent();
    let demo = NativeDemo::start(&DemoOptions::redis(redis.url()));
    let t = target(&demo);
    let (cookie, _) = suite::setup(&t, Some("precious")).await;

    redis.stop();
    for path in [
        "/view_session",
        "/setup_session?data=overwrite",
        "/clear_session",
    ] {
        let started = Instant::now();
        let r = t.client.get(path, Some(cookie.as_bytes())).await;
        assert_eq!(
            r.status,
            503,
            "{path} with Redis down: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.text().contains("session store unavailable"),
            "{}",
            r.text()
        );
        assert!(
            r.set_cookies().is_empty(),
            "{path}: no cookie change on failure"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} hung {:?}",
            started.elapsed()
        );
    }
    // A request without a cookie that writes nothing needs no store.
    let r = t.client.get("/view_session", None).await;
    assert_eq!((r.status, r.session()), (200, json!({})));
    // One that would create a session cannot: 503, not a silent success.
    assert_eq!(t.client.get("/setup_session", None).await.status, 503);

    redis.restart();
    let r = suite::wait_for_200(&t, "/view_session", &cookie, Duration::from_secs(15)).await;
    assert_eq!(r.status, 200, "the demo did not recover: {}", r.text());
    assert_eq!(
        r.session(),
        json!({"data": "precious"}),
        "the outage must not have lost or overwritten data"
    );
    let (_, _) = suite::setup(&t, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_remember_me_ttl_and_hash_records() {
    let redis = RedisServer::start();
    let demo = NativeDemo::start(&DemoOptions::redis(redis.url()));
    let t = target(&demo);
    // Remember me: the record's TTL follows the session's own expiry.
    let id = suite::remember_me(&t).await;
    let (_, ttl) = redis.record(&format!("session:{}", id.as_str())).await;
    assert!((2_591_990..=2_592_000).contains(&ttl), "TTL {ttl}");
    // Every record is a hash readable with HGETALL; values are JSON texts.
    let (cookie, id) = suite::setup(&t, Some("hash")).await;
    let r = t.client.get("/incr?key=n", Some(cookie.as_bytes())).await;
    assert_eq!(r.session(), json!({"data": "hash", "n": 1}));
    let (fields, _) = redis.record(&format!("session:{}", id.as_str())).await;
    assert_eq!(
        fields,
        Some(vec![
            ("data".into(), r#""hash""#.into()),
            ("n".into(), "1".into())
        ])
    );
}
