//! Native value: a call's attached value moves from its caller to the
//! contract, contracts read balances and pay out, calls between contracts
//! carry value, and every move is undone with the call that made it, and
//! only with it.

use cairn_gas_meter::Schedule;
use cairn_vm::{Address, Outcome, Status, TrapCode};

use crate::support::{ALICE, Chain, GAS, contract, trap};

const A: Address = Address([0xaa; 32]);
const B: Address = Address([0xbb; 32]);
/// An account: no code.
const CAROL: Address = Address([0xcc; 32]);

/// A contract that reports and moves value. `forward` calls another with
/// value and then, whatever the callee did, tips its own caller 1.
const BANK: &str = r#"
  (data (i32.const 2080) "\01")
  (func $out16 (param $at i32) (call $output_write (local.get $at) (i32.const 16)))
  (func (export "value")
    (call $attached_value (i32.const 1024))
    (call $out16 (i32.const 1024)))
  (func (export "self_balance")
    (call $self_balance (i32.const 1024))
    (call $out16 (i32.const 1024)))
  ;; input: address (32)
  (func (export "balance")
    (call $input_read (i32.const 0))
    (call $balance (i32.const 0) (i32.const 1024))
    (call $out16 (i32.const 1024)))
  ;; input: to (32) ++ amount (16); output: transfer's result (4)
  (func (export "pay")
    (call $input_read (i32.const 0))
    (i32.store (i32.const 1024) (call $transfer (i32.const 0) (i32.const 32)))
    (call $output_write (i32.const 1024) (i32.const 4)))
  (func (export "pay_then_fail")
    (call $input_read (i32.const 0))
    (drop (call $transfer (i32.const 0) (i32.const 32)))
    unreachable)
  ;; input: callee (32) ++ value (16) ++ entry length (4) ++ entry ++ the
  ;; callee's input; output: the callee's status (4)
  (func (export "forward") (local $len i32) (local $rest i32)
    (call $input_read (i32.const 0))
    (local.set $len (i32.load (i32.const 48)))
    (local.set $rest (i32.add (i32.const 52) (local.get $len)))
    (i32.store (i32.const 1024)
      (call $call_contract_with_value
        (i32.const 0)
        (i32.const 52) (local.get $len)
        (local.get $rest) (i32.sub (call $input_len) (local.get $rest))
        (i64.const -1)
        (i32.const 32)))
    (call $caller (i32.const 2048))
    (drop (call $transfer (i32.const 2048) (i32.const 2080)))
    (call $output_write (i32.const 1024) (i32.const 4)))
"#;

fn amount(outcome: &Outcome) -> u128 {
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    u128::from_le_bytes(outcome.output.as_slice().try_into().unwrap())
}

fn status_word(outcome: &Outcome) -> u32 {
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    u32::from_le_bytes(outcome.output.as_slice().try_into().unwrap())
}

fn pay_input(to: Address, value: u128) -> Vec<u8> {
    [&to.0[..], &value.to_le_bytes()].concat()
}

fn forward_input(callee: Address, value: u128, entry: &str, input: &[u8]) -> Vec<u8> {
    let length = u32::try_from(entry.len()).unwrap();
    [
        &callee.0[..],
        &value.to_le_bytes(),
        &length.to_le_bytes(),
        entry.as_bytes(),
        input,
    ]
    .concat()
}

/// ALICE holds 1,000; A and B run the bank.
fn chain() -> Chain {
    let mut chain = Chain::new();
    chain.deploy(A, &contract(BANK));
    chain.deploy(B, &contract(BANK));
    chain.state.set_balance(ALICE, 1_000);
    chain
}

fn balances(chain: &Chain) -> [u128; 4] {
    [ALICE, A, B, CAROL].map(|account| chain.state.balance_of(&account))
}

