//! The host functions of docs/ABI.md: what each does, what it costs, and
//! that every bad pointer, length or argument is a fixed trap.

use cairn_vm::{Schedule, Status, TrapCode, blake2b_256};

use crate::support::{ALICE, CONTRACT, Chain, GAS, contract, instance_gas, run_twice, trap};

fn host_costs() -> cairn_gas_meter::HostCosts {
    Schedule::default().host
}

#[test]
fn input_and_output_round_trip() {
    let wasm = contract(
        r#"(func (export "echo")
             (call $input_read (i32.const 100))
             (call $output_write (i32.const 100) (call $input_len)))"#,
    );
    let outcome = run_twice(&wasm, "echo", b"hello, cairn", GAS);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.output, b"hello, cairn");
}

#[test]
fn host_calls_charge_their_base_and_per_byte_costs() {
    let costs = host_costs();
    let wasm = contract(r#"(func (export "len") (drop (call $input_len)))"#);
    let empty = run_twice(&wasm, "len", &[], GAS);
    // The instance, two blocks (the call ends one), their instructions
    // (call, drop) and the host's base cost.
    let c = Schedule::default().instructions;
    assert_eq!(
        empty.gas_used,
        instance_gas(&wasm) + 2 * c.block + c.call + c.parametric + costs.base
    );

    let read = contract(r#"(func (export "read") (call $input_read (i32.const 0)))"#);
    let small = run_twice(&read, "read", &[1; 10], GAS).gas_used;
    let large = run_twice(&read, "read", &[1; 1010], GAS).gas_used;
    assert_eq!(large - small, 1000 * costs.per_byte);
}

#[test]
fn storage_get_set_remove() {
    let wasm = contract(
        r#"(data (i32.const 0) "key")
           (func (export "set") (call $input_read (i32.const 100))
             (call $storage_set (i32.const 0) (i32.const 3) (i32.const 100) (call $input_len)))
           (func (export "get")
             ;; output: the returned length (8 bytes) followed by the value
             (i64.store (i32.const 292)
               (call $storage_get (i32.const 0) (i32.const 3) (i32.const 300) (i32.const 64)))
             (call $output_write (i32.const 292) (i32.const 72)))
           (func (export "get_length_only")
             (i64.store (i32.const 200)
               (call $storage_get (i32.const 0) (i32.const 3) (i32.const 300) (i32.const 2)))
             (call $output_write (i32.const 200) (i32.const 8)))
           (func (export "remove") (call $storage_remove (i32.const 0) (i32.const 3)))"#,
    );
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, &wasm);
    let absent = chain.call(CONTRACT, "get", &[]);
    assert_eq!(absent.output[..8], (-1i64).to_le_bytes());

    chain.call(CONTRACT, "set", b"stored");
    let present = chain.call(CONTRACT, "get", &[]);
    assert_eq!(present.output[..8], 6i64.to_le_bytes());
    assert_eq!(&present.output[8..14], b"stored");

    // A buffer too small gets the length and no bytes.
    let short = chain.call(CONTRACT, "get_length_only", &[]);
    assert_eq!(short.output, 6i64.to_le_bytes());

    let removed = chain.call(CONTRACT, "remove", &[]);
    assert_eq!(removed.writes.len(), 1);
    assert_eq!(removed.writes[0].value, None);
    assert!(chain.state.entries(&CONTRACT).is_empty());
}

/// Stores keys a..e, then iterates with `flags` over [start, end) and
/// outputs every key it returns, in order.
fn iterate(flags: i32, start: &str, end: &str, also_in_the_same_call: &str) -> Vec<u8> {
    let wasm = contract(&format!(
        r#"(data (i32.const 0) "abcde")
           (data (i32.const 16) "{start}")
           (data (i32.const 32) "{end}")
           (global $out (mut i32) (i32.const 1000))
           (func $put (param $i i32)
             (call $storage_set (local.get $i) (i32.const 1) (local.get $i) (i32.const 1)))
           (func (export "fill")
             (call $put (i32.const 0)) (call $put (i32.const 1)) (call $put (i32.const 2))
             (call $put (i32.const 3)) (call $put (i32.const 4)))
           (func (export "scan") (local $it i32) (local $r i64)
             {also_in_the_same_call}
             (local.set $it (call $storage_range (i32.const 16) (i32.const {start_len})
                                                  (i32.const 32) (i32.const {end_len}) (i32.const {flags})))
             (block $done (loop $next
               (local.set $r (call $storage_next (local.get $it) (global.get $out) (i32.const 8)
                                                 (i32.const 500) (i32.const 8)))
               (br_if $done (i64.lt_s (local.get $r) (i64.const 0)))
               (global.set $out (i32.add (global.get $out) (i32.const 1)))
               (br $next)))
             (call $output_write (i32.const 1000) (i32.sub (global.get $out) (i32.const 1000))))"#,
        start_len = start.len(),
        end_len = end.len(),
    ));
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, &wasm);
    assert_eq!(chain.call(CONTRACT, "fill", &[]).status, Status::Ok);
    let outcome = chain.call(CONTRACT, "scan", &[]);
    assert_eq!(outcome.status, Status::Ok);
    outcome.output
}

