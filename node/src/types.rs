//! What the chain is made of: transactions, blocks and receipts, their SCALE
//! encodings and hashes.
//!
//! Every hash is blake2b-256. A transaction's hash covers its whole signed
//! encoding (signatures verify ZIP-215 style with canonical `s`, so nobody
//! but the signer can make a second valid encoding of a transaction); a
//! block's hash is the hash of its header, which commits to the transactions,
//! the receipts and the post-state root.

use std::fmt;

use cairn_vm::blake2b_256;
use malachitebft_signing_ed25519::{PrivateKey, PublicKey, Signature};
use parity_scale_codec::{Decode, DecodeLimit, Encode};

use crate::limits::MAX_TX_BYTES;

pub type Hash = [u8; 32];

/// An account's address is its ed25519 public key; a contract's is derived
/// from its deployer and the deploy's nonce (see [`contract_address`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode)]
pub struct Address(pub [u8; 32]);

impl Address {
    pub fn to_vm(self) -> cairn_vm::Address {
        cairn_vm::Address(self.0)
    }

    pub fn from_vm(address: cairn_vm::Address) -> Self {
        Address(address.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, String> {
        parse_hash(text).map(Address)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", hex::encode(self.0))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Parses 32 bytes written as 64 hex digits, with or without `0x`.
pub fn parse_hash(text: &str) -> Result<Hash, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits).map_err(|error| format!("`{text}` is not hex: {error}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("`{text}` is {} bytes; 32 expected", bytes.len()))
}

/// Where a deploy puts its contract: a function of who deployed it and the
/// nonce of the deploying transaction, so it is known before inclusion.
pub fn contract_address(deployer: &Address, nonce: u64) -> Address {
    let mut seed = Vec::with_capacity(14 + 32 + 8);
    seed.extend_from_slice(b"cairn-contract");
    seed.extend_from_slice(&deployer.0);
    seed.extend_from_slice(&nonce.to_le_bytes());
    Address(blake2b_256(&seed))
}

// The SCALE derive casts variant indices to u8; two variants cannot truncate.
#[allow(clippy::cast_possible_truncation)]
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Action {
    /// Stores `code` (once per distinct hash), creates a contract running it
    /// and, if the code exports `init`, calls it with `init_input`.
    Deploy {
        code: Vec<u8>,
        /// The contract's ABI as written by `cargo cairn build` (JSON), kept
        /// with the code so that clients can call it by method name. May be
        /// empty.
        abi: Vec<u8>,
        init_input: Vec<u8>,
    },
    /// Calls the exported entry `method` of `contract` with `input`.
    Call {
        contract: Address,
        method: String,
        input: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Transaction {
    /// Binds the signature to one chain: a transaction signed for a testnet
    /// cannot be replayed on another chain.
    pub chain_id: String,
    pub sender: Address,
    /// The sender's transaction count; each nonce is used exactly once, in
    /// order.
    pub nonce: u64,
    /// Gas for everything the transaction does, its intrinsic cost included.
    pub gas_limit: u64,
    pub action: Action,
}

const SIGNING_DOMAIN: &[u8] = b"cairn-transaction-v1:";

impl Transaction {
    fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = SIGNING_DOMAIN.to_vec();
        self.encode_to(&mut bytes);
        bytes
    }

    pub fn sign(self, key: &PrivateKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_bytes()).to_bytes();
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: [u8; 64],
}

/// Why a transaction is not accepted: returned to RPC clients as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("the transaction is {size} bytes; at most {max} are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("malformed transaction: {0}")]
    Malformed(String),
    #[error("the transaction is for chain `{found}`, this is `{expected}`")]
    WrongChain { expected: String, found: String },
    #[error("the signature does not verify against the sender's key")]
    BadSignature,
    #[error("the sender is not a valid ed25519 public key")]
    BadSender,
    #[error("gas limit {limit} is below the transaction's intrinsic cost {intrinsic}")]
    GasBelowIntrinsic { limit: u64, intrinsic: u64 },
    #[error("gas limit {limit} is above the per-transaction maximum {max}")]
    GasAboveMaximum { limit: u64, max: u64 },
    #[error("nonce {found} is already used; the account's next nonce is {expected}")]
    NonceUsed { expected: u64, found: u64 },
    #[error("nonce {found} is too far ahead of the account's next nonce {expected}")]
    NonceTooFarAhead { expected: u64, found: u64 },
    #[error("a transaction with this hash is already pending")]
    Duplicate,
    #[error("the mempool is full; retry later")]
    MempoolFull,
    #[error("method name `{0}` is not a valid entry point name")]
    BadMethod(String),
}

impl SignedTransaction {
    /// The hash of the whole signed encoding: any change to the bytes, the
    /// signature's included, is a different hash, and a block's transaction
    /// root commits to exactly the bytes it carried.
    pub fn hash(&self) -> Hash {
        blake2b_256(&self.encode())
    }

    /// Decodes a transaction from untrusted bytes: size-checked first, and
    /// the whole input must be consumed.
    pub fn decode_checked(bytes: &[u8]) -> Result<Self, TxError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                size: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        decode_exact(bytes).map_err(TxError::Malformed)
    }

    pub fn verify_signature(&self) -> Result<(), TxError> {
        let key = PublicKey::from_bytes(self.tx.sender.0).map_err(|_| TxError::BadSender)?;
        key.verify(
            &self.tx.signing_bytes(),
            &Signature::from_bytes(self.signature),
        )
        .map_err(|_| TxError::BadSignature)
    }

    pub fn encoded_len(&self) -> usize {
        self.encoded_size()
    }
}

/// Decodes SCALE from untrusted bytes; trailing bytes are an error, so every
/// value has exactly one encoding that is accepted.
pub fn decode_exact<T: Decode>(bytes: &[u8]) -> Result<T, String> {
    let mut input = bytes;
    let value = T::decode_with_depth_limit(32, &mut input).map_err(|error| error.to_string())?;
    if !input.is_empty() {
        return Err(format!("{} trailing bytes", input.len()));
    }
    Ok(value)
}

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

/// A human-readable name for a receipt status.
pub fn status_name(status: u32) -> &'static str {
    match status {
        0 => "ok",
        1 => "out_of_gas",
        STATUS_DEPLOY_REJECTED => "deploy_rejected",
        code => cairn_vm::TrapCode::from_code(code).map_or("unknown", |trap| trap.name()),
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
    if leaves.is_empty() {
        return [0; 32];
    }
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
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from([seed; 32])
    }

    fn call_tx(key: &PrivateKey, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: "test".into(),
            sender: Address(*key.public_key().as_bytes()),
            nonce,
            gas_limit: 10_000_000,
            action: Action::Call {
                contract: Address([7; 32]),
                method: "increment".into(),
                input: vec![1, 2, 3],
            },
        }
        .sign(key)
    }

    #[test]
    fn a_signed_transaction_roundtrips_and_verifies() {
        let tx = call_tx(&key(1), 5);
        let decoded = SignedTransaction::decode_checked(&tx.encode()).unwrap();
        assert_eq!(decoded, tx);
        decoded.verify_signature().unwrap();
    }

    #[test]
    fn a_changed_field_or_foreign_key_breaks_the_signature() {
        let mut tx = call_tx(&key(1), 5);
        tx.tx.nonce = 6;
        assert_eq!(tx.verify_signature(), Err(TxError::BadSignature));

        let mut tx = call_tx(&key(1), 5);
        tx.tx.sender = Address(*key(2).public_key().as_bytes());
        assert_eq!(tx.verify_signature(), Err(TxError::BadSignature));
    }

    #[test]
    fn the_hash_covers_the_whole_signed_encoding() {
        let mut tx = call_tx(&key(1), 5);
        let hash = tx.hash();
        assert_eq!(hash, blake2b_256(&tx.encode()));
        tx.signature[63] ^= 1;
        assert_ne!(tx.hash(), hash);
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let bytes = call_tx(&key(1), 5).encode();
        for cut in 0..bytes.len() {
            assert!(SignedTransaction::decode_checked(&bytes[..cut]).is_err());
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            SignedTransaction::decode_checked(&trailing),
            Err(TxError::Malformed(_))
        ));
        let huge = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            SignedTransaction::decode_checked(&huge),
            Err(TxError::TooLarge { .. })
        ));
    }

    #[test]
    fn contract_addresses_depend_on_deployer_and_nonce() {
        let a = Address([1; 32]);
        let b = Address([2; 32]);
        assert_ne!(contract_address(&a, 0), contract_address(&a, 1));
        assert_ne!(contract_address(&a, 0), contract_address(&b, 0));
        assert_eq!(contract_address(&a, 3), contract_address(&a, 3));
    }

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
}
