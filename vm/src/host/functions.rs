//! The host functions, in the order of docs/ABI.md; `abi.rs` lists and binds
//! them. Each charges first, then checks, then works.

use std::ops::Bound;

use wasmer::{AsStoreMut, Extern, FunctionEnv, FunctionEnvMut, Module, RuntimeError};

use super::abi::{self, HOST_MODULE};
use super::{Host, HostEnv, Iter, crypto, fatal, per_byte, trap};
use crate::execute::{Frame, run_frame};
use crate::limits::*;
use crate::storage::{KeyRange, Order, RangeStep, advance_past};
use crate::types::{Address, Event, Status, TrapCode, blake2b_256 as hash};

pub(super) type Ctx<'a> = FunctionEnvMut<'a, HostEnv>;
pub(super) type HostResult<T> = Result<T, RuntimeError>;

/// The imports for one frame, in the order `module` declares them: the
/// host functions it imports (validation guarantees they are all in the
/// table), or the name of one that is not. Binding only those keeps
/// instantiation cheap: each bound function costs an allocation and a
/// signature registration; handing them over by index spares wasmer's
/// `Imports` map (two strings and a hash per import) and its lookups.
pub(crate) fn imports(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostEnv>,
    module: &Module,
) -> Result<Vec<Extern>, String> {
    module
        .imports()
        .map(|import| {
            let bound = if import.module() == HOST_MODULE {
                abi::bind(import.name(), store, env)
            } else {
                None
            };
            bound
                .map(Extern::Function)
                .ok_or_else(|| format!("{}.{}", import.module(), import.name()))
        })
        .collect()
}

fn len_i32(length: usize) -> i32 {
    // Every length handed back is bounded by a limit far below 2^31.
    i32::try_from(length).unwrap_or(i32::MAX)
}

pub(super) fn input_len(mut ctx: Ctx<'_>) -> HostResult<i32> {
    let mut host = Host::new(&mut ctx);
    host.charge(host.costs().base)?;
    Ok(len_i32(host.env.input.len()))
}

pub(super) fn input_read(mut ctx: Ctx<'_>, pointer: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + per_byte(costs.per_byte, host.env.input.len()))?;
    let input = std::mem::take(&mut host.env.input);
    let written = host.write(pointer, &input);
    host.env.input = input;
    written
}

pub(super) fn output_write(mut ctx: Ctx<'_>, pointer: i32, length: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let length = host.length(length, MAX_OUTPUT_BYTES)?;
    let costs = host.costs();
    host.charge(costs.base + per_byte(costs.per_byte, length))?;
    host.env.output = host.read(pointer, length)?;
    Ok(())
}

/// Returns the value's length, or -1 if the key is absent. The value is
/// copied only if it fits `capacity`; otherwise call again with a buffer of
/// the returned length.
pub(super) fn storage_get(
    mut ctx: Ctx<'_>,
    key_pointer: i32,
    key_length: i32,
    value_pointer: i32,
    capacity: i32,
) -> HostResult<i64> {
    let mut host = Host::new(&mut ctx);
    let key_length = host.length(key_length, MAX_KEY_BYTES)?;
    let costs = host.costs();
    host.charge(
        costs.base + costs.storage_read + per_byte(costs.storage_read_per_byte, key_length),
    )?;
    let key = host.read(key_pointer, key_length)?;
    let contract = host.env.contract;
    let value = host
        .env
        .tx
        .with(|tx| tx.overlay.get(tx.state, &contract, &key))
        .map_err(fatal)?;
    let Some(value) = value else { return Ok(-1) };
    host.charge(per_byte(costs.storage_read_per_byte, value.len()))?;
    if value.len() <= capacity.cast_unsigned() as usize {
        host.write(value_pointer, &value)?;
    }
    Ok(i64::from(len_i32(value.len())))
}

