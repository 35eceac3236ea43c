//! Load benchmark (not a pass/fail test): the worker demo under `wrangler
//! dev` on each edge store, driven by wrk over loopback. Prints requests/s
//! and latency percentiles for a view (`/view_session` with a cookie: one
//! store read) and a write (`/incr`: a read and a field-level write).
//!
//! Everything is local: workerd's Durable Objects and KV simulators and the
//! repo's Upstash emulator over a local redis-server. The figures compare
//! the code paths and local round trips, not Cloudflare's network (see the
//! README's table for the platform's own figures).
//!
//! ```text
//! bash scripts/bench-worker-stores.sh          # builds, then runs this
//! ```
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

use e2e::redis_server::RedisServer;
use e2e::suite::{Target, setup};
use e2e::worker::{UpstashEmulator, WorkerOptions, WranglerDev};

const TOKEN: &str = "bench-upstash-token";

/// wrk's figures for one run.
struct Run {
    rps: f64,
    p50: f64,
    p99: f64,
}

/// Milliseconds from wrk's `123.45us` / `1.23ms` / `1.02s`.
fn millis(v: &str) -> f64 {
    if let Some(n) = v.strip_suffix("us") {
        n.parse::<f64>().unwrap() / 1000.0
    } else if let Some(n) = v.strip_suffix("ms") {
        n.parse().unwrap()
    } else if let Some(n) = v.strip_suffix('s') {
        n.parse::<f64>().unwrap() * 1000.0
    } else {
        panic!("wrk latency {v:?}")
    }
}

fn wrk(url: &str, cookie: &str, duration: &str, connections: &str) -> Run {
    let out = Command::new("wrk")
        .args(["-t1", "-c", connections, "-d", duration, "--latency"])
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains("Non-2xx"),
        "non-2xx answers from {url}:\n{text}"
    );
    let field = |first: &str| -> Option<String> {
        text.lines()
            .map(str::split_whitespace)
            .find_map(|mut words| {
                (words.next() == Some(first))
                    .then(|| words.next())
                    .flatten()
            })
            .map(str::to_string)
    };
    Run {
        rps: field("Requests/sec:").unwrap().parse().unwrap(),
        p50: millis(&field("50%").unwrap()),
        p99: millis(&field("99%").unwrap()),
    }
}

#[tokio::main]
async fn main() {
    let duration = std::env::var("DURATION").unwrap_or_else(|_| "10s".into());
    let connections = std::env::var("CONNECTIONS").unwrap_or_else(|_| "8".into());
    let redis = RedisServer::start();
    let emulator = UpstashEmulator::start(&redis.url(), TOKEN);
    let stores = [
        ("Durable Objects", WorkerOptions::durable_object()),
        ("Workers KV", WorkerOptions::kv()),
        (
            "Upstash (emulator)",
            WorkerOptions::upstash(&emulator.url(), TOKEN),
        ),
    ];
    let mut rows = Vec::new();
    for (name, options) in stores {
        eprintln!("{name}: starting wrangler dev...");
        let dev = WranglerDev::start(&options);
        let t = Target::new(dev.client());
        let (cookie, _) = setup(&t, Some("bench")).await;
        let base = dev.base();
        // Warm up (the isolate, the object, the caches).
        wrk(&format!("{base}/view_session"), &cookie, "2s", &connections);
        let view = wrk(
            &format!("{base}/view_session"),
            &cookie,
            &duration,
            &connections,
        );
        let incr = wrk(
            &format!("{base}/incr?key=n"),
            &cookie,
            &duration,
            &connections,
        );
        rows.push((name, view, incr));
    }
    println!(
        "\nwrangler dev (workerd, local simulators), wrk -t1 -c{connections} -d{duration}, one session; {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| store | view req/s | view p50 / p99 (ms) | incr req/s | incr p50 / p99 (ms) |");
    println!("|---|---|---|---|---|");
    for (name, view, incr) in rows {
        println!(
            "| {name} | {:.0} | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} |",
            view.rps, view.p50, view.p99, incr.rps, incr.p50, incr.p99
        );
    }
}
