//! Blocks, their headers and the receipts of their transactions.
//!
//! A block's hash is the hash of its header, which commits to the
//! transactions, the receipts and the post-state root.

use parity_scale_codec::{Decode, Encode};

use crate::address::Address;
use crate::hash::{Hash, blake2b_256};
use crate::transaction::SignedTransaction;

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Header {
    pub height: u64,
    /// Milliseconds since the Unix epoch; strictly increasing.
    pub time_ms: u64,
    /// The previous block's hash; the genesis hash for the first block.
    pub parent: Hash,
    /// The validator that proposed the block (its ed25519 public key).
    pub proposer: [u8; 32],
    /// Merkle root of the transaction hashes, in block order.
    pub tx_root: Hash,
    /// Merkle root of the receipt hashes, in block order.
    pub receipts_root: Hash,
    /// The state root after executing the block.
    pub state_root: Hash,
    pub gas_used: u64,
}

impl Header {
    pub fn hash(&self) -> Hash {
        blake2b_256(&self.encode())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Block {
    pub header: Header,
    pub transactions: Vec<SignedTransaction>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
}

/// What a transaction did. Stored by transaction hash and committed to by
/// the block's `receipts_root`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
    pub tx_hash: Hash,
    /// The VM's status code: 0 ok, 1 out of gas, otherwise a trap code
    /// (docs/ABI.md); [`STATUS_DEPLOY_REJECTED`] for code the VM refused.
    pub status: u32,
    /// Gas charged, the intrinsic cost included.
    pub gas_used: u64,
    /// What the sender paid for it: `gas_used × gas_price`, also when the
    /// transaction failed. The unused gas was never taken.
    pub fee: u128,
    /// The part of the fee destroyed: `gas_used × the block's base fee`.
    /// The rest of the fee went to the block's proposer.
    pub burned: u128,
    /// Native value the transaction moved to its recipient: its `value`
    /// when it succeeded, 0 when it failed (the value stayed with the
    /// sender).
    pub value: u128,
    /// The return value when ok; the revert data or abort message otherwise;
    /// the rejection reason for refused code.
    pub output: Vec<u8>,
    pub events: Vec<Event>,
    /// The contract a successful deploy created.
    pub contract: Option<Address>,
}

/// A deploy whose code failed validation or compilation; the transaction is
/// included (its nonce is used and its gas charged) but nothing is created.
pub const STATUS_DEPLOY_REJECTED: u32 = 100;

impl Receipt {
    pub fn hash(&self) -> Hash {
        blake2b_256(&self.encode())
    }

    pub fn is_ok(&self) -> bool {
        self.status == 0
    }
}

/// The VM's trap codes and their names (`cairn_vm::TrapCode`, docs/ABI.md),
/// copied so that clients can name a status without the VM; the node tests
/// that the two tables agree.
pub const TRAP_NAMES: [(u32, &str); 18] = [
    (2, "unreachable"),
    (3, "memory_out_of_bounds"),
    (4, "integer_divide_by_zero"),
    (5, "integer_overflow"),
    (6, "indirect_call_to_null"),
    (7, "bad_signature"),
    (8, "stack_overflow"),
    (9, "aborted"),
    (10, "reverted"),
    (11, "host_memory_access"),
    (12, "host_limit"),
    (13, "host_argument"),
    (14, "read_only"),
    (15, "call_depth"),
    (16, "reentrancy"),
    (17, "no_such_contract"),
    (18, "no_such_entry"),
    (19, "insufficient_balance"),
];

/// A human-readable name for a receipt status.
pub fn status_name(status: u32) -> &'static str {
    match status {
        0 => "ok",
        1 => "out_of_gas",
        STATUS_DEPLOY_REJECTED => "deploy_rejected",
        code => TRAP_NAMES
            .iter()
            .find(|(trap, _)| *trap == code)
            .map_or("unknown", |(_, name)| name),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Event {
    pub contract: Address,
    pub topic: Vec<u8>,
    pub data: Vec<u8>,
}

/// A binary Merkle root over `leaves` (already hashes). An odd node is
/// promoted unchanged; leaves and inner nodes are domain-separated so a leaf
/// can never pass for an inner node. The empty list has the all-zero root.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|leaf| {
            let mut bytes = [0u8; 33];
            bytes[1..].copy_from_slice(leaf);
            blake2b_256(&bytes)
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => {
                    let mut bytes = [0u8; 65];
                    bytes[0] = 1;
                    bytes[1..33].copy_from_slice(left);
                    bytes[33..].copy_from_slice(right);
                    blake2b_256(&bytes)
                }
                // chunks(2) yields one or two items.
                _ => pair[0],
            })
            .collect();
    }
    level.first().copied().unwrap_or([0; 32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_roots_commit_to_order_and_count() {
        let leaves: Vec<Hash> = (0..5u8).map(|i| [i; 32]).collect();
        let root = merkle_root(&leaves);
        assert_ne!(root, merkle_root(&leaves[..4]));
        let mut swapped = leaves.clone();
        swapped.swap(0, 1);
        assert_ne!(root, merkle_root(&swapped));
        assert_eq!(merkle_root(&[]), [0; 32]);
        // A single leaf is hashed, never used raw.
        assert_ne!(merkle_root(&leaves[..1]), leaves[0]);
    }

    #[test]
    fn merkle_roots_of_three_promote_the_odd_node() {
        let leaf = |byte: u8| blake2b_256(&[&[0u8][..], &[byte; 32]].concat());
        let inner = |left: Hash, right: Hash| blake2b_256(&[&[1u8][..], &left, &right].concat());
        let leaves = [[1; 32], [2; 32], [3; 32]];
        assert_eq!(
            merkle_root(&leaves),
            inner(inner(leaf(1), leaf(2)), leaf(3))
        );
    }

    #[test]
    fn statuses_have_names() {
        assert_eq!(status_name(0), "ok");
        assert_eq!(status_name(1), "out_of_gas");
        assert_eq!(status_name(10), "reverted");
        assert_eq!(status_name(19), "insufficient_balance");
        assert_eq!(status_name(STATUS_DEPLOY_REJECTED), "deploy_rejected");
        assert_eq!(status_name(99), "unknown");
    }
}
