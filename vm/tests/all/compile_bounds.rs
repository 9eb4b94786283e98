//! The worst shapes for a single-pass compiler (`tests/shapes`), each at
//! the code-size limit: validation rejects the ones that would make compile
//! time superlinear, naming the limit, and everything it accepts compiles.
//! How long each takes is measured by the `compile_bounds` benchmark
//! (docs/BENCHMARKS.md), never here.

#[path = "../shapes/mod.rs"]
mod shapes;

use cairn_vm::limits::MAX_CODE_BYTES;
use cairn_vm::validate::{Reason, validate_contract};

use crate::support::vm;
use shapes::Shape;

/// What validation must say of each worst shape: `None` accepted, or the
/// limit that rejects it.
fn expected(name: &str) -> Option<&'static str> {
    match name {
        // A thousand values walked per target of every br_table, or per
        // call; calls or block ends filling the module (each several
        // instructions once metered): all far over the module's budget.
        "stack_br_table" | "stack_calls" | "shallow_calls" | "blocks" => Some("MAX_COMPILE_WORK"),
        // Sixteen values walked per br_table target, as deep as ordinary
        // code gets; arithmetic; many locals: within it.
        _ => None,
    }
}

#[test]
fn every_worst_shape_is_rejected_by_a_named_limit_or_compiles() {
    let vm = vm();
    for (name, shape) in Shape::worst() {
        let wasm = shape.module(MAX_CODE_BYTES - 64 * 1024);
        assert!(wasm.len() <= MAX_CODE_BYTES, "{name}: {} bytes", wasm.len());
        match (validate_contract(&wasm), expected(name)) {
            (Ok(_), None) => {
                if let Err(error) = vm.prepare(&wasm) {
                    panic!("{name}: accepted but does not compile: {error}");
                }
            }
            (Err(rejection), Some(limit)) => match &rejection.reason {
                Reason::Limit { limit: named, .. } => assert_eq!(*named, limit, "{name}"),
                _ => panic!("{name}: rejected, but not by {limit}: {rejection}"),
            },
            (Ok(_), Some(limit)) => panic!("{name}: accepted, but {limit} should reject it"),
            (Err(rejection), None) => panic!("{name}: must be accepted: {rejection}"),
        }
    }
}