#[test]
fn ranges_iterate_in_key_order_both_ways() {
    assert_eq!(iterate(0, "b", "e", ""), b"bcd");
    assert_eq!(iterate(1, "b", "e", ""), b"dcb");
    assert_eq!(iterate(2, "", "c", ""), b"ab");
    assert_eq!(iterate(4, "c", "", ""), b"cde");
    assert_eq!(iterate(2 | 4, "", "", ""), b"abcde");
    assert_eq!(iterate(1 | 2 | 4, "", "", ""), b"edcba");
    assert_eq!(iterate(0, "d", "b", ""), b"", "an inverted range is empty");
}

#[test]
fn ranges_see_the_calls_own_writes_and_removals() {
    // In the scanning call, before the scan: remove "b" and "d", and
    // rewrite "a" (the start key, at offset 16).
    let wasm_changes = r#"
        (call $storage_remove (i32.const 1) (i32.const 1))
        (call $storage_remove (i32.const 3) (i32.const 1))
        (call $storage_set (i32.const 16) (i32.const 1) (i32.const 16) (i32.const 1))"#;
    // With start "a" at 16: the call rewrites "a" and removes b and d.
    assert_eq!(iterate(2 | 4, "a", "", wasm_changes), b"ace");
    assert_eq!(iterate(1 | 2 | 4, "a", "", wasm_changes), b"eca");
}

#[test]
fn an_entry_too_big_for_the_buffers_is_returned_again() {
    let wasm = contract(
        r#"(data (i32.const 0) "key")
           (data (i32.const 8) "a long value")
           (func (export "fill")
             (call $storage_set (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 12)))
           (func (export "scan") (local $it i32)
             (local.set $it (call $storage_range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 6)))
             ;; value buffer of 4: lengths only, no advance
             (i64.store (i32.const 100) (call $storage_next (local.get $it) (i32.const 200) (i32.const 16) (i32.const 300) (i32.const 4)))
             ;; big enough: the same entry, copied
             (i64.store (i32.const 108) (call $storage_next (local.get $it) (i32.const 200) (i32.const 16) (i32.const 300) (i32.const 16)))
             ;; exhausted
             (i64.store (i32.const 116) (call $storage_next (local.get $it) (i32.const 200) (i32.const 16) (i32.const 300) (i32.const 16)))
             (call $output_write (i32.const 100) (i32.const 24)))"#,
    );
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, &wasm);
    chain.call(CONTRACT, "fill", &[]);
    let outcome = chain.call(CONTRACT, "scan", &[]);
    assert_eq!(outcome.status, Status::Ok);
    let packed = (3i64 << 32) | 12;
    assert_eq!(outcome.output[0..8], packed.to_le_bytes());
    assert_eq!(outcome.output[8..16], packed.to_le_bytes());
    assert_eq!(outcome.output[16..24], (-1i64).to_le_bytes());
}

#[test]
fn events_caller_address_block_and_hash() {
    let wasm = contract(
        r#"(data (i32.const 0) "topic")
           (data (i32.const 8) "payload")
           (func (export "all")
             (call $emit_event (i32.const 0) (i32.const 5) (i32.const 8) (i32.const 7))
             (call $caller (i32.const 100))
             (call $self_address (i32.const 132))
             (i64.store (i32.const 164) (call $block_height))
             (i64.store (i32.const 172) (call $block_time))
             (call $blake2b_256 (i32.const 8) (i32.const 7) (i32.const 180))
             (call $output_write (i32.const 100) (i32.const 112)))"#,
    );
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, &wasm);
    chain.height = 42;
    let outcome = chain.call(CONTRACT, "all", &[]);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].topic, b"topic");
    assert_eq!(outcome.events[0].data, b"payload");
    assert_eq!(outcome.events[0].contract, CONTRACT);
    let out = &outcome.output;
    assert_eq!(out[0..32], ALICE.0);
    assert_eq!(out[32..64], CONTRACT.0);
    assert_eq!(out[64..72], 42u64.to_le_bytes());
    assert_eq!(out[72..80], (1_700_000_000_000u64 + 42).to_le_bytes());
    assert_eq!(out[80..112], blake2b_256(b"payload"));
}

