//! Gas is monotone, and a failed call leaves the state as it was.
//!
//! On a chain with the examples deployed and a random history behind it, a
//! random call given plenty of gas uses some `g`. Then, with the state
//! unchanged:
//! - a limit of exactly `g`, or of anything above it, gives the same
//!   outcome: status, gas used, output, events and writes;
//! - a limit of `g - 1`, or of anything below `g`, runs out of gas, uses the
//!   whole limit, and keeps no output, events or writes; committing that
//!   outcome changes nothing (checked by [`Chain::run`] for every failure).

use std::sync::OnceLock;

use cairn_fuzz::workload::{Chain, PLENTY, call_op, op, vm};
use cairn_vm::{Status, Vm};
use proptest::prelude::*;

/// `PROPTEST_CASES` if set, else `default` (kept small for `make test`).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

fn shared_vm() -> Vm {
    static VM: OnceLock<Vm> = OnceLock::new();
    VM.get_or_init(|| vm(256 << 20, None, 2)).clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn more_gas_than_used_changes_nothing_and_less_runs_out(
        history in prop::collection::vec(op(), 0..6),
        probe in call_op(),
        extra in prop_oneof![Just(1u64), 1u64..1_000_000_000],
        below in any::<prop::sample::Index>(),
    ) {
        let mut chain = Chain::with_examples(shared_vm());
        for op in &history {
            chain.apply(op);
        }
        let spec = chain.spec(&probe).expect("a call has a spec");
        let before = chain.state.clone();
        let full = chain.run(&spec, PLENTY);
        prop_assert_ne!(full.status, Status::OutOfGas, "{:?} ran out of {} gas", spec, PLENTY);
        let used = full.gas_used;
        chain.state = before.clone();

        let exact = chain.run(&spec, used);
        prop_assert_eq!(&exact, &full, "with exactly the gas used ({})", used);
        chain.state = before.clone();

        let more = chain.run(&spec, used + extra);
        prop_assert_eq!(&more, &full, "with {} more gas than used", extra);
        chain.state = before.clone();

        if used > 0 {
            for limit in [used - 1, below.index(usize::try_from(used).unwrap_or(usize::MAX)) as u64] {
                let less = chain.run(&spec, limit);
                prop_assert_eq!(less.status, Status::OutOfGas, "{:?} with {} of {} gas", spec, limit, used);
                prop_assert_eq!(less.gas_used, limit);
                prop_assert!(less.output.is_empty() && less.events.is_empty() && less.writes.is_empty());
                prop_assert!(chain.state == before, "out of gas changed the state");
            }
        }
    }
}

/// The probes above reach calls that write: a gas test on read-only calls
/// alone would say little about the overlay.
#[test]
fn out_of_gas_after_writes_discards_them() {
    use cairn_fuzz::workload::{Garble, Gas, Op};

    let mut chain = Chain::with_examples(shared_vm());
    // escrow.open: the token's transfer_from writes balances in the
    // nested call, then the escrow writes the deal.
    let open = Op::Call {
        contract: 2,
        method: 0,
        caller: 1,
        picks: [0, 500, 0, 0],
        gas: Gas::Plenty,
        read_only: false,
        garble: Garble::Nothing,
    };
    let spec = chain.spec(&open).expect("a call");
    let before = chain.state.clone();
    let full = chain.run(&spec, PLENTY);
    assert!(full.status.is_ok(), "{full:?}");
    let token = chain.contracts[1].1;
    let escrow = chain.contracts[2].1;
    assert!(full.writes.iter().any(|write| write.contract == token));
    assert!(full.writes.iter().any(|write| write.contract == escrow));
    // Every limit from just after the nested call's charge to one short of
    // the end stops after some writes were made in the overlay.
    chain.state = before.clone();
    for limit in (0..full.gas_used).step_by(usize::try_from(full.gas_used / 97).unwrap_or(1).max(1))
    {
        let stopped = chain.run(&spec, limit);
        assert_eq!(stopped.status, Status::OutOfGas, "with {limit} gas");
        assert!(stopped.writes.is_empty());
        assert!(chain.state == before);
    }
}
