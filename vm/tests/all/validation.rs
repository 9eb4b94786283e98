//! Every rejected feature, every import rule, every contract rule: each is
//! refused at validation with an error naming it and where it is; and what
//! rustc emits is accepted.

use cairn_vm::validate::{Reason, validate_contract};
use cairn_vm::{Feature, Rejection};

use crate::support::{contract, rejection, wat};

/// A contract with memory, plus `body`.
fn with_memory(body: &str) -> Vec<u8> {
    wat(&format!("(module (memory (export \"memory\") 1) {body})"))
}

fn assert_feature(wasm: &[u8], feature: Feature) -> Rejection {
    let rejection = rejection(wasm);
    assert_eq!(
        rejection.rejected_feature(),
        Some(feature),
        "expected {feature:?}, got: {rejection}"
    );
    let message = rejection.to_string();
    assert!(
        message.contains(feature.name()),
        "message does not name the feature: {message}"
    );
    assert!(rejection.offset.is_some(), "no offset in: {message}");
    rejection
}

#[test]
fn floats_are_rejected_wherever_they_appear() {
    for body in [
        r#"(func (export "f") f32.const 1 drop)"#,
        r#"(func (export "f") i64.const 1 f64.convert_i64_s drop)"#,
        r#"(func (export "f") i32.const 0 f64.load drop)"#,
        r#"(func (export "f") i64.const 0 f64.reinterpret_i64 i64.reinterpret_f64 drop)"#,
        r#"(func (export "f") f32.const 0 i32.trunc_sat_f32_s drop)"#,
        r#"(func (param f64))"#,
        r#"(func (result f32) f32.const 0)"#,
        r#"(func (export "f") (local f32))"#,
        r#"(global f64 (f64.const 0))"#,
        r#"(func (export "f") (block (result f32) f32.const 0) drop)"#,
    ] {
        assert_feature(&with_memory(body), Feature::Floats);
    }
}

