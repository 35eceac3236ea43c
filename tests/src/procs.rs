//! Processes, ports and temporary directories owned by one test.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Ports this process has handed out (never the same one twice).
static PORTS_GIVEN: AtomicU32 = AtomicU32::new(0);

/// The first port of the kernel's ephemeral range, where `bind(0)` and
/// outgoing connections take theirs (32768 if it cannot be read).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A free TCP port on 127.0.0.1 for a server a test starts. It is taken
/// below the kernel's ephemeral range, so no other process's `bind(0)` or
/// outgoing connection can take it between this check and the server's own
/// bind (workerd once failed to start that way, on an inspector port), and
/// this process never hands it out twice. Where that range is too small, the
/// OS picks one.
pub fn free_port() -> u16 {
    const LOW: u32 = 12_000;
    let high = ephemeral_start();
    if high > LOW + 1_000 {
        let span = high - LOW;
        let seed = std::process::id().wrapping_mul(7_919);
        for _ in 0..span {
            let n = PORTS_GIVEN.fetch_add(1, Ordering::Relaxed);
            let port = LOW + seed.wrapping_add(n) % span;
            if let Ok(port) = u16::try_from(port)
                && TcpListener::bind(("127.0.0.1", port)).is_ok()
            {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A free port `p` whose `p + 10000` (the Redis Cluster bus port) is free too.
/// ([`free_port`] hands out ports below the ephemeral range, so `p + 10000`
/// always fits; the bound matters only where it falls back to the OS.)
pub fn free_cluster_port() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p <= 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair for a Redis Cluster node");
}

/// True once something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    name: String,
    group: bool,
}

impl Proc {
    /// Spawns `cmd`.
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {name}: {e} (is it installed? run scripts/test.sh)")
        });
        Proc {
            child: Some(child),
            name: name.to_string(),
            group: false,
        }
    }

    /// Spawns `cmd` as the leader of a new process group, so stopping it
    /// stops everything it started too (wrangler starts workerd).
    pub fn spawn_group(name: &str, cmd: &mut Command) -> Self {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let mut proc = Self::spawn(name, cmd);
        proc.group = true;
        proc
    }

    fn signal(&self, child: &Child, signal: &str) {
        let target = if self.group {
            format!("-{}", child.id())
        } else {
            child.id().to_string()
        };
        let _ = Command::new("kill").args([signal, "--", &target]).status();
    }

    /// The PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; SIGKILL after.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        self.signal(&child, "-TERM");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                if self.group {
                    // The leader is gone; make sure nothing it started stays.
                    self.signal(&child, "-KILL");
                }
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "{} (pid {}) ignored SIGTERM; killing it",
            self.name,
            child.id()
        );
        if self.group {
            // The whole group: wrangler's workerd must not outlive it.
            self.signal(&child, "-KILL");
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "edge-session-e2e-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The directory holding the workspace's built binaries (`target/debug`),
/// found from the running test executable (`target/debug/deps/...`).
pub fn target_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    if deps.ends_with("deps") {
        deps.parent().unwrap().to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// A workspace binary (`native-demo`, `bare-redis-server`), which
/// `scripts/test.sh` builds before the tests run.
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = target_bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build --workspace --bins --locked`; scripts/test.sh does)",
        path.display()
    );
    path
}
