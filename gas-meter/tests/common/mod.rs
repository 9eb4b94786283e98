//! Runs instrumented modules in wasmi, an engine independent of the one the
//! VM uses, and reads the meter's globals back.

#![allow(dead_code, unreachable_pub, clippy::cast_possible_truncation)]

use cairn_gas_meter::{GAS_LEFT_EXPORT, MAX_GAS_LEFT, STACK_HEIGHT_EXPORT, TRAP_EXPORT};
use wasmi::{Engine, Linker, Module, Store, Val};

/// How a metered call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Returned(Vec<i64>),
    OutOfGas,
    StackOverflow,
    /// Any other trap (the module's own), with wasmi's trap code.
    Trapped(Option<wasmi::TrapCode>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub end: End,
    /// As the VM reports it: all of the limit when out of gas.
    pub gas_used: u64,
    /// The meter's counter after the call: below zero after running out.
    pub gas_left: i64,
    /// The meter's trap flag after the call.
    pub flag: i32,
    /// Stack height after the call; zero whenever the call returned.
    pub stack_height: i32,
}

/// Instantiates `metered`, sets the gas limit (as the VM does: at most
/// [`MAX_GAS_LEFT`] of it) and calls `export` with `args` (i32 or i64 as the
/// signature wants, given as i64).
pub fn run(metered: &[u8], export: &str, args: &[i64], gas_limit: u64) -> Run {
    let engine = Engine::default();
    let module = Module::new(&engine, metered).expect("instrumented module is valid");
    let mut store = Store::new(&engine, ());
    let instance = Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .expect("instantiates without imports");
    let gas = instance
        .get_global(&store, GAS_LEFT_EXPORT)
        .expect("gas global exported");
    let gas_start = gas_limit.min(MAX_GAS_LEFT);
    gas.set(&mut store, Val::I64(gas_start.cast_signed()))
        .expect("gas global is mutable");
    let func = instance.get_func(&store, export).expect("export exists");
    let ty = func.ty(&store);
    let params: Vec<Val> = ty
        .params()
        .iter()
        .zip(args.iter().copied().chain(std::iter::repeat(0)))
        .map(|(ty, arg)| match ty {
            wasmi::ValType::I32 => Val::I32(arg as i32),
            wasmi::ValType::I64 => Val::I64(arg),
            other => panic!("unexpected parameter type {other:?}"),
        })
        .collect();
    let mut results: Vec<Val> = ty.results().iter().map(|ty| Val::default(*ty)).collect();
    let outcome = func.call(&mut store, &params, &mut results);
    let read_i32 = |store: &Store<()>, name: &str| match instance
        .get_global(store, name)
        .expect("meter global exported")
        .get(store)
    {
        Val::I32(value) => value,
        other => panic!("{name} is {other:?}"),
    };
    let gas_left = match gas.get(&store) {
        Val::I64(value) => value,
        other => panic!("gas is {other:?}"),
    };
    let end = match outcome {
        Ok(()) => End::Returned(
            results
                .iter()
                .map(|value| match value {
                    Val::I32(v) => i64::from(*v),
                    Val::I64(v) => *v,
                    other => panic!("unexpected result {other:?}"),
                })
                .collect(),
        ),
        Err(error) => match read_i32(&store, TRAP_EXPORT) {
            cairn_gas_meter::TRAP_OUT_OF_GAS => End::OutOfGas,
            cairn_gas_meter::TRAP_STACK_OVERFLOW => End::StackOverflow,
            _ => End::Trapped(error.as_trap_code()),
        },
    };
    // As the VM reads it: below zero, a charge was not covered, whatever
    // trap followed it.
    let end = if gas_left < 0 { End::OutOfGas } else { end };
    Run {
        flag: read_i32(&store, TRAP_EXPORT),
        gas_used: match end {
            End::OutOfGas => gas_limit,
            _ => gas_start - gas_left.cast_unsigned(),
        },
        gas_left,
        stack_height: read_i32(&store, STACK_HEIGHT_EXPORT),
        end,
    }
}
