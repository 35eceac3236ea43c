//! The store conformance suite against the real Redis store, on one
//! redis-server and on a three-master Redis Cluster the tests start.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use e2e::redis_server::{
    RedisCluster, RedisServer, calls_of, commandstats_field, parse_commandstats,
};
use edge_session::testing::conformance;
use edge_session::{Changes, Cycled, Error, Record, SessionId, SessionStore};
use edge_session_tower::RedisStore;
use edge_session_tower::redis_store::CacheConfig;
use serde_json::json;

fn record(v: serde_json::Value) -> Record {
    v.as_object().unwrap().clone()
}

fn sleep(secs: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(secs * 1000 + 100))
}

#[tokio::test]
async fn redis_store_conformance() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    conformance::run(&store).await;
    conformance::atomic(&store).await;
    conformance::expiry(&store, sleep).await;
    // The same with another prefix.
    let prefixed = store.clone().with_prefix("app1:sess:");
    conformance::run(&prefixed).await;
    conformance::atomic(&prefixed).await;
    // The suite's creates went through RESTORE (it never switched off).
    let calls = redis.command_calls().await;
    assert!(calls_of(&calls, "restore") > 10, "{calls:?}");
}

/// The store with its local cache keeps the whole store contract: every
/// read after this process's own write, delete or expiry must see it. Run
/// twice: with no write cooldown (the suite reads what it just wrote, so
/// its loads go through the cache) and with the default one (they skip it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_with_cache_conformance() {
    let redis = RedisServer::start();
    for cooldown in [Duration::ZERO, CacheConfig::default().write_cooldown()] {
        let config = CacheConfig::default().with_write_cooldown(cooldown);
        let store = RedisStore::connect_with_cache(&redis.url(), config)
            .await
            .unwrap();
        conformance::run(&store).await;
        conformance::atomic(&store).await;
        conformance::interleavings(&store).await;
        conformance::expiry(&store, sleep).await;
        let stats = store.cache_stats().unwrap();
        if cooldown.is_zero() {
            assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
            assert_eq!(stats.after_write, 0, "{stats:?}");
        } else {
            assert!(stats.after_write > 0, "{stats:?}");
        }
    }
}

/// Redis lost its script cache (`SCRIPT FLUSH`, or a restart): the next
/// write loads the script again (`EVAL` after `NOSCRIPT`) and succeeds.
#[tokio::test]
async fn writes_survive_a_flushed_script_cache() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let id = SessionId::parse("scripts000000000000000").unwrap();
    assert!(
        store
            .create(id.clone(), &record(json!({"n": 1})), 60)
            .await
            .unwrap()
            .is_some()
    );
    let mut conn = redis.conn().await;
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut changes = Changes::default();
    changes.increment("n", 2);
    assert_eq!(
        store.update(&id, &changes, 60).await.unwrap(),
        Some(id.clone())
    );
    assert_eq!(store.load(&id).await.unwrap().unwrap()["n"], json!(3));
    let calls = redis.command_calls().await;
    assert!(calls.get("eval").copied().unwrap_or(0) >= 1, "{calls:?}");
    // Loaded again: the next write is one EVALSHA.
    let evals = calls.get("eval").copied().unwrap_or(0);
    assert_eq!(
        store.update(&id, &changes, 60).await.unwrap(),
        Some(id.clone())
    );
    assert_eq!(
        redis
            .command_calls()
            .await
            .get("eval")
            .copied()
            .unwrap_or(0),
        evals
    );
    assert_eq!(store.load(&id).await.unwrap().unwrap()["n"], json!(5));
}

