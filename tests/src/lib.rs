//! The end-to-end harness: real processes on free loopback ports, owned by
//! the test that starts them and stopped by PID when it ends.
//!
//! * [`procs`]: free ports, child processes killed on drop, temp dirs;
//! * [`redis_server`]: a private `redis-server` (and a three-master cluster);
//! * [`http`]: a small HTTP client with a cookie jar (raw bytes allowed);
//! * [`demo`]: the native demo binary;
//! * [`browser`]: headless Chromium over WebDriver;
//! * [`worker`]: the worker demo under `wrangler dev`, and the Upstash emulator;
//! * [`suite`]: the black-box HTTP suite every target must pass (the native
//!   app in-process over each store, the demos as processes), and
//!   [`route_tests!`], one test per case of it.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod browser;
pub mod demo;
pub mod http;
pub mod procs;
pub mod proxy;
pub mod redis_server;
pub mod suite;
pub mod worker;

/// The secret every test demo is started with (tests sign cookies with it).
pub const SECRET: &[u8] = b"e2e secret: 32 bytes or more, used only by tests";

/// One test per case of the HTTP behaviour suite ([`suite::case`]) against
/// the target a fixture function builds, as tower-sessions' `route_tests!`
/// does for its stores:
///
/// ```ignore
/// async fn memory() -> e2e::suite::Fixture { ... }
/// e2e::route_tests!(memory);                                  // every case
/// e2e::route_tests!(cookie; flow, bad_input, remember_me);    // a subset
/// ```
///
/// Each case runs in its own test, so a failure names the case and the
/// target (the module the macro is called in).
#[macro_export]
macro_rules! route_tests {
    ($fixture:path) => {
        $crate::route_tests!(
            $fixture;
            flow,
            bad_input,
            login_cycles_id,
            concurrency,
            same_session_writes,
            exact_increments,
            no_races,
            remember_me
        );
    };
    ($fixture:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $fixture().await;
                $crate::suite::case::$case(&fixture.target).await;
            }
        )+
    };
}
