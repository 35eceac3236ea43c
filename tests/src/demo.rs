//! The native demo as a process.

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::SECRET;
use crate::http::Client;
use crate::procs::{Proc, TempDir, free_port, wait_for_port, workspace_bin};

/// A running `native-demo`, stopped (SIGTERM) when dropped. Its stdout (one
/// line per request) and stderr go to files the test can read.
#[derive(Debug)]
pub struct NativeDemo {
    port: u16,
    proc: Proc,
    logs: TempDir,
}

/// How to start the demo.
#[derive(Debug, Default, Clone)]
pub struct DemoOptions {
    /// `REDIS_URL`.
    pub redis_url: Option<String>,
    /// `SESSION_SECRET`; `None` leaves it unset (ephemeral key).
    pub secret: Option<Vec<u8>>,
    /// Other environment variables (`HEADER_READ_TIMEOUT_SECS`...).
    pub env: Vec<(&'static str, String)>,
}

impl DemoOptions {
    /// The test secret, the memory store.
    pub fn memory() -> Self {
        DemoOptions {
            redis_url: None,
            secret: Some(SECRET.to_vec()),
            env: Vec::new(),
        }
    }

    /// The test secret, Redis at `url` with the local cache (`REDIS_CACHE=1`).
    pub fn redis_cached(url: String) -> Self {
        let mut options = Self::redis(url);
        options.env.push(("REDIS_CACHE", String::from("1")));
        options
    }

    /// The test secret, Redis at `url`.
    pub fn redis(url: String) -> Self {
        DemoOptions {
            redis_url: Some(url),
            secret: Some(SECRET.to_vec()),
            env: Vec::new(),
        }
    }
}

/// The demo's command line with `options`, listening on `port`.
pub fn demo_command(options: &DemoOptions, port: u16, logs: &TempDir) -> Command {
    let mut cmd = Command::new(workspace_bin("native-demo"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("REDIS_URL")
        .env_remove("SESSION_SECRET")
        .env_remove("COOKIE_SECURE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(logs.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(logs.path().join("stderr")).unwrap());
    if let Some(url) = &options.redis_url {
        cmd.env("REDIS_URL", url);
    }
    if let Some(secret) = &options.secret {
        cmd.env("SESSION_SECRET", String::from_utf8(secret.clone()).unwrap());
    }
    cmd.env_remove("HEADER_READ_TIMEOUT_SECS")
        .env_remove("SESSION_TTL_SECS")
        .env_remove("MAX_CONNECTIONS")
        .env_remove("REDIS_CACHE")
        .env_remove("REDIS_CACHE_STALENESS_MS");
    for (name, value) in &options.env {
        cmd.env(name, value);
    }
    cmd
}

impl NativeDemo {
    /// Starts the demo and waits until it accepts connections.
    pub fn start(options: &DemoOptions) -> Self {
        let port = free_port();
        let logs = TempDir::new("demo");
        let mut proc = Proc::spawn("native-demo", &mut demo_command(options, port, &logs));
        if !wait_for_port(port, Duration::from_secs(20)) {
            let status = proc.terminate(Duration::from_secs(1));
            panic!(
                "native-demo did not start ({status:?}); stderr: {}",
                std::fs::read_to_string(logs.path().join("stderr")).unwrap_or_default()
            );
        }
        NativeDemo { port, proc, logs }
    }

    /// A client for it.
    pub fn client(&self) -> Client {
        Client::new(&self.base())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.log_path("stdout")).unwrap_or_default()
    }

    /// Its stdout once `ready` holds for it (request lines are written in
    /// batches every few milliseconds), or after 5 s whatever it is.
    pub fn stdout_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.stdout();
            if ready(&out) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path("stderr")).unwrap_or_default()
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.logs.path().join(name)
    }

    /// SIGTERM; the exit status if it exits within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.terminate(timeout)
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}
