//! The gas oracle: on generated integer-only modules, the gas the metered
//! module consumes equals an independent count of the same schedule.
//!
//! The independent count is [`cairn_gas_meter::naive`]: each instruction adds
//! its cost to a counter right before it runs, with no basic blocks at all.
//! On runs that do not trap in the middle of a block (wasm-smith's
//! `disallow_traps`, with its fuel check the only trap), block metering must
//! charge exactly the same total: an if/else charged on one side only, a loop
//! charged once instead of per iteration, or a branch target missed would
//! all show up as a difference.
//!
//! The same count also models the stack-height rule independently: under a
//! limit drawn per module, the metered run overflows exactly when the model
//! does, with the same gas charged by then, and the model never sees the
//! frames on the stack cost more than the height the rule charged.

// Test inputs are small integers; casts between them cannot lose anything.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use cairn_gas_meter::naive::{COUNTER_EXPORT, HEIGHT_EXPORT, OVERFLOW_EXPORT, UNSOUND_EXPORT};
use cairn_gas_meter::{Schedule, instrument, naive};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use wasmi::{Engine, Linker, Module, Store, Val};

#[derive(Debug, PartialEq, Eq)]
enum Naive {
    Returned(Vec<i64>),
    /// wasm-smith's fuel ran out (an `unreachable` at a block's start).
    FuelTrap,
    /// Something that may stop mid-block, where the two counts may differ.
    Other,
}

/// How the naive count ended, the count, and what its stack model saw: the
/// count when it went over the limit, if it did, and whether the real
/// frames ever cost more than the charged height.
fn run_naive(wasm: &[u8], export: &str, height: u64) -> (Naive, u64, Option<u64>, bool) {
    let engine = Engine::default();
    let module = Module::new(&engine, wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .unwrap();
    let global = |name| instance.get_global(&store, name).unwrap();
    global(HEIGHT_EXPORT)
        .set(&mut store, Val::I64(height as i64))
        .unwrap();
    let func = instance.get_func(&store, export).unwrap();
    let ty = func.ty(&store);
    let params: Vec<Val> = ty.params().iter().map(|ty| Val::default(*ty)).collect();
    let mut results: Vec<Val> = ty.results().iter().map(|ty| Val::default(*ty)).collect();
    let outcome = func.call(&mut store, &params, &mut results);
    let read = |name| match instance.get_global(&store, name).unwrap().get(&store) {
        Val::I64(v) => v,
        other => panic!("{name} is {other:?}"),
    };
    let count = read(COUNTER_EXPORT) as u64;
    let overflow = u64::try_from(read(OVERFLOW_EXPORT)).ok();
    let unsound = read(UNSOUND_EXPORT) != 0;
    let end = match outcome {
        Ok(()) => Naive::Returned(
            results
                .iter()
                .map(|v| match v {
                    Val::I32(v) => i64::from(*v),
                    Val::I64(v) => *v,
                    other => panic!("{other:?}"),
                })
                .collect(),
        ),
        Err(error) if error.as_trap_code() == Some(wasmi::TrapCode::UnreachableCodeReached) => {
            Naive::FuelTrap
        }
        Err(_) => Naive::Other,
    };
    (end, count, overflow, unsound)
}

fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        allow_floats: false,
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        memory64_enabled: false,
        exceptions_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        reference_types_enabled: false,
        saturating_float_to_int_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        custom_page_sizes_enabled: false,
        compact_imports_enabled: false,
        multi_value_enabled: true,
        sign_extension_ops_enabled: true,
        bulk_memory_enabled: true,
        disallow_traps: true,
        allow_start_export: false,
        export_everything: true,
        max_imports: 0,
        // Table and reference instructions are outside the subset.
        allowed_instructions: wasm_smith::InstructionKinds::new(&[
            wasm_smith::InstructionKind::Numeric,
            wasm_smith::InstructionKind::Parametric,
            wasm_smith::InstructionKind::Variable,
            wasm_smith::InstructionKind::Memory,
            wasm_smith::InstructionKind::Control,
        ]),
        max_memories: 1,
        max_tables: 1,
        memory_max_size_required: true,
        max_memory32_bytes: 16 * 65_536,
        max_funcs: 12,
        max_instructions: 200,
        min_funcs: 1,
        ..wasm_smith::Config::default()
    }
}

