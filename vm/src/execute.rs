//! Running one call frame: the instance paid for, a fresh instance of the
//! cached module in a fresh store, the gas left set, the entry point
//! called, and whatever happened turned into a [`Status`] (or, if it was
//! the node's fault, a [`VmError`]).

use std::sync::Arc;

use cairn_gas_meter::{
    GAS_LEFT_EXPORT, MAX_GAS_LEFT, TRAP_EXPORT, TRAP_OUT_OF_GAS, TRAP_STACK_OVERFLOW,
};
use wasmer::{FunctionEnv, Instance, RuntimeError, Store, TypedFunction, Value};

use crate::cache::Artifact;
use crate::error::VmError;
use crate::host::state::TxPtr;
use crate::host::{HostEnv, HostTrap, imports};
use crate::types::{Address, CodeHash, Status, TrapCode};
use crate::vm::VmInner;

/// One call to run.
pub(crate) struct Frame {
    pub contract: Address,
    pub caller: Address,
    pub code_hash: CodeHash,
    pub entry: String,
    pub input: Vec<u8>,
    pub gas_limit: u64,
    /// Already moved to `contract` in the frame's overlay layer.
    pub value: u128,
    pub read_only: bool,
    pub depth: usize,
}

/// How a frame ended.
pub(crate) struct FrameResult {
    pub status: Status,
    pub gas_used: u64,
    pub output: Vec<u8>,
}

impl FrameResult {
    fn without_running(status: Status) -> Self {
        FrameResult {
            status,
            gas_used: 0,
            output: Vec::new(),
        }
    }
}

/// The gas a frame has left once its instance is paid for, or `None` if
/// its limit does not cover the instance. The one place a call pays for
/// instantiation: before the engine creates anything, so a frame that
/// cannot pay ends out of gas having cost the node no instance.
fn pay_for_instance(gas_limit: u64, artifact: &Artifact) -> Option<u64> {
    gas_limit.checked_sub(artifact.instantiation_gas)
}

