//! Native unit tests of contract logic.
//!
//! Off wasm32, the host functions are these in-memory stand-ins, one
//! environment per thread: a contract's methods can be called directly in
//! `#[test]`s, with storage, events and the caller under the test's control.
//! This checks logic quickly; what proves a contract works on the chain is
//! running its compiled wasm in the real VM with `cairn-sdk-testing`.
//!
//! ```
//! use cairn_sdk::testing;
//! use cairn_sdk::storage::{Map, StorageField};
//! use cairn_sdk::Address;
//!
//! testing::reset();
//! testing::set_caller(Address([7; 32]));
//! let mut balances: Map<Address, u64> = Map::at(b"\x20balances");
//! balances.insert(&cairn_sdk::env::caller(), &10);
//! assert_eq!(balances.get(&Address([7; 32])), Some(10));
//! assert_eq!(balances.iter().count(), 1);
//! ```

extern crate std;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;
use std::string::String;

use crate::types::Address;

/// What `revert` and `abort` panic with natively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// `revert` with this (SCALE-encoded) error.
    Reverted(Vec<u8>),
    /// `abort` (or a panic) with this message.
    Aborted(String),
}

#[derive(Default)]
struct Environment {
    input: Vec<u8>,
    output: Vec<u8>,
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    events: Vec<(String, Vec<u8>)>,
    caller: Address,
    address: Address,
    height: u64,
    time: u64,
    gas_left: u64,
    /// The value attached to the call under test.
    value: u128,
    /// Native balances, the contract's own (at `address`) included.
    balances: BTreeMap<Address, u128>,
    iterators: Vec<Option<NativeIterator>>,
    /// Inside a read-only method (see `env::ensure_writable`).
    read_only: bool,
}

/// An open range: the bounds still to go and the direction.
#[derive(Clone)]
struct NativeIterator {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
    descending: bool,
}

std::thread_local! {
    static ENVIRONMENT: RefCell<Environment> = RefCell::new(Environment {
        gas_left: u64::MAX,
        ..Environment::default()
    });
}

fn with<R>(f: impl FnOnce(&mut Environment) -> R) -> R {
    ENVIRONMENT.with(|environment| f(&mut environment.borrow_mut()))
}

/// Empties storage, events and output and restores the defaults.
pub fn reset() {
    with(|environment| {
        *environment = Environment {
            gas_left: u64::MAX,
            ..Environment::default()
        }
    });
}

pub(crate) fn set_read_only(read_only: bool) {
    with(|environment| environment.read_only = read_only);
}

pub(crate) fn read_only() -> bool {
    with(|environment| environment.read_only)
}

pub fn set_caller(caller: Address) {
    with(|environment| environment.caller = caller);
}

pub fn set_self_address(address: Address) {
    with(|environment| environment.address = address);
}

/// Attaches `value` to the next calls, as a caller does: like the VM, it
/// adds it to the contract's balance (at [`set_self_address`]'s address).
pub fn set_attached_value(value: u128) {
    with(|environment| {
        environment.value = value;
        let own = environment.balances.entry(environment.address).or_default();
        *own = own.saturating_add(value);
    });
}

/// Sets what `account` holds of the native token.
pub fn set_balance(account: Address, balance: u128) {
    with(|environment| environment.balances.insert(account, balance));
}

/// What `account` holds of the native token.
pub fn balance(account: &Address) -> u128 {
    with(|environment| {
        environment
            .balances
            .get(account)
            .copied()
            .unwrap_or_default()
    })
}

pub fn set_block(height: u64, time_ms: u64) {
    with(|environment| {
        environment.height = height;
        environment.time = time_ms;
    });
}

/// Sets the input the next entry point reads.
pub fn set_input(input: &[u8]) {
    with(|environment| environment.input = input.to_vec());
}

/// The last output written.
pub fn output() -> Vec<u8> {
    with(|environment| environment.output.clone())
}

/// Every event emitted so far, as (topic, SCALE data).
pub fn events() -> Vec<(String, Vec<u8>)> {
    with(|environment| environment.events.clone())
}

