//! The oracle of `node_supply`: the native token is conserved by any block.
//!
//! The input describes a block of transactions on the process fixture:
//! transfers (to users, to the escrow, to unused addresses), deposits into
//! the escrow (`open_native` with value), payouts from it (`release` and
//! `refund` of its open deal, allowed or not), value sent to a method that
//! refuses it, calls given too little gas, and transactions their senders
//! cannot pay for or that pay below the base fee, at several prices. The
//! block is built (what does not apply is left out), verified by a second
//! execution, and its changes must move value without making or losing
//! any: what balances gained and lost adds up to minus the fees burned,
//! and the chain record's supply falls by exactly that.

use std::sync::Arc;

use arbitrary::Unstructured;
use cairn_node::execution::{BlockExecution, Executor, Mode, NextBlock};
use cairn_node::keys::PrivateKey;
use cairn_node::state::StateSnapshot;
use cairn_node::test_utils::{self, CALL_GAS, GAS_PRICE, TRANSFER_GAS, USER_BALANCE};
use cairn_node::types::{Action, Address, SignedTransaction};
use parity_scale_codec::Encode;

use super::oracles::{FUZZ_CHAIN, Fixture, user_key};

/// At most this many transactions in a block.
const MAX_TRANSACTIONS: usize = 12;

/// The senders: users 1 to 4 (user 1 is the escrow deal's buyer, user 2
/// its seller).
fn sender(index: u8) -> PrivateKey {
    user_key(1 + index % 4)
}

/// A block of transactions described by `input`.
fn transactions(input: &mut Unstructured<'_>, escrow: Address) -> Vec<SignedTransaction> {
    let count = input.int_in_range(0..=MAX_TRANSACTIONS).unwrap_or(0);
    let mut nonces = [0u64; 4];
    let mut transactions = Vec::with_capacity(count);
    for _ in 0..count {
        let index = input.int_in_range(0..=3u8).unwrap_or(0);
        let key = sender(index);
        // Mostly the sender's next nonce; sometimes a repeat or a gap.
        let nonce = match input.int_in_range(0..=7u8).unwrap_or(0) {
            0 => nonces[usize::from(index)].saturating_sub(1),
            1 => nonces[usize::from(index)] + 1,
            _ => nonces[usize::from(index)],
        };
        nonces[usize::from(index)] = nonce + 1;
        let price = match input.int_in_range(0..=4u8).unwrap_or(0) {
            // Below every base fee.
            0 => 0,
            1 => GAS_PRICE + 1,
            2 => 3 * GAS_PRICE,
            _ => GAS_PRICE,
        };
        let value = match input.int_in_range(0..=5u8).unwrap_or(0) {
            0 => 0,
            // More than anyone holds.
            1 => USER_BALANCE * 2,
            _ => u128::from(input.arbitrary::<u32>().unwrap_or(1)),
        };
        let call = |method: &str, input: Vec<u8>| Action::Call {
            contract: escrow,
            method: method.into(),
            input,
        };
        let (gas, action) = match input.int_in_range(0..=6u8).unwrap_or(0) {
            0 | 1 => {
                let to = match input.int_in_range(0..=3u8).unwrap_or(0) {
                    0 => escrow,
                    1 => Address(input.arbitrary().unwrap_or([0xee; 32])),
                    _ => test_utils::address(&sender(input.arbitrary().unwrap_or(0))),
                };
                (TRANSFER_GAS, Action::Transfer { to })
            }
            2 => {
                let seller = test_utils::address(&sender(input.arbitrary().unwrap_or(1)));
                (CALL_GAS, call("open_native", (seller, 0u64).encode()))
            }
            3 => (CALL_GAS, call("release", 0u64.encode())),
            4 => (CALL_GAS, call("refund", 0u64.encode())),
            5 => (CALL_GAS, call("held", Vec::new())),
            // Too little gas for anything past the intrinsic cost.
            _ => (
                test_utils::CALL_GAS / 20 + u64::from(input.arbitrary::<u16>().unwrap_or(0)),
                call("open_native", (Address([2; 32]), 0u64).encode()),
            ),
        };
        transactions.push(FUZZ_CHAIN.sign_with(&key, nonce, gas, price, value, action));
    }
    transactions
}

/// Balances lost and gained by the block's changes, against the snapshot:
/// `(lost, gained)`.
fn balance_moves(snapshot: &StateSnapshot<'_>, executed: &BlockExecution) -> (u128, u128) {
    let (mut lost, mut gained) = (0u128, 0u128);
    for (address, account) in &executed.changes.accounts {
        let before = snapshot
            .account(address)
            .expect("the snapshot reads")
            .balance;
        if account.balance < before {
            lost += before - account.balance;
        } else {
            gained += account.balance - before;
        }
    }
    (lost, gained)
}

/// See the module's documentation.
pub(crate) fn supply(fixture: &Fixture, data: &[u8]) {
    let mut input = Unstructured::new(data);
    let transactions = transactions(&mut input, fixture.escrow);
    let chain = &fixture.chain;
    let snapshot = chain.store().snapshot();
    let head = snapshot.head().expect("the head reads");
    let before = snapshot.chain_state().expect("the chain record reads");
    let next = NextBlock {
        parent: head,
        time_ms: head.time_ms + 1,
        proposer: FUZZ_CHAIN.proposer(),
    };
    let executor = Executor::new(chain.vm(), chain.genesis());
    let built = executor
        .execute_block(
            &snapshot,
            &next,
            transactions.into_iter().map(Arc::new).collect(),
            Mode::Build,
        )
        .expect("building never fails locally");
    // Another execution of what was built agrees to the byte.
    let verified = executor
        .execute_block(
            &snapshot,
            &next,
            built
                .block
                .transactions
                .iter()
                .cloned()
                .map(Arc::new)
                .collect(),
            Mode::Verify,
        )
        .expect("a built block verifies");
    assert_eq!(verified.block, built.block);
    assert_eq!(verified.receipts, built.receipts);

    let mut burned = 0u128;
    for (tx, receipt) in built.block.transactions.iter().zip(&built.receipts) {
        let used = u128::from(receipt.gas_used);
        assert!(receipt.gas_used <= tx.tx.gas_limit);
        assert_eq!(receipt.fee, used * u128::from(tx.tx.gas_price));
        assert_eq!(receipt.burned, used * u128::from(before.base_fee));
        let moved = if receipt.is_ok() { tx.tx.value } else { 0 };
        assert_eq!(receipt.value, moved, "{receipt:?}");
        burned += receipt.burned;
    }
    let (lost, gained) = balance_moves(&snapshot, &built);
    assert_eq!(lost, gained + burned, "value was made or lost");
    let after = built
        .changes
        .chain
        .expect("every block sets the chain record");
    assert_eq!(after.total_supply, before.total_supply - burned);
    assert_eq!(after.burned, before.burned + burned);
    assert_eq!(
        after.base_fee,
        chain
            .genesis()
            .params
            .next_base_fee(before.base_fee, built.block.header.gas_used)
    );
}
