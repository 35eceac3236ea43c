//! The store conformance suite against the memory, cookie and counting stores, and against the trait's default methods.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

#[test]
fn memory_store_conformance() {
    let clock = Arc::new(AtomicU64::new(T0));
    let c = clock.clone();
    let store = MemoryStore::with_clock(move || c.load(Ordering::SeqCst));
    block_on_ready(conformance::run(&store));
    block_on_ready(conformance::atomic(&store));
    block_on_ready(conformance::expiry(&store, |secs| {
        clock.fetch_add(secs, Ordering::SeqCst);
        std::future::ready(())
    }));
}

#[test]
fn trait_defaults_pass_the_contract_step_by_step() {
    // Only the four required methods (no yield): the trait's default
    // `update`, `touch` and `cycle` (read, merge, write) must pass the same
    // contract, step by step.
    let store = RequiredOnly {
        inner: memory().0,
        yield_on_load: false,
    };
    block_on_ready(conformance::run(&store));
    block_on_ready(conformance::interleavings(&store));
    // Requests that never overlap (an always-ready store runs each to the
    // end in turn) lose nothing even without atomic writes.
    assert_eq!(
        block_on_ready(conformance::concurrent_increments(&store, 20)),
        20
    );
}

#[test]
fn cookie_store_conformance() {
    let store = CookieStore::new();
    block_on_ready(conformance::run(&store));
    block_on_ready(conformance::run(&CountingStore::new(store)));
}

#[test]
fn counting_store_passes_conformance_and_counts() {
    let (store, _) = memory();
    block_on_ready(conformance::run(&store));
    let c = store.calls();
    assert!(
        c.load > 5
            && c.create > 5
            && c.save > 0
            && c.update > 0
            && c.delete > 5
            && c.touch > 0
            && c.cycle > 0,
        "{c:?}"
    );
}

#[test]
fn dump_payload_checksum_is_redis_crc64() {
    use edge_session::Record;
    use edge_session::redis_wire::{DUMP_RDB_VERSION, crc64_jones, dump_payload};
    use serde_json::json;
    // The check value of CRC-64/Jones as Redis computes it (its crc64.c
    // self-test), and of nothing.
    assert_eq!(crc64_jones(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    assert_eq!(crc64_jones(b""), 0);

    assert_eq!(dump_payload(&Record::new()).unwrap(), None);
    let mut record = Record::new();
    record.insert("a".into(), json!("x"));
    record.insert("k".repeat(70), json!(1));
    record.insert("b".into(), json!("y".repeat(20_000)));
    let payload = dump_payload(&record).unwrap().unwrap();
    let (body, tail) = payload.split_at(payload.len() - 10);
    assert_eq!(tail[..2], DUMP_RDB_VERSION.to_le_bytes());
    let mut signed = body.to_vec();
    signed.extend_from_slice(&tail[..2]);
    assert_eq!(tail[2..], crc64_jones(&signed).to_le_bytes());
    // Type 4 (a hash of strings), 3 fields; each string behind its length
    // in 6, 14 or 32 bits.
    let mut expected = vec![4u8, 3];
    expected.extend_from_slice(b"\x01a\x03\"x\"");
    expected.extend_from_slice(b"\x01b\x80\x00\x00\x4e\x22\"");
    expected.extend_from_slice("y".repeat(20_000).as_bytes());
    expected.push(b'"');
    expected.extend_from_slice(&[0x40, 70]);
    expected.extend_from_slice("k".repeat(70).as_bytes());
    expected.extend_from_slice(b"\x011");
    assert!(
        body == &expected[..],
        "the payload differs from the RDB layout"
    );
}
