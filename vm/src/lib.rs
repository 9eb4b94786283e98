//! Cairn's deterministic WebAssembly VM.
//!
//! Code goes through one pipeline, in this order and in these modules:
//!
//! 1. [`validate`]: the accepted subset (integer MVP, sign extension, multi
//!    value, bulk memory) and the static [`limits`], with an error naming
//!    the rejected feature or limit and where it is.
//! 2. [`cairn_gas_meter::instrument`]: gas per basic block as the block
//!    starts (checked at loop headers, recursive entries, host calls and
//!    returns), per page and per byte for memory, and a deterministic
//!    stack-height limit.
//! 3. `engine`: wasmer's single-pass compiler, then the artifact `cache`
//!    (bytes-bounded in memory, integrity-checked on disk).
//! 4. `execute` and [`host`]: a fresh instance per call, paid for before it
//!    is created ([`InstantiationCosts`]), its linear memory a reset
//!    reservation from `pool` rather than a new mapping, the host functions
//!    of docs/ABI.md, writes and value transfers into [`storage`] overlays
//!    that commit only on success, and an [`Outcome`] that is identical on
//!    every machine.
//!
//! Start with [`Vm`]: [`Vm::prepare`] at deploy, [`Vm::execute`] per call.
//!
//! ```
//! use cairn_vm::testing::MemoryStorage;
//! use cairn_vm::{Address, BlockInfo, Call, Status, Vm, VmConfig};
//!
//! // A contract that stores its input under the key "k" and echoes it.
//! let wasm = wat::parse_str(r#"
//!   (module
//!     (import "cairn" "input_len" (func $input_len (result i32)))
//!     (import "cairn" "input_read" (func $input_read (param i32)))
//!     (import "cairn" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
//!     (import "cairn" "output_write" (func $output_write (param i32 i32)))
//!     (memory (export "memory") 1)
//!     (data (i32.const 0) "k")
//!     (func (export "store")
//!       (call $input_read (i32.const 16))
//!       (call $storage_set (i32.const 0) (i32.const 1) (i32.const 16) (call $input_len))
//!       (call $output_write (i32.const 16) (call $input_len))))
//! "#).unwrap();
//!
//! let vm = Vm::new(VmConfig::default()).unwrap();
//! vm.prepare(&wasm).unwrap();
//! let mut state = MemoryStorage::new();
//! let contract = Address([7; 32]);
//! state.deploy(contract, &wasm);
//!
//! let outcome = vm
//!     .execute(
//!         &Call {
//!             contract,
//!             caller: Address([1; 32]),
//!             entry: "store",
//!             input: b"hello",
//!             gas_limit: 10_000_000,
//!             value: 0,
//!             block: BlockInfo::default(),
//!             read_only: false,
//!         },
//!         &state,
//!     )
//!     .unwrap();
//! assert_eq!(outcome.status, Status::Ok);
//! assert_eq!(outcome.output, b"hello");
//! assert_eq!(outcome.writes.len(), 1);
//! state.commit(&outcome.writes);
//! assert_eq!(state.entries(&contract), vec![(b"k".to_vec(), b"hello".to_vec())]);
//! ```

#![deny(unsafe_code)]

mod cache;
mod engine;
mod error;
mod execute;
pub mod host;
pub mod limits;
mod pool;
pub mod storage;
pub mod testing;
mod types;
pub mod validate;
mod vm;

pub use cache::{ArtifactKey, CacheStats};
pub use engine::{CompiledModule, WASM_STACK_BYTES};
pub use error::{PrepareError, VmError};
pub use storage::{Accounts, Contracts, Entry, KeyRange, Order, RangeStep, Storage, StorageError};
pub use types::{
    Address, BlockInfo, Call, CodeHash, Event, Outcome, Status, StorageWrite, TrapCode, blake2b_256,
};
pub use validate::{Feature, Rejection};
pub use vm::{Prepared, Vm, VmConfig};

/// Re-exported so embedders and tools name the same schedule types.
pub use cairn_gas_meter::{InstanceShape, InstantiationCosts, Schedule};