/// Every storage entry.
pub fn storage() -> BTreeMap<Vec<u8>, Vec<u8>> {
    with(|environment| environment.storage.clone())
}

/// Runs `f` and turns `revert` and `abort` (which panic natively) into an
/// error.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Ended> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        match payload.downcast::<Ended>() {
            Ok(ended) => *ended,
            Err(other) => Ended::Aborted(
                other
                    .downcast::<String>()
                    .map(|message| *message)
                    .or_else(|other| {
                        other
                            .downcast::<&str>()
                            .map(|message| String::from(*message))
                    })
                    .unwrap_or_else(|_| String::from("panicked")),
            ),
        }
    })
}

/// The host functions, with the signatures of the wasm imports.
#[allow(clippy::missing_safety_doc, unreachable_pub)]
pub(crate) mod native {
    use super::*;
    use core::slice;

    unsafe fn bytes<'a>(pointer: *const u8, length: u32) -> &'a [u8] {
        if length == 0 {
            return &[];
        }
        // SAFETY: the SDK passes valid buffers of the stated lengths.
        unsafe { slice::from_raw_parts(pointer, length as usize) }
    }

    /// # Safety
    ///
    /// `pointer` is valid for `N` bytes.
    unsafe fn array<const N: usize>(pointer: *const u8) -> [u8; N] {
        let mut array = [0; N];
        // SAFETY: the SDK passes buffers of the fixed sizes of docs/ABI.md.
        unsafe { core::ptr::copy_nonoverlapping(pointer, array.as_mut_ptr(), N) };
        array
    }

    unsafe fn write(pointer: *mut u8, data: &[u8]) {
        // SAFETY: the SDK passes buffers at least as long as it asked for.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), pointer, data.len()) }
    }

    fn length(bytes: &[u8]) -> u32 {
        u32::try_from(bytes.len()).unwrap_or(u32::MAX)
    }

    fn packed(key: &[u8], value: &[u8]) -> i64 {
        (i64::from(length(key)) << 32) | i64::from(length(value))
    }

    pub unsafe fn input_len() -> u32 {
        with(|environment| length(&environment.input))
    }

    pub unsafe fn input_read(dst: *mut u8) {
        let input = with(|environment| environment.input.clone());
        // SAFETY: the SDK sized the buffer from input_len.
        unsafe { write(dst, &input) }
    }

    pub unsafe fn output_write(src: *const u8, len: u32) {
        // SAFETY: forwarded from the SDK.
        let output = unsafe { bytes(src, len) }.to_vec();
        with(|environment| environment.output = output);
    }

    pub unsafe fn storage_get(key: *const u8, key_len: u32, dst: *mut u8, capacity: u32) -> i64 {
        // SAFETY: forwarded from the SDK.
        let key = unsafe { bytes(key, key_len) };
        match with(|environment| environment.storage.get(key).cloned()) {
            None => -1,
            Some(value) => {
                if value.len() <= capacity as usize {
                    // SAFETY: fits the capacity the SDK passed.
                    unsafe { write(dst, &value) };
                }
                i64::from(length(&value))
            }
        }
    }

    pub unsafe fn storage_set(key: *const u8, key_len: u32, value: *const u8, value_len: u32) {
        // SAFETY: forwarded from the SDK.
        let (key, value) = unsafe {
            (
                bytes(key, key_len).to_vec(),
                bytes(value, value_len).to_vec(),
            )
        };
        with(|environment| environment.storage.insert(key, value));
    }

    pub unsafe fn storage_remove(key: *const u8, key_len: u32) {
        // SAFETY: forwarded from the SDK.
        let key = unsafe { bytes(key, key_len) };
        with(|environment| environment.storage.remove(key));
    }