pub(super) fn storage_set(
    mut ctx: Ctx<'_>,
    key_pointer: i32,
    key_length: i32,
    value_pointer: i32,
    value_length: i32,
) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    host.ensure_writable()?;
    let key_length = host.length(key_length, MAX_KEY_BYTES)?;
    let value_length = host.length(value_length, MAX_VALUE_BYTES)?;
    let costs = host.costs();
    host.charge(
        costs.base
            + costs.storage_write
            + per_byte(costs.storage_write_per_byte, key_length + value_length),
    )?;
    let key = host.read(key_pointer, key_length)?;
    let value = host.read(value_pointer, value_length)?;
    let contract = host.env.contract;
    host.env
        .tx
        .with(|tx| tx.overlay.write(&contract, &key, Some(value)));
    Ok(())
}

pub(super) fn storage_remove(
    mut ctx: Ctx<'_>,
    key_pointer: i32,
    key_length: i32,
) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    host.ensure_writable()?;
    let key_length = host.length(key_length, MAX_KEY_BYTES)?;
    let costs = host.costs();
    host.charge(
        costs.base + costs.storage_write + per_byte(costs.storage_write_per_byte, key_length),
    )?;
    let key = host.read(key_pointer, key_length)?;
    let contract = host.env.contract;
    host.env
        .tx
        .with(|tx| tx.overlay.write(&contract, &key, None));
    Ok(())
}

/// `storage_range` flags.
const RANGE_DESCENDING: i32 = 1;
const RANGE_NO_START: i32 = 2;
const RANGE_NO_END: i32 = 4;

/// Opens an iterator over `[start, end)` of the contract's keys and returns
/// its handle.
pub(super) fn storage_range(
    mut ctx: Ctx<'_>,
    start_pointer: i32,
    start_length: i32,
    end_pointer: i32,
    end_length: i32,
    flags: i32,
) -> HostResult<i32> {
    let mut host = Host::new(&mut ctx);
    if flags & !(RANGE_DESCENDING | RANGE_NO_START | RANGE_NO_END) != 0 {
        return Err(trap(TrapCode::HostArgument));
    }
    let start_length = if flags & RANGE_NO_START == 0 {
        host.length(start_length, MAX_KEY_BYTES)?
    } else {
        0
    };
    let end_length = if flags & RANGE_NO_END == 0 {
        host.length(end_length, MAX_KEY_BYTES)?
    } else {
        0
    };
    let costs = host.costs();
    host.charge(
        costs.base + costs.storage_range + per_byte(costs.per_byte, start_length + end_length),
    )?;
    let start = if flags & RANGE_NO_START == 0 {
        Bound::Included(host.read(start_pointer, start_length)?)
    } else {
        Bound::Unbounded
    };
    let end = if flags & RANGE_NO_END == 0 {
        Bound::Excluded(host.read(end_pointer, end_length)?)
    } else {
        Bound::Unbounded
    };
    let order = if flags & RANGE_DESCENDING != 0 {
        Order::Descending
    } else {
        Order::Ascending
    };
    let iterator = Iter {
        range: KeyRange { start, end },
        order,
        pending: None,
        done: false,
    };
    let iterators = &mut host.env.iterators;
    let handle = match iterators.iter().position(Option::is_none) {
        Some(free) => free,
        None if iterators.len() < MAX_ITERATORS => {
            iterators.push(None);
            iterators.len() - 1
        }
        None => return Err(trap(TrapCode::HostLimit)),
    };
    iterators[handle] = Some(iterator);
    Ok(len_i32(handle))
}

