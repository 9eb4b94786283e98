//! The call's environment: who called, the block, gas, native value,
//! hashing, events, and ending the call.

use alloc::vec;
use alloc::vec::Vec;
#[cfg(target_arch = "wasm32")]
use core::sync::atomic::{AtomicBool, Ordering};

use parity_scale_codec::{Decode, Encode};

use crate::host;
use crate::types::Address;

/// Lengths handed to the host; the host refuses anything over its limits,
/// so a length that does not even fit `u32` may as well be `u32::MAX`.
pub(crate) fn length(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or(u32::MAX)
}

/// The account or contract that made this call.
pub fn caller() -> Address {
    let mut address = [0; 32];
    // SAFETY: a 32-byte buffer for a 32-byte address.
    unsafe { host::caller(address.as_mut_ptr()) };
    Address(address)
}

/// This contract's own address.
pub fn self_address() -> Address {
    let mut address = [0; 32];
    // SAFETY: a 32-byte buffer for a 32-byte address.
    unsafe { host::self_address(address.as_mut_ptr()) };
    Address(address)
}

/// Height of the block being executed.
pub fn block_height() -> u64 {
    // SAFETY: no arguments.
    unsafe { host::block_height() }
}

/// Time of the block being executed, in milliseconds since the Unix epoch,
/// as agreed by consensus (the same on every node).
pub fn block_time() -> u64 {
    // SAFETY: no arguments.
    unsafe { host::block_time() }
}

/// Gas left for this call.
pub fn gas_left() -> u64 {
    // SAFETY: no arguments.
    unsafe { host::gas_left() }
}

/// The native value attached to this call, in the token's smallest unit
/// (0 if none). Only methods marked `#[payable]` can be sent any: the
/// others refuse it before they run.
pub fn attached_value() -> u128 {
    let mut amount = [0; 16];
    // SAFETY: a 16-byte buffer for a 16-byte amount.
    unsafe { host::attached_value(amount.as_mut_ptr()) };
    u128::from_le_bytes(amount)
}

/// What this contract holds of the native token, this call's attached
/// value included.
pub fn self_balance() -> u128 {
    let mut amount = [0; 16];
    // SAFETY: a 16-byte buffer for a 16-byte amount.
    unsafe { host::self_balance(amount.as_mut_ptr()) };
    u128::from_le_bytes(amount)
}

/// What `account` (an account or a contract) holds of the native token.
pub fn balance_of(account: &Address) -> u128 {
    let mut amount = [0; 16];
    // SAFETY: a 32-byte address and a 16-byte buffer.
    unsafe { host::balance(account.0.as_ptr(), amount.as_mut_ptr()) };
    u128::from_le_bytes(amount)
}

/// A transfer of native value this contract could not make: it holds less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct InsufficientBalance;

/// Pays `amount` of the native token from this contract to `to` (an
/// account or a contract, whose code does not run). Undone if this call
/// fails later; aborts in a read-only method.
pub fn transfer(to: &Address, amount: u128) -> Result<(), InsufficientBalance> {
    ensure_writable();
    let amount = amount.to_le_bytes();
    // SAFETY: a 32-byte address and a 16-byte amount.
    let status = unsafe { host::transfer(to.0.as_ptr(), amount.as_ptr()) };
    if status == 0 {
        Ok(())
    } else {
        Err(InsufficientBalance)
    }
}

/// blake2b-256 of `data`, computed by the host.
pub fn blake2b_256(data: &[u8]) -> [u8; 32] {
    let mut hash = [0; 32];
    // SAFETY: valid input buffer and a 32-byte output buffer.
    unsafe { host::blake2b_256(data.as_ptr(), length(data), hash.as_mut_ptr()) };
    hash
}

/// An event a contract can emit: a SCALE-encoded payload and a topic (the
/// type's name). Derive it with `#[derive(cairn_sdk::Event)]`.
pub trait Event: Encode {
    /// The event's topic: its type name.
    const TOPIC: &'static str;
}

/// Emits an event; it is kept only if the call succeeds.
pub fn emit<E: Event>(event: &E) {
    ensure_writable();
    let data = event.encode();
    // SAFETY: valid buffers of the stated lengths.
    unsafe {
        host::emit_event(
            E::TOPIC.as_ptr(),
            length(E::TOPIC.as_bytes()),
            data.as_ptr(),
            length(&data),
        )
    }
}

/// Ends the call as failed, with `error` (SCALE-encoded) as its output: the
/// contract's own error, which callers decode. Storage writes and events of
/// the call are discarded.
pub fn revert<E: Encode>(error: &E) -> ! {
    let data = error.encode();
    // SAFETY: a valid buffer of the stated length.
    unsafe { host::revert(data.as_ptr(), length(&data)) }
}

/// Ends the call as failed with a message, like a panic.
pub fn abort(message: &str) -> ! {
    // SAFETY: a valid buffer of the stated length.
    unsafe { host::abort(message.as_ptr(), length(message.as_bytes())) }
}

/// The call's input bytes.
pub(crate) fn input() -> Vec<u8> {
    // SAFETY: the buffer has exactly the input's length.
    unsafe {
        let mut buffer = vec![0; host::input_len() as usize];
        host::input_read(buffer.as_mut_ptr());
        buffer
    }
}

/// Sets the call's output bytes.
pub(crate) fn set_output(bytes: &[u8]) {
    // SAFETY: a valid buffer of the stated length.
    unsafe { host::output_write(bytes.as_ptr(), length(bytes)) }
}

/// Set while a read-only method runs: writes and events then abort, even
/// through the raw storage functions, whatever the node's call mode.
#[cfg(target_arch = "wasm32")]
static READ_ONLY: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_read_only(read_only: bool) {
    #[cfg(target_arch = "wasm32")]
    READ_ONLY.store(read_only, Ordering::Relaxed);
    // Natively, tests run on parallel threads, each with its own
    // environment: the flag is part of it.
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::set_read_only(read_only);
}

pub(crate) fn ensure_writable() {
    #[cfg(target_arch = "wasm32")]
    let read_only = READ_ONLY.load(Ordering::Relaxed);
    #[cfg(not(target_arch = "wasm32"))]
    let read_only = crate::testing::read_only();
    if read_only {
        abort("a read-only method cannot write storage, emit events or move value");
    }
}