#[test]
fn the_float_message_names_the_instruction_and_its_place() {
    let rejection = assert_feature(
        &with_memory(r#"(func (export "f") i32.const 1 drop f32.const 1 drop)"#),
        Feature::Floats,
    );
    assert_eq!(rejection.function, Some(0));
    let message = rejection.to_string();
    assert!(
        message.starts_with("uses floating point, which Cairn does not accept: instruction f32.const (in function 0, at offset 0x"),
        "{message}"
    );
}

#[test]
fn simd_threads_exceptions_tail_calls_and_gc_are_rejected() {
    let cases: &[(&str, Feature)] = &[
        (
            r#"(func (export "f") v128.const i32x4 0 0 0 0 drop)"#,
            Feature::Simd,
        ),
        (r#"(func (export "f") (local v128))"#, Feature::Simd),
        (
            r#"(func (export "f") i32.const 0 i32.atomic.load drop)"#,
            Feature::Threads,
        ),
        (r#"(func (export "f") atomic.fence)"#, Feature::Threads),
        (
            r#"(tag $e) (func (export "f") throw $e)"#,
            Feature::Exceptions,
        ),
        (
            r#"(func $g) (func (export "f") return_call $g)"#,
            Feature::TailCalls,
        ),
        (
            r#"(type $t (func)) (table 1 funcref) (func (export "f") i32.const 0 return_call_indirect (type $t))"#,
            Feature::TailCalls,
        ),
        (r#"(type $s (struct (field i32)))"#, Feature::Gc),
        (r#"(rec (type $a (func)) (type $b (func)))"#, Feature::Gc),
        (
            r#"(type $f (func)) (func (export "f") (local (ref null $f)))"#,
            Feature::ReferenceTypes,
        ),
        (
            r#"(func (export "f") i64.const 0 i64.const 0 i64.const 0 i64.const 0 i64.add128 drop drop)"#,
            Feature::WideArithmetic,
        ),
    ];
    for (body, feature) in cases {
        assert_feature(&with_memory(body), *feature);
    }
}

#[test]
fn reference_types_and_table_instructions_are_rejected() {
    let cases: &[(&str, Feature)] = &[
        (
            r#"(func (export "f") ref.null func drop)"#,
            Feature::ReferenceTypes,
        ),
        (
            r#"(func $g) (elem declare func $g) (func (export "f") ref.func $g drop)"#,
            Feature::TableInstructions,
        ),
        (
            r#"(func (export "f") i32.const 1 i32.const 2 i32.const 0 select (result i32) drop)"#,
            Feature::ReferenceTypes,
        ),
        (r#"(table 1 externref)"#, Feature::ReferenceTypes),
        (
            r#"(table 1 funcref) (func (export "f") i32.const 0 table.get 0 drop)"#,
            Feature::TableInstructions,
        ),
        (
            r#"(table 1 funcref) (func (export "f") i32.const 0 ref.null func table.set 0)"#,
            Feature::ReferenceTypes,
        ),
        (
            r#"(table 1 funcref) (func (export "f") ref.null func i32.const 1 table.grow 0 drop)"#,
            Feature::ReferenceTypes,
        ),
        (
            r#"(table 1 funcref) (func (export "f") table.size 0 drop)"#,
            Feature::TableInstructions,
        ),
        (
            r#"(table 2 funcref) (func (export "f") i32.const 0 i32.const 1 i32.const 1 table.copy)"#,
            Feature::TableInstructions,
        ),
        (
            r#"(table 2 funcref) (func $g) (elem $e func $g) (func (export "f") i32.const 0 i32.const 0 i32.const 1 table.init $e)"#,
            Feature::TableInstructions,
        ),
        (
            r#"(func $g) (elem $e func $g) (func (export "f") elem.drop $e)"#,
            Feature::TableInstructions,
        ),
    ];
    for (body, feature) in cases {
        assert_feature(&with_memory(body), *feature);
    }
}

#[test]
fn memory_and_table_shapes_outside_the_subset_are_rejected() {
    let cases: &[(&str, Feature)] = &[
        (
            r#"(module (memory (export "memory") i64 1))"#,
            Feature::Memory64,
        ),
        (
            r#"(module (memory (export "memory") 1) (memory 1))"#,
            Feature::MultiMemory,
        ),
        (
            r#"(module (memory (export "memory") 1 1 shared))"#,
            Feature::Threads,
        ),
        (
            r#"(module (memory (export "memory") 1 (pagesize 1)))"#,
            Feature::CustomPageSizes,
        ),
        (
            r#"(module (memory (export "memory") 1) (table 1 funcref) (table 1 funcref))"#,
            Feature::MultiTable,
        ),
        (
            r#"(module (memory (export "memory") 1) (table i64 1 funcref))"#,
            Feature::Memory64,
        ),
        (
            r#"(module (memory (export "memory") 1) (func $s) (start $s))"#,
            Feature::StartFunction,
        ),
        (
            r#"(module (memory (export "memory") 1) (global i32 (i32.add (i32.const 1) (i32.const 2))))"#,
            Feature::ExtendedConst,
        ),
        (
            r#"(module (memory (export "memory") 1) (global $a i32 (i32.const 1)) (global i32 (global.get $a)))"#,
            Feature::ExtendedConst,
        ),
    ];
    for (text, feature) in cases {
        assert_feature(&wat(text), *feature);
    }
}

#[test]
fn components_are_rejected() {
    let component = b"\0asm\x0d\0\x01\0";
    assert_eq!(
        rejection(component).rejected_feature(),
        Some(Feature::ComponentModel)
    );
}

fn assert_import_refused(wasm: &[u8], needle: &str) {
    let rejection = rejection(wasm);
    assert!(
        matches!(rejection.reason, Reason::Import { .. }),
        "expected an import rejection, got: {rejection}"
    );
    let message = rejection.to_string();
    assert!(message.contains(needle), "`{needle}` not in: {message}");
}

#[test]
fn only_host_functions_with_their_exact_signatures_can_be_imported() {
    let importing =
        |import: &str| wat(&format!("(module {import} (memory (export \"memory\") 1))"));
    assert_import_refused(
        &importing(r#"(import "env" "abort" (func (param i32)))"#),
        "contracts import only from the `cairn` host module",
    );
    assert_import_refused(
        &importing(r#"(import "cairn" "allocate" (func (param i32) (result i32)))"#),
        "`allocate` is not a host function",
    );
    assert_import_refused(
        &importing(r#"(import "cairn" "storage_get" (func (param i32 i32) (result i64)))"#),
        "declared as (i32, i32) -> i64, but the host function is (i32, i32, i32, i32) -> i64",
    );
    assert_import_refused(
        &wat(r#"(module (import "cairn" "memory" (memory 1)) (export "memory" (memory 0)))"#),
        "a contract defines its own memory",
    );
    assert_import_refused(
        &importing(r#"(import "cairn" "g" (global i32))"#),
        "not globals",
    );
    assert_import_refused(
        &importing(r#"(import "cairn" "t" (table 1 funcref))"#),
        "not tables",
    );
}

fn assert_contract_rule(wasm: &[u8], needle: &str) {
    let rejection = rejection(wasm);
    assert!(
        matches!(rejection.reason, Reason::Contract(_)),
        "expected a contract rule, got: {rejection}"
    );
    assert!(
        rejection.to_string().contains(needle),
        "`{needle}` not in: {rejection}"
    );
}

#[test]
fn contracts_export_their_memory_and_only_nullary_entry_points() {
    assert_contract_rule(
        &wat(r#"(module (func (export "f")))"#),
        "export it as `memory`",
    );
    assert_contract_rule(
        &wat(r#"(module (memory (export "mem") 1))"#),
        "export it as `memory`",
    );
    assert_contract_rule(
        &with_memory(r#"(func (export "add") (param i32 i32) (result i32) local.get 0)"#),
        "exported function `add` has type (i32, i32) -> i32",
    );
    assert_contract_rule(
        &with_memory(r#"(func (export "__cairn_gas_left"))"#),
        "reserved prefix",
    );
    assert_contract_rule(
        &with_memory(r#"(data (i32.const 65530) "0123456789")"#),
        "does not fit the initial memory",
    );
    assert_contract_rule(
        &with_memory(r#"(table 1 funcref) (func $g) (elem (i32.const 1) $g)"#),
        "does not fit the table",
    );
}

#[test]
fn invalid_modules_are_rejected_with_the_validator_message() {
    let rejection = rejection(&with_memory(r#"(func (export "f") i32.const 1)"#));
    assert!(
        matches!(rejection.reason, Reason::Invalid(_)),
        "{rejection}"
    );
    assert!(
        rejection.to_string().contains("type mismatch"),
        "{rejection}"
    );
}

#[test]
fn what_rustc_emits_by_default_is_accepted() {
    // bulk memory (memory.copy/fill, passive data), sign extension,
    // multi-value blocks, mutable globals, a funcref table with an active
    // segment and call_indirect: the shapes of a no_std Rust contract.
    let wasm = contract(
        r#"
        (global $sp (mut i32) (i32.const 65536))
        (global (export "__data_end") i32 (i32.const 1024))
        (global (export "__heap_base") i32 (i32.const 1024))
        (table 2 2 funcref)
        (elem (i32.const 1) $callee)
        (type $t (func (param i32) (result i32)))
        (data $passive "passive")
        (func $callee (type $t) local.get 0 i32.extend8_s)
        (func $pair (result i32 i64) i32.const 1 i64.const 2)
        (func (export "call")
          (memory.copy (i32.const 0) (i32.const 100) (i32.const 16))
          (memory.fill (i32.const 0) (i32.const 0) (i32.const 16))
          (memory.init $passive (i32.const 0) (i32.const 0) (i32.const 7))
          (data.drop $passive)
          (i32.const 1) (i64.const 2) (block (param i32 i64) (result i32) drop)
          drop
          (call $pair) drop drop
          (call_indirect (type $t) (i32.const 7) (i32.const 1)) drop
          (i64.extend32_s (i64.const 5)) drop)
        "#,
    );
    let summary = validate_contract(&wasm).unwrap_or_else(|rejection| panic!("{rejection}"));
    assert_eq!(summary.entry_points, ["call"]);
    assert!(summary.exports.contains(&"__heap_base".to_owned()));
}

#[test]
fn the_reference_types_encoding_of_call_indirect_is_accepted() {
    // `call_indirect` with its table index as a two-byte LEB (0x80 0x00),
    // which rustc emits since reference types became a default target
    // feature; only the encoding, no reference-typed value.
    let wasm = wat(r#"(module
        (memory (export "memory") 1)
        (type $t (func))
        (table 1 funcref)
        (elem (i32.const 0) $f)
        (func $f)
        (func (export "go") (call_indirect (type $t) (i32.const 0))))"#);
    let overlong = reencode_call_indirect_overlong(&wasm);
    assert_ne!(overlong, wasm);
    validate_contract(&overlong).unwrap_or_else(|rejection| panic!("{rejection}"));
    let outcome = crate::support::run_twice(&overlong, "go", &[], crate::support::GAS);
    assert_eq!(outcome.status, cairn_vm::Status::Ok);
}

/// Rewrites `call_indirect <type> 0x00` as `call_indirect <type> 0x80 0x00`
/// in the code section, adjusting the body and section sizes.
fn reencode_call_indirect_overlong(wasm: &[u8]) -> Vec<u8> {
    use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
    struct Overlong;
    impl Reencode for Overlong {
        type Error = std::convert::Infallible;
        fn parse_function_body(
            &mut self,
            code: &mut wasm_encoder::CodeSection,
            func: wasmparser::FunctionBody<'_>,
        ) -> Result<(), wasm_encoder::reencode::Error> {
            let mut locals = Vec::new();
            for local in func.get_locals_reader()? {
                let (count, ty) = local?;
                locals.push((count, RoundtripReencoder.val_type(ty)?));
            }
            let mut function = wasm_encoder::Function::new(locals);
            for op in func.get_operators_reader()? {
                match op? {
                    wasmparser::Operator::CallIndirect { type_index, .. } => {
                        function.raw([0x11]);
                        let mut index = Vec::new();
                        crate::support::leb128(u64::from(type_index), &mut index);
                        function.raw(index);
                        function.raw([0x80, 0x00]);
                    }
                    other => {
                        function.instruction(&RoundtripReencoder.instruction(other)?);
                    }
                }
            }
            code.function(&function);
            Ok(())
        }
    }
    let mut module = wasm_encoder::Module::new();
    Overlong
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .unwrap();
    module.finish()
}

#[test]
fn the_example_counter_is_accepted_with_its_entry_points() {
    let wasm = wat(include_str!("../../testdata/counter.wat"));
    let summary = validate_contract(&wasm).unwrap();
    assert_eq!(summary.entry_points, ["increment", "get"]);
    assert_eq!(summary.memory_pages, Some(1));
}

#[test]
fn a_contract_compiled_by_stable_rustc_is_accepted_and_runs() {
    // vm/testdata/README.md says how it was built.
    let wasm = include_bytes!("../../testdata/rust_contract.wasm");
    let summary = validate_contract(wasm).unwrap_or_else(|rejection| panic!("{rejection}"));
    assert_eq!(summary.entry_points, ["apply"]);
    assert!(summary.exports.contains(&"__data_end".to_owned()));

    let mut chain = crate::support::Chain::new();
    chain.deploy(crate::support::CONTRACT, wasm);
    let mut apply = |opcode: u8, amount: i8| {
        let mut input = vec![opcode, amount.cast_unsigned()];
        input.extend_from_slice(b"alice");
        let outcome = chain.call(crate::support::CONTRACT, "apply", &input);
        assert_eq!(outcome.status, cairn_vm::Status::Ok, "{outcome:?}");
        assert_eq!(outcome.events.len(), 1);
        i64::from_le_bytes(outcome.output.try_into().unwrap())
    };
    assert_eq!(apply(0, 5), 5, "credit 5");
    assert_eq!(apply(1, 3), -1, "debit twice 3");
    assert_eq!(apply(3, -10), 9, "credit the negation of -10");
    assert_eq!(apply(2, 0), 0, "reset");
    let panicked = chain.call(crate::support::CONTRACT, "apply", &[9, 0]);
    assert_eq!(
        panicked.status,
        cairn_vm::Status::Trap(cairn_vm::TrapCode::Aborted)
    );
    assert_eq!(panicked.output, b"panicked");
}
