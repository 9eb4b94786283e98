//! A ledger of named balances, written against Cairn's raw host ABI
//! (docs/ABI.md) to exercise what rustc emits: slice copies and fills
//! (memory.copy / memory.fill), a `match` (br_table), trait objects
//! (call_indirect through the function table), narrow signed integers
//! (sign extension) and a small bump allocator.

#![no_std]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

#[link(wasm_import_module = "cairn")]
unsafe extern "C" {
    fn input_len() -> u32;
    fn input_read(ptr: *mut u8);
    fn output_write(ptr: *const u8, len: u32);
    fn storage_get(key: *const u8, key_len: u32, value: *mut u8, capacity: u32) -> i64;
    fn storage_set(key: *const u8, key_len: u32, value: *const u8, value_len: u32);
    fn emit_event(topic: *const u8, topic_len: u32, data: *const u8, data_len: u32);
    fn abort(message: *const u8, len: u32) -> !;
}

/// A bump allocator over a fixed arena: each call gets a fresh instance, so
/// nothing needs freeing.
struct Bump {
    arena: UnsafeCell<[u8; 64 * 1024]>,
    next: UnsafeCell<usize>,
}

// SAFETY: wasm32-unknown-unknown is single-threaded.
unsafe impl Sync for Bump {}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded; the arena outlives every allocation.
        unsafe {
            let next = &mut *self.next.get();
            let start = (*next + layout.align() - 1) & !(layout.align() - 1);
            let end = start + layout.size();
            if end > 64 * 1024 {
                return core::ptr::null_mut();
            }
            *next = end;
            (*self.arena.get()).as_mut_ptr().add(start)
        }
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump {
    arena: UnsafeCell::new([0; 64 * 1024]),
    next: UnsafeCell::new(0),
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    let message = b"panicked";
    // SAFETY: a host call with a valid buffer.
    unsafe { abort(message.as_ptr(), message.len() as u32) }
}

fn input() -> Vec<u8> {
    // SAFETY: the buffer has exactly the input's length.
    unsafe {
        let mut buffer = vec![0u8; input_len() as usize];
        input_read(buffer.as_mut_ptr());
        buffer
    }
}

fn output(bytes: &[u8]) {
    // SAFETY: a valid buffer.
    unsafe { output_write(bytes.as_ptr(), bytes.len() as u32) }
}

fn balance(name: &[u8]) -> i64 {
    let mut value = [0u8; 8];
    // SAFETY: valid buffers of the stated lengths.
    let found = unsafe { storage_get(name.as_ptr(), name.len() as u32, value.as_mut_ptr(), 8) };
    if found == 8 { i64::from_le_bytes(value) } else { 0 }
}

fn set_balance(name: &[u8], amount: i64) {
    let value = amount.to_le_bytes();
    // SAFETY: valid buffers of the stated lengths.
    unsafe { storage_set(name.as_ptr(), name.len() as u32, value.as_ptr(), 8) }
}

/// How an operation changes a balance: a trait object, so calls go through
/// the function table.
trait Operation {
    fn apply(&self, balance: i64) -> i64;
}

struct Credit(i8);
struct Debit(i16);
struct Reset;

impl Operation for Credit {
    fn apply(&self, balance: i64) -> i64 {
        balance.saturating_add(i64::from(self.0))
    }
}

impl Operation for Debit {
    fn apply(&self, balance: i64) -> i64 {
        balance.saturating_sub(i64::from(self.0))
    }
}

impl Operation for Reset {
    fn apply(&self, _: i64) -> i64 {
        0
    }
}

/// Input: an opcode byte, a signed amount byte, then the account name.
#[unsafe(no_mangle)]
pub extern "C" fn apply() {
    let input = input();
    let [opcode, amount, name @ ..] = input.as_slice() else {
        panic!("input too short");
    };
    let amount = *amount as i8;
    let operation: Box<dyn Operation> = match opcode {
        0 => Box::new(Credit(amount)),
        1 => Box::new(Debit(i16::from(amount) * 2)),
        2 => Box::new(Reset),
        3 => Box::new(Credit(amount.wrapping_neg())),
        _ => panic!("unknown opcode"),
    };
    // Keep the call dynamic (through the table) instead of letting the
    // optimizer resolve it.
    let operation = core::hint::black_box(operation);
    let mut key = [0u8; 64];
    let length = name.len().min(key.len());
    key[..length].copy_from_slice(&name[..length]);
    let updated = operation.apply(balance(&key[..length]));
    set_balance(&key[..length], updated);
    let mut report = [0u8; 72];
    report[..8].copy_from_slice(&updated.to_le_bytes());
    report[8..8 + length].copy_from_slice(&key[..length]);
    // SAFETY: valid buffers of the stated lengths.
    unsafe { emit_event(b"applied".as_ptr(), 7, report.as_ptr(), (8 + length) as u32) };
    output(&updated.to_le_bytes());
}