#[test]
fn gas_left_goes_down_and_matches_gas_used() {
    let wasm = contract(
        r#"(func (export "twice")
             (i64.store (i32.const 0) (call $gas_left))
             (i64.store (i32.const 8) (call $gas_left))
             (call $output_write (i32.const 0) (i32.const 16)))"#,
    );
    // What the instance leaves of the limit, and the call's own use.
    let limit = instance_gas(&wasm) + 1_000_000;
    let outcome = run_twice(&wasm, "twice", &[], limit);
    let first = u64::from_le_bytes(outcome.output[0..8].try_into().unwrap());
    let second = u64::from_le_bytes(outcome.output[8..16].try_into().unwrap());
    assert!(second < first && first < 1_000_000);
    assert!(outcome.gas_used > limit - second);
}

#[test]
fn abort_and_revert_end_the_call_with_their_data() {
    let wasm = contract(
        r#"(data (i32.const 0) "boom: index out of range")
           (data (i32.const 100) "\01\02")
           (func (export "panic")
             (call $storage_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
             (call $abort (i32.const 0) (i32.const 24)))
           (func (export "fail")
             (call $emit_event (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
             (call $revert (i32.const 100) (i32.const 2)))
           (func (export "long_message") (call $abort (i32.const 0) (i32.const 60000)))"#,
    );
    let panic = run_twice(&wasm, "panic", &[], GAS);
    assert_eq!(panic.status, trap(TrapCode::Aborted));
    assert_eq!(panic.output, b"boom: index out of range");
    assert!(panic.writes.is_empty());
    let fail = run_twice(&wasm, "fail", &[], GAS);
    assert_eq!(fail.status, trap(TrapCode::Reverted));
    assert_eq!(fail.output, [1, 2]);
    assert!(fail.events.is_empty());
    let long = run_twice(&wasm, "long_message", &[], GAS);
    assert_eq!(long.status, trap(TrapCode::Aborted));
    assert_eq!(long.output.len(), cairn_vm::limits::MAX_ABORT_MESSAGE_BYTES);
}

#[test]
fn read_only_calls_cannot_write_or_emit() {
    let wasm = contract(
        r#"(func (export "set") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))
           (func (export "remove") (call $storage_remove (i32.const 0) (i32.const 1)))
           (func (export "emit") (call $emit_event (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))
           (func (export "read") (drop (call $storage_get (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))))"#,
    );
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, &wasm);
    for entry in ["set", "remove", "emit"] {
        let outcome = chain.call_with(CONTRACT, entry, &[], GAS, true);
        assert_eq!(outcome.status, trap(TrapCode::ReadOnly), "{entry}");
    }
    assert_eq!(
        chain.call_with(CONTRACT, "read", &[], GAS, true).status,
        Status::Ok
    );
}

/// One call of every host function with a pointer/length argument, with
/// the given pointer and length expressions substituted.
fn every_pointer_call(pointer: &str, length: &str) -> Vec<(&'static str, String)> {
    let p = pointer;
    let l = length;
    vec![
        ("input_read", format!("(call $input_read {p})")),
        ("output_write", format!("(call $output_write {p} {l})")),
        (
            "storage_get key",
            format!("(drop (call $storage_get {p} {l} (i32.const 0) (i32.const 8)))"),
        ),
        (
            "storage_set key",
            format!("(call $storage_set {p} {l} (i32.const 0) (i32.const 1))"),
        ),
        (
            "storage_set value",
            format!("(call $storage_set (i32.const 0) (i32.const 1) {p} {l})"),
        ),
        ("storage_remove", format!("(call $storage_remove {p} {l})")),
        (
            "storage_range start",
            format!(
                "(drop (call $storage_range {p} {l} (i32.const 0) (i32.const 0) (i32.const 4)))"
            ),
        ),
        (
            "storage_range end",
            format!(
                "(drop (call $storage_range (i32.const 0) (i32.const 0) {p} {l} (i32.const 2)))"
            ),
        ),
        (
            "emit_event topic",
            format!("(call $emit_event {p} {l} (i32.const 0) (i32.const 0))"),
        ),
        (
            "emit_event data",
            format!("(call $emit_event (i32.const 0) (i32.const 0) {p} {l})"),
        ),
        ("caller", format!("(call $caller {p})")),
        ("self_address", format!("(call $self_address {p})")),
        ("attached_value", format!("(call $attached_value {p})")),
        ("self_balance", format!("(call $self_balance {p})")),
        (
            "balance address",
            format!("(call $balance {p} (i32.const 0))"),
        ),
        ("balance out", format!("(call $balance (i32.const 0) {p})")),
        (
            "transfer address",
            format!("(drop (call $transfer {p} (i32.const 0)))"),
        ),
        (
            "transfer amount",
            format!("(drop (call $transfer (i32.const 0) {p}))"),
        ),
        (
            "blake2b_256 data",
            format!("(call $blake2b_256 {p} {l} (i32.const 0))"),
        ),
        (
            "blake2b_256 out",
            format!("(call $blake2b_256 (i32.const 0) (i32.const 4) {p})"),
        ),
        (
            "sha256 data",
            format!("(call $sha256 {p} {l} (i32.const 0))"),
        ),
        (
            "sha256 out",
            format!("(call $sha256 (i32.const 0) (i32.const 4) {p})"),
        ),
        (
            "keccak256 data",
            format!("(call $keccak256 {p} {l} (i32.const 0))"),
        ),
        (
            "keccak256 out",
            format!("(call $keccak256 (i32.const 0) (i32.const 4) {p})"),
        ),
        (
            "ed25519_verify signature",
            format!("(drop (call $ed25519_verify {p} (i32.const 0) (i32.const 0) (i32.const 0)))"),
        ),
        (
            "ed25519_verify message",
            format!("(drop (call $ed25519_verify (i32.const 0) {p} {l} (i32.const 0)))"),
        ),
        (
            "ed25519_verify key",
            format!("(drop (call $ed25519_verify (i32.const 0) (i32.const 0) (i32.const 0) {p}))"),
        ),
        (
            "secp256k1_recover hash",
            format!(
                "(drop (call $secp256k1_recover {p} (i32.const 0) (i32.const 0) (i32.const 0)))"
            ),
        ),
        (
            "secp256k1_recover signature",
            format!(
                "(drop (call $secp256k1_recover (i32.const 0) {p} (i32.const 0) (i32.const 0)))"
            ),
        ),
        (
            "secp256k1_recover out",
            format!(
                "(drop (call $secp256k1_recover (i32.const 0) (i32.const 0) (i32.const 0) {p}))"
            ),
        ),
        (
            "secp256k1_verify hash",
            format!(
                "(drop (call $secp256k1_verify {p} (i32.const 0) (i32.const 0) (i32.const 33)))"
            ),
        ),
        (
            "secp256k1_verify signature",
            format!(
                "(drop (call $secp256k1_verify (i32.const 0) {p} (i32.const 0) (i32.const 33)))"
            ),
        ),
        (
            "secp256k1_verify key",
            format!("(drop (call $secp256k1_verify (i32.const 0) (i32.const 0) {p} {l}))"),
        ),
        (
            "call_contract address",
            format!(
                "(drop (call $call_contract {p} (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i64.const 1000)))"
            ),
        ),
        (
            "call_contract entry",
            format!(
                "(drop (call $call_contract (i32.const 0) {p} {l} (i32.const 0) (i32.const 0) (i64.const 1000)))"
            ),
        ),
        (
            "call_contract input",
            format!(
                "(drop (call $call_contract (i32.const 0) (i32.const 0) (i32.const 1) {p} {l} (i64.const 1000)))"
            ),
        ),
        (
            "call_contract_with_value value",
            format!(
                "(drop (call $call_contract_with_value (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i64.const 1000) {p}))"
            ),
        ),
        ("revert", format!("(call $revert {p} {l})")),
        ("abort", format!("(call $abort {p} {l})")),
    ]
}

#[test]
fn pointers_outside_memory_trap_in_every_host_call() {
    // One page of memory: 65536 is just past the end, and a length reaching
    // over the end from inside is out too. Input is non-empty so
    // input_read has bytes to copy.
    for (pointer, length) in [
        ("(i32.const 65536)", "(i32.const 1)"),
        ("(i32.const 65530)", "(i32.const 7)"),
        ("(i32.const -1)", "(i32.const 1)"),
        ("(i32.const -32)", "(i32.const 1)"),
    ] {
        for (name, call) in every_pointer_call(pointer, length) {
            let wasm = contract(&format!(r#"(func (export "go") {call})"#));
            let outcome = run_twice(&wasm, "go", b"0123456789", GAS);
            assert_eq!(
                outcome.status,
                trap(TrapCode::HostMemoryAccess),
                "{name} with pointer {pointer}, length {length}"
            );
        }
    }
}

#[test]
fn lengths_over_their_limits_trap_before_anything_is_read() {
    // A length of 2^31 - 1 (or negative, read as huge) is over every limit;
    // the call must trap with host_limit without touching memory.
    for length in ["(i32.const 0x7fffffff)", "(i32.const -1)"] {
        for (name, call) in every_pointer_call("(i32.const 0)", length) {
            if name == "abort" || !call.contains(length) {
                continue; // no length argument, or (abort) cut to the limit
            }
            let wasm = contract(&format!(r#"(func (export "go") {call})"#));
            let outcome = run_twice(&wasm, "go", &[], GAS);
            assert_eq!(
                outcome.status,
                trap(TrapCode::HostLimit),
                "{name} with length {length}"
            );
        }
    }
}

#[test]
fn runtime_limits_just_under_and_just_over() {
    use cairn_vm::limits::*;
    let cases: &[(&str, usize, &str)] = &[
        (
            "key",
            MAX_KEY_BYTES,
            "(call $storage_set (i32.const 0) (local.get $n) (i32.const 0) (i32.const 1))",
        ),
        (
            "value",
            MAX_VALUE_BYTES,
            "(call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (local.get $n))",
        ),
        (
            "output",
            MAX_OUTPUT_BYTES,
            "(call $output_write (i32.const 0) (local.get $n))",
        ),
        (
            "topic",
            MAX_EVENT_TOPIC_BYTES,
            "(call $emit_event (i32.const 0) (local.get $n) (i32.const 0) (i32.const 0))",
        ),
        (
            "event data",
            MAX_EVENT_DATA_BYTES,
            "(call $emit_event (i32.const 0) (i32.const 0) (i32.const 0) (local.get $n))",
        ),
        (
            "revert data",
            MAX_OUTPUT_BYTES,
            "(call $revert (i32.const 0) (local.get $n))",
        ),
    ];
    // Eight pages, so every limit fits in memory.
    for (name, limit, call) in cases {
        let at = |n: usize| {
            let program = crate::support::wat(&format!(
                r#"(module {imports} (memory (export "memory") 8)
                   (func (export "go") (local $n i32)
                     (local.set $n (i32.const {n}))
                     {call}))"#,
                imports = crate::support::IMPORTS,
            ));
            run_twice(&program, "go", &[], GAS).status
        };
        let under = at(*limit);
        assert!(
            under == Status::Ok || under == trap(TrapCode::Reverted),
            "{name} at its limit: {under:?}"
        );
        assert_eq!(
            at(limit + 1),
            trap(TrapCode::HostLimit),
            "{name} just over its limit"
        );
    }
}

#[test]
fn the_event_count_and_iterator_limits_hold() {
    use cairn_vm::limits::{MAX_EVENTS, MAX_ITERATORS};
    let events = |n: usize| {
        contract(&format!(
            r#"(func (export "go") (local $i i32)
                 (loop $l
                   (call $emit_event (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n})))))"#
        ))
    };
    assert_eq!(
        run_twice(&events(MAX_EVENTS), "go", &[], GAS).events.len(),
        MAX_EVENTS
    );
    assert_eq!(
        run_twice(&events(MAX_EVENTS + 1), "go", &[], GAS).status,
        trap(TrapCode::HostLimit)
    );

    let iterators = |n: usize| {
        contract(&format!(
            r#"(func (export "go") (local $i i32)
                 (loop $l
                   (drop (call $storage_range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 6)))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n})))))"#
        ))
    };
    assert_eq!(
        run_twice(&iterators(MAX_ITERATORS), "go", &[], GAS).status,
        Status::Ok
    );
    assert_eq!(
        run_twice(&iterators(MAX_ITERATORS + 1), "go", &[], GAS).status,
        trap(TrapCode::HostLimit)
    );
}