    pub unsafe fn storage_range(
        start: *const u8,
        start_len: u32,
        end: *const u8,
        end_len: u32,
        flags: u32,
    ) -> u32 {
        // SAFETY: forwarded from the SDK.
        let start = unsafe { bytes(start, start_len) }.to_vec();
        let end = (flags & crate::host::RANGE_NO_END == 0)
            .then(|| unsafe { bytes(end, end_len) }.to_vec());
        let descending = flags & crate::host::RANGE_DESCENDING != 0;
        with(|environment| {
            environment.iterators.push(Some(NativeIterator {
                start,
                end,
                descending,
            }));
            u32::try_from(environment.iterators.len() - 1).unwrap_or(u32::MAX)
        })
    }

    pub unsafe fn storage_next(
        iterator: u32,
        key: *mut u8,
        key_capacity: u32,
        value: *mut u8,
        value_capacity: u32,
    ) -> i64 {
        let found = with(|environment| {
            let NativeIterator {
                start,
                end,
                descending,
            } = environment.iterators[iterator as usize].clone()?;
            let in_range = |candidate: &Vec<u8>| {
                *candidate >= start && end.as_ref().is_none_or(|end| candidate < end)
            };
            let mut entries = environment.storage.iter().filter(|(k, _)| in_range(k));
            let entry = if descending {
                entries.next_back()
            } else {
                entries.next()
            };
            entry.map(|(k, v)| (k.clone(), v.clone()))
        });
        let Some((found_key, found_value)) = found else {
            return -1;
        };
        if found_key.len() <= key_capacity as usize && found_value.len() <= value_capacity as usize
        {
            // SAFETY: both fit the capacities the SDK passed.
            unsafe {
                write(key, &found_key);
                write(value, &found_value);
            }
            with(|environment| {
                if let Some(open) = environment.iterators[iterator as usize].as_mut() {
                    // Move the bound past the entry just returned.
                    if open.descending {
                        open.end = Some(found_key.clone());
                    } else {
                        open.start = found_key.clone();
                        open.start.push(0);
                    }
                }
            });
        }
        packed(&found_key, &found_value)
    }

    pub unsafe fn storage_close(iterator: u32) {
        with(|environment| environment.iterators[iterator as usize] = None);
    }

    pub unsafe fn emit_event(topic: *const u8, topic_len: u32, data: *const u8, data_len: u32) {
        // SAFETY: forwarded from the SDK.
        let (topic, data) = unsafe { (bytes(topic, topic_len), bytes(data, data_len).to_vec()) };
        let topic = String::from_utf8_lossy(topic).into_owned();
        with(|environment| environment.events.push((topic, data)));
    }

    pub unsafe fn caller(dst: *mut u8) {
        let caller = with(|environment| environment.caller);
        // SAFETY: a 32-byte buffer.
        unsafe { write(dst, &caller.0) }
    }

    pub unsafe fn self_address(dst: *mut u8) {
        let address = with(|environment| environment.address);
        // SAFETY: a 32-byte buffer.
        unsafe { write(dst, &address.0) }
    }

    pub unsafe fn block_height() -> u64 {
        with(|environment| environment.height)
    }

    pub unsafe fn block_time() -> u64 {
        with(|environment| environment.time)
    }

    pub unsafe fn gas_left() -> u64 {
        with(|environment| environment.gas_left)
    }

    pub unsafe fn attached_value(dst: *mut u8) {
        let value = with(|environment| environment.value);
        // SAFETY: a 16-byte buffer.
        unsafe { write(dst, &value.to_le_bytes()) }
    }

    pub unsafe fn self_balance(dst: *mut u8) {
        let address = with(|environment| environment.address);
        // SAFETY: a 16-byte buffer.
        unsafe { write(dst, &super::balance(&address).to_le_bytes()) }
    }

    pub unsafe fn balance(address: *const u8, dst: *mut u8) {
        // SAFETY: a 32-byte address.
        let account = Address(unsafe { array::<32>(address) });
        // SAFETY: a 16-byte buffer.
        unsafe { write(dst, &super::balance(&account).to_le_bytes()) }
    }

