//! The values that cross the VM's boundary: addresses, calls and outcomes.

use std::fmt;

use blake2::{Blake2b, Digest, digest::consts::U32};

/// A 32-byte account or contract address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 32]);

/// The blake2b-256 hash of a contract's original wasm bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeHash(pub [u8; 32]);

impl CodeHash {
    /// Hashes wasm bytes.
    pub fn of(wasm: &[u8]) -> Self {
        CodeHash(blake2b_256(wasm))
    }
}

/// blake2b with a 32-byte output, the hash used everywhere in Cairn.
pub fn blake2b_256(data: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(data).into()
}

macro_rules! hex_debug {
    ($type:ty) => {
        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($type), hex::encode(self.0))
            }
        }
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
    };
}
hex_debug!(Address);
hex_debug!(CodeHash);

/// The block a call executes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockInfo {
    pub height: u64,
    /// Milliseconds since the Unix epoch, as agreed by consensus.
    pub time_ms: u64,
}

/// One call into a contract.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The contract to run.
    pub contract: Address,
    /// Who calls: an account, or a contract for nested calls.
    pub caller: Address,
    /// The exported `() -> ()` function to call.
    pub entry: &'a str,
    /// Bytes the contract reads with `input_read`.
    pub input: &'a [u8],
    /// Gas the call may use, the nested calls it makes included.
    pub gas_limit: u64,
    /// Native value moved from `caller` to `contract` before the entry
    /// point runs, and back if the call fails; the caller must hold it
    /// ([`TrapCode::InsufficientBalance`] otherwise).
    pub value: u128,
    pub block: BlockInfo,
    /// A query: storage writes and events trap with
    /// [`TrapCode::ReadOnly`], and so do those of every nested call.
    pub read_only: bool,
}

/// A contract fault: a small fixed code that is part of the outcome and
/// identical on every machine. Never engine text.
///
/// The numbers are the ABI: `call_contract` returns them to the caller, and
/// they are stored in receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum TrapCode {
    /// `unreachable` executed (also a Rust panic without a message).
    Unreachable = 2,
    /// A load, store or bulk-memory operation outside linear memory.
    MemoryOutOfBounds = 3,
    IntegerDivideByZero = 4,
    /// Signed division overflow.
    IntegerOverflow = 5,
    /// `call_indirect` of an empty slot or outside the table.
    IndirectCallToNull = 6,
    /// `call_indirect` whose callee has another signature.
    BadSignature = 7,
    /// The injected stack-height limit was reached.
    StackOverflow = 8,
    /// The contract called `abort` (a panic); the message is the output.
    Aborted = 9,
    /// The contract called `revert` (an error it returns); its data is the
    /// output.
    Reverted = 10,
    /// A pointer and length given to a host function are not inside memory.
    HostMemoryAccess = 11,
    /// A host function argument is over a limit (key, value, event or
    /// output size, event count, open iterators).
    HostLimit = 12,
    /// A host function argument is invalid (unknown flags or iterator).
    HostArgument = 13,
    /// A write, removal or event in a read-only call.
    ReadOnly = 14,
    /// Nested calls deeper than `MAX_CALL_DEPTH`.
    CallDepth = 15,
    /// A call to a contract already on the call stack.
    Reentrancy = 16,
    /// A call to an address with no contract.
    NoSuchContract = 17,
    /// The entry point does not exist or is not `() -> ()`.
    NoSuchEntry = 18,
    /// Value attached to a call, or a transfer, is more than the payer
    /// holds.
    InsufficientBalance = 19,
}

impl TrapCode {
    /// Every code, for tables and tests.
    pub const ALL: [TrapCode; 18] = [
        TrapCode::Unreachable,
        TrapCode::MemoryOutOfBounds,
        TrapCode::IntegerDivideByZero,
        TrapCode::IntegerOverflow,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::StackOverflow,
        TrapCode::Aborted,
        TrapCode::Reverted,
        TrapCode::HostMemoryAccess,
        TrapCode::HostLimit,
        TrapCode::HostArgument,
        TrapCode::ReadOnly,
        TrapCode::CallDepth,
        TrapCode::Reentrancy,
        TrapCode::NoSuchContract,
        TrapCode::NoSuchEntry,
        TrapCode::InsufficientBalance,
    ];

    /// The stable number of this code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The code with this number.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|trap| trap.code() == code)
    }

    /// The stable snake_case name, used in JSON and docs.
    pub fn name(self) -> &'static str {
        match self {
            TrapCode::Unreachable => "unreachable",
            TrapCode::MemoryOutOfBounds => "memory_out_of_bounds",
            TrapCode::IntegerDivideByZero => "integer_divide_by_zero",
            TrapCode::IntegerOverflow => "integer_overflow",
            TrapCode::IndirectCallToNull => "indirect_call_to_null",
            TrapCode::BadSignature => "bad_signature",
            TrapCode::StackOverflow => "stack_overflow",
            TrapCode::Aborted => "aborted",
            TrapCode::Reverted => "reverted",
            TrapCode::HostMemoryAccess => "host_memory_access",
            TrapCode::HostLimit => "host_limit",
            TrapCode::HostArgument => "host_argument",
            TrapCode::ReadOnly => "read_only",
            TrapCode::CallDepth => "call_depth",
            TrapCode::Reentrancy => "reentrancy",
            TrapCode::NoSuchContract => "no_such_contract",
            TrapCode::NoSuchEntry => "no_such_entry",
            TrapCode::InsufficientBalance => "insufficient_balance",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    /// The gas limit was reached; the whole limit is used.
    OutOfGas,
    Trap(TrapCode),
}

impl Status {
    /// The status number of the ABI: 0 ok, 1 out of gas, else the trap code.
    pub fn code(self) -> u32 {
        match self {
            Status::Ok => 0,
            Status::OutOfGas => 1,
            Status::Trap(trap) => trap.code(),
        }
    }

    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }

    /// `ok`, `out_of_gas` or `trap`.
    pub fn kind(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::OutOfGas => "out_of_gas",
            Status::Trap(_) => "trap",
        }
    }
}

/// An event a contract emitted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    pub contract: Address,
    pub topic: Vec<u8>,
    pub data: Vec<u8>,
}

/// One change to a contract's storage; `None` removes the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageWrite {
    pub contract: Address,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// The result of a call: identical on every machine for the same call,
/// code, schedule and state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub status: Status,
    /// Gas used, nested calls included; the whole limit when out of gas.
    pub gas_used: u64,
    /// What the contract wrote with `output_write` if ok; the data of
    /// `revert` or the message of `abort`; otherwise empty.
    pub output: Vec<u8>,
    /// Events, in emission order; empty unless ok.
    pub events: Vec<Event>,
    /// Storage changes sorted by contract and key; empty unless ok.
    pub writes: Vec<StorageWrite>,
    /// The balance after the call of every account whose balance it
    /// changed (attached value, transfers), sorted by address; empty
    /// unless ok. Value only moves, so these add up to what the same
    /// accounts held before.
    pub balances: Vec<(Address, u128)>,
}
