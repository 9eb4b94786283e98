//! The host functions of docs/ABI.md: what each does, what it costs, and
//! that every bad pointer, length or argument is a fixed trap.

use cairn_vm::{Schedule, Status, TrapCode, blake2b_256};

use crate::support::{ALICE, CONTRACT, Chain, GAS, contract, run_twice, trap};

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
    // Two blocks (the call ends one), their instructions (call, drop) and
    // the host's base cost.
    let c = Schedule::default().instructions;
    assert_eq!(
        empty.gas_used,
        2 * c.block + c.call + c.parametric + costs.base
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
    let outcome = run_twice(&wasm, "twice", &[], 1_000_000);
    let first = u64::from_le_bytes(outcome.output[0..8].try_into().unwrap());
    let second = u64::from_le_bytes(outcome.output[8..16].try_into().unwrap());
    assert!(second < first && first < 1_000_000);
    assert!(outcome.gas_used > 1_000_000 - second);
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
        (
            "blake2b_256 data",
            format!("(call $blake2b_256 {p} {l} (i32.const 0))"),
        ),
        (
            "blake2b_256 out",
            format!("(call $blake2b_256 (i32.const 0) (i32.const 4) {p})"),
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
            if matches!(
                name,
                "input_read"
                    | "caller"
                    | "self_address"
                    | "blake2b_256 out"
                    | "call_contract address"
                    | "abort"
            ) {
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
