//! Deterministic gas and stack-height metering for WebAssembly, as a
//! wasm-to-wasm pass that does not depend on any engine.
//!
//! [`instrument`] rewrites a module so that it pays for its own execution:
//!
//! - **Gas per basic block, checked where control can come back.** Each
//!   straight-line run of instructions (split at every branch, branch
//!   target, call, `if`, `else`, `end`, `return` and `unreachable`) starts by
//!   subtracting its total static cost from an exported, signed `i64` global
//!   holding the gas left, without a check. The check (below zero: set an
//!   exported flag and trap) runs at every loop header, on entry to every
//!   recursive function and to any whose call tree could take more than a
//!   small budget unchecked, before every call that may reach a host
//!   function, and when an export returns. A call therefore succeeds
//!   exactly when its charges add up to no more than its gas, and then
//!   pays exactly what a check in every block would have made it pay; one
//!   that runs out stops at the next check, at most one loop-free stretch
//!   of code after the charge it could not pay, and never enters the host
//!   with gas below zero (the NEAR finite-wasm and wasmtime fuel shape).
//! - **Frames on entry.** A function's first block also charges its
//!   parameters and declared locals (`frame_param`, `frame_local`), which
//!   single-pass moves and zeroes at every entry however the function is
//!   entered. A function entered only by direct calls that nothing can
//!   trap before (not exported, not in the table, not recursive) has that
//!   first charge made at each call site instead, with the caller's block:
//!   a charge fewer per call, and the same gas in every outcome.
//! - **Per-operand costs.** `memory.grow` pays per page it will get (a grow
//!   past the memory's maximum returns -1 and pays for none), and
//!   `memory.copy`, `memory.fill` and `memory.init` pay per byte, through
//!   small injected helpers that check and charge before the instruction
//!   runs.
//! - **A deterministic stack-height limit, charged statically where it
//!   can be.** A frame costs its parameters, locals, maximum operand stack
//!   height and a fixed overhead. A recursive function (one on a cycle of
//!   the call graph, `call_indirect` reaching every table entry of its
//!   signature) has its frame as its static height; any other function
//!   its frame plus the largest static height among its callees. Only the
//!   calls a recursive function makes, and the host entering an export,
//!   add the callee's static height to an exported `i32` global before the
//!   call and take it back after; every other call costs nothing at run
//!   time. The charged height is never below the real frames' (the
//!   argument is in `calls.rs`), so the limit trips at the same point on
//!   every machine and before the native stack runs out; a call chain
//!   outside recursion too deep for the limit traps on entry, even down a
//!   path not taken. Going over the limit sets the flag and traps.
//! - **A memory cap.** Every memory gets the schedule's page limit as its
//!   maximum.
//!
//! The host sets [`GAS_LEFT_EXPORT`] before a call (at most
//! [`MAX_GAS_LEFT`]), reads it after, and on a trap reads [`TRAP_EXPORT`] to
//! tell out-of-gas and stack overflow from the contract's own traps. A gas
//! left below zero after a trap means out of gas, whatever the trap: a block
//! was charged that the gas did not cover, and its code ran to a trap
//! before the next check.
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
mod calls;
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
/// `memory.grow` past the maximum is not charged. Version 3: blocks are
/// charged unchecked into a signed counter, checked at loop headers,
/// recursive or costly function entries, host calls and export returns;
/// the stack height is charged statically, at run time only by recursive
/// functions' calls and export entries. Version 4: a function entered only
/// by direct calls that cannot trap before the call has its first block
/// charged at the call sites, with the caller's block.
pub const INSTRUMENTATION_VERSION: u32 = 4;

/// Export name of the `i64` global holding the gas left. It is signed:
/// the meter subtracts blocks' costs before checking, so after a call that
/// ran out it may hold a value below zero.
pub const GAS_LEFT_EXPORT: &str = "__cairn_gas_left";
/// The most gas the host may put into [`GAS_LEFT_EXPORT`] before a call.
pub const MAX_GAS_LEFT: u64 = i64::MAX.cast_unsigned();
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
