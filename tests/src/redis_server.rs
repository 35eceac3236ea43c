//! Private redis-server processes for tests: never the machine's own Redis.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::{Proc, TempDir, free_cluster_port, free_port, wait_for_port};

/// A redis-server on a free loopback port, stopped when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    persistent: bool,
    /// More command-line configuration.
    args: Vec<String>,
    proc: Option<Proc>,
}

impl RedisServer {
    /// A memory-only server (`--save '' --appendonly no`).
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A server with an append-only file in its own temp dir, so its data
    /// survives [`RedisServer::stop`] + [`RedisServer::restart`].
    pub fn start_persistent() -> Self {
        Self::start_with(true)
    }

    /// A memory-only server with more configuration on its command line
    /// (`["--rename-command", "RESTORE", ""]`).
    pub fn start_with_args(args: &[&str]) -> Self {
        let mut server = RedisServer {
            port: free_port(),
            dir: TempDir::new("redis"),
            persistent: false,
            args: args.iter().map(|a| (*a).to_string()).collect(),
            proc: None,
        };
        server.restart();
        server
    }

    fn start_with(persistent: bool) -> Self {
        let mut server = RedisServer {
            port: free_port(),
            dir: TempDir::new("redis"),
            persistent,
            args: Vec::new(),
            proc: None,
        };
        server.restart();
        server
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM: it writes its append-only file first).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(10));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.proc.as_ref().expect("running").pid();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--appendonly", if self.persistent { "yes" } else { "no" }])
            .args(["--appendfsync", "always", "--protected-mode", "yes"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.proc = Some(Proc::spawn("redis-server", &mut cmd));
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)),
            "redis-server did not start on port {}",
            self.port
        );
    }

    /// A plain connection for inspecting the server.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// The raw fields of the hash `key` (sorted; `None` if it does not
    /// exist) and its TTL in seconds (`-2`: no such key).
    pub async fn record(&self, key: &str) -> (Option<Vec<(String, String)>>, i64) {
        let mut conn = self.conn().await;
        let mut fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        fields.sort();
        let value = (!fields.is_empty()).then_some(fields);
        let ttl: i64 = redis::cmd("TTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        (value, ttl)
    }

    /// The text of `INFO <section>` (`commandstats`, `errorstats`...).
    pub async fn info(&self, section: &str) -> String {
        let mut conn = self.conn().await;
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// `INFO commandstats` as command -> calls (`get`, `set`, `expire`...).
    pub async fn command_calls(&self) -> HashMap<String, u64> {
        parse_commandstats(&self.info("commandstats").await)
    }

    /// Writes (commands that change data) counted in `INFO commandstats`.
    pub async fn write_calls(&self) -> u64 {
        let calls = self.command_calls().await;
        [
            "set", "setex", "del", "expire", "eval", "evalsha", "getex", "unlink", "pexpire",
            "restore",
        ]
        .iter()
        .map(|c| calls_of(&calls, c))
        .sum()
    }
}

/// Parses `cmdstat_get:calls=3,usec=...` lines: each command's `calls`.
pub fn parse_commandstats(info: &str) -> HashMap<String, u64> {
    commandstats_field(info, "calls")
}

/// Each command's `field` (`calls`, `rejected_calls`, `failed_calls`...)
/// in the text of `INFO commandstats`.
pub fn commandstats_field(info: &str, field: &str) -> HashMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("cmdstat_")?;
            let (name, stats) = rest.split_once(':')?;
            let value = stats
                .split(',')
                .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == field))?
                .1
                .parse()
                .ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

/// `command`'s count in a map of [`parse_commandstats`] (0 if never run).
pub fn calls_of(calls: &HashMap<String, u64>, command: &str) -> u64 {
    calls.get(command).copied().unwrap_or(0)
}

/// A Redis Cluster of three masters on loopback, stopped when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    _procs: Vec<Proc>,
    _dirs: Vec<TempDir>,
}

impl RedisCluster {
    /// Starts three `--cluster-enabled` servers and joins them with
    /// `redis-cli --cluster create`.
    pub fn start() -> Self {
        let mut ports = Vec::new();
        let mut procs = Vec::new();
        let mut dirs = Vec::new();
        for _ in 0..3 {
            let port = loop {
                let p = free_cluster_port();
                if !ports.contains(&p) && !ports.contains(&(p + 10_000)) {
                    break p;
                }
            };
            let dir = TempDir::new("cluster");
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            procs.push(Proc::spawn("redis-server (cluster)", &mut cmd));
            assert!(
                wait_for_port(port, Duration::from_secs(10)),
                "cluster node {port} did not start"
            );
            ports.push(port);
            dirs.push(dir);
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is missing");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster {
            ports,
            _procs: procs,
            _dirs: dirs,
        };
        cluster.wait_ok();
        cluster
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self.ports.iter().all(|p| {
                Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "cluster", "info"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
                    .unwrap_or(false)
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster never reached cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}
