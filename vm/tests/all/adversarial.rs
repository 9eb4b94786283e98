//! Hostile contracts: infinite loops of every branch kind, exponential call
//! trees, runaway recursion, memory growth and bulk memory over large
//! ranges, and malformed bytes. Every run happens twice, on separate VMs,
//! and must give byte-identical outcomes.
//!
//! (Rejected features are in `validation`, limits and compile-time bombs in
//! `limits`, bad host-call pointers in `host_calls`.)

use cairn_vm::{Status, TrapCode};
use proptest::prelude::*;

use crate::support::{contract, instance_gas, run_twice, trap, vm, wat};

const LIMIT: u64 = 20_000_000;

#[test]
fn infinite_loops_of_every_branch_kind_run_out_of_gas() {
    let loops = [
        ("br", "(loop $l (br $l))"),
        ("br_if", "(loop $l (br_if $l (i32.const 1)))"),
        ("br_table", "(loop $l (br_table $l $l (i32.const 1)))"),
        (
            "br from an if",
            "(loop $l (if (i32.const 1) (then (br $l))))",
        ),
        (
            "br from an else",
            "(loop $l (if (i32.const 0) (then) (else (br $l))))",
        ),
        ("br out of a nested block", "(loop $l (block $b (br $l)))"),
        ("loop in a block", "(block $b (loop $l (br $l)))"),
        ("a call each iteration", "(loop $l (call $nothing) (br $l))"),
        (
            "a host call each iteration",
            "(loop $l (drop (call $gas_left)) (br $l))",
        ),
        (
            "call_indirect each iteration",
            "(loop $l (call_indirect (type $void) (i32.const 0)) (br $l))",
        ),
    ];
    for (name, body) in loops {
        let wasm = contract(&format!(
            r#"(type $void (func))
               (table 1 funcref) (elem (i32.const 0) $nothing)
               (func $nothing)
               (func (export "go") {body})"#
        ));
        let outcome = run_twice(&wasm, "go", &[], LIMIT);
        assert_eq!(outcome.status, Status::OutOfGas, "{name}");
        assert_eq!(outcome.gas_used, LIMIT, "{name}");
    }
}

#[test]
fn runaway_recursion_hits_the_stack_limit() {
    let wasm = contract(
        r#"(type $void (func))
           (table 1 funcref) (elem (i32.const 0) $indirect)
           (func $self (call $self))
           (func $ping (call $pong))
           (func $pong (call $ping))
           (func $indirect (call_indirect (type $void) (i32.const 0)))
           (func (export "self") (call $self))
           (func (export "mutual") (call $ping))
           (func (export "indirect") (call $indirect))"#,
    );
    for entry in ["self", "mutual", "indirect"] {
        let outcome = run_twice(&wasm, entry, &[], 1_000_000_000);
        assert_eq!(outcome.status, trap(TrapCode::StackOverflow), "{entry}");
    }
}

#[test]
fn exponential_call_trees_run_out_of_gas() {
    // fib-like: each call makes two more, 2^60 calls in all.
    let wasm = contract(
        r#"(func $tree (param $n i32)
             (if (local.get $n)
               (then
                 (call $tree (i32.sub (local.get $n) (i32.const 1)))
                 (call $tree (i32.sub (local.get $n) (i32.const 1))))))
           (func (export "go") (call $tree (i32.const 60)))"#,
    );
    let outcome = run_twice(&wasm, "go", &[], LIMIT);
    assert_eq!(outcome.status, Status::OutOfGas);
    assert_eq!(outcome.gas_used, LIMIT);
}

