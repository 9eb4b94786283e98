//! Deterministic gas and stack-height metering for WebAssembly, as a
//! wasm-to-wasm pass that does not depend on any engine.
//!
//! [`instrument`] rewrites a module so that it pays for its own execution:
//!
//! - **Gas per basic block, before the block runs.** Each straight-line run
//!   of instructions (split at every branch, branch target, call, `if`,
//!   `else`, `end`, `return` and `unreachable`) starts with a check-and-subtract of
//!   its total static cost against an exported `i64` global holding the gas
//!   left, read as unsigned. The check comes first, so the counter never
//!   wraps and is never refunded; when it would go below zero the module sets
//!   an exported flag and traps.
//! - **Frames on entry.** A function's first block also charges its
//!   parameters and declared locals (`frame_param`, `frame_local`), which
//!   single-pass moves and zeroes at every entry however the function is
//!   entered.
//! - **Per-operand costs.** `memory.grow` pays per page it will get (a grow
//!   past the memory's maximum returns -1 and pays for none), and
//!   `memory.copy`, `memory.fill` and `memory.init` pay per byte, through
//!   small injected helpers that charge before the instruction runs.
//! - **A deterministic stack-height limit.** Every call pays the callee's
//!   frame cost (parameters + locals + maximum operand stack height + a fixed
//!   overhead) into an exported `i32` global before the call and takes it back
//!   after; exported functions are wrapped in thunks that do the same, so the
//!   frame the host enters is counted too. Going over the limit sets the flag
//!   and traps, at the same depth on every machine.
//! - **A memory cap.** Every memory gets the schedule's page limit as its
//!   maximum.
//!
//! The host sets [`GAS_LEFT_EXPORT`] before a call, reads it after, and on a
//! trap reads [`TRAP_EXPORT`] to tell out-of-gas and stack overflow from the
//! contract's own traps.
//!
//! Start reading at [`instrument`]; the costs live in [`Schedule`]. [`naive`]
//! counts the same schedule per instruction, as an oracle for tests. What
//! creating an instance costs ([`InstantiationCosts`]) is in the schedule
//! too, but the VM charges it, before it creates the instance.
//!
//! ```
//! use cairn_gas_meter::{instrument, Schedule};
//!
//! let wasm = wat::parse_str(r#"(module (func (export "spin") (loop (br 0))))"#).unwrap();
//! let metered = instrument(&wasm, &Schedule::default()).unwrap();
//! assert!(metered.len() > wasm.len());
//! ```

mod analysis;
mod body;
mod error;
mod instrument;
pub mod naive;
mod schedule;

pub use error::Error;
pub use instrument::instrument;
pub use schedule::{
    DynamicCosts, HostCosts, InstanceShape, InstantiationCosts, InstructionCosts, SCHEDULE_VERSION,
    Schedule, StackLimits,
};

/// Version of what [`instrument`] writes. Bump it whenever the same module
/// and schedule would be instrumented differently (another helper, another
/// way of charging): the VM names it in every artifact cache key, so code
/// compiled from an older output is never run again. Version 2: a
/// `memory.grow` past the maximum is not charged.
pub const INSTRUMENTATION_VERSION: u32 = 2;

/// Export name of the `i64` global holding the gas left (read as unsigned).
pub const GAS_LEFT_EXPORT: &str = "__cairn_gas_left";
/// Export name of the `i32` global holding the current stack height.
pub const STACK_HEIGHT_EXPORT: &str = "__cairn_stack_height";
/// Export name of the `i32` global that says why the meter trapped.
pub const TRAP_EXPORT: &str = "__cairn_trap";
/// Export names starting with this are reserved for the meter.
pub const RESERVED_EXPORT_PREFIX: &str = "__cairn";

/// [`TRAP_EXPORT`] value: the module did not trap because of the meter.
pub const TRAP_NONE: i32 = 0;
/// [`TRAP_EXPORT`] value: a gas charge could not be paid.
pub const TRAP_OUT_OF_GAS: i32 = 1;
/// [`TRAP_EXPORT`] value: a call would have exceeded the stack-height limit.
pub const TRAP_STACK_OVERFLOW: i32 = 2;

/// The WebAssembly features the meter understands: the integer MVP with
/// mutable globals, sign extension, multi-value and bulk memory, and the
/// reference-types encoding of `call_indirect`'s table index (which current
/// `rustc` emits) without any reference-typed values.
pub fn supported_features() -> wasmparser::WasmFeatures {
    use wasmparser::WasmFeatures as F;
    F::MUTABLE_GLOBAL
        | F::SIGN_EXTENSION
        | F::MULTI_VALUE
        | F::BULK_MEMORY
        | F::BULK_MEMORY_OPT
        | F::CALL_INDIRECT_OVERLONG
}
