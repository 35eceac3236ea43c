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
