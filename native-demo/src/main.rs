//! The native demo: starlette-session's README routes on a hyper 1.x server
//! with edge-session's tower layer.
//!
//! ```text
//! cargo run -p native-demo                         # in-memory store, http://127.0.0.1:8000
//! REDIS_URL=redis://127.0.0.1:6379 cargo run -p native-demo
//! ```
//!
//! Settings (environment, or `--listen ADDR`):
//! * `LISTEN_ADDR` (or `--listen`): the address to serve on (default `127.0.0.1:8000`);
//! * `REDIS_URL`: use Redis instead of the in-memory store;
//! * `REDIS_CACHE=1`: with Redis, keep a local cache of sessions that Redis
//!   keeps coherent (client tracking; `REDIS_CACHE_STALENESS_MS`, default 5,
//!   is the staleness bound: every server sharing the Redis should use the
//!   same);
//! * `SESSION_SECRET`: the signing key, at least 32 bytes (default: a random
//!   key for this process, with a warning: sessions end with it);
//! * `COOKIE_SECURE=false`: drop the `Secure` attribute (plain-HTTP testing on
//!   a host other than localhost; browsers accept `Secure` cookies from
//!   `http://127.0.0.1` and `http://localhost`);
//! * `SESSION_TTL_SECS`: sessions expire after this many seconds of
//!   inactivity (default 14 days);
//! * `HEADER_READ_TIMEOUT_SECS` (default 10): a connection that has not sent
//!   a request's headers within this time is closed (slow clients);
//! * `MAX_CONNECTIONS` (default 1024): connections served at once; more wait
//!   in the listen backlog until one closes.
//!
//! The routes are in the library (`native_demo::app`), shared with the
//! in-process end-to-end suite.
//!
//! One log line per request on stdout; SIGINT/SIGTERM stop it gracefully.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use edge_session_tower::RedisStore;
use edge_session_tower::edge_session::{Expiry, Key, MemoryStore, SessionConfig, SessionStore};
use edge_session_tower::redis_store::CacheConfig;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use native_demo::Body;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("native-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn listen_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = std::env::var("LISTEN_ADDR").ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => addr = args.next(),
            "-h" | "--help" => {
                println!(
                    "usage: native-demo [--listen ADDR]   (env: LISTEN_ADDR, REDIS_URL, SESSION_SECRET, COOKIE_SECURE)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let addr = addr.unwrap_or_else(|| String::from("127.0.0.1:8000"));
    addr.parse()
        .map_err(|e| format!("bad listen address {addr:?}: {e}"))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = listen_addr()?;
    let key = match std::env::var("SESSION_SECRET") {
        Ok(secret) => Key::try_from_bytes(secret.as_bytes())?,
        Err(_) => {
            eprintln!(
                "warning: SESSION_SECRET is not set; using an ephemeral random key (sessions end when the process does)"
            );
            Key::generate()?
        }
    };
    let secure = std::env::var("COOKIE_SECURE").map_or(true, |v| v != "false");
    let mut config = SessionConfig::new(key).with_secure(secure);
    if std::env::var("SESSION_TTL_SECS").is_ok() {
        config = config.with_expiry(Expiry::OnInactivity(env_number("SESSION_TTL_SECS", 1)?));
    }

    match std::env::var("REDIS_URL") {
        Ok(url) if std::env::var("REDIS_CACHE").is_ok_and(|v| v == "1") => {
            let staleness = env_number("REDIS_CACHE_STALENESS_MS", 5)?;
            let cache = CacheConfig::default().with_max_staleness(Duration::from_millis(staleness));
            let store = RedisStore::connect_with_cache(&url, cache).await?;
            let report = store.clone();
            serve(addr, store, config, "redis with local cache", Some(report)).await
        }
        Ok(url) => {
            let store = RedisStore::connect(&url).await?;
            serve(addr, store, config, "redis", None).await
        }
        Err(_) => serve(addr, MemoryStore::new(), config, "memory", None).await,
    }
}

/// A positive integer setting from the environment, or `default`.
fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name} must be a positive integer, not {v:?}")),
    }
}

