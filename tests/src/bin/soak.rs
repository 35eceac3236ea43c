//! Soak: mixed traffic against the native demo over a private redis-server
//! for a while, sampling the demo's memory and Redis's key count.
//!
//! Traffic, from `CLIENTS` concurrent users in a loop: a new session, five
//! views, two increments, a login (new id), a view, a logout, a view with the
//! dead cookie, a view with garbage cookies, and an abandoned new session
//! (never seen again: only its TTL removes it). The demo runs with a short
//! session TTL (`SESSION_TTL_SECS`, default 20 s) so that the key count must
//! level off at about creations/s × TTL.
//!
//! Fails (exit 1) when: any answer is not 200; the demo's RSS in the last
//! third of the run exceeds its RSS at the end of the warm-up by more than
//! 25 % + 8 MiB; or Redis holds more keys than 1.5 × (creations/s × TTL) + 100.
//!
//! ```text
//! bash scripts/soak.sh 600     # ten minutes (docs/benchmarks.md)
//! bash scripts/soak.sh 60      # the test command's run
//! ```
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::demo::{DemoOptions, NativeDemo};
use e2e::http::{Client, Jar};
use e2e::redis_server::RedisServer;

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    ok: AtomicU64,
    other: AtomicU64,
    created: AtomicU64,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

async fn user(client: Client, counts: Arc<Counts>, until: Instant, id: usize) {
    let mut round = 0u64;
    while Instant::now() < until {
        round += 1;
        let mut jar = Jar::new();
        let expect_ok = |status: u16, what: &str| {
            counts.requests.fetch_add(1, Ordering::Relaxed);
            if status == 200 {
                counts.ok.fetch_add(1, Ordering::Relaxed);
            } else {
                counts.other.fetch_add(1, Ordering::Relaxed);
                eprintln!("user {id} round {round}: {what} answered {status}");
            }
        };
        let r = jar
            .fetch(&client, &format!("/setup_session?data=u{id}r{round}"))
            .await;
        counts.created.fetch_add(1, Ordering::Relaxed);
        expect_ok(r.status, "setup");
        for _ in 0..5 {
            expect_ok(jar.fetch(&client, "/view_session").await.status, "view");
        }
        for _ in 0..2 {
            expect_ok(jar.fetch(&client, "/incr?key=n").await.status, "incr");
        }
        let before_login = jar.header().unwrap_or_default();
        expect_ok(
            jar.fetch(&client, &format!("/login?user=u{id}"))
                .await
                .status,
            "login",
        );
        expect_ok(jar.fetch(&client, "/view_session").await.status, "view");
        let before_logout = jar.header().unwrap_or_default();
        expect_ok(jar.fetch(&client, "/clear_session").await.status, "clear");
        for dead in [before_login, before_logout] {
            let r = client.get("/view_session", Some(dead.as_bytes())).await;
            expect_ok(r.status, "dead cookie");
            if r.status == 200 && r.session() != serde_json::json!({}) {
                counts.other.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "user {id}: a dead cookie still shows a session: {}",
                    r.text()
                );
            }
        }
        let garbage = b"session=x; session=v1.AAAA.1.zz; session=\xff\xfe; theme=dark";
        expect_ok(
            client.get("/view_session", Some(garbage)).await.status,
            "garbage",
        );
        // Abandoned: a new session nobody comes back to.
        expect_ok(client.get("/setup_session", None).await.status, "abandoned");
        counts.created.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60);
    let clients: usize = std::env::var("CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let ttl: u64 = std::env::var("SESSION_TTL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let redis = RedisServer::start();
    let demo = NativeDemo::start(&DemoOptions {
        env: vec![("SESSION_TTL_SECS", ttl.to_string())],
        ..DemoOptions::redis(redis.url())
    });
    let pid = demo.pid();
    let client = demo.client();
    let counts = Arc::new(Counts::default());
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let users: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(user(client.clone(), counts.clone(), until, i)))
        .collect();

    let mut conn = redis.conn().await;
    let warmup = Duration::from_secs((seconds / 5).max(10));
    let mut samples: Vec<(u64, u64, u64, u64)> = Vec::new(); // (secs, rss KiB, keys, requests)
    println!("| t (s) | demo RSS (MiB) | Redis keys | requests | non-200 |");
    println!("|---|---|---|---|---|");
    let mut next = start;
    loop {
        let now = Instant::now();
        let keys: u64 = redis::cmd("DBSIZE")
            .query_async(&mut conn)
            .await
            .unwrap_or(0);
        let rss = rss_kib(pid);
        let t = now.duration_since(start).as_secs();
        let requests = counts.requests.load(Ordering::Relaxed);
        samples.push((t, rss, keys, requests));
        println!(
            "| {t} | {:.1} | {keys} | {requests} | {} |",
            rss as f64 / 1024.0,
            counts.other.load(Ordering::Relaxed)
        );
        if now >= until {
            break;
        }
        next += Duration::from_secs(10);
        tokio::time::sleep_until(next.min(until).into()).await;
    }
    for u in users {
        u.await.unwrap();
    }

    let elapsed = start.elapsed().as_secs_f64();
    let requests = counts.requests.load(Ordering::Relaxed);
    let other = counts.other.load(Ordering::Relaxed);
    let created = counts.created.load(Ordering::Relaxed);
    let warm = samples
        .iter()
        .filter(|s| s.0 >= warmup.as_secs())
        .map(|s| s.1)
        .next()
        .unwrap_or(0);
    let last_third = seconds * 2 / 3;
    let late_max = samples
        .iter()
        .filter(|s| s.0 >= last_third)
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    let keys_max = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let rate = created as f64 / elapsed;
    let key_bound = (1.5 * rate * ttl as f64) as u64 + 100;
    let rss_bound = warm + warm / 4 + 8 * 1024;
    println!(
        "\n{requests} requests in {elapsed:.0} s ({:.0}/s), {other} not 200; {created} sessions created ({rate:.1}/s); \
         RSS {:.1} MiB after warm-up, {:.1} MiB at most in the last third (bound {:.1}); \
         Redis keys at most {keys_max} (bound {key_bound}, TTL {ttl} s)",
        requests as f64 / elapsed,
        warm as f64 / 1024.0,
        late_max as f64 / 1024.0,
        rss_bound as f64 / 1024.0
    );
    let mut failed = false;
    if other > 0 {
        eprintln!("FAIL: {other} answers were not 200");
        failed = true;
    }
    if late_max > rss_bound {
        eprintln!("FAIL: RSS grew after warm-up");
        failed = true;
    }
    if keys_max > key_bound {
        eprintln!("FAIL: Redis holds more keys than the TTL allows");
        failed = true;
    }
    if requests == 0 {
        eprintln!("FAIL: no traffic");
        failed = true;
    }
    drop(demo);
    drop(redis);
    std::process::exit(i32::from(failed));
}
