//! Per-request cost of the lifecycle engine next to one HMAC-SHA256 of the
//! same cookie (DESIGN.md's budget: within 3x).
//!
//! `cargo bench -p edge-session --bench engine` runs criterion, then prints
//! a summary table with the ratios from criterion's own estimates.
//!
//! On a machine too noisy for time (a shared VM), count instructions
//! instead: with `ENGINE_ITERATIONS=N` the bench runs each case N times
//! without criterion, one case per `ENGINE_CASE` (a case's name below), so
//! `valgrind --tool=callgrind` gives its exact instruction count:
//! `scripts/bench-instructions.sh` prints instructions per request.
#![allow(missing_docs, clippy::unwrap_used)]

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use criterion::Criterion;
    use edge_session::adapter::{Action, Commit, Lifecycle};
    use edge_session::testing::block_on_ready;
    use edge_session::{MemoryStore, SessionConfig};
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    const SECRET: &[u8] = b"benchmark secret of at least thirty-two bytes";
    const GROUP: &str = "engine";

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn out_dir() -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion")
    }

    pub(crate) fn main() {
        let config = SessionConfig::from_secret(SECRET).unwrap();
        let store = MemoryStore::new();
        let t = now();

        // One session in the store, as the setup route leaves it.
        let mut lc = Lifecycle::start(&config, [], t);
        block_on_ready(async {
            let s = lc.load(&store).await.unwrap();
            s.insert("data", "session_data").unwrap();
            s.insert("user", 42).unwrap();
        });
        let commit = block_on_ready(lc.commit(&config, &store, t)).unwrap();
        let set_cookie = commit.set_cookie.unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let header = format!("theme=dark; {cookie}; lang=en");

        if let Ok(n) = std::env::var("ENGINE_ITERATIONS") {
            let n: u64 = n.parse().unwrap();
            let case = std::env::var("ENGINE_CASE").unwrap_or_default();
            for i in 0..n {
                match case.as_str() {
                    "hmac_sha256_of_cookie" => {
                        black_box(hmac(&cookie));
                    }
                    "request_untouched" => {
                        black_box(untouched(&config, &store, &header, t));
                    }
                    "request_changed" => {
                        black_box(changed(&config, &store, &header, t, i));
                    }
                    "none" => {}
                    other => panic!("unknown ENGINE_CASE {other:?}"),
                }
            }
            return;
        }

        let mut c = Criterion::default()
            .output_directory(&out_dir())
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        let mut group = c.benchmark_group(GROUP);

        group.bench_function("hmac_sha256_of_cookie", |b| b.iter(|| hmac(&cookie)));

        group.bench_function("request_untouched", |b| {
            b.iter(|| untouched(&config, &store, &header, t))
        });

        let mut n = 0u64;
        group.bench_function("request_changed", |b| {
            b.iter(|| {
                n += 1;
                changed(&config, &store, &header, t, n)
            })
        });

        group.bench_function("request_without_cookie", |b| {
            b.iter(|| {
                let lc = Lifecycle::start(&config, [black_box(&b"theme=dark; lang=en"[..])], t);
                black_box(block_on_ready(lc.commit(&config, &store, t)).unwrap())
            })
        });
        group.finish();
        c.final_summary();
        summary();
    }

    /// One HMAC-SHA256 of the cookie, key set-up included: the budget's unit.
    fn hmac(cookie: &str) -> impl Sized {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
        mac.update(black_box(cookie.as_bytes()));
        mac.finalize().into_bytes()
    }

    /// A request that reads the session and leaves it untouched.
    fn untouched(config: &SessionConfig, store: &MemoryStore, header: &str, t: u64) -> Commit {
        let mut lc = Lifecycle::start(config, [black_box(header.as_bytes())], t);
        block_on_ready(async {
            let s = lc.load(store).await.unwrap();
            black_box(s.get::<String>("data").unwrap());
        });
        let commit = block_on_ready(lc.commit(config, store, t)).unwrap();
        debug_assert_eq!(commit.action, Action::None);
        commit
    }

    /// A request that reads the session and writes one key (`n`).
    fn changed(
        config: &SessionConfig,
        store: &MemoryStore,
        header: &str,
        t: u64,
        n: u64,
    ) -> Commit {
        let mut lc = Lifecycle::start(config, [black_box(header.as_bytes())], t);
        block_on_ready(async {
            let s = lc.load(store).await.unwrap();
            black_box(s.get::<String>("data").unwrap());
            s.insert("n", n).unwrap();
        });
        let commit = block_on_ready(lc.commit(config, store, t)).unwrap();
        debug_assert_eq!(commit.action, Action::Saved);
        commit
    }

    fn mean_ns(name: &str) -> Option<f64> {
        let path = out_dir().join(GROUP).join(name).join("new/estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["mean"]["point_estimate"].as_f64()
    }

    fn summary() {
        let Some(hmac) = mean_ns("hmac_sha256_of_cookie") else {
            return; // filtered run (`cargo bench -- <filter>`): no full table
        };
        println!();
        println!("| case | mean per request | x one HMAC-SHA256 of the cookie |");
        println!("|---|---|---|");
        println!("| one HMAC-SHA256 of the cookie | {hmac:.0} ns | 1.00 |");
        for (name, label) in [
            (
                "request_untouched",
                "verify + load (memory) + read + commit, untouched",
            ),
            (
                "request_changed",
                "verify + load (memory) + read + write + commit (save)",
            ),
            ("request_without_cookie", "no session cookie, untouched"),
        ] {
            if let Some(ns) = mean_ns(name) {
                println!("| {label} | {ns:.0} ns | {:.2} |", ns / hmac);
            }
        }
        println!("\nBudget (DESIGN.md): the engine within 3x one HMAC-SHA256 of the cookie.");
    }
}
