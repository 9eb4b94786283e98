//! The same random workload on the example contracts (one of each deployed
//! first, then random deploys, calls and blocks), executed on three
//! independent VMs whose artifact caches are configured differently, gives
//! the same outcome for every step (status, gas, output, events, writes)
//! and the same state at the end.
//!
//! - `fresh`: a new VM for each case, compiling with one thread, keeping
//!   artifacts in memory.
//! - `warm`: one VM for the whole test, compiling with two threads, with no
//!   memory cache and an on-disk one that the cases before have filled, so
//!   every call loads its artifact from disk.
//! - `cold`: a new VM for each case with no cache at all, so every call
//!   compiles its contract again.
//!
//! Each chain runs on a thread of its own.

use std::sync::OnceLock;

use cairn_fuzz::workload::{Chain, Op, op, vm};
use cairn_vm::{Outcome, Vm};
use proptest::prelude::*;

/// `PROPTEST_CASES` if set, else `default` (kept small for `make test`).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

fn warm_vm() -> Vm {
    static VM: OnceLock<(Vm, tempfile::TempDir)> = OnceLock::new();
    let (vm, _dir) = VM.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        (vm(0, Some(dir.path().to_owned()), 2), dir)
    });
    vm.clone()
}

/// Runs `ops` on a chain of `vm` on a thread of its own.
fn run<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    vm: Vm,
    ops: &'scope [Op],
) -> std::thread::ScopedJoinHandle<'scope, (Vec<Option<Outcome>>, Chain)> {
    scope.spawn(move || {
        let mut chain = Chain::with_examples(vm);
        let outcomes = ops.iter().map(|op| chain.apply(op)).collect();
        (outcomes, chain)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    #[test]
    fn differently_cached_vms_agree_on_every_step(
        ops in prop::collection::vec(op(), 1..14)
    ) {
        let (fresh, warm, cold) = std::thread::scope(|scope| {
            let fresh = run(scope, vm(256 << 20, None, 1), &ops);
            let warm = run(scope, warm_vm(), &ops);
            let cold = run(scope, vm(0, None, 2), &ops);
            (
                fresh.join().expect("the fresh chain panicked"),
                warm.join().expect("the warm chain panicked"),
                cold.join().expect("the cold chain panicked"),
            )
        });
        for (index, op) in ops.iter().enumerate() {
            prop_assert_eq!(&fresh.0[index], &warm.0[index], "step {} ({:?}): fresh and warm", index, op);
            prop_assert_eq!(&fresh.0[index], &cold.0[index], "step {} ({:?}): fresh and cold", index, op);
        }
        prop_assert!(fresh.1.state == warm.1.state, "final state: fresh and warm differ");
        prop_assert!(fresh.1.state == cold.1.state, "final state: fresh and cold differ");
        prop_assert_eq!(&fresh.1.contracts, &warm.1.contracts);
        // The configurations really differ in how they found their code.
        let (warm_stats, cold_stats) = (warm.1.vm.cache_stats(), cold.1.vm.cache_stats());
        prop_assert_eq!(warm_stats.memory_hits, 0);
        prop_assert_eq!(cold_stats.memory_hits + cold_stats.disk_hits, 0);
    }
}

/// The workload reaches every kind of ending the examples have: without
/// this, the property above could hold by everything failing alike.
#[test]
fn the_workload_reaches_successes_reverts_and_out_of_gas() {
    use cairn_fuzz::workload::{Garble, Gas};
    use cairn_vm::{Status, TrapCode};

    let mut chain = Chain::with_examples(vm(256 << 20, None, 1));
    let call = |contract, method, picks, gas| Op::Call {
        contract,
        method,
        caller: 0,
        picks,
        gas,
        read_only: false,
        garble: Garble::Nothing,
    };
    // counter.increment(step 3), token.transfer of more than the balance,
    // escrow.open within the allowance, hasher.hash_chain with 1000 gas.
    let steps = [
        (call(0, 0, [3, 0, 0, 0], Gas::Plenty), Status::Ok),
        (
            call(1, 6, [1, 0, 0, 0], Gas::Plenty),
            Status::Trap(TrapCode::Reverted),
        ),
        (call(2, 0, [0, 100, 0, 0], Gas::Plenty), Status::Ok),
        (
            call(3, 0, [7, 30, 0, 0], Gas::Limit(1_000)),
            Status::OutOfGas,
        ),
    ];
    for (op, expected) in steps {
        let outcome = chain.apply(&op).expect("a call");
        assert_eq!(outcome.status, expected, "{op:?}: {outcome:?}");
    }
}