#[test]
fn bad_iterator_handles_and_flags_are_argument_errors() {
    for call in [
        "(drop (call $storage_next (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))",
        "(drop (call $storage_next (i32.const -1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))",
        "(drop (call $storage_range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 8)))",
    ] {
        let wasm = contract(&format!(r#"(func (export "go") {call})"#));
        assert_eq!(
            run_twice(&wasm, "go", &[], GAS).status,
            trap(TrapCode::HostArgument),
            "{call}"
        );
    }
}

#[test]
fn out_of_gas_inside_a_host_call() {
    // Enough gas for the instructions, not for the storage write.
    let wasm = contract(
        r#"(func (export "go") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))"#,
    );
    let outcome = run_twice(&wasm, "go", &[], 100 + host_costs().base);
    assert_eq!(outcome.status, Status::OutOfGas);
    assert!(outcome.writes.is_empty());
}

#[test]
fn every_host_function_in_the_table_is_bound_with_its_signature() {
    // A module importing the whole table, generated from it, instantiates:
    // the engine binds exactly the functions and types validation accepts.
    use cairn_vm::host::abi::{HOST_FUNCTIONS, HOST_MODULE};
    let types = |types: &[wasmparser::ValType]| {
        types
            .iter()
            .map(|ty| ty.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let imports: String = HOST_FUNCTIONS
        .iter()
        .map(|function| {
            format!(
                "(import \"{HOST_MODULE}\" \"{}\" (func (param {}) (result {})))\n",
                function.name,
                types(function.params),
                types(function.results)
            )
        })
        .collect();
    let wasm = crate::support::wat(&format!(
        r#"(module {imports} (memory (export "memory") 1) (func (export "go")))"#
    ));
    assert_eq!(run_twice(&wasm, "go", &[], GAS).status, Status::Ok);
    assert_eq!(
        crate::support::IMPORTS.matches("(import").count(),
        HOST_FUNCTIONS.len(),
        "the test imports list every host function"
    );
}

#[test]
fn closing_an_iterator_frees_its_handle_and_only_closing_does() {
    use cairn_vm::limits::MAX_ITERATORS;
    // Open the maximum, close one, open another: fine.
    let reuse = contract(&format!(
        r#"(func $open (result i32)
             (call $storage_range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 6)))
           (func (export "go") (local $i i32) (local $last i32)
             (loop $l
               (local.set $last (call $open))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const {MAX_ITERATORS}))))
             (call $storage_close (local.get $last))
             (i32.store (i32.const 0) (call $open))
             (call $output_write (i32.const 0) (i32.const 4)))"#
    ));
    let outcome = run_twice(&reuse, "go", &[], GAS);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.output, ((MAX_ITERATORS - 1) as i32).to_le_bytes());

    // An exhausted iterator keeps answering -1 and keeps its handle: a new
    // range gets another one, so a stale handle never reaches it.
    let exhausted = contract(
        r#"(func (export "go") (local $a i32)
             (local.set $a (call $storage_range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 6)))
             (i64.store (i32.const 0) (call $storage_next (local.get $a) (i32.const 64) (i32.const 8) (i32.const 72) (i32.const 8)))
             (i64.store (i32.const 8) (call $storage_next (local.get $a) (i32.const 64) (i32.const 8) (i32.const 72) (i32.const 8)))
             (i32.store (i32.const 16) (call $storage_range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 6)))
             (call $storage_close (local.get $a))
             (call $output_write (i32.const 0) (i32.const 20)))"#,
    );
    let outcome = run_twice(&exhausted, "go", &[], GAS);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.output[0..8], (-1i64).to_le_bytes());
    assert_eq!(outcome.output[8..16], (-1i64).to_le_bytes());
    assert_eq!(outcome.output[16..20], 1i32.to_le_bytes());

    // Closing twice, or a handle never opened, is an argument error.
    for body in [
        "(call $storage_close (i32.const 0))",
        "(local.set $a (call $storage_range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 6))) (call $storage_close (local.get $a)) (call $storage_close (local.get $a))",
        "(call $storage_close (i32.const -1))",
    ] {
        let wasm = contract(&format!(r#"(func (export "go") (local $a i32) {body})"#));
        assert_eq!(
            run_twice(&wasm, "go", &[], GAS).status,
            trap(TrapCode::HostArgument),
            "{body}"
        );
    }
}

/// Runs `go` of a contract whose body is `body`, with `input`, and returns
/// its output; the call must succeed.
fn output_of(body: &str, input: &[u8]) -> Vec<u8> {
    let outcome = run_twice(&contract(body), "go", input, GAS);
    assert_eq!(outcome.status, Status::Ok, "{body}");
    outcome.output
}

#[test]
fn sha256_and_keccak256_of_known_vectors() {
    let output = output_of(
        r#"(data (i32.const 0) "abc")
           (func (export "go")
             (call $sha256 (i32.const 0) (i32.const 0) (i32.const 100))
             (call $sha256 (i32.const 0) (i32.const 3) (i32.const 132))
             (call $keccak256 (i32.const 0) (i32.const 0) (i32.const 164))
             (call $keccak256 (i32.const 0) (i32.const 3) (i32.const 196))
             (call $output_write (i32.const 100) (i32.const 128)))"#,
        &[],
    );
    let digests: Vec<String> = output.chunks(32).map(hex::encode).collect();
    assert_eq!(
        digests,
        [
            // FIPS 180-4 / NIST examples.
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            // Keccak-256 as Ethereum uses it (not SHA3-256).
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
        ]
    );
}

/// `ed25519_verify` on `signature ‖ key ‖ message` from the input; the
/// output is its result.
fn ed25519_verify(signature: &[u8], key: &[u8], message: &[u8]) -> i32 {
    let input = [signature, key, message].concat();
    let output = output_of(
        r#"(func (export "go")
             (call $input_read (i32.const 0))
             (i32.store (i32.const 60000)
               (call $ed25519_verify (i32.const 0) (i32.const 96)
                 (i32.sub (call $input_len) (i32.const 96)) (i32.const 64)))
             (call $output_write (i32.const 60000) (i32.const 4)))"#,
        &input,
    );
    i32::from_le_bytes(output.try_into().expect("four bytes"))
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("test hex")
}