#[tokio::test]
async fn redis_store_wire_format_and_atomic_cycle() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let mut conn = redis.conn().await;
    let id = SessionId::parse("wire-format-test-id").unwrap();
    let rec = record(json!({"data": "session_data", "n": 1}));

    let created = store.create(id.clone(), &rec, 300).await.unwrap();
    assert_eq!(created.as_ref(), Some(&id));
    let mut raw: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg("session:wire-format-test-id")
        .query_async(&mut conn)
        .await
        .unwrap();
    raw.sort();
    assert_eq!(
        raw,
        vec![
            ("data".to_string(), r#""session_data""#.to_string()),
            ("n".to_string(), "1".to_string())
        ],
        "a hash: one field per key, the value's JSON text"
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg("session:wire-format-test-id")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((295..=300).contains(&ttl), "{ttl}");

    // A record written by someone else in the documented format loads,
    // integers beyond 2^53 included (no JSON is parsed inside Redis).
    let _: i64 = redis::cmd("HSET")
        .arg("session:written-elsewhere")
        .arg("data")
        .arg(r#""from the worker""#)
        .arg("big")
        .arg("18446744073709551615")
        .query_async(&mut conn)
        .await
        .unwrap();
    let other = SessionId::parse("written-elsewhere").unwrap();
    assert_eq!(
        store.load(&other).await.unwrap(),
        Some(record(json!({"data": "from the worker", "big": u64::MAX})))
    );

    // An update is one script call that touches only the changed fields.
    let mut changes = Changes::new();
    changes.increment("n", 41);
    changes.set("added", json!([1, 2]));
    let before = redis.info("commandstats").await;
    assert_eq!(
        store.update(&id, &changes, 300).await.unwrap().as_ref(),
        Some(&id)
    );
    let rec = record(json!({"data": "session_data", "n": 42, "added": [1, 2]}));
    assert_eq!(store.load(&id).await.unwrap(), Some(rec.clone()));

    // cycle: one script call, old key gone, new key holds the data with the TTL.
    let new = SessionId::parse("cycled-id").unwrap();
    let moved = store
        .cycle(&id, new.clone(), &Changes::new(), 120)
        .await
        .unwrap();
    assert_eq!(moved, Cycled::Moved(new.clone()));
    let after: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls = |info: &str, cmd: &str| calls_of(&parse_commandstats(info), cmd);
    assert_eq!(
        calls(&after, "evalsha") + calls(&after, "eval"),
        calls(&before, "evalsha") + calls(&before, "eval") + 2,
        "update and cycle are one script call each"
    );
    assert_eq!(store.load(&id).await.unwrap(), None);
    assert_eq!(store.load(&new).await.unwrap(), Some(rec.clone()));
    let ttl: i64 = redis::cmd("TTL")
        .arg("session:cycled-id")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((115..=120).contains(&ttl), "{ttl}");
    // Refuses an existing new id, leaving both records alone.
    let again = store
        .cycle(&other, new.clone(), &Changes::new(), 60)
        .await
        .unwrap();
    assert_eq!(again, Cycled::Collision);
    assert_eq!(store.load(&new).await.unwrap(), Some(rec));
    assert!(store.load(&other).await.unwrap().is_some());

    // Corrupt records are reported as such.
    // Corrupt records are reported as such: a key of the wrong type (the
    // older string format), a field that is not JSON. Writes treat them as
    // gone.
    let () = redis::cmd("SET")
        .arg("session:corrupt")
        .arg(r#"{"data":"old format"}"#)
        .query_async(&mut conn)
        .await
        .unwrap();
    let corrupt = SessionId::parse("corrupt").unwrap();
    assert!(matches!(
        store.load(&corrupt).await,
        Err(Error::CorruptRecord)
    ));
    assert_eq!(store.update(&corrupt, &changes, 60).await.unwrap(), None);
    assert_eq!(
        store
            .cycle(&corrupt, SessionId::parse("c2").unwrap(), &changes, 60)
            .await
            .unwrap(),
        Cycled::Gone
    );
    let _: i64 = redis::cmd("HSET")
        .arg("session:bad-field")
        .arg("data")
        .arg("{nope")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        store.load(&SessionId::parse("bad-field").unwrap()).await,
        Err(Error::CorruptRecord)
    ));
}

#[tokio::test]
async fn redis_store_fails_fast_when_down_and_recovers() {
    let mut redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let id = SessionId::parse("outage").unwrap();
    store.save(&id, &record(json!({"a": 1})), 60).await.unwrap();
    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.load(&id).await.unwrap_err();
        assert!(err.is_store(), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.save(&id, &record(json!({"a": 2})), 60).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        store.load(&id).await.unwrap(),
        Some(record(json!({"a": 2})))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_conformance() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
    let store = RedisStore::connect_cluster(&nodes).await.unwrap();
    conformance::run(&store).await;
    conformance::atomic(&store).await;
    conformance::expiry(&store, sleep).await;

    // Records spread over the three masters (the store follows MOVED slots).
    let mut ids = Vec::new();
    for i in 0..60 {
        let id = SessionId::parse(&format!("spread-{i}")).unwrap();
        store.save(&id, &record(json!({"i": i})), 60).await.unwrap();
        ids.push(id);
    }
    let mut nodes_with_keys = 0;
    for url in &urls {
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let n: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
        if n > 0 {
            nodes_with_keys += 1;
        }
    }
    assert_eq!(nodes_with_keys, 3, "keys should land on every master");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(store.load(id).await.unwrap(), Some(record(json!({"i": i}))));
    }
}

/// A Redis URL's password never reaches an error message or `Debug`.
#[tokio::test]
async fn redis_url_password_stays_out_of_errors_and_debug() {
    let port = e2e::procs::free_port();
    let url = format!("redis://:hunter2-must-not-leak@127.0.0.1:{port}/");
    match RedisStore::connect(&url).await {
        Ok(store) => {
            let shown = format!("{store:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        Err(e) => {
            let shown = format!("{e} / {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}

/// A lifetime longer than any store can hold ("never expire" as
/// `u64::MAX` seconds, in the configuration or a handler's "remember me")
/// is capped at the end of the year 9999, the last instant a cookie's
/// `Expires` can say, so Redis accepts its TTL instead of refusing every
/// write with 503; a session already at the cap needs no sliding refresh.
#[tokio::test]
async fn the_longest_lifetimes_are_capped_not_refused() {
    use edge_session::adapter::{Action, Lifecycle, MAX_EXPIRES};
    use edge_session::{Expiry, SessionConfig, SessionExpiry};

    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cookie_of = |set_cookie: &str| set_cookie.split(';').next().unwrap().to_string();

    for (expiry, own) in [
        (Expiry::OnInactivity(u64::MAX), None),
        (Expiry::BrowserSession(u64::MAX), None),
        (
            Expiry::IdleAndAbsolute {
                idle: u64::MAX,
                absolute: u64::MAX,
            },
            None,
        ),
        (
            Expiry::OnInactivity(3600),
            Some(SessionExpiry::Persistent(u64::MAX)),
        ),
    ] {
        let config = SessionConfig::from_secret(&[7; 32])
            .unwrap()
            .with_expiry(expiry);
        config.validate().unwrap();
        // A new session with data (and the handler's own expiry, if any).
        let mut lc = Lifecycle::start(&config, [], now);
        let session = lc.load(&store).await.unwrap();
        session.insert("user", 42).unwrap();
        if let Some(own) = own {
            session.set_expiry(own);
        }
        let commit = lc.commit(&config, &store, now).await.unwrap();
        assert_eq!(commit.action, Action::Created, "{expiry:?}");
        let cookie = cookie_of(&commit.set_cookie.unwrap());
        let header = cookie.as_bytes();
        let lc = Lifecycle::start(&config, [header], now);
        let id = lc.incoming_id().unwrap().clone();
        let ttl: i64 = redis::cmd("TTL")
            .arg(store.key(&id))
            .query_async(&mut conn)
            .await
            .unwrap();
        let want = (MAX_EXPIRES - now) as i64;
        assert!(
            (want - 5..=want).contains(&ttl),
            "{expiry:?}: TTL {ttl}, want {want}"
        );
        // A change is written and re-issued; an untouched read a second
        // later needs no refresh (the cookie is at the cap already).
        let mut lc = Lifecycle::start(&config, [header], now + 1);
        lc.load(&store).await.unwrap().increment("n", 1).unwrap();
        let commit = lc.commit(&config, &store, now + 1).await.unwrap();
        assert_eq!(commit.action, Action::Saved, "{expiry:?}");
        let mut lc = Lifecycle::start(&config, [header], now + 2);
        assert_eq!(
            lc.load(&store).await.unwrap().get::<i64>("n").unwrap(),
            Some(1)
        );
        let commit = lc.commit(&config, &store, now + 2).await.unwrap();
        assert_eq!(
            commit.action,
            Action::None,
            "{expiry:?}: no refresh at the cap"
        );
    }
}

/// A new session is one `RESTORE` of the record's `DUMP` payload (no
/// script): Redis reads back exactly the hash the create script writes,
/// for every shape of record (texts at each edge of the RDB length sizes,
/// more fields than a listpack holds, any characters), with its TTL (at
/// least a second, at most the lifecycle's cap), and never over an
/// existing key of any type.
#[tokio::test]
async fn new_sessions_are_created_by_restore_and_read_back_whole() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let mut conn = redis.conn().await;
    let many: serde_json::Map<String, serde_json::Value> =
        (0..300).map(|i| (format!("k{i}"), json!(i))).collect();
    // Names of 63, 64, 16383 and 16384 bytes, and values whose JSON text
    // is as long (the quotes add two): each side of the 6- and 14-bit
    // lengths.
    let edges: serde_json::Map<String, serde_json::Value> = [63, 64, 16_383, 16_384]
        .into_iter()
        .map(|n| ("n".repeat(n), json!("v".repeat(n - 2))))
        .collect();
    let records = [
        record(json!({"data": "session_data"})),
        record(json!({"": "", "ünï 🍪": "🍪\u{0}\n\"\\", "n": 18_446_744_073_709_551_615u64})),
        record(serde_json::Value::Object(edges)),
        record(json!({"big": "w".repeat(70_000), "nested": {"l": [1, 2.5, null, true]}})),
        record(serde_json::Value::Object(many)),
    ];
    let before = redis.command_calls().await;
    for (i, rec) in records.iter().enumerate() {
        let id = SessionId::parse(&format!("restore{i:0>15}")).unwrap();
        assert_eq!(
            store.create(id.clone(), rec, 300).await.unwrap(),
            Some(id.clone())
        );
        assert_eq!(store.load(&id).await.unwrap().as_ref(), Some(rec), "{i}");
        let (fields, ttl) = redis.record(&store.key(&id)).await;
        let mut want: Vec<(String, String)> = rec
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_string(v).unwrap()))
            .collect();
        want.sort();
        assert_eq!(fields.unwrap(), want, "{i}: the hash the script writes");
        assert!((295..=300).contains(&ttl), "{i}: TTL {ttl}");
        // Never over an existing key.
        let other = record(json!({"other": 1}));
        assert_eq!(store.create(id.clone(), &other, 300).await.unwrap(), None);
        assert_eq!(store.load(&id).await.unwrap().as_ref(), Some(rec), "{i}");
    }
    // Nor over a key of another type.
    let id = SessionId::parse("restore-over-a-string").unwrap();
    let () = redis::cmd("SET")
        .arg(store.key(&id))
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        store.create(id.clone(), &records[0], 300).await.unwrap(),
        None
    );
    let kept: String = redis::cmd("GET")
        .arg(store.key(&id))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, "not a hash");
    // A TTL of 0 is a second, as the script's `EXPIRE` makes it; the
    // longest is capped (no overflow of Redis's deadline, no refusal).
    for (ttl, range) in [(0, 1..=1_000), (u64::MAX, 0..=i64::MAX)] {
        let id = SessionId::parse(&format!("restore-ttl-{ttl:0>20}")).unwrap();
        assert_eq!(
            store.create(id.clone(), &records[0], ttl).await.unwrap(),
            Some(id.clone())
        );
        let pttl: i64 = redis::cmd("PTTL")
            .arg(store.key(&id))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(range.contains(&pttl), "TTL {ttl}: PTTL {pttl}");
        if ttl == u64::MAX {
            let want = edge_session::adapter::MAX_EXPIRES as i64 * 1000;
            assert!((want - 5_000..=want).contains(&pttl), "PTTL {pttl}");
        }
    }
    let after = redis.command_calls().await;
    assert_eq!(
        calls_of(&after, "restore") - calls_of(&before, "restore"),
        2 * records.len() as u64 + 3
    );
    assert_eq!(calls_of(&after, "evalsha"), calls_of(&before, "evalsha"));
    assert_eq!(calls_of(&after, "eval"), calls_of(&before, "eval"));
}

/// A small deterministic generator (xorshift64*) for the randomized
/// records below: the same records on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `items`.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A text of `len` characters: ASCII mostly, with controls, quotes,
    /// backslashes and multi-byte characters.
    fn text(&mut self, len: u64) -> String {
        const ODD: [char; 8] = ['\0', '\n', '"', '\\', 'é', '🍪', '\u{7f}', '\u{ffff}'];
        (0..len)
            .map(|_| match self.below(10) {
                0 => *self.pick(&ODD),
                _ => char::from(b' ' + self.below(95) as u8),
            })
            .collect()
    }

    /// A length around the edges Redis cares about: empty, listpack
    /// values (64 bytes by default), the RDB's 6- and 14-bit lengths; only
    /// short ones when `small`.
    fn len(&mut self, small: bool) -> u64 {
        match self.below(8) {
            0 => 0,
            _ if small => self.below(40),
            1 => 60 + self.below(8),
            2 => 16_380 + self.below(8),
            3 => self.below(300),
            _ => self.below(24),
        }
    }

    fn value(&mut self, small: bool) -> serde_json::Value {
        match self.below(6) {
            0 => json!(self.next()),
            1 => json!(-(self.below(1 << 40) as i64)),
            2 => json!(self.below(1000) as f64 / 7.0),
            3 => json!({ "nested": self.text(8), "l": [self.below(10), null, true] }),
            _ => {
                let len = self.len(small);
                json!(self.text(len))
            }
        }
    }

    /// A record: half of them small (what Redis keeps as a listpack), the
    /// others with long texts or up to ~600 fields (each side of Redis's
    /// 128-entry listpack limit and of the RDB's 6-bit field count).
    fn record(&mut self) -> Record {
        let small = self.below(2) == 0;
        let fields = match self.below(4) {
            0 if !small => 120 + self.below(500),
            _ => 1 + self.below(70),
        };
        (0..fields)
            .map(|_| {
                let len = self.len(small).min(300);
                (self.text(len), self.value(small))
            })
            .collect()
    }
}

