//! Sizes a transaction and a block must keep: every node measures what
//! arrives from outside against these before decoding it, and a client
//! that keeps to them builds transactions a node accepts.

/// The largest contract code. The VM owns this limit
/// (`cairn_vm::limits::MAX_CODE_BYTES`); the node asserts at compile time
/// that the two are equal.
pub const MAX_CODE_BYTES: usize = 2 * 1024 * 1024;

/// The largest call input. The VM owns this limit
/// (`cairn_vm::limits::MAX_INPUT_BYTES`); the node asserts at compile time
/// that the two are equal.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The largest ABI a deploy may carry.
pub const MAX_ABI_BYTES: usize = 64 * 1024;

/// The largest encoded transaction: a deploy of the largest code with the
/// largest ABI and constructor input, plus room for the fixed fields.
pub const MAX_TX_BYTES: usize = MAX_CODE_BYTES + MAX_ABI_BYTES + MAX_INPUT_BYTES + 1024;

/// The largest encoded block. One largest deploy fits.
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;

/// The most transactions in one block.
pub const MAX_BLOCK_TRANSACTIONS: usize = 10_000;

/// The longest chain id.
pub const MAX_CHAIN_ID_BYTES: usize = 64;
