//! Sizes the node accepts from the network and from clients. Everything
//! that arrives from outside is measured against these before it is
//! decoded.

use cairn_vm::limits::{MAX_CODE_BYTES, MAX_INPUT_BYTES};

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

/// How far past an account's next nonce the mempool holds transactions.
pub const MAX_NONCE_GAP: u64 = 64;
