//! Synchronous cross-contract calls: gas forwarded and charged, nested
//! overlays that revert only the failing callee, and the depth and
//! reentrancy limits.

use cairn_vm::limits::MAX_CALL_DEPTH;
use cairn_vm::{Address, Status, TrapCode};

use crate::support::{Chain, GAS, contract};

const A: Address = Address([0xaa; 32]);
const B: Address = Address([0xbb; 32]);

fn bytes_text(address: &Address) -> String {
    address
        .0
        .iter()
        .map(|byte| format!("\\{byte:02x}"))
        .collect()
}

/// Calls the contract, entry and gas given in its input
/// (`[callee 32][gas u64][entry...]`), records the status under "a", and
/// outputs `[status] ++ callee output`.
fn caller_contract() -> Vec<u8> {
    contract(
        r#"(data (i32.const 0) "a")
           (func $call (result i32)
             (call $input_read (i32.const 1024))
             (call $call_contract (i32.const 1024) (i32.const 1064) (i32.sub (call $input_len) (i32.const 40))
                                  (i32.const 0) (i32.const 0) (i64.load (i32.const 1056))))
           (func $report (param $status i32)
             (i32.store8 (i32.const 2048) (local.get $status))
             (call $call_output_read (i32.const 2049))
             (call $output_write (i32.const 2048) (i32.add (i32.const 1) (call $call_output_len))))
           (func (export "call") (local $status i32)
             (local.set $status (call $call))
             (call $storage_set (i32.const 0) (i32.const 1) (i32.const 2048) (i32.const 1))
             (call $report (local.get $status)))
           (func (export "call_no_write") (call $report (call $call)))"#,
    )
}

fn callee_contract() -> Vec<u8> {
    contract(&format!(
        r#"(data (i32.const 0) "b")
           (data (i32.const 8) "from b")
           (data (i32.const 32) "{a}")
           (data (i32.const 64) "call_no_write")
           (func $store
             (call $storage_set (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 6))
             (call $emit_event (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 6))
             (call $output_write (i32.const 8) (i32.const 6)))
           (func (export "store") (call $store))
           (func (export "store_then_fail") (call $store) unreachable)
           (func (export "spin") (loop $l (br $l)))
           (func (export "call_back")
             ;; input for A's "call": B itself, so A would call B again.
             (i32.store8 (i32.const 200)
               (call $call_contract (i32.const 32) (i32.const 64) (i32.const 13)
                                    (i32.const 0) (i32.const 0) (i64.const -1)))
             (call $output_write (i32.const 200) (i32.const 1)))"#,
        a = bytes_text(&A),
    ))
}

fn chain() -> Chain {
    let mut chain = Chain::new();
    chain.deploy(A, &caller_contract());
    chain.deploy(B, &callee_contract());
    chain
}

fn call_input(callee: &Address, gas: u64, entry: &str) -> Vec<u8> {
    let mut input = callee.0.to_vec();
    input.extend_from_slice(&gas.to_le_bytes());
    input.extend_from_slice(entry.as_bytes());
    input
}

#[test]
fn a_successful_callee_commits_with_its_caller() {
    let mut chain = chain();
    let outcome = chain.call(A, "call", &call_input(&B, GAS, "store"));
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.output, b"\0from b");
    let written: Vec<_> = outcome
        .writes
        .iter()
        .map(|w| (w.contract, w.key.clone()))
        .collect();
    assert_eq!(written, vec![(A, b"a".to_vec()), (B, b"b".to_vec())]);
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].contract, B);
}

#[test]
fn a_failing_callee_reverts_only_itself() {
    let mut chain = chain();
    let outcome = chain.call(A, "call", &call_input(&B, GAS, "store_then_fail"));
    assert_eq!(outcome.status, Status::Ok, "the caller goes on");
    assert_eq!(outcome.output, [TrapCode::Unreachable.code() as u8]);
    let written: Vec<_> = outcome.writes.iter().map(|w| w.contract).collect();
    assert_eq!(written, vec![A], "B's write is reverted, A's kept");
    assert!(outcome.events.is_empty(), "B's event is reverted too");
    assert!(chain.state.entries(&B).is_empty());
}

#[test]
fn a_callee_out_of_gas_costs_exactly_what_it_was_given() {
    let mut chain = chain();
    let small = chain.call(A, "call", &call_input(&B, 100_000, "spin"));
    let large = chain.call(A, "call", &call_input(&B, 300_000, "spin"));
    assert_eq!(small.status, Status::Ok);
    assert_eq!(small.output, [Status::OutOfGas.code() as u8]);
    assert_eq!(large.gas_used - small.gas_used, 200_000);
    // Asking for more than is left forwards only what is left: the whole
    // transaction then runs out.
    let greedy = chain.call_with(
        A,
        "call",
        &call_input(&B, u64::MAX, "spin"),
        5_000_000,
        false,
    );
    assert_eq!(greedy.status, Status::OutOfGas);
    assert_eq!(greedy.gas_used, 5_000_000);
}

