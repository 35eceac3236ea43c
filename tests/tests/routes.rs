//! The HTTP behaviour suite, one test per case (`route_tests!`), against the
//! native demo's app called in-process through the tower layer over each
//! store (memory, cookie, a real Redis), and against the demo as a process
//! (memory, Redis). The worker demo's stores run the same cases in
//! `tests/worker.rs`.
#![allow(clippy::unwrap_used, missing_docs)]

use e2e::SECRET;
use e2e::demo::{DemoOptions, NativeDemo};
use e2e::http::{Client, InProcessApp};
use e2e::redis_server::RedisServer;
use e2e::suite::{Fixture, Target};
use edge_session_tower::RedisStore;
use edge_session_tower::edge_session::{CookieStore, MemoryStore, SessionConfig, SessionStore};
use http_body_util::Empty;

/// The demo's app over `store`, as the demo configures it.
fn app<S: SessionStore + Send + Sync + 'static>(store: S) -> InProcessApp {
    let config = SessionConfig::from_secret(SECRET).unwrap();
    InProcessApp::new(native_demo::app::<_, Empty<bytes::Bytes>>(store, config).unwrap())
}

fn in_process(store: impl SessionStore + Send + Sync + 'static) -> Target {
    Target::new(Client::in_process(app(store)))
}

mod in_process_memory {
    use super::*;

    async fn fixture() -> Fixture {
        Fixture::new(in_process(MemoryStore::new()), ())
    }
    e2e::route_tests!(fixture);
}

/// The cookie store cannot revoke a session, nor merge concurrent changes
/// of one session (documented on `CookieStore`): the cases that need either
/// are left out, and `flow` and `login_cycles_id` check the limit itself.
mod in_process_cookie {
    use super::*;

    async fn fixture() -> Fixture {
        Fixture::new(in_process(CookieStore::new()).cookie_store(), ())
    }
    e2e::route_tests!(fixture; flow, bad_input, login_cycles_id, concurrency, remember_me);
}

mod in_process_redis {
    use super::*;

    async fn fixture() -> Fixture {
        let redis = RedisServer::start();
        let store = RedisStore::connect(&redis.url()).await.unwrap();
        Fixture::new(in_process(store), redis)
    }
    e2e::route_tests!(fixture);
}

mod process_memory {
    use super::*;

    async fn fixture() -> Fixture {
        let demo = NativeDemo::start(&DemoOptions::memory());
        Fixture::new(Target::new(demo.client()), demo)
    }
    e2e::route_tests!(fixture);
}

mod process_redis {
    use super::*;

    async fn fixture() -> Fixture {
        let redis = RedisServer::start();
        let demo = NativeDemo::start(&DemoOptions::redis(redis.url()));
        // Dropped in order: the demo first, then its Redis.
        Fixture::new(Target::new(demo.client()), (demo, redis))
    }
    e2e::route_tests!(fixture);
}
