//! A call pays for its instance before the engine creates it: every table
//! entry, segment, import, global, export, function and page of initial
//! memory at the schedule's `InstantiationCosts`, at every call and every
//! cross-contract call, and a limit that does not cover it ends out of gas
//! having created nothing.

#[path = "../pricing_shapes/mod.rs"]
mod pricing_shapes;

use cairn_vm::limits::{
    MAX_DATA_SEGMENTS, MAX_ELEMENT_ENTRIES, MAX_ELEMENT_SEGMENTS, MAX_FUNCTIONS, MAX_GLOBALS,
    MAX_MEMORY_PAGES, MAX_TABLE_ELEMENTS,
};
use cairn_vm::{Address, InstanceShape, Schedule, Status};

use crate::support::{CONTRACT, Chain, GAS, contract, run_twice, vm, wat};

fn costs() -> cairn_vm::InstantiationCosts {
    Schedule::default().instantiation
}

/// A module with a few of everything, counted by hand.
fn small_module() -> Vec<u8> {
    wat(r#"(module
      (import "cairn" "gas_left" (func $gas_left (result i64)))
      (import "cairn" "block_height" (func $height (result i64)))
      (memory (export "memory") 3)
      (table 10 funcref)
      (elem (i32.const 0) $a $b $a)
      (elem (i32.const 5) $b $b $b)
      (global (mut i64) (i64.const 1))
      (global i32 (i32.const 2))
      (data (i32.const 0) "hello")
      (data (i32.const 70000) "seven b")
      (func $a)
      (func $b)
      (func (export "run"))
      (func (export "other")))"#)
}

#[test]
fn validation_counts_what_instantiation_does() {
    let prepared = vm().prepare(&small_module()).unwrap();
    let shape = InstanceShape {
        imports: 2,
        functions: 6,
        globals: 2,
        exports: 3,
        table_entries: 10,
        element_segments: 2,
        element_entries: 6,
        data_segments: 2,
        data_bytes: 12,
        memory_pages: 3,
    };
    assert_eq!(prepared.summary.instance, shape);
    let c = costs();
    assert_eq!(
        prepared.instantiation_gas,
        2 * c.import
            + 6 * c.function
            + 2 * c.global
            + 3 * c.export
            + 10 * c.table_entry
            + 2 * c.element_segment
            + 6 * c.element_entry
            + 2 * c.data_segment
            + 12 * c.data_byte
            + 3 * c.memory_page
    );
}

#[test]
fn an_empty_call_pays_exactly_its_instance() {
    let wasm = small_module();
    let instance = vm().prepare(&wasm).unwrap().instantiation_gas;
    // The entry point is empty: no block of it has anything to pay.
    let outcome = run_twice(&wasm, "run", &[], GAS);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.gas_used, instance);
}

#[test]
fn a_limit_short_of_the_instance_runs_out_before_it_is_created() {
    let wasm = small_module();
    let instance = vm().prepare(&wasm).unwrap().instantiation_gas;
    for limit in [0, 1, instance / 2, instance - 1] {
        let outcome = run_twice(&wasm, "run", &[], limit);
        assert_eq!(outcome.status, Status::OutOfGas, "limit {limit}");
        assert_eq!(outcome.gas_used, limit);
        assert!(outcome.output.is_empty() && outcome.writes.is_empty());
    }
    let exact = run_twice(&wasm, "run", &[], instance);
    assert_eq!(exact.status, Status::Ok);
    assert_eq!(exact.gas_used, instance);
}

#[test]
fn a_missing_entry_point_creates_no_instance_and_costs_nothing() {
    let outcome = run_twice(&small_module(), "absent", &[], GAS);
    assert_eq!(
        outcome.status,
        Status::Trap(cairn_vm::TrapCode::NoSuchEntry)
    );
    assert_eq!(outcome.gas_used, 0);
}

/// Before instantiation was priced, a call to a module with a full table
/// cost the same gas (none) as a call to an empty one.
#[test]
fn a_call_to_a_full_table_costs_more_than_an_empty_call() {
    let empty = run_twice(&pricing_shapes::baseline().wasm, "run", &[], GAS);
    let full = run_twice(&pricing_shapes::element_segments().wasm, "run", &[], GAS);
    assert_eq!(full.status, Status::Ok);
    let c = costs();
    let segments = u64::from(MAX_ELEMENT_SEGMENTS);
    let entries = u64::from(MAX_ELEMENT_ENTRIES);
    // The same page, one more function ($f) and the table.
    assert_eq!(
        full.gas_used - empty.gas_used,
        c.function
            + u64::from(MAX_TABLE_ELEMENTS) * c.table_entry
            + segments * c.element_segment
            + entries * c.element_entry
    );
}