pub(crate) fn run_frame(
    vm: &Arc<VmInner>,
    tx: TxPtr,
    frame: Frame,
) -> Result<FrameResult, VmError> {
    let artifact = vm.artifact(&frame.code_hash, |hash| tx.with(|tx| tx.state.code(hash)))?;
    let module = &artifact.module;
    if !module.has_entry(&frame.entry) {
        return Ok(FrameResult::without_running(Status::Trap(
            TrapCode::NoSuchEntry,
        )));
    }
    let gas_limit = frame.gas_limit;
    let Some(gas_left) = pay_for_instance(gas_limit, &artifact) else {
        return Ok(FrameResult {
            status: Status::OutOfGas,
            gas_used: gas_limit,
            output: Vec::new(),
        });
    };
    // The module's own engine: instances must live in its stores.
    let mut store = Store::new(module.engine().clone());
    let env = FunctionEnv::new(
        &mut store,
        HostEnv {
            vm: Arc::clone(vm),
            tx,
            contract: frame.contract,
            caller: frame.caller,
            input: frame.input,
            value: frame.value,
            read_only: frame.read_only,
            depth: frame.depth,
            memory: None,
            gas: None,
            output: Vec::new(),
            call_output: Vec::new(),
            iterators: Vec::new(),
        },
    );
    // Validation guarantees the imports match and there is no start
    // function, so failing here is resource exhaustion or a VM bug.
    let imports = imports(&mut store, &env, module.module())
        .map_err(|name| VmError::Engine(format!("no host function {name}")))?;
    let instance = Instance::new_by_index(&mut store, module.module(), &imports)
        .map_err(|error| VmError::Engine(format!("instantiating: {error}")))?;
    let export_error =
        |what: &str, error: wasmer::ExportError| VmError::Engine(format!("{what}: {error}"));
    let memory = instance
        .exports
        .get_memory("memory")
        .map_err(|error| export_error("memory", error))?
        .clone();
    let gas = instance
        .exports
        .get_global(GAS_LEFT_EXPORT)
        .map_err(|error| export_error("gas global", error))?
        .clone();
    let trap_flag = instance
        .exports
        .get_global(TRAP_EXPORT)
        .map_err(|error| export_error("trap global", error))?
        .clone();
    // The meter's counter is signed. More than it holds could never be
    // spent (2^63 gas is years of work), so the rest is simply not handed
    // over; out of gas still reports the whole limit used.
    let gas_start = gas_left.min(MAX_GAS_LEFT);
    gas.set(&mut store, Value::I64(gas_start.cast_signed()))
        .map_err(|error| VmError::Engine(format!("setting gas: {error}")))?;
    {
        let env = env.as_mut(&mut store);
        env.memory = Some(memory);
        env.gas = Some(gas.clone());
    }

    // `has_entry` checked the export and its type.
    let entry: TypedFunction<(), ()> = instance
        .exports
        .get_typed_function(&store, &frame.entry)
        .map_err(|error| VmError::Engine(format!("entry point: {error}")))?;
    let result = entry.call(&mut store);

    let left = match gas.get(&mut store) {
        Value::I64(left) => left,
        other => return Err(VmError::Engine(format!("gas global holds {other:?}"))),
    };
    let status = match result {
        Ok(()) => Status::Ok,
        Err(error) => {
            let flag = match trap_flag.get(&mut store) {
                Value::I32(flag) => flag,
                _ => 0,
            };
            classify(error, flag)?
        }
    };
    // The meter charges blocks unchecked and checks later: below zero, a
    // charge was not covered, whatever trap came before the next check.
    // The export thunk checks on return, so a call never ends well below
    // zero; this only decides which trap wins.
    let status = if left < 0 { Status::OutOfGas } else { status };
    let gas_used = match status {
        Status::OutOfGas => gas_limit,
        // The instance, then what the code took of the gas it was given.
        _ => (gas_limit - gas_left).saturating_add(gas_start.saturating_sub(left.cast_unsigned())),
    };
    let output = match status {
        Status::Ok | Status::Trap(TrapCode::Reverted | TrapCode::Aborted) => {
            std::mem::take(&mut env.as_mut(&mut store).output)
        }
        _ => Vec::new(),
    };
    Ok(FrameResult {
        status,
        gas_used,
        output,
    })
}

/// Turns a trap into the contract's status, or into a node error when the
/// contract cannot have caused it.
fn classify(error: RuntimeError, meter_flag: i32) -> Result<Status, VmError> {
    if let Some(host) = error.downcast_ref::<HostTrap>() {
        return match host {
            HostTrap::Trap(code) => Ok(Status::Trap(*code)),
            HostTrap::OutOfGas => Ok(Status::OutOfGas),
            HostTrap::Fatal(fatal) => Err(fatal.clone()),
        };
    }
    match meter_flag {
        TRAP_OUT_OF_GAS => return Ok(Status::OutOfGas),
        TRAP_STACK_OVERFLOW => return Ok(Status::Trap(TrapCode::StackOverflow)),
        _ => {}
    }
    let message = error.message();
    use wasmer::sys::vm::TrapCode as Engine;
    let code = match error.to_trap() {
        Some(Engine::UnreachableCodeReached) => TrapCode::Unreachable,
        Some(Engine::HeapAccessOutOfBounds | Engine::HeapMisaligned) => TrapCode::MemoryOutOfBounds,
        Some(Engine::TableAccessOutOfBounds | Engine::IndirectCallToNull) => {
            TrapCode::IndirectCallToNull
        }
        Some(Engine::BadSignature) => TrapCode::BadSignature,
        Some(Engine::IntegerOverflow) => TrapCode::IntegerOverflow,
        Some(Engine::IntegerDivisionByZero) => TrapCode::IntegerDivideByZero,
        Some(Engine::StackOverflow) => return Err(VmError::NativeStackOverflow),
        other => return Err(VmError::UnexpectedTrap(format!("{other:?}: {message}"))),
    };
    Ok(Status::Trap(code))
}