/// Returns -1 when the range is exhausted (and closes the iterator), else
/// `key_length << 32 | value_length`. Key and value are copied, and the
/// iterator advances, only if both fit their buffers; otherwise the same
/// entry comes back on the next call.
pub(super) fn storage_next(
    mut ctx: Ctx<'_>,
    handle: i32,
    key_pointer: i32,
    key_capacity: i32,
    value_pointer: i32,
    value_capacity: i32,
) -> HostResult<i64> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + costs.storage_next)?;
    let index = usize::try_from(handle).map_err(|_| trap(TrapCode::HostArgument))?;
    let mut iterator = host
        .env
        .iterators
        .get_mut(index)
        .and_then(Option::take)
        .ok_or_else(|| trap(TrapCode::HostArgument))?;
    let entry = match iterator.pending.take() {
        Some(entry) => Some(entry),
        None if iterator.done => None,
        None => loop {
            let contract = host.env.contract;
            let step = host
                .env
                .tx
                .with(|tx| {
                    tx.overlay
                        .step(tx.state, &contract, &iterator.range, iterator.order)
                })
                .map_err(fatal)?;
            match step {
                RangeStep::Entry(key, value) => break Some((key, value)),
                // Keys removed in this transaction or earlier in the block
                // cost a seek each, paid before the next one.
                RangeStep::Removed(key) => {
                    host.charge(costs.storage_next)?;
                    advance_past(&mut iterator.range, key, iterator.order);
                }
                RangeStep::End => break None,
            }
        },
    };
    let Some((key, value)) = entry else {
        iterator.done = true;
        host.env.iterators[index] = Some(iterator);
        return Ok(-1);
    };
    host.charge(per_byte(
        costs.storage_read_per_byte,
        key.len() + value.len(),
    ))?;
    let packed = (i64::from(len_i32(key.len())) << 32) | i64::from(len_i32(value.len()));
    let fits = key.len() <= key_capacity.cast_unsigned() as usize
        && value.len() <= value_capacity.cast_unsigned() as usize;
    if fits {
        host.write(key_pointer, &key)?;
        host.write(value_pointer, &value)?;
        advance_past(&mut iterator.range, key, iterator.order);
    } else {
        iterator.pending = Some((key, value));
    }
    host.env.iterators[index] = Some(iterator);
    Ok(packed)
}

/// Closes an iterator, freeing its handle for `storage_range`.
pub(super) fn storage_close(mut ctx: Ctx<'_>, handle: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    host.charge(host.costs().base)?;
    let slot = usize::try_from(handle)
        .ok()
        .and_then(|index| host.env.iterators.get_mut(index))
        .filter(|slot| slot.is_some())
        .ok_or_else(|| trap(TrapCode::HostArgument))?;
    *slot = None;
    Ok(())
}

pub(super) fn emit_event(
    mut ctx: Ctx<'_>,
    topic_pointer: i32,
    topic_length: i32,
    data_pointer: i32,
    data_length: i32,
) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    host.ensure_writable()?;
    let topic_length = host.length(topic_length, MAX_EVENT_TOPIC_BYTES)?;
    let data_length = host.length(data_length, MAX_EVENT_DATA_BYTES)?;
    let costs = host.costs();
    host.charge(
        costs.base + costs.event + per_byte(costs.event_per_byte, topic_length + data_length),
    )?;
    if host.env.tx.with(|tx| tx.events.len()) >= MAX_EVENTS {
        return Err(trap(TrapCode::HostLimit));
    }
    let event = Event {
        contract: host.env.contract,
        topic: host.read(topic_pointer, topic_length)?,
        data: host.read(data_pointer, data_length)?,
    };
    host.env.tx.with(|tx| tx.events.push(event));
    Ok(())
}

fn write_address(mut ctx: Ctx<'_>, pointer: i32, which: fn(&HostEnv) -> Address) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + per_byte(costs.per_byte, 32))?;
    let address = which(host.env);
    host.write(pointer, &address.0)
}

pub(super) fn caller(ctx: Ctx<'_>, pointer: i32) -> HostResult<()> {
    write_address(ctx, pointer, |env| env.caller)
}

pub(super) fn self_address(ctx: Ctx<'_>, pointer: i32) -> HostResult<()> {
    write_address(ctx, pointer, |env| env.contract)
}

