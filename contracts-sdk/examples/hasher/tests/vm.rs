//! The hasher's compiled wasm on the VM computes what the native kernels
//! compute, for real gas.

use cairn_sdk_testing::TestChain;
use hasher::kernel;

const CODE: &[u8] = include_bytes!("../../../testdata/hasher.wasm");

#[test]
fn the_vm_and_native_code_agree() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let hasher = chain.deploy(alice, CODE, ()).address;

    let receipt = chain.call(alice, hasher, "hash_chain", ([3u8; 32], 1_000u32));
    assert_eq!(
        receipt.value::<[u8; 32]>(),
        kernel::hash_chain([3; 32], 1_000)
    );
    assert_eq!(
        chain.query(hasher, "last", ()).value::<Option<[u8; 32]>>(),
        Some(kernel::hash_chain([3; 32], 1_000))
    );

    let sorted = chain.query(hasher, "sort", (10_000u32, 99u64));
    assert_eq!(sorted.value::<u64>(), kernel::sort(10_000, 99));
}

#[test]
fn gas_grows_with_the_work() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let hasher = chain.deploy(alice, CODE, ()).address;
    let gas = |rounds: u32| {
        chain
            .query(hasher, "hash_chain", ([0u8; 32], rounds))
            .gas_used
    };
    let (small, large) = (gas(100), gas(200));
    let per_round = large - small;
    // The same work per round: a third measurement lands on the same line.
    assert_eq!(gas(300) - large, per_round);
}

#[test]
fn a_budget_too_small_runs_out_of_gas() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let hasher = chain.deploy(alice, CODE, ()).address;
    chain.set_gas_limit(5_000_000);
    let receipt = chain.call(alice, hasher, "hash_chain", ([0u8; 32], 1_000_000u32));
    assert_eq!(receipt.status, cairn_sdk_testing::CallStatus::OutOfGas);
    assert_eq!(receipt.gas_used, 5_000_000);
}
