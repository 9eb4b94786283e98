//! Fixtures that this crate's tests and benchmarks and `cairn-fuzz` share
//! (the `test-utils` feature): a one-validator chain's keys and genesis,
//! signed transactions, chains on RocksDB in a test's directory, and the
//! steps that build a block and commit it.
//!
//! Most tests run on [`TEST_CHAIN`] through the free functions; a caller
//! that needs a chain of its own (another chain id, another validator)
//! describes it as a [`TestChain`].
//!
//! For tests of whole nodes: [`local_net`] runs a network of real
//! `cairn-node` processes (with the fault switches of [`crate::faults`]).
//! The attacker that joins such a network (a junk peer, floods, a faulty
//! validator) is `cairn-testnet`'s adversary.

pub mod local_net;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::keys::PrivateKey;
use parity_scale_codec::{Decode, Encode};

use crate::chain::mempool::MempoolLimits;
use crate::chain::{Chain, ChainConfig, ValidatorKey};
use crate::genesis::{ChainParams, Genesis, GenesisValidator};
use crate::metrics::Metrics;
use crate::state::StoreOptions;
use crate::types::{Action, Address, Block, Hash, SignedTransaction, Transaction, TxError};

/// The `counter` example contract and its ABI.
pub const COUNTER: &[u8] = include_bytes!("../../../contracts-sdk/testdata/counter.wasm");
pub const COUNTER_ABI: &[u8] = include_bytes!("../../../contracts-sdk/testdata/counter.abi.json");
pub const CHAIN_ID: &str = "cairn-test";

/// The gas limit of [`deploy`]'s transactions.
pub const DEPLOY_GAS: u64 = 2_000_000_000;
/// The gas limit of [`call`]'s transactions.
pub const CALL_GAS: u64 = 100_000_000;

/// A chain with one validator, whose key is `[validator_seed; 32]`.
#[derive(Debug, Clone, Copy)]
pub struct TestChain {
    pub chain_id: &'static str,
    pub validator_name: &'static str,
    pub validator_seed: u8,
}

/// The chain of the free functions of this module.
pub const TEST_CHAIN: TestChain = TestChain {
    chain_id: CHAIN_ID,
    validator_name: "v0",
    validator_seed: 1,
};

impl TestChain {
    pub fn validator(&self) -> PrivateKey {
        PrivateKey::from([self.validator_seed; 32])
    }

    /// The validator's public key, which proposes every block.
    pub fn proposer(&self) -> ValidatorKey {
        *self.validator().public_key().as_bytes()
    }

    pub fn genesis(&self) -> Genesis {
        Genesis {
            chain_id: self.chain_id.into(),
            genesis_time_ms: 1_000,
            validators: vec![GenesisValidator {
                name: self.validator_name.into(),
                public_key: hex::encode(self.proposer()),
                power: 1,
            }],
            params: ChainParams::default(),
        }
    }

    /// A transaction of this chain signed by `key`.
    pub fn sign(
        &self,
        key: &PrivateKey,
        nonce: u64,
        gas_limit: u64,
        action: Action,
    ) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id.into(),
            sender: address(key),
            nonce,
            gas_limit,
            action,
        }
        .sign(key)
    }

    /// This chain with its database in `dir` and no on-disk artifact cache.
    pub fn open(&self, dir: &Path) -> Chain {
        Chain::open(self.genesis(), &config(dir, None), Metrics::default())
            .expect("the test chain opens")
    }
}

pub fn validator() -> PrivateKey {
    TEST_CHAIN.validator()
}

pub fn proposer() -> ValidatorKey {
    TEST_CHAIN.proposer()
}

/// A user's key: `[seed; 32]`.
pub fn user(seed: u8) -> PrivateKey {
    PrivateKey::from([seed; 32])
}

pub fn address(key: &PrivateKey) -> Address {
    Address(*key.public_key().as_bytes())
}

pub fn genesis() -> Genesis {
    TEST_CHAIN.genesis()
}

/// A chain's configuration for a database in `dir`, verifying the state at
/// startup.
pub fn config(dir: &Path, artifact_cache: Option<PathBuf>) -> ChainConfig {
    ChainConfig {
        db_path: dir.join("db"),
        artifact_cache,
        mempool: MempoolLimits::default(),
        verify_state_on_start: true,
        store: StoreOptions::default(),
    }
}

/// [`TEST_CHAIN`] with its database in `dir` and no on-disk artifact cache.
pub fn open(dir: &Path) -> Chain {
    TEST_CHAIN.open(dir)
}

pub fn sign(key: &PrivateKey, nonce: u64, gas_limit: u64, action: Action) -> SignedTransaction {
    TEST_CHAIN.sign(key, nonce, gas_limit, action)
}

/// A deploy of [`COUNTER`] whose constructor takes `limit`.
pub fn deploy(key: &PrivateKey, nonce: u64, limit: u64) -> SignedTransaction {
    sign(
        key,
        nonce,
        DEPLOY_GAS,
        Action::Deploy {
            code: COUNTER.to_vec(),
            abi: COUNTER_ABI.to_vec(),
            init_input: limit.encode(),
        },
    )
}

pub fn call(
    key: &PrivateKey,
    nonce: u64,
    contract: Address,
    method: &str,
    input: Vec<u8>,
) -> SignedTransaction {
    sign(
        key,
        nonce,
        CALL_GAS,
        Action::Call {
            contract,
            method: method.into(),
            input,
        },
    )
}

/// Submits `tx` to `chain`'s mempool; returns its hash.
pub fn submit(chain: &Chain, tx: &SignedTransaction) -> Result<Hash, TxError> {
    chain.submit(&tx.encode()).map(|(hash, _)| hash)
}

/// The first validator of `chain`'s genesis, which proposes its blocks here.
fn proposer_of(chain: &Chain) -> ValidatorKey {
    chain.genesis().validators[0]
        .key()
        .expect("the test genesis has a validator")
}

/// Builds the next block on `leader`, has `follower` verify it, and commits
/// it on both; returns the block.
pub fn advance(leader: &Chain, follower: &Chain) -> Block {
    let height = leader.head().height + 1;
    let proposer = proposer_of(leader);
    let built = leader
        .build(height, &proposer, SystemTime::now())
        .expect("the block builds");
    let verified = follower
        .verify(height, &proposer, &built.bytes)
        .expect("the follower accepts the block");
    assert_eq!(verified.hash, built.hash);
    leader
        .commit(height, &built.hash, b"certificate")
        .expect("the leader commits");
    follower
        .commit(height, &built.hash, b"certificate")
        .expect("the follower commits");
    assert_eq!(leader.head(), follower.head());
    Block::decode(&mut &built.bytes[..]).expect("a built block decodes")
}

/// Builds the next block of `chain`'s mempool and commits it on the same
/// chain (a single validator's node); returns how many transactions it
/// held.
pub fn commit_next(chain: &Chain) -> usize {
    let height = chain.head().height + 1;
    let built = chain
        .build(height, &proposer_of(chain), SystemTime::now())
        .expect("the block builds");
    chain
        .commit(height, &built.hash, b"certificate")
        .expect("the block commits");
    let block = chain
        .store()
        .block(height)
        .expect("the store reads")
        .expect("the block is stored");
    block.transactions.len()
}