pub(super) fn block_height(mut ctx: Ctx<'_>) -> HostResult<i64> {
    let mut host = Host::new(&mut ctx);
    host.charge(host.costs().base)?;
    Ok(host.env.tx.with(|tx| tx.block.height).cast_signed())
}

pub(super) fn block_time(mut ctx: Ctx<'_>) -> HostResult<i64> {
    let mut host = Host::new(&mut ctx);
    host.charge(host.costs().base)?;
    Ok(host.env.tx.with(|tx| tx.block.time_ms).cast_signed())
}

/// Gas left after this call's own cost, saturated to `i64::MAX`.
pub(super) fn gas_left(mut ctx: Ctx<'_>) -> HostResult<i64> {
    let mut host = Host::new(&mut ctx);
    host.charge(host.costs().base)?;
    Ok(i64::try_from(host.gas_left()?).unwrap_or(i64::MAX))
}

/// Amounts of the native token cross the boundary as 16 bytes, a
/// little-endian u128.
const AMOUNT_BYTES: usize = 16;

/// Writes the value attached to this call to `out`.
pub(super) fn attached_value(mut ctx: Ctx<'_>, out: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + per_byte(costs.per_byte, AMOUNT_BYTES))?;
    let value = host.env.value;
    host.write(out, &value.to_le_bytes())
}

/// Writes this contract's balance to `out`.
pub(super) fn self_balance(mut ctx: Ctx<'_>, out: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + costs.balance + per_byte(costs.per_byte, AMOUNT_BYTES))?;
    let contract = host.env.contract;
    let balance = host
        .env
        .tx
        .with(|tx| tx.overlay.balance(tx.state, &contract))
        .map_err(fatal)?;
    host.write(out, &balance.to_le_bytes())
}

/// Writes the balance of the 32-byte address at `address` to `out`.
pub(super) fn balance(mut ctx: Ctx<'_>, address: i32, out: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + costs.balance + per_byte(costs.per_byte, 32 + AMOUNT_BYTES))?;
    let account = Address(host.read_array::<32>(address)?);
    let balance = host
        .env
        .tx
        .with(|tx| tx.overlay.balance(tx.state, &account))
        .map_err(fatal)?;
    host.write(out, &balance.to_le_bytes())
}

/// Moves the amount at `amount` from this contract to the 32-byte address
/// at `address`; returns 0, or `insufficient_balance` (nothing moved) if
/// the contract holds less. The transfer is undone if this call fails.
pub(super) fn transfer(mut ctx: Ctx<'_>, address: i32, amount: i32) -> HostResult<i32> {
    let mut host = Host::new(&mut ctx);
    host.ensure_writable()?;
    let costs = host.costs();
    host.charge(costs.base + costs.transfer + per_byte(costs.per_byte, 32 + AMOUNT_BYTES))?;
    let to = Address(host.read_array::<32>(address)?);
    let amount = u128::from_le_bytes(host.read_array::<AMOUNT_BYTES>(amount)?);
    let from = host.env.contract;
    let moved = host
        .env
        .tx
        .with(|tx| tx.overlay.transfer(tx.state, &from, &to, amount))
        .map_err(fatal)?;
    Ok(match moved {
        Ok(()) => 0,
        Err(_) => status_code(Status::Trap(TrapCode::InsufficientBalance)),
    })
}

/// Writes the blake2b-256 of `length` bytes at `pointer` to `out`.
pub(super) fn blake2b_256(mut ctx: Ctx<'_>, pointer: i32, length: i32, out: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let length = host.length(length, MAX_HASHED_BYTES)?;
    let costs = host.costs();
    host.charge(costs.base + costs.blake2b + per_byte(costs.blake2b_per_byte, length))?;
    let data = host.read(pointer, length)?;
    host.write(out, &hash(&data))
}

