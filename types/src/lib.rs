//! What a Cairn chain is made of, for the node and for every program that
//! talks to one: transactions and their signing, blocks, receipts,
//! addresses and hashes, key files, the genesis file and the size limits a
//! transaction must keep.
//!
//! Nothing here runs contracts or talks to the network: this crate is the
//! shared vocabulary, and its encodings (SCALE, the signing domain, blake2b
//! hashes, the JSON of key and genesis files) are what nodes agree on byte
//! for byte. Balances and fees are in the native token, `u128` amounts of
//! its smallest unit.
//!
//! ```
//! use cairn_types::{Action, Address, PrivateKey, SignedTransaction, Transaction};
//! use parity_scale_codec::Encode;
//!
//! let key = PrivateKey::from([1; 32]);
//! let signed = Transaction {
//!     chain_id: "cairn-local".into(),
//!     // The network's genesis hash (`cairn status` prints it).
//!     genesis_hash: [0x5e; 32],
//!     sender: cairn_types::keys::address(&key),
//!     nonce: 0,
//!     gas_limit: 10_000_000,
//!     gas_price: 1,
//!     value: 0,
//!     action: Action::Call {
//!         contract: Address([7; 32]),
//!         method: "increment".into(),
//!         input: vec![],
//!     },
//! }
//! .sign(&key);
//! // What `cairn_submitTransaction` takes, hex-encoded.
//! let bytes = signed.encode();
//! let decoded = SignedTransaction::decode_checked(&bytes).unwrap();
//! decoded.verify_signature().unwrap();
//! assert_eq!(decoded.hash(), signed.hash());
//! ```
//!
//! Where to start reading: [`transaction`] (what is signed and how it is
//! checked, what it may cost), [`block`] (headers, receipts and their
//! roots), [`genesis`] (the chain's parameters, its first balances and the
//! base fee's rule), [`amount`] (the native token's amounts).

pub mod address;
pub mod amount;
pub mod block;
pub mod genesis;
pub mod hash;
pub mod keys;
pub mod limits;
pub mod rejection;
pub mod transaction;

pub use address::{Address, contract_address};
pub use amount::{Amount, parse_amount};
pub use block::{Block, Event, Header, Receipt, STATUS_DEPLOY_REJECTED, merkle_root, status_name};
pub use genesis::{ChainParams, Genesis, GenesisAccount, GenesisError, GenesisValidator};
pub use hash::{Hash, blake2b_256, parse_hash};
pub use keys::{KeyError, PrivateKey, PublicKey};
pub use rejection::{rejection_code, rejection_name};
pub use transaction::{Action, SignedTransaction, Transaction, TxError, decode_exact};
