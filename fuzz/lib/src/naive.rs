//! The gas oracle's independent count: [`cairn_gas_meter::naive`], which
//! adds each instruction's cost from the schedule to a counter right before
//! that instruction, with no basic blocks at all, run in wasmi.
//!
//! On a run that does not stop in the middle of a basic block, the block
//! metering of `cairn-gas-meter` must charge exactly this total: an if/else
//! charged on one side only, a loop charged once instead of per iteration,
//! a missed branch target or a wrong per-page or per-byte charge would all
//! show up as a difference. `gas-meter/tests/gas_oracle.rs` checks the meter
//! against the count on wasmi; here the count is compared with what the VM
//! itself reports, compiled by wasmer.
//!
//! The schedule's per-block overhead has no per-instruction equivalent, so
//! the oracle runs with it set to zero; `gas-meter/tests/metering.rs` pins
//! it with exact tests.

use cairn_gas_meter::Schedule;
use cairn_gas_meter::naive::COUNTER_EXPORT;
use wasmi::{Engine, Linker, Module, Store, Val};

/// `wasm` with the naive counter of [`cairn_gas_meter::naive`] added.
///
/// # Panics
///
/// On a module outside the accepted subset: the oracle counts modules the
/// VM has already accepted.
pub fn instrument(wasm: &[u8], schedule: &Schedule) -> Vec<u8> {
    cairn_gas_meter::naive::instrument(wasm, schedule).expect("an accepted module can be counted")
}

/// How a naive run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Returned,
    /// wasm-smith's fuel ran out: an `unreachable` at the head of a block.
    FuelTrap,
}

/// Calls the `() -> ()` export `entry` of a naively counted module in wasmi
/// and returns how it ended and the count.
///
/// # Panics
///
/// On any other trap: the oracle runs terminating, trap-free modules
/// (wasm-smith's `disallow_traps` and `ensure_termination`), so anything
/// else is the generator's or wasmi's fault.
pub fn run(counted: &[u8], entry: &str) -> (End, u64) {
    let mut config = wasmi::Config::default();
    config
        .set_max_recursion_depth(1 << 20)
        .set_max_stack_height(256 << 20);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, counted).expect("the counted module is valid");
    let mut store = Store::new(&engine, ());
    let instance = Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .expect("instantiates without imports");
    let func = instance
        .get_typed_func::<(), ()>(&store, entry)
        .expect("the entry point is exported");
    let end = match func.call(&mut store, ()) {
        Ok(()) => End::Returned,
        Err(error) if error.as_trap_code() == Some(wasmi::TrapCode::UnreachableCodeReached) => {
            End::FuelTrap
        }
        Err(error) => panic!("a trap-free module trapped in wasmi: {error}"),
    };
    let count = match instance
        .get_global(&store, COUNTER_EXPORT)
        .expect("the counter is exported")
        .get(&store)
    {
        Val::I64(count) => count.cast_unsigned(),
        other => panic!("the counter holds {other:?}"),
    };
    (end, count)
}
