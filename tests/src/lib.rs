//! The end-to-end harness: real processes on free loopback ports, owned by
//! the test that starts them and stopped by PID when it ends.
//!
//! * [`procs`]: free ports, child processes killed on drop, temp dirs;
//! * [`redis_server`]: a private `redis-server` (and a three-master cluster);
//! * [`http`]: a small HTTP client with a cookie jar (raw bytes allowed);
//! * [`demo`]: the native demo binary;
//! * [`browser`]: headless Chromium over WebDriver;
//! * [`worker`]: the worker demo under `wrangler dev`, and the Upstash emulator;
//! * [`suite`]: the black-box HTTP suite every demo (native, worker) must pass.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod browser;
pub mod demo;
pub mod http;
pub mod procs;
pub mod redis_server;
pub mod suite;
pub mod worker;

/// The secret every test demo is started with (tests sign cookies with it).
pub const SECRET: &[u8] = b"e2e secret: 32 bytes or more, used only by tests";
