//! Measures the local cache's invalidation delay under load (a benchmark,
//! not a test): how long after another client's write is acknowledged by
//! Redis a caching store stops serving the old record.
//!
//! A store with the cache (B) serves loads of 1,000 cached sessions from
//! 16 busy tasks; meanwhile, 2,000 times, a second client writes a cached
//! session (`HSET`) and B is asked for it again and again until it answers
//! the new value. Prints, from the write's acknowledgement: how late B still
//! served the old record (the staleness the bound is about: the start of
//! the last stale load), the delay to B's first fresh answer (p50, p99,
//! max; it includes that answer's own read from Redis), how many first
//! reads right after the acknowledgement were still stale, the load's rate
//! and the hit ratio.
//!
//! `bench-cache-delay --redis redis://127.0.0.1:PORT`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edge_session_tower::RedisStore;
use edge_session_tower::edge_session::{SessionId, SessionStore};
use edge_session_tower::redis_store::CacheConfig;
use serde_json::json;

const SESSIONS: usize = 1_000;
const TRIALS: usize = 2_000;
const LOADERS: usize = 16;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut redis_url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--redis" => redis_url = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    let url = redis_url.expect("--redis URL");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(url));
}

async fn run(url: String) {
    let config = CacheConfig::default();
    let b = RedisStore::connect_with_cache(&url, config.clone())
        .await
        .unwrap();
    let mut writer = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ids: Arc<Vec<SessionId>> = Arc::new(
        (0..SESSIONS)
            .map(|i| SessionId::parse(&format!("delay{i:017}")).unwrap())
            .collect(),
    );
    for id in ids.iter() {
        let () = redis::cmd("HSET")
            .arg(b.key(id))
            .arg("n")
            .arg("0")
            .query_async(&mut writer)
            .await
            .unwrap();
        let () = redis::cmd("EXPIRE")
            .arg(b.key(id))
            .arg(600)
            .query_async(&mut writer)
            .await
            .unwrap();
        b.load(id).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let loads = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for t in 0..LOADERS {
        let (b, ids, stop, loads) = (b.clone(), ids.clone(), stop.clone(), loads.clone());
        loaders.push(tokio::spawn(async move {
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                // The busy sessions are the upper half; trials use the lower.
                let id = &ids[SESSIONS / 2 + i % (SESSIONS / 2)];
                b.load(id).await.unwrap();
                loads.fetch_add(1, Ordering::Relaxed);
                i += 7;
                tokio::task::yield_now().await;
            }
        }));
    }
    let started = Instant::now();
    let mut delays = Vec::with_capacity(TRIALS);
    let mut stale_windows = Vec::new();
    let mut stale_first = 0;
    for trial in 0..TRIALS {
        let id = &ids[trial % (SESSIONS / 2)];
        let value = (trial + 1).to_string();
        // Make sure B has the current value cached.
        b.load(id).await.unwrap();
        let () = redis::cmd("HSET")
            .arg(b.key(id))
            .arg("n")
            .arg(&value)
            .query_async(&mut writer)
            .await
            .unwrap();
        let acked = Instant::now();
        let want = json!(trial + 1);
        let mut first = true;
        let mut last_stale = None;
        loop {
            let asked = acked.elapsed();
            let seen = b.load(id).await.unwrap().unwrap();
            if seen["n"] == want {
                break;
            }
            if first {
                stale_first += 1;
            }
            first = false;
            last_stale = Some(asked);
            // Let the runtime run (the connection's reader among others).
            tokio::task::yield_now().await;
            assert!(
                acked.elapsed() < Duration::from_secs(5),
                "never invalidated"
            );
        }
        delays.push(acked.elapsed());
        stale_windows.extend(last_stale);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.await.unwrap();
    }
    delays.sort();
    stale_windows.sort();
    let pick = |q: f64| delays[((delays.len() as f64 - 1.0) * q) as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let stats = b.cache_stats().unwrap();
    let lookups = (stats.hits + stats.misses + stats.bypassed + stats.joined).max(1);
    println!(
        "invalidation delay (write acknowledged -> first fresh read on the caching store), {TRIALS} writes, {LOADERS} tasks loading cached sessions meanwhile:"
    );
    println!(
        "  stale answers: after {stale_first} of {TRIALS} writes; the latest began {:.1} us after the ack (bound guaranteed: {} ms from when Redis applied the write)",
        stale_windows.last().map_or(0.0, |d| us(*d)),
        config.max_staleness().as_millis()
    );
    println!(
        "  first fresh answer after the ack: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        us(pick(0.50)),
        us(pick(0.99)),
        us(pick(1.0)),
    );
    println!(
        "  load meanwhile: {:.0} loads/s, hit ratio {:.4} ({} hits, {} misses, {} bypassed, {} joined, {} raced)",
        loads.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        stats.hits as f64 / lookups as f64,
        stats.hits,
        stats.misses,
        stats.bypassed,
        stats.joined,
        stats.raced
    );
}
