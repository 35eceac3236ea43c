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
        secret: None,
        ..DemoOptions::memory()
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
        secret: Some(b"too short".to_vec()),
        ..DemoOptions::memory()
    };
    let status = e2e::demo::demo_command(&options, e2e::procs::free_port(), &logs)
        .status()
        .unwrap();
    assert!(!status.success());
    let stderr = std::fs::read_to_string(logs.path().join("stderr")).unwrap();
    assert!(
        stderr.contains("too short") && stderr.contains("at least 32"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("9 bytes"),
        "the length is a hint: {stderr}"
    );
}

/// Slow clients: 50 connections that send half a request header and 10 that
/// send three bytes (not even enough to tell HTTP/1 from HTTP/2) are all
/// closed by the server, with at most `MAX_CONNECTIONS` held at once; the
/// demo serves normally once they are gone, and still drains on SIGTERM.
#[test]
fn slow_clients_are_cut_off_and_connections_capped() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    let mut demo = NativeDemo::start(&DemoOptions {
        env: vec![
            ("HEADER_READ_TIMEOUT_SECS", "2".into()),
            ("MAX_CONNECTIONS", "20".into()),
        ],
        ..DemoOptions::memory()
    });
    let addr = demo.base().trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..60)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            let part: &[u8] = if i < 50 {
                b"GET /view_session HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sess"
            } else {
                b"GET"
            };
            s.write_all(part).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s
        })
        .collect();
    // Every slow connection is closed by the server: 60 connections, 20 at
    // a time, 2 s each: about 6 s; far less than the 30 s read timeout.
    for (i, s) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 256];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue, // a 408 before the close is fine too
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "slow connection {i} still open after {:?}: {e}",
                    started.elapsed()
                ),
            }
        }
    }
    let closed_after = started.elapsed();
    assert!(
        closed_after < Duration::from_secs(20),
        "slow connections held for {closed_after:?}"
    );
    // The server answers normally afterwards.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A slow client does not block shutdown.
    let _lingering = TcpStream::connect(&addr).unwrap();
    let status = demo.terminate(Duration::from_secs(10)).expect("exited");
    assert!(status.success(), "{status:?}");
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
    // The log: one line per failure, one prefix, the cause once.
    let stderr = demo.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("session store"))
        .collect();
    assert!(!lines.is_empty(), "no log line for the outage:\n{stderr}");
    for line in &lines {
        assert_eq!(line.matches("session store").count(), 1, "{line}");
        assert!(line.contains("session store unavailable: "), "{line}");
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

/// Faults under load: eight clients increment their own sessions in a loop
/// while Redis is frozen (SIGSTOP) for 3 s and later restarted. Every answer
/// is 200 or the documented 503 (never a hang, never a 500), the same demo
/// process recovers, and every acknowledged increment is in the store
/// afterwards (none lost; none counted twice beyond the unacknowledged ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_and_restarted_mid_load_lose_nothing_acknowledged() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let mut redis = RedisServer::start_persistent();
    let demo = NativeDemo::start(&DemoOptions::redis(redis.url()));
    let t = target(&demo);
    let stop = Arc::new(AtomicBool::new(false));
    let unavailable = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for i in 0..8 {
        let (t, stop, unavailable) = (t.clone(), stop.clone(), unavailable.clone());
        clients.push(tokio::spawn(async move {
            let (cookie, _) = suite::setup(&t, Some(&format!("client{i}"))).await;
            let (mut acked, mut attempts) = (0u64, 0u64);
            while !stop.load(Ordering::SeqCst) {
                attempts += 1;
                let started = Instant::now();
                let r = t.client.get("/incr?key=n", Some(cookie.as_bytes())).await;
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "a request hung {:?}",
                    started.elapsed()
                );
                match r.status {
                    200 => acked += 1,
                    503 => {
                        assert_eq!(r.text(), edge_session::adapter::UNAVAILABLE_BODY);
                        assert!(r.set_cookies().is_empty());
                        unavailable.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => panic!("client {i}: {other} {}", r.text()),
                }
            }
            (cookie, acked, attempts)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.pause();
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.resume();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    assert!(
        unavailable.load(Ordering::SeqCst) > 0,
        "the faults never reached a request"
    );
    for client in clients {
        let (cookie, acked, attempts) = client.await.unwrap();
        let r = suite::wait_for_200(&t, "/view_session", &cookie, Duration::from_secs(15)).await;
        assert_eq!(r.status, 200, "no recovery: {}", r.text());
        let n = r.session()["n"].as_u64().unwrap_or(0);
        assert!(
            (acked..=attempts).contains(&n),
            "acknowledged {acked}, attempted {attempts}, stored {n}"
        );
        assert!(acked > 0, "no increment went through");
    }
}
