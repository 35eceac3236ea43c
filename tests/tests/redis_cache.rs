//! The Redis store's coherent local cache, against a real redis-server:
//! two native demo processes on one Redis (A and B, both caching), the
//! store itself racing writes at scale, and the connection failing in each
//! way it can (restart, killed, silently cut).
//!
//! The staleness bound is the default, 5 ms ([`BOUND`]): a hit reflects
//! every change Redis applied that long before it, and logouts are
//! acknowledged that long after Redis applied them.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::demo::{DemoOptions, NativeDemo};
use e2e::http::{Client, Reply};
use e2e::proxy::Proxy;
use e2e::redis_server::RedisServer;
use edge_session_tower::RedisStore;
use edge_session_tower::edge_session::{Changes, Record, SessionId, SessionStore};
use edge_session_tower::redis_store::CacheConfig;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// The demo's staleness bound (`REDIS_CACHE_STALENESS_MS` default).
const BOUND: Duration = Duration::from_millis(5);
/// Scheduling slack on top of the bound for the few checks that are about
/// time (a process noticing a closed socket, a test thread waking up).
const SLACK: Duration = Duration::from_millis(20);

fn cookie_of(reply: &Reply) -> String {
    reply
        .set_cookie_for("session")
        .expect("a session cookie")
        .pair()
}