#[test]
fn ed25519_verify_accepts_rfc_8032_vectors_and_refuses_everything_else() {
    // RFC 8032 section 7.1, tests 1 and 2.
    let secret = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let key = unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let signature = unhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    let signing: [u8; 32] = secret.try_into().unwrap();
    let derived = ed25519_consensus::SigningKey::from(signing);
    assert_eq!(derived.verification_key().to_bytes().as_slice(), key);
    assert_eq!(ed25519_verify(&signature, &key, b""), 1);
    let key2 = unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    let signature2 = unhex(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    );
    assert_eq!(ed25519_verify(&signature2, &key2, &[0x72]), 1);

    // Another message, another key, a changed signature: invalid, not a trap.
    assert_eq!(ed25519_verify(&signature2, &key2, &[0x73]), 0);
    assert_eq!(ed25519_verify(&signature, &key2, b""), 0);
    let mut changed = signature.clone();
    changed[10] ^= 1;
    assert_eq!(ed25519_verify(&changed, &key, b""), 0);
    // s not reduced modulo the group order: malformed, so 0.
    let mut unreduced = signature.clone();
    unreduced[63] |= 0xf0;
    assert_eq!(ed25519_verify(&unreduced, &key, b""), 0);
    // A key that is not a curve point: malformed, so 0.
    let not_a_point = (0u8..=255)
        .map(|byte| [byte; 32])
        .find(|candidate| ed25519_consensus::VerificationKey::try_from(*candidate).is_err())
        .expect("some 32-byte string is not a point");
    assert_eq!(ed25519_verify(&signature, &not_a_point, b""), 0);
}

