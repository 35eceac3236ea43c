//! The store conformance suite against the real Redis store, on one
//! redis-server and on a three-master Redis Cluster the tests start.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use e2e::redis_server::{RedisCluster, RedisServer};
use edge_session::testing::conformance;
use edge_session::{Error, Record, SessionId, SessionStore};
use edge_session_tower::RedisStore;
use serde_json::json;

fn record(v: serde_json::Value) -> Record {
    v.as_object().unwrap().clone()
}

fn sleep(secs: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(secs * 1000 + 100))
}

#[tokio::test]
async fn redis_store_conformance() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    conformance::run(&store).await;
    conformance::expiry(&store, sleep).await;
    // The same with another prefix.
    let prefixed = store.clone().with_prefix("app1:sess:");
    conformance::run(&prefixed).await;
}

#[tokio::test]
async fn redis_store_wire_format_and_atomic_cycle() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let mut conn = redis.conn().await;
    let id = SessionId::parse("wire-format-test-id").unwrap();
    let rec = record(json!({"data": "session_data", "n": 1}));

    let created = store.create(id.clone(), &rec, 300).await.unwrap();
    assert_eq!(created.as_ref(), Some(&id));
    let raw: String = redis::cmd("GET")
        .arg("session:wire-format-test-id")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        raw, r#"{"data":"session_data","n":1}"#,
        "value = the session's JSON object"
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg("session:wire-format-test-id")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((295..=300).contains(&ttl), "{ttl}");

    // A record written by someone else in the documented format loads.
    let () = redis::cmd("SET")
        .arg("session:written-elsewhere")
        .arg(r#"{"data":"from the worker"}"#)
        .query_async(&mut conn)
        .await
        .unwrap();
    let other = SessionId::parse("written-elsewhere").unwrap();
    assert_eq!(
        store.load(&other).await.unwrap(),
        Some(record(json!({"data": "from the worker"})))
    );

    // cycle: one script call, old key gone, new key holds the data with the TTL.
    let before: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let new = SessionId::parse("cycled-id").unwrap();
    let moved = store.cycle(&id, new.clone(), &rec, 120).await.unwrap();
    assert_eq!(moved.as_ref(), Some(&new));
    let after: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls = |info: &str, cmd: &str| {
        e2e::redis_server::parse_commandstats(info)
            .get(cmd)
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        calls(&after, "evalsha") + calls(&after, "eval"),
        calls(&before, "evalsha") + calls(&before, "eval") + 1,
        "cycle is one script call"
    );
    assert_eq!(store.load(&id).await.unwrap(), None);
    assert_eq!(store.load(&new).await.unwrap(), Some(rec.clone()));
    // Refuses an existing new id, leaving both records alone.
    let again = store
        .cycle(&other, new.clone(), &record(json!({"x": 1})), 60)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(store.load(&new).await.unwrap(), Some(rec));
    assert!(store.load(&other).await.unwrap().is_some());

    // Corrupt records are reported as such.
    let () = redis::cmd("SET")
        .arg("session:corrupt")
        .arg("{nope")
        .query_async(&mut conn)
        .await
        .unwrap();
    let corrupt = SessionId::parse("corrupt").unwrap();
    assert!(matches!(
        store.load(&corrupt).await,
        Err(Error::CorruptRecord)
    ));
}

#[tokio::test]
async fn redis_store_fails_fast_when_down_and_recovers() {
    let mut redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let id = SessionId::parse("outage").unwrap();
    store.save(&id, &record(json!({"a": 1})), 60).await.unwrap();
    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.load(&id).await.unwrap_err();
        assert!(err.is_store(), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.save(&id, &record(json!({"a": 2})), 60).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        store.load(&id).await.unwrap(),
        Some(record(json!({"a": 2})))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_conformance() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
    let store = RedisStore::connect_cluster(&nodes).await.unwrap();
    conformance::run(&store).await;
    conformance::expiry(&store, sleep).await;

    // Records spread over the three masters (the store follows MOVED slots).
    let mut ids = Vec::new();
    for i in 0..60 {
        let id = SessionId::parse(&format!("spread-{i}")).unwrap();
        store.save(&id, &record(json!({"i": i})), 60).await.unwrap();
        ids.push(id);
    }
    let mut nodes_with_keys = 0;
    for url in &urls {
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let n: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
        if n > 0 {
            nodes_with_keys += 1;
        }
    }
    assert_eq!(nodes_with_keys, 3, "keys should land on every master");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(store.load(id).await.unwrap(), Some(record(json!({"i": i}))));
    }
}
