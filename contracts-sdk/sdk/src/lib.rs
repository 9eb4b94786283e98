//! Write Cairn smart contracts in Rust.
//!
//! A contract is a struct of storage fields and an `impl` block of entry
//! points, both marked `#[contract]`. Build it with `cargo cairn build`, test
//! it on the real VM with `cairn-sdk-testing`.
//!
//! ```
//! use cairn_sdk::prelude::*;
//!
//! /// A counter anyone can increment, up to a limit set at deployment.
//! #[contract]
//! pub struct Counter {
//!     count: Value<u64>,
//!     limit: Value<u64>,
//! }
//!
//! #[derive(Debug, PartialEq, Eq, Encode, Decode)]
//! pub enum CounterError {
//!     LimitReached,
//! }
//!
//! #[derive(Event, Encode)]
//! pub struct Incremented {
//!     pub by: Address,
//!     pub count: u64,
//! }
//!
//! #[contract]
//! impl Counter {
//!     /// The constructor: runs once, at deployment.
//!     #[init]
//!     pub fn init(&mut self, limit: u64) {
//!         self.limit.set(&limit);
//!     }
//!
//!     /// Adds one; `Err` reverts the call and reaches the caller typed.
//!     pub fn increment(&mut self) -> Result<u64, CounterError> {
//!         let count = self.count.get_or_default() + 1;
//!         if count > self.limit.get_or_default() {
//!             return Err(CounterError::LimitReached);
//!         }
//!         self.count.set(&count);
//!         emit(&Incremented { by: caller(), count });
//!         Ok(count)
//!     }
//!
//!     /// `&self`: a read-only query.
//!     pub fn get(&self) -> u64 {
//!         self.count.get_or_default()
//!     }
//! }
//!
//! // Natively, the methods run against an in-memory environment:
//! cairn_sdk::testing::reset();
//! let mut counter = Counter::load();
//! counter.init(2);
//! assert_eq!(counter.increment(), Ok(1));
//! assert_eq!(counter.increment(), Ok(2));
//! assert_eq!(counter.increment(), Err(CounterError::LimitReached));
//! assert_eq!(counter.get(), 2);
//! ```
//!
//! What the macro generates, per method: an exported `() -> ()` entry point
//! of the same name that decodes the SCALE-encoded arguments from the call's
//! input, runs the method on the loaded storage struct and writes the
//! SCALE-encoded return value as the output. A method returning `Err`
//! reverts with the encoded error; a panic aborts with its message. The
//! `#[init]` method is exported as `init` and runs once. `&self` methods are
//! read-only: writing storage, emitting an event or paying out in one
//! aborts. Only methods marked `#[payable]` accept native value attached to
//! the call (read with `attached_value()`); any other aborts when sent
//! some, before it runs, and the value goes back. The macro
//! also emits the contract's ABI (methods, argument and return types) into a
//! `cairn_abi` custom section, which `cargo cairn build` extracts to JSON,
//! and a typed client, `CounterRef`, for calling the contract from others.
//!
//! Where to read next: [`storage`] for `Value` and `Map`, [`env`] for the
//! caller, the block, native value and balances, events and hashing,
//! [`crypto`] for SHA-256,
//! Keccak-256 and ed25519 and secp256k1 signatures, [`call`] for calls
//! between contracts, [`testing`] for native unit tests.

#![no_std]

extern crate alloc;

pub mod call;
pub mod crypto;
pub mod env;
mod host;
pub mod storage;
mod types;

#[cfg(all(target_arch = "wasm32", feature = "allocator"))]
mod allocator;
#[cfg(all(target_arch = "wasm32", feature = "panic-handler"))]
mod panic;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[doc(hidden)]
pub mod runtime;

#[cfg(all(target_arch = "wasm32", feature = "allocator"))]
#[global_allocator]
static ALLOCATOR: allocator::Bump = allocator::Bump::new();

pub use cairn_sdk_macros::{Event, contract};
pub use env::Event;
pub use parity_scale_codec as scale;
pub use types::Address;

/// Everything a contract usually needs.
pub mod prelude {
    pub use crate::call::{CallError, NoError};
    pub use crate::env::{
        attached_value, balance_of, block_height, block_time, caller, emit, gas_left, self_address,
        self_balance,
    };
    pub use crate::storage::{Map, Value};
    pub use crate::{Address, Event, contract};
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
    pub use parity_scale_codec::{Decode, Encode};
}