/// A fixed secp256k1 key, its signature of `hash` and the recovery id.
fn secp256k1_signed(hash: &[u8; 32]) -> (k256::ecdsa::SigningKey, k256::ecdsa::Signature, u8) {
    let key = k256::ecdsa::SigningKey::from_bytes(&[0x42; 32].into()).expect("a valid scalar");
    let (signature, recovery_id) = key.sign_prehash_recoverable(hash).expect("signs");
    (key, signature, recovery_id.to_byte())
}

/// The same signature with `s` replaced by `n - s`: valid under the
/// textbook equation, refused as malleable.
fn high_s(signature: &k256::ecdsa::Signature) -> k256::ecdsa::Signature {
    let high = k256::ecdsa::Signature::from_scalars(signature.r(), -signature.s()).unwrap();
    assert!(high.normalize_s().is_some(), "n - s of a low s is high");
    high
}

/// `secp256k1_recover` of `hash ‖ signature` with `recovery_id`: its result
/// and the 65 bytes it wrote, or the status the call ended with.
fn secp256k1_recovered(
    hash: &[u8],
    signature: &[u8],
    recovery_id: i32,
) -> Result<(i32, Vec<u8>), Status> {
    let wasm = contract(&format!(
        r#"(func (export "go")
             (call $input_read (i32.const 0))
             (i32.store (i32.const 196)
               (call $secp256k1_recover (i32.const 0) (i32.const 32) (i32.const {recovery_id}) (i32.const 200)))
             (call $output_write (i32.const 196) (i32.const 69)))"#
    ));
    let outcome = run_twice(&wasm, "go", &[hash, signature].concat(), GAS);
    if outcome.status != Status::Ok {
        return Err(outcome.status);
    }
    let result = i32::from_le_bytes(outcome.output[..4].try_into().unwrap());
    Ok((result, outcome.output[4..].to_vec()))
}

