//! Sizes the node accepts from the network and from clients. Everything
//! that arrives from outside is measured against these before it is
//! decoded. The transaction and block limits are the chain's
//! (`cairn-types`, shared with clients); the mempool's are the node's.

pub use cairn_types::limits::*;

// cairn-types copies the limits the VM owns, for clients without the VM;
// a change to the VM's must change the copies.
const _: () = assert!(MAX_CODE_BYTES == cairn_vm::limits::MAX_CODE_BYTES);
const _: () = assert!(MAX_INPUT_BYTES == cairn_vm::limits::MAX_INPUT_BYTES);

/// How far past an account's next nonce the mempool holds transactions.
pub const MAX_NONCE_GAP: u64 = 64;