/// Randomized records, created by `RESTORE` into a server that checks
/// every payload deeply (`sanitize-dump-payload yes`), each next to a twin
/// written field by field with `HSET`: the same fields and values, the same
/// encoding (a listpack while the hash is small, as `HSET` makes it), the
/// same memory, and for listpacks a byte-identical `DUMP`.
#[tokio::test]
async fn restored_records_are_what_hset_writes_in_content_encoding_and_memory() {
    let redis = RedisServer::start_with_args(&["--sanitize-dump-payload", "yes"]);
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let mut conn = redis.conn().await;
    let mut generator = Gen(0x9e37_79b9_7f4a_7c15);
    let (mut listpacks, mut hashtables) = (0, 0);
    for i in 0..400 {
        let rec = generator.record();
        let id = SessionId::parse(&format!("random{i:0>16}")).unwrap();
        assert_eq!(
            store.create(id.clone(), &rec, 300).await.unwrap(),
            Some(id.clone())
        );
        let key = store.key(&id);
        // The twin's key is as long: `MEMORY USAGE` counts the key too.
        let twin = store.key(&SessionId::parse(&format!("twin{i:0>18}")).unwrap());
        let mut hset = redis::cmd("HSET");
        hset.arg(&twin);
        for (k, v) in &rec {
            hset.arg(k).arg(serde_json::to_string(v).unwrap());
        }
        let _: u64 = hset.query_async(&mut conn).await.unwrap();
        let (fields, _) = redis.record(&key).await;
        let (twin_fields, _) = redis.record(&twin).await;
        assert_eq!(fields, twin_fields, "record {i}");
        assert_eq!(store.load(&id).await.unwrap().as_ref(), Some(&rec));
        let encoding = |k: String| redis::cmd("OBJECT").arg("ENCODING").arg(k).clone();
        let ours: String = encoding(key.clone()).query_async(&mut conn).await.unwrap();
        let theirs: String = encoding(twin.clone()).query_async(&mut conn).await.unwrap();
        assert_eq!(ours, theirs, "record {i} of {} fields", rec.len());
        if ours == "listpack" {
            listpacks += 1;
            let dump = |k: String| redis::cmd("DUMP").arg(k).clone();
            let ours: Vec<u8> = dump(key.clone()).query_async(&mut conn).await.unwrap();
            let theirs: Vec<u8> = dump(twin.clone()).query_async(&mut conn).await.unwrap();
            assert_eq!(ours, theirs, "record {i}: DUMP");
            let usage = |k: String| redis::cmd("MEMORY").arg("USAGE").arg(k).clone();
            let ours: u64 = usage(key).query_async(&mut conn).await.unwrap();
            let theirs: u64 = usage(twin).query_async(&mut conn).await.unwrap();
            assert_eq!(ours, theirs, "record {i}: MEMORY USAGE");
        } else {
            hashtables += 1;
        }
    }
    assert!(
        listpacks > 100 && hashtables > 100,
        "{listpacks} / {hashtables}"
    );
    let calls = redis.command_calls().await;
    assert_eq!(calls_of(&calls, "restore"), 400);
    assert_eq!(calls_of(&calls, "evalsha") + calls_of(&calls, "eval"), 0);
}