/// Writes the SHA-256 of `length` bytes at `pointer` to `out`.
pub(super) fn sha256(mut ctx: Ctx<'_>, pointer: i32, length: i32, out: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let length = host.length(length, MAX_HASHED_BYTES)?;
    let costs = host.costs();
    host.charge(costs.base + costs.sha256 + per_byte(costs.sha256_per_byte, length))?;
    let data = host.read(pointer, length)?;
    host.write(out, &crypto::sha256(&data))
}

/// Writes the Keccak-256 (Ethereum's, not NIST SHA3-256) of `length` bytes
/// at `pointer` to `out`.
pub(super) fn keccak256(mut ctx: Ctx<'_>, pointer: i32, length: i32, out: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let length = host.length(length, MAX_HASHED_BYTES)?;
    let costs = host.costs();
    host.charge(costs.base + costs.keccak256 + per_byte(costs.keccak256_per_byte, length))?;
    let data = host.read(pointer, length)?;
    host.write(out, &crypto::keccak256(&data))
}

/// 1 if the 64-byte signature at `signature` is valid for the message under
/// the 32-byte key at `key` (ZIP-215 rules), else 0; a malformed key or
/// signature is 0, not a trap.
pub(super) fn ed25519_verify(
    mut ctx: Ctx<'_>,
    signature: i32,
    message: i32,
    message_length: i32,
    key: i32,
) -> HostResult<i32> {
    let mut host = Host::new(&mut ctx);
    let message_length = host.length(message_length, MAX_HASHED_BYTES)?;
    let costs = host.costs();
    host.charge(
        costs.base + costs.ed25519_verify + per_byte(costs.ed25519_verify_per_byte, message_length),
    )?;
    let signature = host.read_array::<{ crypto::ED25519_SIGNATURE_BYTES }>(signature)?;
    let message = host.read(message, message_length)?;
    let key = host.read_array::<{ crypto::ED25519_KEY_BYTES }>(key)?;
    Ok(i32::from(crypto::ed25519_verify(
        &signature, &message, &key,
    )))
}

/// Recovers the signer's key from a 64-byte `r ‖ s` signature of the
/// 32-byte hash and the recovery id (0 to 3), and writes it to `out` as 65
/// bytes (SEC1 uncompressed, `04 ‖ x ‖ y`). Returns 1, or 0 with 65 zero
/// bytes written when no key recovers (a high-S signature included).
pub(super) fn secp256k1_recover(
    mut ctx: Ctx<'_>,
    hash_pointer: i32,
    signature: i32,
    recovery_id: i32,
    out: i32,
) -> HostResult<i32> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + costs.secp256k1_recover)?;
    let recovery_id = u8::try_from(recovery_id)
        .ok()
        .filter(|id| *id <= crypto::MAX_RECOVERY_ID)
        .ok_or_else(|| trap(TrapCode::HostArgument))?;
    let hash = host.read_array::<{ crypto::SECP256K1_HASH_BYTES }>(hash_pointer)?;
    let signature = host.read_array::<{ crypto::SECP256K1_SIGNATURE_BYTES }>(signature)?;
    match crypto::secp256k1_recover(&hash, &signature, recovery_id) {
        Some(key) => {
            host.write(out, &key)?;
            Ok(1)
        }
        None => {
            host.write(out, &[0; crypto::SECP256K1_UNCOMPRESSED_KEY_BYTES])?;
            Ok(0)
        }
    }
}

/// 1 if the 64-byte `r ‖ s` signature of the 32-byte hash is valid under
/// the SEC1 key (33 bytes compressed or 65 uncompressed) at `key`, else 0;
/// a high-S signature, or a key of another length or off the curve, is 0.
pub(super) fn secp256k1_verify(
    mut ctx: Ctx<'_>,
    hash_pointer: i32,
    signature: i32,
    key: i32,
    key_length: i32,
) -> HostResult<i32> {
    let mut host = Host::new(&mut ctx);
    let key_length = host.length(key_length, crypto::SECP256K1_UNCOMPRESSED_KEY_BYTES)?;
    let costs = host.costs();
    host.charge(costs.base + costs.secp256k1_verify)?;
    let hash = host.read_array::<{ crypto::SECP256K1_HASH_BYTES }>(hash_pointer)?;
    let signature = host.read_array::<{ crypto::SECP256K1_SIGNATURE_BYTES }>(signature)?;
    let key = host.read(key, key_length)?;
    Ok(i32::from(crypto::secp256k1_verify(&hash, &signature, &key)))
}

