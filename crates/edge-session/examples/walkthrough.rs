//! One browser walks through the starlette-session routes against the
//! in-memory store; every request prints its cookie, the store calls and the
//! response. `cargo run -p edge-session --example walkthrough`

use std::time::{SystemTime, UNIX_EPOCH};

use edge_session::adapter::Lifecycle;
use edge_session::testing::{CountingStore, block_on_ready};
use edge_session::{Key, MemoryStore, SessionConfig};

fn main() -> Result<(), edge_session::Error> {
    let key = match std::env::var("SESSION_SECRET") {
        Ok(secret) => Key::try_from_bytes(secret.as_bytes())?,
        Err(_) => {
            eprintln!("warning: SESSION_SECRET is not set; using an ephemeral random key");
            Key::generate()?
        }
    };
    let config = SessionConfig::new(key);
    config.validate()?;
    let store = CountingStore::new(MemoryStore::new());
    let mut jar: Option<String> = None; // the browser's cookie

    for route in [
        "/setup_session",
        "/view_session",
        "/view_session",
        "/clear_session",
        "/view_session",
    ] {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        store.reset();
        println!("GET {route}");
        match &jar {
            Some(cookie) => println!("  Cookie: {cookie}"),
            None => println!("  (no cookie)"),
        }
        let headers: Vec<&[u8]> = jar.iter().map(|c| c.as_bytes()).collect();
        let mut lifecycle = Lifecycle::start(&config, headers, now);

        let session = block_on_ready(lifecycle.load(&store))?;
        match route {
            "/setup_session" => {
                session.insert("data", "session_data")?;
            }
            "/clear_session" => session.clear(),
            _ => {}
        }
        let body = serde_json::json!({ "session": session.record() });

        let commit = block_on_ready(lifecycle.commit(&config, &store, now))?;
        let calls = store.calls();
        println!(
            "  store: {} read(s), {} write(s) -> {:?}",
            calls.reads(),
            calls.writes(),
            commit.action
        );
        match &commit.set_cookie {
            Some(set_cookie) => {
                println!("  Set-Cookie: {set_cookie}");
                let pair = set_cookie.split(';').next().unwrap_or_default();
                jar = (!pair.ends_with('=')).then(|| pair.to_string());
            }
            None => println!("  (no Set-Cookie)"),
        }
        println!("  200 {body}\n");
    }
    Ok(())
}
