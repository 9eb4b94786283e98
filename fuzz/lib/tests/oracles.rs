//! Regression tests for what the fuzz targets found, written out as the
//! smallest module that shows it, so they read without a fuzzing input.

use cairn_fuzz::oracles::{check_gas_against_schedule, gas_oracle_schedule};

/// Found by `gas_oracle` in CI: `memory.grow` was charged per requested
/// page before it ran, even when it then failed, so three requests of
/// 2^32 - 1 pages added up past the oracle's gas limit of 2^50 and the VM
/// ran out of gas where the count went on. A grow past the memory's
/// maximum now returns -1 and is charged for no page, in the VM and the
/// count alike: both run to the end with the same gas.
#[test]
fn huge_failing_grows_cost_no_pages_in_the_vm_or_the_count() {
    let wasm = wat::parse_str(
        r#"(module
            (memory (export "memory") 1 4)
            (global $g (mut i32) (i32.const 0))
            (func (export "e0")
                (drop (memory.grow (i32.const -1)))
                (drop (memory.grow (i32.const -1)))
                (drop (memory.grow (i32.const -1))))
            (func (export "e1")
                (global.set $g (memory.grow (i32.const -1)))))"#,
    )
    .expect("valid text");
    check_gas_against_schedule(&wasm, &["e0".to_owned(), "e1".to_owned()]);
}

/// Found by `gas_oracle` as an out-of-memory: the VM caps every memory at
/// the schedule's `max_memory_pages`, but the naive count ran in wasmi with
/// the declared (absent) maximum, so there a big grow succeeded, and code
/// that touched the new pages took gigabytes and another branch. The count
/// now applies the same cap, and both sides see the grow fail.
#[test]
fn grows_past_the_schedule_cap_fail_in_the_count_too() {
    let cap = gas_oracle_schedule().max_memory_pages;
    let wasm = wat::parse_str(format!(
        r#"(module
            (memory (export "memory") 1)
            (global $g (mut i32) (i32.const 0))
            (func (export "e0")
                (if (i32.eq (memory.grow (i32.const {cap})) (i32.const -1))
                    (then (global.set $g (i32.const 1)))
                    (else (memory.fill (i32.const 0) (i32.const 7) (i32.const 65536))))))"#
    ))
    .expect("valid text");
    check_gas_against_schedule(&wasm, &["e0".to_owned()]);
}
