//! The counter's compiled wasm (contracts-sdk/testdata/counter.wasm) on the
//! real VM.

use cairn_sdk_testing::TestChain;
use counter::{CounterError, Incremented};

const CODE: &[u8] = include_bytes!("../../../testdata/counter.wasm");

#[test]
fn increments_up_to_the_limit_with_real_gas() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let bob = chain.account("bob");
    let counter = chain.deploy(alice, CODE, (10u64,)).address;

    let first = chain.call(alice, counter, "increment", (4u64,));
    assert_eq!(first.value::<u64>(), 4);
    assert_eq!(
        first.events::<Incremented>(),
        [Incremented {
            by: alice,
            step: 4,
            count: 4
        }]
    );
    assert!(
        first.gas_used > 10_000,
        "a call with storage and an event costs real gas"
    );

    assert_eq!(
        chain
            .call(bob, counter, "increment", (6u64,))
            .value::<u64>(),
        10
    );
    let refused = chain.call(alice, counter, "increment", (1u64,));
    assert_eq!(
        refused.error::<CounterError>(),
        CounterError::LimitReached { limit: 10 }
    );
    assert!(refused.events.is_empty());

    assert_eq!(chain.query(counter, "get", ()).value::<u64>(), 10);
    assert_eq!(
        chain
            .query(counter, "last_caller", ())
            .value::<Option<cairn_sdk::Address>>(),
        Some(bob)
    );
}

#[test]
fn init_runs_once_and_queries_cannot_write() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let counter = chain.deploy(alice, CODE, (3u64,)).address;
    let again = chain.call(alice, counter, "init", (100u64,));
    assert_eq!(again.abort_message(), "the contract is already initialised");

    // `increment` takes `&mut self`: called as a query it cannot write.
    let query = chain.query(counter, "increment", (1u64,));
    assert!(!query.is_ok());
    assert_eq!(chain.query(counter, "get", ()).value::<u64>(), 0);
}

#[test]
fn bad_arguments_abort_with_a_clear_message() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let counter = chain.deploy(alice, CODE, (3u64,)).address;
    // Four bytes where a u64 is expected, then eight plus one extra.
    let short = chain.call_raw(alice, counter, "increment", &[1, 0, 0, 0]);
    assert_eq!(
        short.abort_message(),
        "arguments do not decode as the method's parameters"
    );
    let long = chain.call_raw(alice, counter, "increment", &[1, 0, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(
        long.abort_message(),
        "arguments do not decode as the method's parameters"
    );
}