#[test]
fn secp256k1_recover_returns_the_signers_uncompressed_key() {
    let hash = cairn_vm::host::crypto::sha256(b"cairn");
    let (key, signature, recovery_id) = secp256k1_signed(&hash);
    let expected = key.verifying_key().to_encoded_point(false);
    let expected = expected.as_bytes();
    assert_eq!(expected.len(), 65);
    assert_eq!(expected[0], 4, "SEC1 uncompressed");
    let id = i32::from(recovery_id);
    let other_id = i32::from(recovery_id ^ 1);
    let bytes = signature.to_bytes();
    assert_eq!(
        secp256k1_recovered(&hash, &bytes, id),
        Ok((1, expected.to_vec()))
    );

    // The other parity, or another hash, recovers another key or none;
    // never the signer's.
    let (_, other) = secp256k1_recovered(&hash, &bytes, other_id).unwrap();
    assert_ne!(other, expected);
    let (_, other) = secp256k1_recovered(&[7; 32], &bytes, id).unwrap();
    assert_ne!(other, expected);

    // High-S: refused under either recovery id, 0 and zeros written.
    let high = high_s(&signature).to_bytes();
    for recovery in [id, other_id] {
        assert_eq!(
            secp256k1_recovered(&hash, &high, recovery),
            Ok((0, vec![0; 65]))
        );
    }
    // r = 0: malformed, 0.
    let mut zero_r = bytes;
    zero_r[..32].fill(0);
    assert_eq!(
        secp256k1_recovered(&hash, &zero_r, id),
        Ok((0, vec![0; 65]))
    );
    // A recovery id outside 0..=3 is a bad argument.
    for recovery in [4, -1, 256] {
        assert_eq!(
            secp256k1_recovered(&hash, &bytes, recovery),
            Err(trap(TrapCode::HostArgument)),
            "recovery id {recovery}"
        );
    }
}