/// Calls entry point `entry` of the contract at `address` synchronously
/// with `input` and at most `gas` of this call's gas; returns the callee's
/// status code (0 ok). The callee's output is then read with
/// `call_output_len` / `call_output_read`. A failed callee reverts its own
/// writes, events and transfers only.
#[allow(clippy::too_many_arguments)]
pub(super) fn call_contract(
    mut ctx: Ctx<'_>,
    address_pointer: i32,
    entry_pointer: i32,
    entry_length: i32,
    input_pointer: i32,
    input_length: i32,
    gas: i64,
) -> HostResult<i32> {
    let call = NestedCall {
        address_pointer,
        entry_pointer,
        entry_length,
        input_pointer,
        input_length,
        gas,
        value_pointer: None,
    };
    call_nested(&mut Host::new(&mut ctx), call)
}

/// `call_contract`, with the amount at `value` moved from this contract to
/// the callee before it runs (and back if it fails). A contract that holds
/// less gets `insufficient_balance` and the callee does not run.
#[allow(clippy::too_many_arguments)]
pub(super) fn call_contract_with_value(
    mut ctx: Ctx<'_>,
    address_pointer: i32,
    entry_pointer: i32,
    entry_length: i32,
    input_pointer: i32,
    input_length: i32,
    gas: i64,
    value_pointer: i32,
) -> HostResult<i32> {
    let call = NestedCall {
        address_pointer,
        entry_pointer,
        entry_length,
        input_pointer,
        input_length,
        gas,
        value_pointer: Some(value_pointer),
    };
    call_nested(&mut Host::new(&mut ctx), call)
}

/// The arguments of `call_contract` and `call_contract_with_value`.
struct NestedCall {
    address_pointer: i32,
    entry_pointer: i32,
    entry_length: i32,
    input_pointer: i32,
    input_length: i32,
    gas: i64,
    /// Where the attached amount is, if any.
    value_pointer: Option<i32>,
}