#[test]
fn attached_value_moves_to_the_contract_and_back_if_the_call_fails() {
    let mut chain = chain();
    let outcome = chain.call_with_value(A, "value", &[], GAS, false, 300);
    assert_eq!(amount(&outcome), 300);
    // Sorted by address: ALICE (0xa1..) before A (0xaa..).
    assert_eq!(outcome.balances, [(ALICE, 700), (A, 300)]);
    assert_eq!(balances(&chain), [700, 300, 0, 0]);

    // The contract's balance includes what this call brought.
    let outcome = chain.call_with_value(A, "self_balance", &[], GAS, false, 5);
    assert_eq!(amount(&outcome), 305);

    // A failed call keeps nothing: the value stays with the caller.
    let failed = chain.call_with_value(A, "no_such_entry", &[], GAS, false, 100);
    assert_eq!(failed.status, trap(TrapCode::NoSuchEntry));
    assert!(failed.balances.is_empty());
    let failed = chain.call_with_value(A, "pay_then_fail", &pay_input(CAROL, 1), GAS, false, 100);
    assert_eq!(failed.status, trap(TrapCode::Unreachable));
    assert!(failed.balances.is_empty());
    assert_eq!(balances(&chain), [695, 305, 0, 0]);
}

#[test]
fn value_the_caller_lacks_or_value_in_a_query_is_refused_before_anything_runs() {
    let mut chain = chain();
    let short = chain.call_with_value(A, "value", &[], GAS, false, 1_001);
    assert_eq!(short.status, trap(TrapCode::InsufficientBalance));
    assert_eq!(short.gas_used, 0);
    let query = chain.call_with_value(A, "value", &[], GAS, true, 1);
    assert_eq!(query.status, trap(TrapCode::ReadOnly));
    assert_eq!(balances(&chain), [1_000, 0, 0, 0]);
    // A query reads balances.
    let read = chain.call_with(A, "balance", &ALICE.0, GAS, true);
    assert_eq!(amount(&read), 1_000);
}

#[test]
fn a_contract_pays_out_what_it_holds_and_no_more() {
    let mut chain = chain();
    chain.state.set_balance(A, 50);
    let paid = chain.call(A, "pay", &pay_input(CAROL, 20));
    assert_eq!(status_word(&paid), 0);
    assert_eq!(paid.balances, [(A, 30), (CAROL, 20)]);
    assert_eq!(balances(&chain), [1_000, 30, 0, 20]);

    // More than it holds: refused, nothing moves, the call goes on.
    let refused = chain.call(A, "pay", &pay_input(CAROL, 31));
    assert_eq!(status_word(&refused), TrapCode::InsufficientBalance.code());
    assert!(refused.balances.is_empty());
    // Paying oneself or nothing changes nothing.
    let own = chain.call(A, "pay", &pay_input(A, 30));
    assert_eq!(status_word(&own), 0);
    let nothing = chain.call(A, "pay", &pay_input(CAROL, 0));
    assert_eq!(status_word(&nothing), 0);
    assert_eq!(balances(&chain), [1_000, 30, 0, 20]);

    // A query cannot pay.
    let query = chain.call_with(A, "pay", &pay_input(CAROL, 1), GAS, true);
    assert_eq!(query.status, trap(TrapCode::ReadOnly));
    // Balances read inside the call include its own transfers.
    let read = chain.call(A, "balance", &CAROL.0);
    assert_eq!(amount(&read), 20);
}

#[test]
fn a_failed_nested_call_gives_back_its_value_and_undoes_its_transfers_only() {
    let mut chain = chain();
    // ALICE sends 100 to A; A forwards 60 to B, which pays CAROL 25 and
    // fails: B's receipt of 60 and its payment are undone, A's own tip of
    // 1 to ALICE is kept.
    let input = forward_input(B, 60, "pay_then_fail", &pay_input(CAROL, 25));
    let outcome = chain.call_with_value(A, "forward", &input, GAS, false, 100);
    assert_eq!(status_word(&outcome), TrapCode::Unreachable.code());
    assert_eq!(balances(&chain), [901, 99, 0, 0]);

    // The same through `pay`: B keeps 60 - 25, CAROL gets 25.
    let input = forward_input(B, 60, "pay", &pay_input(CAROL, 25));
    let outcome = chain.call_with_value(A, "forward", &input, GAS, false, 0);
    assert_eq!(status_word(&outcome), 0);
    assert_eq!(balances(&chain), [902, 38, 35, 25]);
    assert_eq!(
        outcome.balances,
        [(ALICE, 902), (A, 38), (B, 35), (CAROL, 25)]
    );

    // The callee sees the value it was sent.
    let input = forward_input(B, 3, "value", &[]);
    let outcome = chain.call(A, "forward", &input);
    assert_eq!(status_word(&outcome), 0);
    assert_eq!(balances(&chain), [903, 34, 38, 25]);
}

