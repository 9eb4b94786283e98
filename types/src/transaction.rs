//! Transactions: what an account signs, how the signature is checked, and
//! how untrusted bytes become a transaction.
//!
//! A transaction's hash covers its whole signed encoding. Signatures verify
//! ZIP-215 style with canonical `s` (ed25519-consensus, which Malachite's
//! ed25519 scheme wraps too), so nobody but the signer can make a second
//! valid encoding of a transaction.
//!
//! What a transaction may cost its sender is bounded when it is signed:
//! `gas_limit × gas_price + value` ([`Transaction::max_cost`]). The node
//! takes the fee for the gas actually used (the block's base fee of it is
//! burned, the rest goes to the proposer) and moves the value only if the
//! transaction succeeds.

use parity_scale_codec::{Decode, DecodeLimit, Encode};

use crate::address::Address;
use crate::hash::{Hash, blake2b_256};
use crate::keys::{PrivateKey, PublicKey};
use crate::limits::MAX_TX_BYTES;

// The SCALE derive casts variant indices to u8; three variants cannot truncate.
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
    /// Moves the transaction's `value` to `to`, an account or a contract;
    /// no contract code runs.
    Transfer { to: Address },
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Transaction {
    /// The chain's name, for people and for a clear refusal.
    pub chain_id: String,
    /// The hash of the genesis of the network the transaction is for. Chain
    /// ids are names anyone can reuse (every local testnet is
    /// `cairn-local`); the genesis hash is not, so a transaction signed for
    /// one network is refused by every other.
    pub genesis_hash: Hash,
    pub sender: Address,
    /// The sender's transaction count; each nonce is used exactly once, in
    /// order.
    pub nonce: u64,
    /// Gas for everything the transaction does, its intrinsic cost included.
    pub gas_limit: u64,
    /// What the sender pays per unit of gas used. It must be at least the
    /// block's base fee, which is burned; the rest goes to the block's
    /// proposer. Blocks take higher prices first.
    pub gas_price: u64,
    /// Native value the sender moves: to `to` for a transfer, to the
    /// contract for a call or a deploy (which keeps it only if the call
    /// succeeds).
    pub value: u128,
    pub action: Action,
}

const SIGNING_DOMAIN: &[u8] = b"cairn-transaction-v2:";

impl Transaction {
    /// The most the transaction can take from its sender:
    /// `gas_limit × gas_price + value`; `None` if that overflows, which no
    /// balance can cover.
    pub fn max_cost(&self) -> Option<u128> {
        self.max_fee().checked_add(self.value)
    }

    /// The fee if every unit of gas is used: `gas_limit × gas_price` (two
    /// u64 never overflow a u128).
    pub fn max_fee(&self) -> u128 {
        u128::from(self.gas_limit) * u128::from(self.gas_price)
    }

    fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = SIGNING_DOMAIN.to_vec();
        self.encode_to(&mut bytes);
        bytes
    }

    pub fn sign(self, key: &PrivateKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_bytes());
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
    #[error("the transaction is for the network of genesis {}, this is {}", hex::encode(.found), hex::encode(.expected))]
    WrongGenesis { expected: Hash, found: Hash },
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
    #[error(
        "the mempool is full of transactions paying at least as much; retry later or raise the gas price"
    )]
    MempoolFull,
    #[error("gas price {price} is below the {minimum} this node accepts")]
    GasPriceTooLow { price: u64, minimum: u64 },
    #[error("gas price {price} is below the block's base fee {base_fee}")]
    BelowBaseFee { price: u64, base_fee: u64 },
    #[error(
        "the sender holds {available} but the transaction may cost {needed} (gas limit × gas price + value, with its pending transactions)"
    )]
    InsufficientBalance { needed: u128, available: u128 },
    #[error(
        "a transaction with this nonce is pending at gas price {pending}; a replacement must offer at least {required}"
    )]
    ReplacementUnderpriced { pending: u64, required: u64 },
    #[error("the sender already has {max} transactions waiting behind a nonce gap")]
    TooManyQueued { max: usize },
    #[error("gas limit {limit} is above the {remaining} gas the block has left")]
    BlockGasExceeded { limit: u64, remaining: u64 },
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
        key.verify(&self.tx.signing_bytes(), &self.signature)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from([seed; 32])
    }

    fn call_tx(key: &PrivateKey, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: "test".into(),
            genesis_hash: [9; 32],
            sender: Address(*key.public_key().as_bytes()),
            nonce,
            gas_limit: 10_000_000,
            gas_price: 3,
            value: 500,
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
        let changes: [fn(&mut Transaction); 6] = [
            |tx| tx.nonce += 1,
            |tx| tx.genesis_hash[0] ^= 1,
            |tx| tx.gas_price += 1,
            |tx| tx.value += 1,
            |tx| tx.chain_id.push('x'),
            |tx| tx.sender = Address(*key(2).public_key().as_bytes()),
        ];
        for change in changes {
            let mut tx = call_tx(&key(1), 5);
            change(&mut tx.tx);
            assert_eq!(tx.verify_signature(), Err(TxError::BadSignature));
        }
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
    fn the_signed_encoding_and_signature_are_pinned() {
        // Ed25519 signatures are deterministic: this pins the SCALE layout,
        // the signing domain and the key derivation of existing chains.
        let tx = call_tx(&key(1), 5);
        let mut expected = Vec::new();
        expected.push(4 << 2); // "test", compact length
        expected.extend_from_slice(b"test");
        expected.extend_from_slice(&[9; 32]); // genesis hash
        expected.extend_from_slice(key(1).public_key().as_bytes());
        expected.extend_from_slice(&5u64.to_le_bytes());
        expected.extend_from_slice(&10_000_000u64.to_le_bytes());
        expected.extend_from_slice(&3u64.to_le_bytes()); // gas price
        expected.extend_from_slice(&500u128.to_le_bytes()); // value
        expected.push(1); // Action::Call
        expected.extend_from_slice(&[7; 32]);
        expected.push(9 << 2);
        expected.extend_from_slice(b"increment");
        expected.extend_from_slice(&[3 << 2, 1, 2, 3]);
        assert_eq!(tx.tx.encode(), expected);
        let mut signed = b"cairn-transaction-v2:".to_vec();
        signed.extend_from_slice(&expected);
        let signature = ed25519_consensus::SigningKey::from([1; 32]).sign(&signed);
        assert_eq!(tx.signature, signature.to_bytes());
        expected.extend_from_slice(&tx.signature);
        assert_eq!(tx.encode(), expected);
    }

    #[test]
    fn a_transfer_encodes_its_recipient_after_the_action_index() {
        let mut tx = call_tx(&key(1), 0).tx;
        tx.action = Action::Transfer {
            to: Address([4; 32]),
        };
        let encoded = tx.encode();
        let action = &encoded[encoded.len() - 33..];
        assert_eq!(action[0], 2);
        assert_eq!(&action[1..], &[4; 32]);
    }

    #[test]
    fn the_cost_bound_is_gas_limit_times_price_plus_value() {
        let mut tx = call_tx(&key(1), 0).tx;
        assert_eq!(tx.max_fee(), 30_000_000);
        assert_eq!(tx.max_cost(), Some(30_000_500));
        tx.gas_limit = u64::MAX;
        tx.gas_price = u64::MAX;
        assert_eq!(tx.max_fee(), u128::from(u64::MAX) * u128::from(u64::MAX));
        tx.value = u128::MAX;
        assert_eq!(tx.max_cost(), None);
    }

    #[test]
    fn a_sender_that_is_no_curve_point_is_a_bad_sender() {
        let mut tx = call_tx(&key(1), 5);
        // Not the encoding of a point on the curve.
        tx.tx.sender = Address({
            let mut bytes = [0x01; 32];
            bytes[31] = 0;
            bytes
        });
        assert_eq!(tx.verify_signature(), Err(TxError::BadSender));
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
}