/// Redis refuses `RESTORE` for good (an ACL without it, as `-@dangerous`
/// users have; the command renamed away): the store creates with its
/// script instead, from the first refusal on, without asking again.
#[tokio::test]
async fn create_falls_back_to_its_script_when_restore_is_refused() {
    let acl = RedisServer::start();
    let mut conn = acl.conn().await;
    let () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "norestore",
            "on",
            ">secret-pw",
            "~*",
            "&*",
            "+@all",
            "-restore",
        ])
        .query_async(&mut conn)
        .await
        .unwrap();
    let url = format!("redis://norestore:secret-pw@127.0.0.1:{}/", acl.port());
    creates_by_script(&acl, &url).await;
    let info = acl.info("commandstats").await;
    let rejected = commandstats_field(&info, "rejected_calls");
    assert_eq!(
        calls_of(&rejected, "restore"),
        1,
        "asked once, then never again: {info}"
    );

    let renamed = RedisServer::start_with_args(&["--rename-command", "RESTORE", ""]);
    creates_by_script(&renamed, &renamed.url()).await;
    // An unknown command is an error reply: one, so asked once.
    let errors = renamed.info("errorstats").await;
    assert!(errors.contains("errorstat_ERR:count=1"), "{errors}");
}

/// Five sessions created through `url`, each refused a second time, read
/// back with their TTL: all by the create script.
async fn creates_by_script(redis: &RedisServer, url: &str) {
    let store = RedisStore::connect(url).await.unwrap();
    for i in 0..5 {
        let id = SessionId::parse(&format!("norestore{i:0>13}")).unwrap();
        let rec = record(json!({"i": i}));
        assert_eq!(
            store.create(id.clone(), &rec, 60).await.unwrap(),
            Some(id.clone())
        );
        let other = record(json!({"x": 0}));
        assert_eq!(store.create(id.clone(), &other, 60).await.unwrap(), None);
        assert_eq!(store.load(&id).await.unwrap(), Some(rec));
        let (_, ttl) = redis.record(&store.key(&id)).await;
        assert!((55..=60).contains(&ttl), "TTL {ttl}");
    }
    let evalsha = calls_of(&redis.command_calls().await, "evalsha");
    assert!(evalsha >= 10, "{evalsha}");
}