#[test]
fn a_nested_call_with_value_the_caller_lacks_does_not_run() {
    let mut chain = chain();
    chain.state.set_balance(A, 10);
    let input = forward_input(B, 11, "pay", &pay_input(CAROL, 1));
    let outcome = chain.call(A, "forward", &input);
    assert_eq!(status_word(&outcome), TrapCode::InsufficientBalance.code());
    assert_eq!(balances(&chain), [1_001, 9, 0, 0]);
    // Value to an address without code: no such contract, nothing moves.
    let input = forward_input(CAROL, 1, "pay", &[]);
    let outcome = chain.call(A, "forward", &input);
    assert_eq!(status_word(&outcome), TrapCode::NoSuchContract.code());
    assert_eq!(balances(&chain), [1_002, 8, 0, 0]);
}

#[test]
fn value_in_a_read_only_nested_call_is_refused() {
    let mut chain = chain();
    chain.state.set_balance(A, 10);
    let input = forward_input(B, 1, "value", &[]);
    // A query of `forward`: the nested call's value is refused (and A's tip
    // traps the query afterwards).
    let outcome = chain.call_with(A, "forward", &input, GAS, true);
    assert_eq!(outcome.status, trap(TrapCode::ReadOnly));
    assert_eq!(balances(&chain), [1_000, 10, 0, 0]);
}

#[test]
fn value_host_calls_charge_exactly_their_costs() {
    // Each is measured against a call of the same shape whose cost is
    // known, so what else a call pays (instantiation, blocks, constants)
    // cancels out.
    let costs = Schedule::default().host;
    let gas = |call: &str| {
        let wasm = contract(&format!(r#"(func (export "go") {call})"#));
        let mut chain = chain();
        chain.state.set_balance(CONTRACT_UNDER_TEST, 100);
        chain.deploy(CONTRACT_UNDER_TEST, &wasm);
        let outcome = chain.call(CONTRACT_UNDER_TEST, "go", &[]);
        assert_eq!(outcome.status, Status::Ok, "{call}");
        outcome.gas_used
    };
    const CONTRACT_UNDER_TEST: Address = Address([0xdd; 32]);
    let self_address = gas("(call $self_address (i32.const 0))");
    let per_byte = costs.per_byte;
    assert_eq!(
        gas("(call $attached_value (i32.const 0))"),
        self_address - 32 * per_byte + 16 * per_byte
    );
    assert_eq!(
        gas("(call $self_balance (i32.const 0))"),
        self_address - 32 * per_byte + costs.balance + 16 * per_byte
    );
    let blake = gas("(call $blake2b_256 (i32.const 0) (i32.const 0) (i32.const 0))");
    let two_pointers = blake - costs.blake2b;
    // `balance` takes two pointers where blake2b takes three constants;
    // one constant less.
    let constant = Schedule::default().instructions.constant;
    assert_eq!(
        gas("(call $balance (i32.const 0) (i32.const 64))"),
        two_pointers - constant + costs.balance + 48 * per_byte
    );
    let dropped_pair = gas(
        "(drop (call $secp256k1_verify (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 33)))",
    ) - costs.secp256k1_verify
        - 2 * constant;
    assert_eq!(
        gas("(drop (call $transfer (i32.const 0) (i32.const 64)))"),
        dropped_pair + costs.transfer + 48 * per_byte
    );
}

#[test]
fn a_transfer_that_runs_out_of_gas_moves_nothing() {
    let wasm = contract(
        r#"(func (export "go") (drop (call $transfer (i32.const 0) (i32.const 64))))
           (data (i32.const 64) "\05")"#,
    );
    let mut chain = chain();
    chain.deploy(Address([0xee; 32]), &wasm);
    chain.state.set_balance(Address([0xee; 32]), 10);
    let enough = chain.call(Address([0xee; 32]), "go", &[]);
    assert_eq!(enough.status, Status::Ok);
    assert_eq!(chain.state.balance_of(&Address([0; 32])), 5);
    let short = chain.call_with(Address([0xee; 32]), "go", &[], enough.gas_used - 1, false);
    assert_eq!(short.status, Status::OutOfGas);
    assert!(short.balances.is_empty());
    assert_eq!(chain.state.balance_of(&Address([0; 32])), 5);
}
