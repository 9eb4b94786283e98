//! The raw host functions (docs/ABI.md). On wasm32 they are imports from
//! the `cairn` module; elsewhere they are the in-memory stand-ins of
//! [`crate::testing`], so contract logic also runs in native unit tests.

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "cairn")]
unsafe extern "C" {
    pub(crate) fn input_len() -> u32;
    pub(crate) fn input_read(dst: *mut u8);
    pub(crate) fn output_write(src: *const u8, len: u32);
    pub(crate) fn storage_get(key: *const u8, key_len: u32, dst: *mut u8, capacity: u32) -> i64;
    pub(crate) fn storage_set(key: *const u8, key_len: u32, value: *const u8, value_len: u32);
    pub(crate) fn storage_remove(key: *const u8, key_len: u32);
    pub(crate) fn storage_range(
        start: *const u8,
        start_len: u32,
        end: *const u8,
        end_len: u32,
        flags: u32,
    ) -> u32;
    pub(crate) fn storage_next(
        iterator: u32,
        key: *mut u8,
        key_capacity: u32,
        value: *mut u8,
        value_capacity: u32,
    ) -> i64;
    pub(crate) fn storage_close(iterator: u32);
    pub(crate) fn emit_event(topic: *const u8, topic_len: u32, data: *const u8, data_len: u32);
    pub(crate) fn caller(dst: *mut u8);
    pub(crate) fn self_address(dst: *mut u8);
    pub(crate) fn block_height() -> u64;
    pub(crate) fn block_time() -> u64;
    pub(crate) fn gas_left() -> u64;
    pub(crate) fn attached_value(dst: *mut u8);
    pub(crate) fn self_balance(dst: *mut u8);
    pub(crate) fn balance(address: *const u8, dst: *mut u8);
    pub(crate) fn transfer(address: *const u8, amount: *const u8) -> u32;
    pub(crate) fn blake2b_256(src: *const u8, len: u32, dst: *mut u8);
    pub(crate) fn sha256(src: *const u8, len: u32, dst: *mut u8);
    pub(crate) fn keccak256(src: *const u8, len: u32, dst: *mut u8);
    pub(crate) fn ed25519_verify(
        signature: *const u8,
        message: *const u8,
        message_len: u32,
        key: *const u8,
    ) -> u32;
    pub(crate) fn secp256k1_recover(
        hash: *const u8,
        signature: *const u8,
        recovery_id: u32,
        dst: *mut u8,
    ) -> u32;
    pub(crate) fn secp256k1_verify(
        hash: *const u8,
        signature: *const u8,
        key: *const u8,
        key_len: u32,
    ) -> u32;
    pub(crate) fn call_contract(
        address: *const u8,
        entry: *const u8,
        entry_len: u32,
        input: *const u8,
        input_len: u32,
        gas: u64,
    ) -> u32;
    pub(crate) fn call_contract_with_value(
        address: *const u8,
        entry: *const u8,
        entry_len: u32,
        input: *const u8,
        input_len: u32,
        gas: u64,
        value: *const u8,
    ) -> u32;
    pub(crate) fn call_output_len() -> u32;
    pub(crate) fn call_output_read(dst: *mut u8);
    pub(crate) fn revert(data: *const u8, len: u32) -> !;
    pub(crate) fn abort(message: *const u8, len: u32) -> !;
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::native::*;

/// `storage_range` flags.
pub(crate) const RANGE_DESCENDING: u32 = 1;
pub(crate) const RANGE_NO_END: u32 = 4;