#[test]
fn every_priced_shape_is_accepted_and_charged_for_its_instance() {
    let vm = vm();
    for shape in pricing_shapes::all() {
        let prepared = vm
            .prepare(&shape.wasm)
            .unwrap_or_else(|error| panic!("{}: {error}", shape.name));
        let expected = costs().cost(&prepared.summary.instance);
        assert_eq!(prepared.instantiation_gas, expected, "{}", shape.name);
        let outcome = run_twice(&shape.wasm, shape.entry, &[], u64::MAX / 2);
        assert_eq!(outcome.status, Status::Ok, "{}", shape.name);
        assert!(
            outcome.gas_used >= expected,
            "{}: {} used, the instance alone costs {expected}",
            shape.name,
            outcome.gas_used
        );
    }
    // The limits the shapes reach.
    let worst = vm
        .prepare(&pricing_shapes::worst_instance().wasm)
        .unwrap()
        .summary
        .instance;
    assert_eq!(worst.functions, u64::from(MAX_FUNCTIONS));
    assert_eq!(worst.element_segments, u64::from(MAX_ELEMENT_SEGMENTS));
    assert_eq!(worst.element_entries, u64::from(MAX_ELEMENT_ENTRIES));
    assert_eq!(worst.data_segments, u64::from(MAX_DATA_SEGMENTS));
    assert_eq!(worst.globals, u64::from(MAX_GLOBALS));
    assert_eq!(worst.memory_pages, u64::from(MAX_MEMORY_PAGES));
    assert_eq!(
        worst.imports,
        cairn_vm::host::abi::HOST_FUNCTIONS.len() as u64
    );
}

#[test]
fn every_page_of_initial_memory_is_paid_for_untouched_or_not() {
    let one = run_twice(&contract_with_pages(1), "run", &[], GAS);
    let many = run_twice(&contract_with_pages(100), "run", &[], GAS);
    assert_eq!(many.gas_used - one.gas_used, 99 * costs().memory_page);
    // Touching them all costs only the stores on top.
    let touched = run_twice(&contract_with_pages(100), "touch", &[], GAS);
    assert_eq!(touched.status, Status::Ok);
    assert!(touched.gas_used > many.gas_used);
    assert!(touched.gas_used - many.gas_used < 100 * costs().memory_page / 10);
}

fn contract_with_pages(pages: u32) -> Vec<u8> {
    wat(&format!(
        r#"(module (memory (export "memory") {pages})
             (func (export "run"))
             (func (export "touch") (local $p i32)
               (loop $l
                 (i32.store8 (local.get $p) (i32.const 1))
                 (local.set $p (i32.add (local.get $p) (i32.const 65536)))
                 (br_if $l (i32.lt_u (local.get $p) (i32.const {end}))))))"#,
        end = pages * 65_536
    ))
}

/// Calls the contract at offset 1024 (`[callee 32]`, from the input) with
/// the gas in the input (`[gas u64]` after it), entry `run`; outputs the
/// status.
fn caller() -> Vec<u8> {
    contract(
        r#"(data (i32.const 1100) "run")
           (func (export "call")
             (call $input_read (i32.const 1024))
             (i32.store8 (i32.const 2048)
               (call $call_contract (i32.const 1024) (i32.const 1100) (i32.const 3)
                                    (i32.const 0) (i32.const 0) (i64.load (i32.const 1056))))
             (call $output_write (i32.const 2048) (i32.const 1)))"#,
    )
}

#[test]
fn a_cross_contract_call_pays_for_the_callees_instance_from_what_it_forwards() {
    const CALLER: Address = Address([0xca; 32]);
    let callee = small_module();
    let mut chain = Chain::new();
    chain.deploy(CALLER, &caller());
    chain.deploy(CONTRACT, &callee);
    let instance = vm().prepare(&callee).unwrap().instantiation_gas;
    let input = |gas: u64| {
        let mut input = CONTRACT.0.to_vec();
        input.extend_from_slice(&gas.to_le_bytes());
        input
    };
    let paid = chain.call(CALLER, "call", &input(instance));
    assert_eq!(paid.status, Status::Ok);
    assert_eq!(paid.output, [0], "the callee ran");
    let short = chain.call(CALLER, "call", &input(instance - 1));
    assert_eq!(short.status, Status::Ok, "the caller goes on");
    assert_eq!(short.output, [Status::OutOfGas.code() as u8]);
    // Both pay the same caller code; the callee used its whole allowance
    // either way.
    assert_eq!(paid.gas_used - short.gas_used, 1);
    // The callee's instance is paid at every call, not once.
    let again = chain.call(CALLER, "call", &input(instance));
    assert_eq!(again.gas_used, paid.gas_used);
}