/// Runs every exported function of one generated module both ways and
/// returns how many runs were compared.
fn compare_one(seed: &[u8]) -> Result<usize, TestCaseError> {
    let mut unstructured = arbitrary::Unstructured::new(seed);
    let Ok(mut module) = wasm_smith::Module::new(smith_config(), &mut unstructured) else {
        return Ok(0);
    };
    module.ensure_termination(1_000).unwrap();
    let wasm = module.to_bytes();

    let mut schedule = Schedule::default();
    // From a few frames to a few hundred: some runs overflow, most do not.
    schedule.stack.max_height = 16 + 16 * u32::from(seed[0] % 64);
    // The per-block overhead has no per-instruction equivalent; it has
    // exact tests of its own (tests/metering.rs).
    schedule.instructions.block = 0;
    let metered = instrument(&wasm, &schedule).expect("generated modules are in the subset");
    let naive = naive::instrument(&wasm, &schedule).expect("generated modules are in the subset");

    let heights = naive::static_heights(&wasm, &schedule).unwrap();
    let mut compared = 0;
    for (export, func) in function_exports(&wasm) {
        let metered_run = common::run(&metered, &export, &[], u64::MAX);
        let height = heights[func as usize];
        if height > u64::from(schedule.stack.max_height) {
            // Too deep to enter at all: nothing runs.
            prop_assert_eq!(&metered_run.end, &common::End::StackOverflow);
            prop_assert_eq!(metered_run.gas_used, 0);
            compared += 1;
            continue;
        }
        let (naive_end, naive_gas, overflow, unsound) = run_naive(&naive, &export, height);
        prop_assert!(
            !unsound,
            "export {:?}: frames above the charged height",
            export
        );
        if let Some(at) = overflow {
            prop_assert_eq!(
                &metered_run.end,
                &common::End::StackOverflow,
                "export {:?}",
                export
            );
            prop_assert_eq!(metered_run.gas_used, at, "export {:?}", export);
            compared += 1;
            continue;
        }
        let expected_end = match naive_end {
            Naive::Returned(values) => common::End::Returned(values),
            Naive::FuelTrap => common::End::Trapped(Some(wasmi::TrapCode::UnreachableCodeReached)),
            // Call stack exhausted in wasmi: the metered module's frames are
            // bigger, so the two stop at different depths.
            Naive::Other => continue,
        };
        if metered_run.end == common::End::Trapped(Some(wasmi::TrapCode::StackOverflow)) {
            continue;
        }
        if std::env::var_os("ORACLE_DUMP").is_some()
            && (metered_run.end != expected_end || metered_run.gas_used != naive_gas)
        {
            std::fs::write("/tmp/oracle.wat", wasmprinter::print_bytes(&wasm).unwrap()).unwrap();
        }
        prop_assert_eq!(&metered_run.end, &expected_end, "export {:?}", export);
        prop_assert_eq!(metered_run.gas_used, naive_gas, "export {:?}", export);
        if matches!(expected_end, common::End::Returned(_)) {
            prop_assert_eq!(metered_run.stack_height, 0);
        }
        compared += 1;
    }
    Ok(compared)
}

/// Name and function index of every exported function.
fn function_exports(wasm: &[u8]) -> Vec<(String, u32)> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|payload| match payload.unwrap() {
            wasmparser::Payload::ExportSection(reader) => Some(
                reader
                    .into_iter()
                    .map(|export| export.unwrap())
                    .filter(|export| export.kind == wasmparser::ExternalKind::Func)
                    .map(|export| (export.name.to_owned(), export.index))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn block_metering_charges_what_a_per_instruction_count_charges() {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(2_000));
    let compared = std::cell::Cell::new(0);
    let strategy = proptest::collection::vec(any::<u8>(), 64..4096);
    runner
        .run(&strategy, |seed| {
            compared.set(compared.get() + compare_one(&seed)?);
            Ok(())
        })
        .unwrap();
    // Most generated exports return or run out of fuel; if almost none were
    // compared the property would hold vacuously.
    assert!(
        compared.get() > 1_000,
        "only {} runs compared",
        compared.get()
    );
    eprintln!("compared {} runs", compared.get());
}