    /// Moves value from the contract (at its address) as the VM does:
    /// 0, or 19 (`insufficient_balance`) with nothing moved.
    pub unsafe fn transfer(address: *const u8, amount: *const u8) -> u32 {
        // SAFETY: a 32-byte address and a 16-byte amount.
        let (to, amount) = unsafe {
            (
                Address(array::<32>(address)),
                u128::from_le_bytes(array::<16>(amount)),
            )
        };
        with(|environment| {
            let from = environment.address;
            let held = environment.balances.get(&from).copied().unwrap_or(0);
            if held < amount {
                return crate::call::status::INSUFFICIENT_BALANCE;
            }
            if from != to {
                environment.balances.insert(from, held - amount);
                let received = environment.balances.entry(to).or_default();
                *received = received.saturating_add(amount);
            }
            0
        })
    }

    pub unsafe fn blake2b_256(src: *const u8, len: u32, dst: *mut u8) {
        use blake2::Digest;
        // SAFETY: forwarded from the SDK.
        let data = unsafe { bytes(src, len) };
        let hash: [u8; 32] = blake2::Blake2b::<blake2::digest::consts::U32>::digest(data).into();
        // SAFETY: a 32-byte buffer.
        unsafe { write(dst, &hash) }
    }

    pub unsafe fn sha256(src: *const u8, len: u32, dst: *mut u8) {
        use sha2::Digest;
        // SAFETY: forwarded from the SDK.
        let data = unsafe { bytes(src, len) };
        let hash: [u8; 32] = sha2::Sha256::digest(data).into();
        // SAFETY: a 32-byte buffer.
        unsafe { write(dst, &hash) }
    }

    pub unsafe fn keccak256(src: *const u8, len: u32, dst: *mut u8) {
        use sha3::Digest;
        // SAFETY: forwarded from the SDK.
        let data = unsafe { bytes(src, len) };
        let hash: [u8; 32] = sha3::Keccak256::digest(data).into();
        // SAFETY: a 32-byte buffer.
        unsafe { write(dst, &hash) }
    }

    /// The VM's rules (ZIP-215), with the VM's library.
    pub unsafe fn ed25519_verify(
        signature: *const u8,
        message: *const u8,
        message_len: u32,
        key: *const u8,
    ) -> u32 {
        // SAFETY: forwarded from the SDK: 64 and 32 bytes, and the message.
        let (signature, message, key) = unsafe {
            (
                array::<64>(signature),
                bytes(message, message_len),
                array::<32>(key),
            )
        };
        let Ok(key) = ed25519_consensus::VerificationKey::try_from(key) else {
            return 0;
        };
        let signature = ed25519_consensus::Signature::from(signature);
        u32::from(key.verify(&signature, message).is_ok())
    }

    /// A low-S signature, as the VM requires.
    fn secp256k1_signature(signature: &[u8]) -> Option<k256::ecdsa::Signature> {
        let signature = k256::ecdsa::Signature::from_slice(signature).ok()?;
        signature.normalize_s().is_none().then_some(signature)
    }

    pub unsafe fn secp256k1_recover(
        hash: *const u8,
        signature: *const u8,
        recovery_id: u32,
        dst: *mut u8,
    ) -> u32 {
        let recovery_id = u8::try_from(recovery_id)
            .ok()
            .and_then(k256::ecdsa::RecoveryId::from_byte)
            .unwrap_or_else(|| {
                std::panic::panic_any(Ended::Aborted(String::from(
                    "host trap: host_argument (recovery id over 3)",
                )))
            });
        // SAFETY: forwarded from the SDK: 32 and 64 bytes.
        let (hash, signature) = unsafe { (bytes(hash, 32), bytes(signature, 64)) };
        let key = secp256k1_signature(signature).and_then(|signature| {
            k256::ecdsa::VerifyingKey::recover_from_prehash(hash, &signature, recovery_id).ok()
        });
        let point = key.map(|key| key.to_encoded_point(false));
        let encoded = point
            .as_ref()
            .map_or(&[0u8; 65][..], |point| point.as_bytes());
        // SAFETY: a 65-byte buffer.
        unsafe { write(dst, encoded) };
        u32::from(point.is_some())
    }