#[test]
fn memory_growth_stops_at_the_cap_and_is_paid_per_page() {
    let wasm = contract(
        r#"(func (export "grow_to_the_cap")
             (block $full (loop $l
               (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
               (br $l)))
             (i32.store (i32.const 0) (memory.size))
             (call $output_write (i32.const 0) (i32.const 4)))
           (func (export "keep_growing") (loop $l (drop (memory.grow (i32.const 1))) (br $l)))
           (func (export "grow_everything") (drop (memory.grow (i32.const -1))))"#,
    );
    let costs = cairn_vm::Schedule::default();
    let per_page = costs.dynamic.memory_grow_per_page;
    let enough = 600 * per_page;
    let outcome = run_twice(&wasm, "grow_to_the_cap", &[], enough);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.output, 512u32.to_le_bytes());
    assert!(outcome.gas_used > 511 * per_page);

    // Growing one page at a time forever: the grows past the cap are free,
    // but the loop is not.
    let forever = run_twice(&wasm, "keep_growing", &[], enough);
    assert_eq!(forever.status, Status::OutOfGas);

    // 2^32 - 1 pages at once is past the cap: `memory.grow` returns -1 and
    // charges for no page, with a small limit as with a large one.
    let instance = instance_gas(&wasm);
    for limit in [u64::MAX / 2, 1_000_000_000] {
        let everything = run_twice(&wasm, "grow_everything", &[], limit);
        assert_eq!(everything.status, Status::Ok, "refused by the cap");
        assert!(everything.gas_used - instance < costs.dynamic.memory_grow_per_page);
    }
}

#[test]
fn bulk_memory_over_large_ranges_is_paid_per_byte() {
    let wasm = contract(
        r#"(func (export "fill_32_mib")
             (drop (memory.grow (i32.const 511)))
             (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x2000000))
             (memory.copy (i32.const 1) (i32.const 0) (i32.const 0x1ffffff))
             (i32.store (i32.const 0) (i32.load8_u (i32.const 0x1ffffff)))
             (call $output_write (i32.const 0) (i32.const 4)))
           (func (export "fill_4_gib") (memory.fill (i32.const 0) (i32.const 0) (i32.const -1)))"#,
    );
    let pages = 511 * cairn_vm::Schedule::default().dynamic.memory_grow_per_page;
    let outcome = run_twice(&wasm, "fill_32_mib", &[], pages + 1_000_000_000);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.output, 7u32.to_le_bytes());
    assert!(outcome.gas_used > pages + 2 * 0x1ff_ffff);

    // Charged in full before running, so a call that cannot pay never
    // touches memory, and one that can pays and then traps.
    let unpaid = run_twice(&wasm, "fill_4_gib", &[], 1_000_000_000);
    assert_eq!(unpaid.status, Status::OutOfGas);
    let paid = run_twice(&wasm, "fill_4_gib", &[], 10_000_000_000);
    assert_eq!(paid.status, trap(TrapCode::MemoryOutOfBounds));
    assert!(paid.gas_used > u64::from(u32::MAX));
}

#[test]
fn every_truncation_of_a_contract_is_rejected() {
    let wasm = wat(include_str!("../../testdata/counter.wat"));
    // A cut exactly between two sections leaves a shorter valid module (the
    // counter without its data, say); every other cut must be rejected.
    let section_ends: Vec<u64> = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .filter_map(|payload| payload.unwrap().as_section().map(|(_, range)| range.end))
        .collect();
    for length in 0..wasm.len() {
        if cairn_vm::validate::validate_contract(&wasm[..length]).is_ok() {
            assert!(
                section_ends.contains(&(length as u64)),
                "a prefix of {length} bytes was accepted"
            );
        }
    }
    assert!(cairn_vm::validate::validate_contract(&wasm).is_ok());
}

#[test]
fn every_single_byte_change_is_rejected_or_runs_deterministically() {
    let wasm = wat(include_str!("../../testdata/counter.wat"));
    let vm = vm();
    let mut accepted = 0;
    for index in 0..wasm.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut mutant = wasm.clone();
            mutant[index] ^= flip;
            if vm.prepare(&mutant).is_ok() {
                accepted += 1;
                let first = crate::support::run(&mutant, "increment", &[], 1_000_000);
                let second = crate::support::run(&mutant, "increment", &[], 1_000_000);
                assert_eq!(first, second, "mutant at {index} ^ {flip:#x}");
            }
        }
    }
    // Flips inside data and constants keep the module valid: make sure the
    // interesting half of this test ran.
    assert!(accepted > 20, "only {accepted} mutants were valid");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_vm(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let vm = vm();
        let mut with_header = b"\0asm\x01\0\0\0".to_vec();
        with_header.extend_from_slice(&bytes);
        for candidate in [bytes, with_header] {
            if vm.prepare(&candidate).is_ok() {
                crate::support::run(&candidate, "go", &[], 1_000_000);
            }
        }
    }
}