async fn serve<S>(
    addr: SocketAddr,
    store: S,
    config: SessionConfig,
    store_name: &str,
    cached: Option<RedisStore>,
) -> Result<(), Box<dyn std::error::Error>>
where
    S: SessionStore + Send + Sync + 'static,
{
    let header_timeout = Duration::from_secs(env_number("HEADER_READ_TIMEOUT_SECS", 10)?);
    let max_connections = usize::try_from(env_number("MAX_CONNECTIONS", 1024)?)?;
    let app = BoxCloneSyncService::new(native_demo::app::<_, Incoming>(store, config)?);
    let listener = TcpListener::bind(addr).await?;
    println!(
        "native-demo listening on http://{} (store: {store_name})",
        listener.local_addr()?
    );

    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Slow clients: HTTP/1 request headers must arrive within the timeout
    // (hyper's own timer), and a connection must start its first request
    // within it too (below: that also covers the protocol detection, which
    // has no timer of its own).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        // At most `max_connections` at once: wait for a free slot before
        // accepting (the rest wait in the kernel's backlog).
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot?,
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let started = Arc::new(AtomicBool::new(false));
                let seen = started.clone();
                let logged = tower::service_fn(move |req: Request<Incoming>| {
                    seen.store(true, Ordering::Relaxed);
                    let app = app.clone();
                    async move { log_request(app, req).await }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(logged));
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _slot = slot;
                    let first_request_late = async {
                        tokio::time::sleep(header_timeout).await;
                        if started.load(Ordering::Relaxed) {
                            std::future::pending::<()>().await;
                        }
                    };
                    // Dropping the connection closes it.
                    tokio::select! {
                        _ = conn => {}
                        () = first_request_late => {}
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    request_log::flush();
    if let Some(stats) = cached.as_ref().and_then(RedisStore::cache_stats) {
        println!(
            "native-demo: cache: hits {} misses {} bypassed {} joined {} after_write {} raced {} invalidations {} flushes {} connections {} pings {}",
            stats.hits,
            stats.misses,
            stats.bypassed,
            stats.joined,
            stats.after_write,
            stats.raced,
            stats.invalidations,
            stats.flushes,
            stats.connections,
            stats.pings
        );
    }
    println!("native-demo: shutting down");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => eprintln!("native-demo: connections still open after 10 s"),
    }
    request_log::flush();
    Ok(())
}

async fn log_request<A>(app: A, req: Request<Incoming>) -> Result<Response<Body>, Infallible>
where
    A: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>,
{
    let start = Instant::now();
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let response = app.oneshot(req).await?;
    let micros = start.elapsed().as_micros();
    request_log::line(format_args!(
        "{method} {} {} {}.{:02}ms",
        uri.path(),
        response.status().as_u16(),
        micros / 1000,
        micros % 1000 / 10
    ));
    Ok(response)
}

/// One line per request on stdout, written in batches by a background
/// thread every few milliseconds: `println!` from every worker thread would
/// contend on the stdout lock and cost a syscall per request.
mod request_log {
    use std::fmt::Write as _;
    use std::io::Write as _;
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::Duration;

    static BUFFER: Mutex<String> = Mutex::new(String::new());
    static WRITER: OnceLock<()> = OnceLock::new();

    /// Queues one log line.
    pub(crate) fn line(args: std::fmt::Arguments<'_>) {
        WRITER.get_or_init(|| {
            std::thread::spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(5));
                    flush();
                }
            });
        });
        let mut buffer = BUFFER.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = buffer.write_fmt(args);
        buffer.push('\n');
    }

    /// Writes what is queued.
    pub(crate) fn flush() {
        let batch = std::mem::take(&mut *BUFFER.lock().unwrap_or_else(PoisonError::into_inner));
        if !batch.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(batch.as_bytes());
            let _ = out.flush();
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