/// Creates a session on `client` with `data` and returns its cookie.
async fn new_session(client: &Client, data: &str) -> String {
    let reply = client
        .get(&format!("/setup_session?data={data}"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    cookie_of(&reply)
}

async fn view(client: &Client, cookie: &str) -> Reply {
    client.get("/view_session", Some(cookie.as_bytes())).await
}

/// The demo's cache counters, printed when it shuts down.
fn shutdown_stats(demo: &mut NativeDemo) -> String {
    let status = demo.terminate(Duration::from_secs(15)).expect("exited");
    assert!(status.success(), "{status:?}: {}", demo.stderr());
    let out = demo.stdout();
    out.lines()
        .find(|l| l.starts_with("native-demo: cache:"))
        .unwrap_or_else(|| panic!("no cache line in:\n{out}"))
        .to_string()
}

fn stat(line: &str, name: &str) -> u64 {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == name {
            return words.next().unwrap().parse().unwrap();
        }
    }
    panic!("no {name} in {line}")
}

async fn hgetall_calls(redis: &RedisServer) -> u64 {
    redis
        .command_calls()
        .await
        .get("hgetall")
        .copied()
        .unwrap_or(0)
}

/// A store with the default cache on `redis` (its own connections: another
/// server, as far as Redis can tell).
async fn caching(redis: &RedisServer) -> RedisStore {
    caching_with(redis, CacheConfig::default()).await
}

/// A store with the cache as `config` sets it on `redis`.
async fn caching_with(redis: &RedisServer, config: CacheConfig) -> RedisStore {
    RedisStore::connect_with_cache(&redis.url(), config)
        .await
        .unwrap()
}

/// `HSET key field value` and `PEXPIRE key ttl_ms`, as another client
/// (`redis-cli`) would write a session.
async fn put(conn: &mut MultiplexedConnection, key: &str, field: &str, value: &str, ttl_ms: u64) {
    let () = redis::pipe()
        .cmd("HSET")
        .arg(key)
        .arg(field)
        .arg(value)
        .ignore()
        .cmd("PEXPIRE")
        .arg(key)
        .arg(ttl_ms)
        .ignore()
        .query_async(conn)
        .await
        .unwrap();
}

/// Sets `data` to "after" in the only session Redis holds, behind the
/// demo's back.
async fn change_the_only_session(conn: &mut MultiplexedConnection) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("session:*")
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    put(conn, &keys[0], "data", "\"after\"", 600_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_logout_on_a_is_never_served_by_b_1000_times() {
    let redis = RedisServer::start();
    let a = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let mut b = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let (ca, cb) = (a.client(), b.client());
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (ca, cb) = (ca.clone(), cb.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let data = format!("w{worker}i{i}");
                let cookie = new_session(&ca, &data).await;
                // B reads it twice: the first fills B's cache, the second
                // is a hit.
                for _ in 0..2 {
                    let seen = view(&cb, &cookie).await;
                    assert_eq!(seen.session(), json!({"data": data}), "B before logout");
                }
                let out = ca.get("/clear_session", Some(cookie.as_bytes())).await;
                assert_eq!(out.status, 200);
                assert!(out.set_cookie_for("session").unwrap().is_removal());
                // The logout is acknowledged: B must not serve the session,
                // from its cache or anywhere.
                let after = view(&cb, &cookie).await;
                assert_eq!(after.status, 200, "{}", after.text());
                if after.session() != json!({}) {
                    println!(
                        "STALE cookie {cookie} at {:?}",
                        std::time::SystemTime::now()
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The second read of a session is a hit whenever B's heartbeat is
    // fresh (a stale heartbeat under load makes it a read from Redis
    // instead): the test is about the cache, so most must be hits.
    let line = shutdown_stats(&mut b);
    assert!(stat(&line, "hits") >= 500, "{line}");
    assert_eq!(stat(&line, "bypassed"), 0, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_a_is_seen_on_b_after_the_bound() {
    let redis = RedisServer::start();
    let a = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let mut b = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let (ca, cb) = (a.client(), b.client());
    let cookie = new_session(&ca, "w").await;
    assert_eq!(view(&cb, &cookie).await.session(), json!({"data": "w"}));
    // Repeated views of an unchanged session do not reach Redis.
    let before = hgetall_calls(&redis).await;
    for _ in 0..50 {
        assert_eq!(view(&cb, &cookie).await.session(), json!({"data": "w"}));
    }
    let reads = hgetall_calls(&redis).await - before;
    assert!(reads <= 25, "{reads} of 50 unchanged views went to Redis");
    for n in 1..=100 {
        let inc = ca.get("/incr", Some(cookie.as_bytes())).await;
        assert_eq!(inc.session()["count"], json!(n));
        tokio::time::sleep(BOUND).await;
        let seen = view(&cb, &cookie).await;
        assert_eq!(
            seen.session()["count"],
            json!(n),
            "B is stale after write {n}"
        );
    }
    let line = shutdown_stats(&mut b);
    assert!(stat(&line, "invalidations") >= 100, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_on_b_racing_writes_on_a_never_stick_10000_sessions() {
    let redis = RedisServer::start();
    let a = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let mut b = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let (ca, cb) = (a.client(), b.client());
    const SESSIONS: usize = 10_000;
    let gate = Arc::new(Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..SESSIONS {
        let (ca, cb, gate) = (ca.clone(), cb.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let cookie = new_session(&ca, "r").await;
            // B's first read (a miss, filling its cache) races A's write.
            let (read, write) =
                tokio::join!(view(&cb, &cookie), ca.get("/incr", Some(cookie.as_bytes())));
            assert_eq!(read.status, 200);
            assert_eq!(write.session()["count"], json!(1));
            (i, cookie)
        });
    }
    let mut cookies = Vec::with_capacity(SESSIONS);
    while let Some(done) = tasks.join_next().await {
        cookies.push(done.unwrap());
    }
    tokio::time::sleep(BOUND + SLACK).await;
    // Long after the write: every read on B sees it (twice: the second
    // read is the one a stuck cache entry would answer).
    let mut stuck = Vec::new();
    for chunk in cookies.chunks(32) {
        let mut reads = tokio::task::JoinSet::new();
        for (i, cookie) in chunk.iter().cloned() {
            let cb = cb.clone();
            reads.spawn(async move {
                let first = view(&cb, &cookie).await.session();
                let second = view(&cb, &cookie).await.session();
                (i, first, second)
            });
        }
        while let Some(done) = reads.join_next().await {
            let (i, first, second) = done.unwrap();
            for seen in [first, second] {
                if seen.get("count") != Some(&json!(1)) {
                    stuck.push((i, seen));
                }
            }
        }
    }
    assert!(
        stuck.is_empty(),
        "{} stale reads, e.g. {:?}",
        stuck.len(),
        &stuck[..stuck.len().min(5)]
    );
    let line = shutdown_stats(&mut b);
    println!("B {line}");
}

// ------------------------------------------------- the store, at scale

/// 10,000 keys: B's cache misses race writes made by another client
/// (`HSET`, as `redis-cli` would). Every reply that raced its write must be
/// served but never cached; afterwards every key reads fresh. `raced` shows
/// the interleaving really happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_misses_racing_writes_never_stick() {
    let redis = RedisServer::start();
    let b = caching_with(&redis, CacheConfig::default().with_max_entries(20_000)).await;
    const KEYS: usize = 10_000;
    let ids: Vec<SessionId> = (0..KEYS)
        .map(|i| SessionId::parse(&format!("race{i:018}")).unwrap())
        .collect();
    let mut writer = redis.conn().await;
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HSET").arg(b.key(id)).arg("n").arg("0").ignore();
        pipe.cmd("EXPIRE").arg(b.key(id)).arg(600).ignore();
    }
    let () = pipe.query_async(&mut writer).await.unwrap();
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for id in &ids {
        let (b, gate, mut writer, key) = (b.clone(), gate.clone(), writer.clone(), b.key(id));
        let id = id.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let write = async move {
                let () = redis::cmd("HSET")
                    .arg(&key)
                    .arg("n")
                    .arg("1")
                    .query_async(&mut writer)
                    .await
                    .unwrap();
            };
            let (read, ()) = tokio::join!(b.load(&id), write);
            let n = read.unwrap().unwrap()["n"].clone();
            assert!(n == json!(0) || n == json!(1), "{n}");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    tokio::time::sleep(BOUND + SLACK).await;
    let mut stuck = 0;
    for id in &ids {
        for _ in 0..2 {
            if b.load(id).await.unwrap().unwrap()["n"] != json!(1) {
                stuck += 1;
            }
        }
    }
    let stats = b.cache_stats().unwrap();
    println!("{stats:?}");
    assert_eq!(stuck, 0, "stale reads after the writes: {stats:?}");
    assert!(
        stats.raced > 0,
        "no miss raced a write; the test proved nothing: {stats:?}"
    );
    assert!(
        stats.hits >= KEYS as u64,
        "the second pass should hit: {stats:?}"
    );
}

/// Two caching stores on separate connections (two servers): a removed
/// key (the `remove("user")` kind of logout) and a deleted session are
/// never read on B once A's call returned, 500 times each, while B is kept
/// busy with hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_and_deletes_on_a_are_never_read_on_b() {
    let redis = RedisServer::start();
    let (a, b) = (caching(&redis).await, caching(&redis).await);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = SessionId::parse("busy000000000000000000").unwrap();
    let mut conn = redis.conn().await;
    put(&mut conn, &b.key(&busy), "a", "1", 600_000).await;
    let mut loaders = Vec::new();
    for _ in 0..4 {
        let (b, stop, busy) = (b.clone(), stop.clone(), busy.clone());
        loaders.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                b.load(&busy).await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for i in 0..500 {
        let id = SessionId::parse(&format!("logout{i:016}")).unwrap();
        let mut record = Record::new();
        record.insert("user".into(), json!("ada"));
        record.insert("theme".into(), json!("dark"));
        assert!(a.create(id.clone(), &record, 600).await.unwrap().is_some());
        for _ in 0..2 {
            assert_eq!(b.load(&id).await.unwrap().unwrap()["user"], json!("ada"));
        }
        let mut changes = Changes::default();
        changes.remove("user");
        assert!(a.update(&id, &changes, 600).await.unwrap().is_some());
        let seen = b.load(&id).await.unwrap().unwrap();
        assert_eq!(seen.get("user"), None, "trial {i}: B read a removed key");
        assert_eq!(b.load(&id).await.unwrap().unwrap()["theme"], json!("dark"));
        a.delete(&id).await.unwrap();
        assert_eq!(
            b.load(&id).await.unwrap(),
            None,
            "trial {i}: B read a deleted session"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in loaders {
        l.await.unwrap();
    }
    let stats = b.cache_stats().unwrap();
    assert!(stats.hits >= 500, "{stats:?}");
}

/// The cache is bounded: far more sessions than entries never grow it
/// past its limit, and what it evicts is simply read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded() {
    let redis = RedisServer::start();
    let store = caching_with(
        &redis,
        CacheConfig::default()
            .with_max_entries(160)
            .with_max_bytes(1 << 20),
    )
    .await;
    let mut conn = redis.conn().await;
    for i in 0..2_000 {
        let id = SessionId::parse(&format!("bound{i:017}")).unwrap();
        put(&mut conn, &store.key(&id), "i", &i.to_string(), 600_000).await;
        assert_eq!(store.load(&id).await.unwrap().unwrap()["i"], json!(i));
        assert_eq!(store.load(&id).await.unwrap().unwrap()["i"], json!(i));
        assert!(store.cache_stats().unwrap().entries <= 160);
    }
    let stats = store.cache_stats().unwrap();
    assert!(stats.entries > 100, "{stats:?}");
    assert!(stats.hits >= 1_500, "{stats:?}");
    // Bytes: a record bigger than a shard's share is served, never cached.
    let id = SessionId::parse("bigrecord0000000000000").unwrap();
    let big = format!("\"{}\"", "x".repeat(200_000));
    put(&mut conn, &store.key(&id), "big", &big, 600_000).await;
    let hits = store.cache_stats().unwrap().hits;
    for _ in 0..3 {
        assert!(store.load(&id).await.unwrap().is_some());
    }
    assert_eq!(store.cache_stats().unwrap().hits, hits);
}

/// After this process writes a session, its loads go straight to Redis for
/// the write cooldown (a session written on most requests costs no misses
/// and invalidations): they see every change at once, whoever made it, and
/// the session is cached again once the cooldown has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_after_a_write_skip_the_cache_for_the_cooldown() {
    const COOLDOWN: Duration = Duration::from_secs(2);
    let redis = RedisServer::start();
    let store = caching_with(&redis, CacheConfig::default().with_write_cooldown(COOLDOWN)).await;
    let mut conn = redis.conn().await;
    let id = SessionId::parse("cooldown00000000000000").unwrap();
    // Cached first, so the write below also sends this store an
    // invalidation (before or after the write's own mark, as the two
    // connections' replies fall): the cooldown goes on regardless.
    put(&mut conn, &store.key(&id), "n", "0", 600_000).await;
    load_until_a_hit(&store, &id, |r| assert_eq!(r["n"], json!(0))).await;
    let (hits, misses) = {
        let stats = store.cache_stats().unwrap();
        (stats.hits, stats.misses)
    };
    assert!(misses >= 1, "{:?}", store.cache_stats());
    let mut changes = Changes::default();
    changes.increment("n", 1);
    assert!(store.update(&id, &changes, 600).await.unwrap().is_some());
    let written = Instant::now();
    while store.cache_stats().unwrap().invalidations == 0 {
        assert!(written.elapsed() < COOLDOWN / 2, "no invalidation came");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for i in 0..20 {
        // Another client's change, read back at once: no staleness bound
        // applies to a load that skipped the cache.
        put(&mut conn, &store.key(&id), "other", &i.to_string(), 600_000).await;
        let seen = store.load(&id).await.unwrap().unwrap();
        assert_eq!((&seen["n"], &seen["other"]), (&json!(1), &json!(i)));
    }
    let stats = store.cache_stats().unwrap();
    assert!(
        written.elapsed() < COOLDOWN,
        "the loop outlasted the cooldown"
    );
    assert_eq!(
        (stats.after_write, stats.hits, stats.misses),
        (20, hits, misses),
        "{stats:?}"
    );
    tokio::time::sleep(COOLDOWN.saturating_sub(written.elapsed())).await;
    load_until_a_hit(&store, &id, |r| assert_eq!(r["other"], json!(19))).await;
    let stats = store.cache_stats().unwrap();
    assert_eq!(stats.after_write, 20, "{stats:?}");
    assert!(stats.misses > misses, "{stats:?}");
    // A write starts the cooldown again; with none, the next load is a miss.
    assert!(store.update(&id, &changes, 600).await.unwrap().is_some());
    assert_eq!(store.load(&id).await.unwrap().unwrap()["n"], json!(2));
    assert_eq!(store.cache_stats().unwrap().after_write, 21);
    let eager = caching_with(
        &redis,
        CacheConfig::default().with_write_cooldown(Duration::ZERO),
    )
    .await;
    assert!(eager.update(&id, &changes, 600).await.unwrap().is_some());
    load_until_a_hit(&eager, &id, |r| assert_eq!(r["n"], json!(3))).await;
    assert_eq!(eager.cache_stats().unwrap().after_write, 0);
}

/// Loads `id` until one load is a hit (a hit needs a fresh heartbeat, which
/// a loaded machine can delay), checking every answer.
async fn load_until_a_hit(store: &RedisStore, id: &SessionId, check: impl Fn(&Record)) {
    let hits = store.cache_stats().unwrap().hits;
    for _ in 0..500 {
        check(&store.load(id).await.unwrap().unwrap());
        if store.cache_stats().unwrap().hits > hits {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("no hit in 500 loads: {:?}", store.cache_stats());
}

/// Loads of one session at the same time (a page's parallel API calls) make
/// one fill of the cache: the first marks the key and reads it through the
/// tracking connection; the others read straight from Redis meanwhile
/// (`joined`) instead of taking the mark over, which left each fill undone
/// by the next load while loads kept coming. Redis is paused (`CLIENT
/// PAUSE`) while they start, so that all of them overlap the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loads_of_one_session_at_the_same_time_make_one_fill() {
    const OTHERS: u64 = 49;
    let redis = RedisServer::start();
    let store = Arc::new(caching(&redis).await);
    let mut conn = redis.conn().await;
    for trial in 0..5 {
        let id = SessionId::parse(&format!("together{trial:014}")).unwrap();
        put(&mut conn, &store.key(&id), "n", &trial.to_string(), 600_000).await;
        let before = store.cache_stats().unwrap();
        let () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(300)
            .arg("ALL")
            .query_async(&mut conn)
            .await
            .unwrap();
        let load = || {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.load(&id).await })
        };
        let first = load();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let others: Vec<_> = (0..OTHERS).map(|_| load()).collect();
        for task in std::iter::once(first).chain(others) {
            let record = task.await.unwrap().unwrap().unwrap();
            assert_eq!(record["n"], json!(trial));
        }
        let after = store.cache_stats().unwrap();
        assert_eq!(after.misses - before.misses, 1, "{before:?} {after:?}");
        assert_eq!(after.joined - before.joined, OTHERS, "{before:?} {after:?}");
        assert_eq!(after.raced, before.raced, "{before:?} {after:?}");
        assert_eq!(after.entries, before.entries + 1, "{before:?} {after:?}");
        load_until_a_hit(&store, &id, |r| assert_eq!(r["n"], json!(trial))).await;
    }
}

/// The marks of written sessions are bounded like the entries: writing far
/// more sessions than `max_entries` keeps at most that many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_marks_are_bounded() {
    let redis = RedisServer::start();
    let store = caching_with(
        &redis,
        CacheConfig::default()
            .with_max_entries(16)
            .with_write_cooldown(Duration::from_secs(600)),
    )
    .await;
    let mut record = Record::new();
    record.insert("a".into(), json!(1));
    let ids: Vec<SessionId> = (0..400)
        .map(|i| SessionId::parse(&format!("marks{i:017}")).unwrap())
        .collect();
    for id in &ids {
        assert!(
            store
                .create(id.clone(), &record, 600)
                .await
                .unwrap()
                .is_some()
        );
    }
    for id in &ids {
        assert_eq!(store.load(id).await.unwrap().unwrap()["a"], json!(1));
    }
    let stats = store.cache_stats().unwrap();
    // One mark per shard (16 shards, 16 entries): the other loads went
    // through the cache as misses.
    assert!((1..=16).contains(&stats.after_write), "{stats:?}");
    assert!(stats.misses >= 384, "{stats:?}");
}

/// `FLUSHALL` by another client (Redis sends a null invalidation): nothing
/// cached survives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_empties_the_cache() {
    let redis = RedisServer::start();
    let store = caching(&redis).await;
    let mut conn = redis.conn().await;
    let id = SessionId::parse("flushall00000000000000").unwrap();
    put(&mut conn, &store.key(&id), "a", "1", 600_000).await;
    load_until_a_hit(&store, &id, |r| assert_eq!(r["a"], json!(1))).await;
    let hits = store.cache_stats().unwrap().hits;
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    tokio::time::sleep(BOUND + SLACK).await;
    assert_eq!(store.load(&id).await.unwrap(), None);
    let stats = store.cache_stats().unwrap();
    assert_eq!(stats.hits, hits, "{stats:?}");
    assert!(stats.flushes >= 2, "{stats:?}");
}

/// A session expiring in Redis is not served from the cache after its TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_not_served_from_the_cache() {
    let redis = RedisServer::start();
    let store = caching(&redis).await;
    let mut conn = redis.conn().await;
    let id = SessionId::parse("expiring00000000000000").unwrap();
    // Long enough for a hit even when the heartbeat is slow to confirm.
    const TTL_MS: u64 = 1_500;
    const TTL: Duration = Duration::from_millis(TTL_MS);
    put(&mut conn, &store.key(&id), "a", "1", TTL_MS).await;
    // After the write: the key is gone by `start + TTL`.
    let start = Instant::now();
    load_until_a_hit(&store, &id, |r| assert_eq!(r["a"], json!(1))).await;
    assert!(start.elapsed() < TTL, "the hit came after the TTL");
    // Redis keeps a key until the whole millisecond after its expiry has
    // passed (`now > when`, in wall-clock ms): a load at exactly `start +
    // TTL` may still find it in Redis (this test failed once so). With the
    // 10 ms slack, a cache that ignored the TTL still fails here unless
    // Redis's active expiry (every 100 ms) happened to invalidate the key
    // in those ~12 ms: about one run in eight passes by luck.
    const REDIS_EXPIRY_SLACK: Duration = Duration::from_millis(10);
    tokio::time::sleep(TTL.saturating_sub(start.elapsed()) + REDIS_EXPIRY_SLACK).await;
    assert_eq!(store.load(&id).await.unwrap(), None);
}

// ------------------------------------------------- the connection failing

/// Views on B, from `from` on, until `until`: each answer's session (or
/// the status when not 200).
async fn watch(client: &Client, cookie: &str, until: Instant) -> Vec<Value> {
    let mut seen = Vec::new();
    while Instant::now() < until {
        let reply = view(client, cookie).await;
        seen.push(if reply.status == 200 {
            reply.session()
        } else {
            json!(reply.status)
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    seen
}

/// Polls B until it shows `want` (Redis reachable again).
async fn until_shows(client: &Client, cookie: &str, want: &Value, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let reply = view(client, cookie).await;
        if reply.status == 200 && &reply.session() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "B never showed {want} (last: {} {})",
            reply.status,
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn cached_on_b(b: &Client, cookie: &str, data: &Value) {
    for _ in 0..3 {
        assert_eq!(&view(b, cookie).await.session(), data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_empties_the_cache() {
    let mut redis = RedisServer::start();
    let mut b = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let cb = b.client();
    let cookie = new_session(&cb, "before").await;
    cached_on_b(&cb, &cookie, &json!({"data": "before"})).await;
    // Redis restarts empty: the session is gone everywhere.
    redis.stop();
    let stopped = Instant::now();
    tokio::time::sleep(BOUND + SLACK).await;
    let during = watch(&cb, &cookie, Instant::now() + Duration::from_millis(300)).await;
    assert!(
        during.iter().all(|s| s != &json!({"data": "before"})),
        "served from the cache {:?} after Redis stopped: {during:?}",
        stopped.elapsed()
    );
    redis.restart();
    until_shows(&cb, &cookie, &json!({}), Duration::from_secs(10)).await;
    // Emptied when the connection was lost (the first flush is the
    // connection's start).
    let line = shutdown_stats(&mut b);
    assert!(stat(&line, "flushes") >= 2, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_tracking_connection_empties_the_cache() {
    let redis = RedisServer::start();
    let mut b = NativeDemo::start(&DemoOptions::redis_cached(redis.url()));
    let cb = b.client();
    let cookie = new_session(&cb, "before").await;
    cached_on_b(&cb, &cookie, &json!({"data": "before"})).await;
    let mut conn = redis.conn().await;
    // Kill every tracking connection, then change the session: the killed
    // connection can no longer deliver that invalidation.
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    let tracking: Vec<&str> = clients
        .lines()
        .filter(|l| {
            l.split(' ')
                .any(|f| f.starts_with("flags=") && f.contains('t'))
        })
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert!(
        !tracking.is_empty(),
        "no tracking connection in:\n{clients}"
    );
    for id in &tracking {
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(*id)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let killed = Instant::now();
    change_the_only_session(&mut conn).await;
    tokio::time::sleep((BOUND + SLACK).saturating_sub(killed.elapsed())).await;
    let seen = watch(&cb, &cookie, Instant::now() + Duration::from_millis(300)).await;
    assert!(
        seen.iter().all(|s| s != &json!({"data": "before"})),
        "stale after the tracking connection was killed: {seen:?}"
    );
    until_shows(
        &cb,
        &cookie,
        &json!({"data": "after"}),
        Duration::from_secs(5),
    )
    .await;
    cached_on_b(&cb, &cookie, &json!({"data": "after"})).await;
    let line = shutdown_stats(&mut b);
    assert!(stat(&line, "connections") >= 2, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_network_cut_stops_hits_within_the_bound() {
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.port());
    let mut b = NativeDemo::start(&DemoOptions::redis_cached(proxy.redis_url()));
    let cb = b.client();
    let cookie = new_session(&cb, "before").await;
    cached_on_b(&cb, &cookie, &json!({"data": "before"})).await;
    // Nothing passes between B and Redis any more, and nothing is closed.
    proxy.freeze();
    let cut = Instant::now();
    let mut conn = redis.conn().await;
    change_the_only_session(&mut conn).await;
    tokio::time::sleep((BOUND + SLACK).saturating_sub(cut.elapsed())).await;
    // B cannot know about the change; it must stop serving what it cached.
    // (Its answers are 503 once Redis's 2 s timeout passes.)
    let mut answers = Vec::new();
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (cb, cookie) = (cb.clone(), cookie.clone());
        reads.spawn(async move { view(&cb, &cookie).await });
    }
    while let Some(reply) = reads.join_next().await {
        let reply = reply.unwrap();
        answers.push((reply.status, reply.text()));
    }
    assert!(
        answers.iter().all(|(status, _)| *status == 503),
        "answers during the cut: {answers:?}"
    );
    proxy.thaw();
    until_shows(
        &cb,
        &cookie,
        &json!({"data": "after"}),
        Duration::from_secs(15),
    )
    .await;
    let line = shutdown_stats(&mut b);
    assert!(stat(&line, "flushes") >= 2, "{line}");
}

/// `PING`s Redis has answered so far (from every client).
async fn pings(redis: &RedisServer) -> u64 {
    e2e::redis_server::calls_of(&redis.command_calls().await, "ping")
}

/// The heartbeat pings only while hits are served: under a stream of hits
/// it keeps them flowing, an idle store sends one ping per `IDLE_PING`,
/// the first load after a pause reads through and the loads right after it
/// hit again (a read's answer is a proof, like a ping's), loads further
/// apart than the bound read through without setting pings off, and a
/// silent cut of an idle store's tracking connection still empties its
/// cache within `IDLE_PING` plus the ping timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_pings_while_hits_flow_and_rests_when_idle() {
    use edge_session_tower::redis_store::IDLE_PING;
    const PING_TIMEOUT: Duration = Duration::from_millis(300);
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.port());
    let config = CacheConfig::default().with_ping_timeout(PING_TIMEOUT);
    let heartbeat = config.heartbeat();
    let store = RedisStore::connect_with_cache(&proxy.redis_url(), config)
        .await
        .unwrap();
    let mut conn = redis.conn().await;
    let id = SessionId::parse("heartbeat0000000000000").unwrap();
    put(&mut conn, &store.key(&id), "a", "1", 600_000).await;
    load_until_a_hit(&store, &id, |r| assert_eq!(r["a"], json!(1))).await;

    // A second of loads: nearly all hits, and the heartbeat pinging (one
    // ping per heartbeat on a quiet machine; one per 16 is asked here, 50
    // times the idle rate).
    let (before, pinged) = (store.cache_stats().unwrap(), pings(&redis).await);
    let start = Instant::now();
    let mut loads = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        assert_eq!(store.load(&id).await.unwrap().unwrap()["a"], json!(1));
        loads += 1;
    }
    let busy = start.elapsed();
    let (after, sent) = (store.cache_stats().unwrap(), pings(&redis).await - pinged);
    let hits = after.hits - before.hits;
    assert!(hits * 10 >= loads * 9, "{hits} hits of {loads} loads");
    let ticks = busy.as_nanos() / heartbeat.as_nanos();
    assert!(
        u128::from(sent) * 16 >= ticks,
        "{sent} pings in {busy:?} of hits (heartbeat {heartbeat:?})"
    );

    // Three idle seconds: a ping per IDLE_PING, not one per heartbeat.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pinged = pings(&redis).await;
    let idle = Duration::from_secs(3);
    tokio::time::sleep(idle).await;
    let sent = pings(&redis).await - pinged;
    let most = idle.as_millis() / IDLE_PING.as_millis() + 1;
    assert!(
        (1..=most as u64).contains(&sent),
        "{sent} pings in {idle:?} idle"
    );

    // After the pause the cached record's proof is old: a load reads it
    // through (unless an idle ping was answered just before it: then it
    // hits, so a few tries), and the loads after it hit again.
    let mut read_through = false;
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(IDLE_PING / 3).await;
        }
        let before = store.cache_stats().unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap()["a"], json!(1));
        let after = store.cache_stats().unwrap();
        if (after.hits, after.misses) == (before.hits, before.misses + 1) {
            read_through = true;
            break;
        }
    }
    assert!(read_through, "{:?}", store.cache_stats());
    load_until_a_hit(&store, &id, |r| assert_eq!(r["a"], json!(1))).await;

    // Loads further apart than the bound: each reads through (its proof is
    // always too old), and they do not set the heartbeat pinging (before,
    // ~800 pings a second kept such loads hitting).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (before, pinged) = (store.cache_stats().unwrap(), pings(&redis).await);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.load(&id).await.unwrap().unwrap()["a"], json!(1));
    }
    let (after, sent) = (store.cache_stats().unwrap(), pings(&redis).await - pinged);
    assert!(after.misses - before.misses >= 27, "{before:?} {after:?}");
    assert!(sent <= 5, "{sent} pings for 30 loads 20 ms apart");

    // A miss's answer is a proof like a ping's: after a pause, a new key's
    // read (which wakes nobody: nothing was cached) lets the next load hit
    // with no ping answered in between. Counted over trials: a slow machine
    // may take longer than the bound between the two loads.
    let mut proven_by_the_read = 0;
    for trial in 0..20 {
        // The last trial's hit set off a ping: let it be answered. Then a
        // ping answered before this snapshot was sent more than the bound
        // before the loads below; one answered after it changes the count
        // (a ping is counted before it confirms).
        tokio::time::sleep(Duration::from_millis(30)).await;
        let before = store.cache_stats().unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let id = SessionId::parse(&format!("readproof{trial:013}")).unwrap();
        put(&mut conn, &store.key(&id), "t", &trial.to_string(), 600_000).await;
        assert_eq!(store.load(&id).await.unwrap().unwrap()["t"], json!(trial));
        assert_eq!(store.load(&id).await.unwrap().unwrap()["t"], json!(trial));
        // No ping answered since 30 ms before the first load: the second
        // load's hit rests on the first load's answer alone.
        let after = store.cache_stats().unwrap();
        if after.pings == before.pings && after.hits == before.hits + 1 {
            proven_by_the_read += 1;
        }
    }
    assert!(proven_by_the_read > 0, "no hit right after a read");

    // Idle again, then nothing passes to Redis and nothing is closed: the
    // idle ping times out and the cache empties itself, with no load.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let flushes = store.cache_stats().unwrap().flushes;
    proxy.freeze();
    let cut = Instant::now();
    loop {
        let stats = store.cache_stats().unwrap();
        if stats.flushes > flushes {
            assert_eq!(stats.entries, 0, "{stats:?}");
            break;
        }
        assert!(
            cut.elapsed() < IDLE_PING + PING_TIMEOUT + Duration::from_millis(500),
            "the cache was not emptied {:?} after the cut: {stats:?}",
            cut.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.thaw();
}