/// `secp256k1_verify` of `hash ‖ signature ‖ key` from the input: its
/// result, or the status the call ended with.
fn secp256k1_verify(hash: &[u8], signature: &[u8], key: &[u8]) -> Result<i32, Status> {
    let wasm = contract(
        r#"(func (export "go")
             (call $input_read (i32.const 0))
             (i32.store (i32.const 60000)
               (call $secp256k1_verify (i32.const 0) (i32.const 32) (i32.const 96)
                 (i32.sub (call $input_len) (i32.const 96))))
             (call $output_write (i32.const 60000) (i32.const 4)))"#,
    );
    let outcome = run_twice(&wasm, "go", &[hash, signature, key].concat(), GAS);
    if outcome.status != Status::Ok {
        return Err(outcome.status);
    }
    Ok(i32::from_le_bytes(outcome.output.try_into().unwrap()))
}

#[test]
fn secp256k1_verify_accepts_low_s_under_both_key_encodings_only() {
    let hash = cairn_vm::host::crypto::sha256(b"cairn");
    let (key, signature, _) = secp256k1_signed(&hash);
    let signature = signature.to_bytes();
    let compressed = key.verifying_key().to_encoded_point(true);
    let uncompressed = key.verifying_key().to_encoded_point(false);
    assert_eq!(
        secp256k1_verify(&hash, &signature, compressed.as_bytes()),
        Ok(1)
    );
    assert_eq!(
        secp256k1_verify(&hash, &signature, uncompressed.as_bytes()),
        Ok(1)
    );
    assert_eq!(
        secp256k1_verify(&[7; 32], &signature, compressed.as_bytes()),
        Ok(0)
    );
    let high = high_s(&k256::ecdsa::Signature::from_slice(&signature).unwrap()).to_bytes();
    assert_eq!(secp256k1_verify(&hash, &high, compressed.as_bytes()), Ok(0));
    // Keys of another length, or off the curve: malformed, so 0.
    assert_eq!(
        secp256k1_verify(&hash, &signature, &compressed.as_bytes()[..20]),
        Ok(0)
    );
    let mut off_curve = [0xff; 33];
    off_curve[0] = 2;
    assert_eq!(secp256k1_verify(&hash, &signature, &off_curve), Ok(0));
    // Longer than an uncompressed key: over the limit.
    assert_eq!(
        secp256k1_verify(&hash, &signature, &[4; 66]),
        Err(trap(TrapCode::HostLimit))
    );
}

#[test]
fn crypto_host_calls_charge_exactly_their_costs() {
    let costs = host_costs();
    let c = Schedule::default().instructions;
    // `(call $f (i32.const ..) x3)` alone in an entry: one block, the
    // constants, the call and the host's own charge; in `(drop (call $f
    // (i32.const ..) x4))` the drop after the call starts a second block.
    let gas = |call: &str| {
        let wasm = contract(&format!(r#"(func (export "go") {call})"#));
        let outcome = run_twice(&wasm, "go", &[], GAS);
        assert_eq!(outcome.status, Status::Ok, "{call}");
        outcome.gas_used - instance_gas(&wasm)
    };
    let three = c.block + 3 * c.constant + c.call + costs.base;
    let four = 2 * c.block + 4 * c.constant + c.call + c.parametric + costs.base;
    for length in [0u64, 1000] {
        assert_eq!(
            gas(&format!(
                "(call $sha256 (i32.const 0) (i32.const {length}) (i32.const 0))"
            )),
            three + costs.sha256 + length * costs.sha256_per_byte
        );
        assert_eq!(
            gas(&format!(
                "(call $keccak256 (i32.const 0) (i32.const {length}) (i32.const 0))"
            )),
            three + costs.keccak256 + length * costs.keccak256_per_byte
        );
        assert_eq!(
            gas(&format!(
                "(drop (call $ed25519_verify (i32.const 0) (i32.const 0) (i32.const {length}) (i32.const 0)))"
            )),
            four + costs.ed25519_verify + length * costs.ed25519_verify_per_byte
        );
    }
    assert_eq!(
        gas(
            "(drop (call $secp256k1_recover (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))"
        ),
        four + costs.secp256k1_recover
    );
    assert_eq!(
        gas(
            "(drop (call $secp256k1_verify (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 33)))"
        ),
        four + costs.secp256k1_verify
    );
}

#[test]
fn a_signature_check_is_paid_before_it_runs() {
    // Gas for the instructions and the base cost, not for the check itself:
    // out of gas, and no result.
    let wasm = contract(
        r#"(func (export "go")
             (drop (call $ed25519_verify (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))"#,
    );
    let enough = run_twice(&wasm, "go", &[], GAS).gas_used;
    let short = run_twice(&wasm, "go", &[], enough - 1);
    assert_eq!(short.status, Status::OutOfGas);
    assert_eq!(short.gas_used, enough - 1);
}
