//! The records of state, as the store keeps them and the tree commits to
//! them: accounts, contracts, the chain's fee and supply record, the head,
//! and where a transaction landed.

use parity_scale_codec::{Decode, Encode};

use crate::types::{Address, Hash};

/// An account's on-chain record. Every address has one, contracts too;
/// one that was never written reads as the default (nonce 0, nothing held).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct Account {
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
    /// What it holds of the native token, in its smallest unit.
    pub balance: u128,
}

/// What every block updates besides accounts and contracts: the base fee
/// of the next block and the native token's supply. Under the state root,
/// like every other record, so validators agree on them too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct ChainState {
    /// What a unit of gas burns in the next block; a transaction's gas
    /// price must be at least this.
    pub base_fee: u64,
    /// Every balance added up: the genesis supply less what fees burned.
    pub total_supply: u128,
    /// What fees have burned since genesis.
    pub burned: u128,
}

/// A deployed contract's on-chain record. Its code and ABI are stored by
/// their hashes, which this record (a leaf of the state tree) commits to:
/// the state root covers both, and two contracts of one code keep each
/// its own ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct ContractInfo {
    pub code_hash: Hash,
    pub deployer: Address,
    pub deployed_at: u64,
    /// blake2b-256 of the ABI given at deploy; `None` if it gave none.
    pub abi_hash: Option<Hash>,
}

/// The last committed block: what a restarted node resumes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct Head {
    pub height: u64,
    pub block_hash: Hash,
    pub state_root: Hash,
    pub time_ms: u64,
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

/// A contract storage write: `(contract, key) -> value`; `None` removes.
pub type StateWrite = ((Address, Vec<u8>), Option<Vec<u8>>);

/// The flat key of a contract's storage entry: its address, then the key.
pub(crate) fn state_key(contract: &Address, key: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 + key.len());
    bytes.extend_from_slice(&contract.0);
    bytes.extend_from_slice(key);
    bytes
}