#[test]
fn reentrancy_is_refused() {
    let mut chain = chain();
    let outcome = chain.call(A, "call", &call_input(&B, GAS, "call_back"));
    assert_eq!(outcome.status, Status::Ok);
    // A called B (status 0); B's call back into A was refused.
    assert_eq!(outcome.output, [0, TrapCode::Reentrancy.code() as u8]);
}

#[test]
fn calls_to_missing_contracts_and_entries_return_their_codes() {
    let mut chain = chain();
    let nobody = chain.call(A, "call", &call_input(&Address([0xee; 32]), GAS, "store"));
    assert_eq!(nobody.output, [TrapCode::NoSuchContract.code() as u8]);
    let no_entry = chain.call(A, "call", &call_input(&B, GAS, "nope"));
    assert_eq!(no_entry.output, [TrapCode::NoSuchEntry.code() as u8]);
    let bad_name = chain.call(A, "call", &{
        let mut input = call_input(&B, GAS, "");
        input.extend_from_slice(&[0xff, 0xfe]);
        input
    });
    assert_eq!(bad_name.output, [TrapCode::NoSuchEntry.code() as u8]);
}

#[test]
fn read_only_propagates_to_callees() {
    let mut chain = chain();
    let outcome = chain.call_with(A, "call_no_write", &call_input(&B, GAS, "store"), GAS, true);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.output, [TrapCode::ReadOnly.code() as u8]);
}

/// Deployed at many addresses: writes "visited", then calls the first
/// address of its input with the rest; with no input left it traps.
/// Outputs `[status of its call] ++ that call's output`.
fn relay_contract() -> Vec<u8> {
    contract(
        r#"(data (i32.const 0) "visited")
           (data (i32.const 16) "relay")
           (func (export "relay") (local $n i32) (local $status i32)
             (local.set $n (call $input_len))
             (call $input_read (i32.const 1024))
             (call $storage_set (i32.const 0) (i32.const 7) (i32.const 0) (i32.const 7))
             (if (i32.eqz (local.get $n)) (then unreachable))
             (local.set $status
               (call $call_contract (i32.const 1024) (i32.const 16) (i32.const 5)
                                    (i32.const 1056) (i32.sub (local.get $n) (i32.const 32)) (i64.const -1)))
             (i32.store8 (i32.const 4096) (local.get $status))
             (call $call_output_read (i32.const 4097))
             (call $output_write (i32.const 4096) (i32.add (i32.const 1) (call $call_output_len))))"#,
    )
}

fn relays(chain: &mut Chain, count: u8) -> Vec<Address> {
    let wasm = relay_contract();
    (1..=count)
        .map(|index| {
            let address = Address([index; 32]);
            chain.deploy(address, &wasm);
            address
        })
        .collect()
}

#[test]
fn nested_failures_revert_only_the_innermost_frame() {
    let mut chain = Chain::new();
    let addresses = relays(&mut chain, 4);
    let input: Vec<u8> = addresses[1..].iter().flat_map(|a| a.0).collect();
    let outcome = chain.call(addresses[0], "relay", &input);
    assert_eq!(outcome.status, Status::Ok);
    // Three calls succeed; the fourth contract runs out of input and traps.
    assert_eq!(outcome.output, [0, 0, TrapCode::Unreachable.code() as u8]);
    let visited: Vec<_> = outcome.writes.iter().map(|w| w.contract).collect();
    assert_eq!(visited, addresses[..3]);
}

#[test]
fn call_depth_is_limited() {
    let mut chain = Chain::new();
    let count = u8::try_from(MAX_CALL_DEPTH + 3).unwrap();
    let addresses = relays(&mut chain, count);
    let input: Vec<u8> = addresses[1..].iter().flat_map(|a| a.0).collect();
    let outcome = chain.call(addresses[0], "relay", &input);
    assert_eq!(outcome.status, Status::Ok);
    // Depths 0..=MAX_CALL_DEPTH run; the call that would go one deeper is
    // refused with call_depth.
    let mut expected = vec![0; MAX_CALL_DEPTH];
    expected.push(TrapCode::CallDepth.code() as u8);
    assert_eq!(outcome.output, expected);
    assert_eq!(outcome.writes.len(), MAX_CALL_DEPTH + 1);
}