    pub unsafe fn secp256k1_verify(
        hash: *const u8,
        signature: *const u8,
        key: *const u8,
        key_len: u32,
    ) -> u32 {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        if key_len > 65 {
            std::panic::panic_any(Ended::Aborted(String::from(
                "host trap: host_limit (a key over 65 bytes)",
            )))
        }
        // SAFETY: forwarded from the SDK: 32 and 64 bytes, and the key.
        let (hash, signature, key) =
            unsafe { (bytes(hash, 32), bytes(signature, 64), bytes(key, key_len)) };
        let Some(signature) = secp256k1_signature(signature) else {
            return 0;
        };
        let Ok(key) = k256::ecdsa::VerifyingKey::from_sec1_bytes(key) else {
            return 0;
        };
        u32::from(key.verify_prehash(hash, &signature).is_ok())
    }

    pub unsafe fn call_contract(
        _address: *const u8,
        _entry: *const u8,
        _entry_len: u32,
        _input: *const u8,
        _input_len: u32,
        _gas: u64,
    ) -> u32 {
        std::panic::panic_any(Ended::Aborted(String::from(
            "calls between contracts run in the VM only; test them with cairn-sdk-testing",
        )))
    }

    pub unsafe fn call_contract_with_value(
        _address: *const u8,
        _entry: *const u8,
        _entry_len: u32,
        _input: *const u8,
        _input_len: u32,
        _gas: u64,
        _value: *const u8,
    ) -> u32 {
        std::panic::panic_any(Ended::Aborted(String::from(
            "calls between contracts run in the VM only; test them with cairn-sdk-testing",
        )))
    }

    pub unsafe fn call_output_len() -> u32 {
        0
    }

    pub unsafe fn call_output_read(_dst: *mut u8) {}

    pub unsafe fn revert(data: *const u8, len: u32) -> ! {
        // SAFETY: forwarded from the SDK.
        let data = unsafe { bytes(data, len) }.to_vec();
        std::panic::panic_any(Ended::Reverted(data))
    }

    pub unsafe fn abort(message: *const u8, len: u32) -> ! {
        // SAFETY: forwarded from the SDK.
        let message = String::from_utf8_lossy(unsafe { bytes(message, len) }).into_owned();
        std::panic::panic_any(Ended::Aborted(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{InsufficientBalance, attached_value, balance_of, self_balance, transfer};
    use crate::runtime::{Mutability, entry, refuse_value};

    #[test]
    fn native_value_moves_as_on_the_vm() {
        reset();
        let (contract, carol) = (Address([1; 32]), Address([2; 32]));
        set_self_address(contract);
        set_balance(contract, 10);
        set_attached_value(5);
        assert_eq!((attached_value(), self_balance()), (5, 15));
        assert_eq!(transfer(&carol, 16), Err(InsufficientBalance));
        assert_eq!(transfer(&carol, 15), Ok(()));
        assert_eq!((self_balance(), balance_of(&carol)), (0, 15));
        // A method that is not payable refuses the value before it runs.
        let refused = catch(|| refuse_value("get"));
        assert_eq!(
            refused,
            Err(Ended::Aborted(String::from(
                "`get` is not payable: it does not accept value"
            )))
        );
        // A read-only method cannot pay.
        entry(Mutability::ReadOnly, |_| {});
        assert!(catch(|| transfer(&carol, 0)).is_err());
    }

    #[test]
    fn a_query_on_another_thread_leaves_this_one_writable() {
        reset();
        std::thread::spawn(|| {
            reset();
            entry(Mutability::ReadOnly, |_| {});
            assert!(catch(|| crate::storage::raw::set(b"k", b"v")).is_err());
        })
        .join()
        .unwrap();
        crate::storage::raw::set(b"k", b"v");
        assert_eq!(storage().get(b"k".as_slice()), Some(&b"v".to_vec()));
    }
}