/// An error reply to one `RESTORE` that says nothing about `RESTORE`
/// itself (here: Redis out of memory) fails that create like the script
/// would, and leaves `RESTORE` on for the next.
#[tokio::test]
async fn a_failed_restore_does_not_turn_restore_off() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let mut conn = redis.conn().await;
    let set_maxmemory = |bytes: &'static str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(bytes)
            .clone()
    };
    let () = set_maxmemory("1").query_async(&mut conn).await.unwrap();
    let id = SessionId::parse("oom00000000000000000001").unwrap();
    let rec = record(json!({"n": 1}));
    assert!(matches!(
        store.create(id.clone(), &rec, 60).await,
        Err(Error::Store(_))
    ));
    let () = set_maxmemory("0").query_async(&mut conn).await.unwrap();
    let before = redis.command_calls().await;
    assert_eq!(
        store.create(id.clone(), &rec, 60).await.unwrap(),
        Some(id.clone())
    );
    let after = redis.command_calls().await;
    assert_eq!(
        calls_of(&after, "restore"),
        calls_of(&before, "restore") + 1,
        "{after:?}"
    );
}

/// Random change sets (sets, removes, increments at the `i64` edges, on
/// integers, floats, texts, big numbers and missing keys) applied by the
/// update script in Redis give exactly what [`Changes::apply_to`] (the
/// contract every store follows) gives on the same record; a record left
/// empty is gone.
#[tokio::test]
async fn random_updates_in_redis_match_apply_to() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let mut generator = Gen(0x2545_f491_4f6c_dd1d);
    const KEYS: [&str; 6] = ["a", "b", "n", "", "ключ", "x.y"];
    let edge = |g: &mut Gen| -> i64 {
        match g.below(6) {
            0 => i64::MAX,
            1 => i64::MIN,
            2 => i64::MAX - g.below(3) as i64,
            3 => i64::MIN + g.below(3) as i64,
            _ => g.below(20) as i64 - 10,
        }
    };
    let value = |g: &mut Gen| -> serde_json::Value {
        match g.below(7) {
            0 | 1 => json!(edge(g)),
            2 => json!(u64::MAX - g.below(3)),
            3 => json!(g.below(100) as f64 / 4.0),
            4 => json!(g.below(10).to_string()),
            5 => json!({"n": 1}),
            _ => json!(null),
        }
    };
    let (mut emptied, mut overflowed) = (0, 0);
    for trial in 0..400 {
        let id = SessionId::parse(&format!("randomupdate{trial:010}")).unwrap();
        let mut expected = Record::new();
        for _ in 0..1 + generator.below(4) {
            let key = *generator.pick(&KEYS);
            expected.insert(key.into(), value(&mut generator));
        }
        assert!(
            store
                .create(id.clone(), &expected, 300)
                .await
                .unwrap()
                .is_some()
        );
        for _ in 0..3 {
            let mut changes = Changes::default();
            for _ in 0..1 + generator.below(5) {
                let key = *generator.pick(&KEYS);
                match generator.below(6) {
                    0 => changes.set(key, value(&mut generator)),
                    1 | 2 => changes.remove(key),
                    _ => changes.increment(key, edge(&mut generator)),
                }
            }
            let before = expected.clone();
            let gone = expected.is_empty();
            changes.apply_to(&mut expected);
            overflowed += usize::from(changes.iter().any(|(k, c)| {
                matches!(c, edge_session::Change::Increment(by)
                    if before.get(k).and_then(serde_json::Value::as_i64)
                        .is_some_and(|n| n.checked_add(*by).is_none()))
            }));
            let written = store.update(&id, &changes, 300).await.unwrap();
            if gone {
                assert_eq!(
                    written, None,
                    "trial {trial}: an update brought back {id:?}"
                );
                expected = Record::new();
            } else {
                assert!(written.is_some(), "trial {trial}");
            }
            let loaded = store.load(&id).await.unwrap();
            if expected.is_empty() {
                emptied += 1;
                assert_eq!(loaded, None, "trial {trial}: {changes:?} on {before:?}");
            } else {
                assert_eq!(
                    loaded.as_ref(),
                    Some(&expected),
                    "trial {trial}: {changes:?} on {before:?}"
                );
            }
        }
    }
    assert!(
        emptied > 10 && overflowed > 10,
        "{emptied} emptied, {overflowed} overflowed"
    );
}