fn call_nested(host: &mut Host<'_>, call: NestedCall) -> HostResult<i32> {
    let entry_length = host.length(call.entry_length, MAX_EXPORT_NAME_BYTES)?;
    let input_length = host.length(call.input_length, MAX_INPUT_BYTES)?;
    let costs = host.costs();
    let (value_cost, value_bytes) = match call.value_pointer {
        Some(_) => (costs.transfer, AMOUNT_BYTES),
        None => (0, 0),
    };
    host.charge(
        costs.base
            + costs.call_contract
            + value_cost
            + per_byte(
                costs.per_byte,
                32 + entry_length + input_length + value_bytes,
            ),
    )?;
    let callee = Address(host.read_array::<32>(call.address_pointer)?);
    let entry = host.read(call.entry_pointer, entry_length)?;
    let input = host.read(call.input_pointer, input_length)?;
    let value = match call.value_pointer {
        Some(pointer) => u128::from_le_bytes(host.read_array::<AMOUNT_BYTES>(pointer)?),
        None => 0,
    };
    host.env.call_output.clear();

    let depth = host.env.depth + 1;
    let refusal = if depth > MAX_CALL_DEPTH {
        Some(TrapCode::CallDepth)
    } else if host.env.tx.with(|tx| tx.call_stack.contains(&callee)) {
        Some(TrapCode::Reentrancy)
    } else if value > 0 && host.env.read_only {
        Some(TrapCode::ReadOnly)
    } else {
        None
    };
    if let Some(code) = refusal {
        return Ok(status_code(Status::Trap(code)));
    }
    // An entry name that is not UTF-8 cannot name an export.
    let Ok(entry) = String::from_utf8(entry) else {
        return Ok(status_code(Status::Trap(TrapCode::NoSuchEntry)));
    };
    let code_hash = host
        .env
        .tx
        .with(|tx| tx.state.code_hash(&callee))
        .map_err(fatal)?;
    let Some(code_hash) = code_hash else {
        return Ok(status_code(Status::Trap(TrapCode::NoSuchContract)));
    };

    let caller = host.env.contract;
    // The value moves in the callee's own layer, so that its failure
    // returns the value with everything else it did.
    let moved = host
        .env
        .tx
        .with(|tx| {
            tx.overlay.push();
            let moved = tx.overlay.transfer(tx.state, &caller, &callee, value);
            if !matches!(moved, Ok(Ok(()))) {
                tx.overlay.discard();
            }
            moved
        })
        .map_err(fatal)?;
    if moved.is_err() {
        return Ok(status_code(Status::Trap(TrapCode::InsufficientBalance)));
    }

    let gas_left = host.gas_left()?;
    let forwarded = gas_left.min(call.gas.cast_unsigned());
    host.env.tx.with(|tx| tx.call_stack.push(callee));
    let events_before = host.env.tx.with(|tx| tx.events.len());
    let frame = Frame {
        contract: callee,
        caller,
        code_hash,
        entry,
        input,
        gas_limit: forwarded,
        value,
        read_only: host.env.read_only,
        depth,
    };
    // No borrow of the transaction state is live here: the callee's host
    // functions take their own.
    let result = run_frame(&host.env.vm, host.env.tx.copy(), frame).map_err(fatal)?;
    host.env.tx.with(|tx| {
        tx.call_stack.pop();
        if result.status.is_ok() {
            tx.overlay.commit();
        } else {
            tx.overlay.discard();
            tx.events.truncate(events_before);
        }
    });
    // The callee used at most what it was given, which was at most what was
    // left, so this cannot run out.
    host.set_gas_left(gas_left - result.gas_used)?;
    host.env.call_output = result.output;
    Ok(status_code(result.status))
}

fn status_code(status: Status) -> i32 {
    status.code().cast_signed()
}

pub(super) fn call_output_len(mut ctx: Ctx<'_>) -> HostResult<i32> {
    let mut host = Host::new(&mut ctx);
    host.charge(host.costs().base)?;
    Ok(len_i32(host.env.call_output.len()))
}

pub(super) fn call_output_read(mut ctx: Ctx<'_>, pointer: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let costs = host.costs();
    host.charge(costs.base + per_byte(costs.per_byte, host.env.call_output.len()))?;
    let output = std::mem::take(&mut host.env.call_output);
    let written = host.write(pointer, &output);
    host.env.call_output = output;
    written
}

/// Ends the call as failed with `data` as its output: the contract's own
/// error, which its caller can decode.
pub(super) fn revert(mut ctx: Ctx<'_>, pointer: i32, length: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let length = host.length(length, MAX_OUTPUT_BYTES)?;
    let costs = host.costs();
    host.charge(costs.base + per_byte(costs.per_byte, length))?;
    host.env.output = host.read(pointer, length)?;
    Err(trap(TrapCode::Reverted))
}

/// Ends the call as failed with a message (a panic); messages longer than
/// `MAX_ABORT_MESSAGE_BYTES` are cut.
pub(super) fn abort(mut ctx: Ctx<'_>, pointer: i32, length: i32) -> HostResult<()> {
    let mut host = Host::new(&mut ctx);
    let length = usize::try_from(length.cast_unsigned())
        .unwrap_or(usize::MAX)
        .min(MAX_ABORT_MESSAGE_BYTES);
    let costs = host.costs();
    host.charge(costs.base + per_byte(costs.per_byte, length))?;
    host.env.output = host.read(pointer, length)?;
    Err(trap(TrapCode::Aborted))
}
