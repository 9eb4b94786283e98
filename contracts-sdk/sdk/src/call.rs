//! Calling other contracts, synchronously.
//!
//! The `#[contract]` macro generates a typed client for every contract
//! (`TokenRef` for `Token`), with one method per entry point; these are the
//! pieces it is made of.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use parity_scale_codec::{Decode, Encode};

use crate::env::length;
use crate::host;
use crate::types::Address;

/// Status codes of a call (docs/ABI.md).
pub mod status {
    pub const OK: u32 = 0;
    pub const OUT_OF_GAS: u32 = 1;
    pub const ABORTED: u32 = 9;
    pub const REVERTED: u32 = 10;
    pub const READ_ONLY: u32 = 14;
    pub const CALL_DEPTH: u32 = 15;
    pub const REENTRANCY: u32 = 16;
    pub const NO_SUCH_CONTRACT: u32 = 17;
    pub const NO_SUCH_ENTRY: u32 = 18;
    /// The caller holds less than the value it attached.
    pub const INSUFFICIENT_BALANCE: u32 = 19;
}

/// A call that did not return normally: its status code and its output
/// (the revert data or the abort message).
#[derive(Clone, PartialEq, Eq)]
pub struct CallFailure {
    pub status: u32,
    pub output: Vec<u8>,
}

impl fmt::Debug for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CallFailure {{ status: {}, output: {:?} }}",
            self.status, self.output
        )
    }
}

/// Calls `entry` of `address` with raw input, giving it at most `gas`.
/// A failed callee reverts its own writes, events and transfers only.
pub fn call_raw(
    address: &Address,
    entry: &str,
    input: &[u8],
    gas: u64,
) -> Result<Vec<u8>, CallFailure> {
    call_raw_with_value(address, entry, input, gas, 0)
}

/// [`call_raw`], with `value` of the native token sent along: it moves from
/// this contract to the callee before the callee runs, and back if the
/// callee fails. The callee's method must be `#[payable]`.
pub fn call_raw_with_value(
    address: &Address,
    entry: &str,
    input: &[u8],
    gas: u64,
    value: u128,
) -> Result<Vec<u8>, CallFailure> {
    let amount = value.to_le_bytes();
    // SAFETY: valid buffers of the stated lengths; the amount is 16 bytes.
    let status = unsafe {
        if value == 0 {
            host::call_contract(
                address.0.as_ptr(),
                entry.as_ptr(),
                length(entry.as_bytes()),
                input.as_ptr(),
                length(input),
                gas,
            )
        } else {
            host::call_contract_with_value(
                address.0.as_ptr(),
                entry.as_ptr(),
                length(entry.as_bytes()),
                input.as_ptr(),
                length(input),
                gas,
                amount.as_ptr(),
            )
        }
    };
    // SAFETY: the buffer has exactly the output's length.
    let output = unsafe {
        let mut output = vec![0; host::call_output_len() as usize];
        host::call_output_read(output.as_mut_ptr());
        output
    };
    if status == status::OK {
        Ok(output)
    } else {
        Err(CallFailure { status, output })
    }
}

/// Why a typed call failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CallError<E> {
    /// The callee returned its error (it reverted with `E`).
    Contract(E),
    /// The callee failed otherwise: a trap, out of gas, a panic, or the call
    /// was refused (depth, reentrancy, no such contract or entry point,
    /// value this contract does not hold).
    Failed(CallFailure),
    /// The callee's output did not decode as the expected type.
    Decode,
}

/// The error of entry points that cannot return one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum NoError {}

/// Calls an entry point that returns `T` (and reverts with `E`).
pub fn call<T: Decode, E: Decode>(
    address: &Address,
    entry: &str,
    args: &impl Encode,
    gas: u64,
) -> Result<T, CallError<E>> {
    call_with_value(address, entry, args, gas, 0)
}

/// [`call`], with `value` of the native token sent along.
pub fn call_with_value<T: Decode, E: Decode>(
    address: &Address,
    entry: &str,
    args: &impl Encode,
    gas: u64,
    value: u128,
) -> Result<T, CallError<E>> {
    match call_raw_with_value(address, entry, &args.encode(), gas, value) {
        Ok(output) => decode_all(&output).ok_or(CallError::Decode),
        Err(failure) if failure.status == status::REVERTED => {
            Err(decode_all(&failure.output).map_or(CallError::Decode, CallError::Contract))
        }
        Err(failure) => Err(CallError::Failed(failure)),
    }
}

pub(crate) fn decode_all<T: Decode>(bytes: &[u8]) -> Option<T> {
    let mut input = bytes;
    let value = T::decode(&mut input).ok()?;
    input.is_empty().then_some(value)
}
