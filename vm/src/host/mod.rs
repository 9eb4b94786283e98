//! Host functions: what a contract can ask of the chain.
//!
//! The table is in [`abi`]; the implementations in `functions`. Every host
//! function charges its base cost (and any per-byte cost it can know from
//! its arguments) before it touches guest memory or storage, checks every
//! pointer and length against memory and the named limits, and turns every
//! bad argument into a fixed [`TrapCode`], never a panic.
//!
//! Memory ownership: the guest owns all of its memory. The host only copies
//! into buffers the guest passed (pointer and capacity) and never calls back
//! into the guest; there is no `allocate` export (docs/DESIGN.md, rule 5).

pub mod abi;
pub mod crypto;
mod functions;
pub(crate) mod state;

use std::sync::Arc;

use wasmer::{FunctionEnvMut, Global, Memory, RuntimeError, StoreMut, Value};

use crate::error::VmError;
use crate::storage::{KeyRange, Order};
use crate::types::{Address, TrapCode};
use crate::vm::VmInner;
use state::TxPtr;

pub(crate) use functions::imports;

/// How a host function stops the call, carried through wasmer as the
/// error of a trap.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostTrap {
    #[error("contract trap {0}")]
    Trap(TrapCode),
    #[error("out of gas")]
    OutOfGas,
    #[error("node failure: {0}")]
    Fatal(VmError),
}

fn trap(code: TrapCode) -> RuntimeError {
    RuntimeError::user(Box::new(HostTrap::Trap(code)))
}

fn fatal(error: impl Into<VmError>) -> RuntimeError {
    RuntimeError::user(Box::new(HostTrap::Fatal(error.into())))
}

/// An open storage iterator.
#[derive(Debug)]
pub(crate) struct Iter {
    range: KeyRange,
    order: Order,
    /// An entry found but not yet handed over because the guest's buffers
    /// were too small; the next `storage_next` returns it again.
    pending: Option<crate::storage::Entry>,
    /// The range is exhausted. The handle stays taken until
    /// `storage_close`, so a stale handle can never reach a newer iterator.
    done: bool,
}

/// What one call frame's host functions work with.
pub(crate) struct HostEnv {
    pub vm: Arc<VmInner>,
    pub tx: TxPtr,
    pub contract: Address,
    pub caller: Address,
    pub input: Vec<u8>,
    /// The native value attached to this call.
    pub value: u128,
    pub read_only: bool,
    /// 0 for the top-level call.
    pub depth: usize,
    pub memory: Option<Memory>,
    pub gas: Option<Global>,
    /// Set by `output_write`, `revert` and `abort`.
    pub output: Vec<u8>,
    /// Output of the last `call_contract`.
    pub call_output: Vec<u8>,
    pub iterators: Vec<Option<Iter>>,
}

/// A host function's view of its frame: the environment and the store.
struct Host<'a> {
    env: &'a mut HostEnv,
    store: StoreMut<'a>,
}

impl<'a> Host<'a> {
    fn new(ctx: &'a mut FunctionEnvMut<'_, HostEnv>) -> Self {
        let (env, store) = ctx.data_and_store_mut();
        Host { env, store }
    }

    fn costs(&self) -> cairn_gas_meter::HostCosts {
        self.env.vm.schedule.host.clone()
    }

    fn gas_global(&self) -> Result<Global, RuntimeError> {
        self.env
            .gas
            .clone()
            .ok_or_else(|| fatal(VmError::Engine("gas global not bound".into())))
    }

    pub(crate) fn gas_left(&mut self) -> Result<u64, RuntimeError> {
        let global = self.gas_global()?;
        match global.get(&mut self.store) {
            // The meter checks the gas left before every host call, so it
            // is never below zero here; if it were, the call is out of gas.
            Value::I64(left) => {
                u64::try_from(left).map_err(|_| RuntimeError::user(Box::new(HostTrap::OutOfGas)))
            }
            other => Err(fatal(VmError::Engine(format!(
                "gas global holds {other:?}"
            )))),
        }
    }

    fn set_gas_left(&mut self, left: u64) -> Result<(), RuntimeError> {
        let global = self.gas_global()?;
        global
            .set(&mut self.store, Value::I64(left.cast_signed()))
            .map_err(|error| fatal(VmError::Engine(format!("setting gas: {error}"))))
    }

    /// Takes `amount` from the gas left, or ends the call out of gas.
    fn charge(&mut self, amount: u64) -> Result<(), RuntimeError> {
        let left = self.gas_left()?;
        match left.checked_sub(amount) {
            Some(rest) => self.set_gas_left(rest),
            None => Err(RuntimeError::user(Box::new(HostTrap::OutOfGas))),
        }
    }

    /// A guest length, checked against a limit before anything is read or
    /// allocated for it.
    fn length(&self, length: i32, limit: usize) -> Result<usize, RuntimeError> {
        let length =
            usize::try_from(length.cast_unsigned()).map_err(|_| trap(TrapCode::HostLimit))?;
        if length > limit {
            return Err(trap(TrapCode::HostLimit));
        }
        Ok(length)
    }

    fn memory(&self) -> Result<&Memory, RuntimeError> {
        self.env
            .memory
            .as_ref()
            .ok_or_else(|| fatal(VmError::Engine("memory not bound".into())))
    }

    /// Copies `length` bytes at `pointer` out of guest memory.
    fn read(&self, pointer: i32, length: usize) -> Result<Vec<u8>, RuntimeError> {
        let mut buffer = vec![0; length];
        self.memory()?
            .view(&self.store)
            .read(u64::from(pointer.cast_unsigned()), &mut buffer)
            .map_err(|_| trap(TrapCode::HostMemoryAccess))?;
        Ok(buffer)
    }

    /// Copies the `N` bytes at `pointer` out of guest memory.
    fn read_array<const N: usize>(&self, pointer: i32) -> Result<[u8; N], RuntimeError> {
        let mut buffer = [0; N];
        self.memory()?
            .view(&self.store)
            .read(u64::from(pointer.cast_unsigned()), &mut buffer)
            .map_err(|_| trap(TrapCode::HostMemoryAccess))?;
        Ok(buffer)
    }

    /// Copies `data` into guest memory at `pointer`.
    fn write(&self, pointer: i32, data: &[u8]) -> Result<(), RuntimeError> {
        self.memory()?
            .view(&self.store)
            .write(u64::from(pointer.cast_unsigned()), data)
            .map_err(|_| trap(TrapCode::HostMemoryAccess))
    }

    fn ensure_writable(&self) -> Result<(), RuntimeError> {
        if self.env.read_only {
            return Err(trap(TrapCode::ReadOnly));
        }
        Ok(())
    }
}

/// Per-byte cost of `bytes` bytes; lengths are bounded by limits, and the
/// saturation only matters for absurd schedules, where it means "too much".
fn per_byte(rate: u64, bytes: usize) -> u64 {
    rate.saturating_mul(u64::try_from(bytes).unwrap_or(u64::MAX))
}
