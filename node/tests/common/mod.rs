//! What the chain-level tests share: one validator, user keys, a genesis,
//! chains on RocksDB in a test's directory, and the step that builds a
//! block on one chain and has another verify and commit it.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cairn_node::chain::{Chain, ChainConfig};
use cairn_node::genesis::{ChainParams, Genesis, GenesisValidator};
use cairn_node::keys::PrivateKey;
use cairn_node::mempool::MempoolLimits;
use cairn_node::metrics::Metrics;
use cairn_node::types::{Action, Address, Block, SignedTransaction, Transaction, TxError};
use parity_scale_codec::{Decode, Encode};

pub(crate) const COUNTER: &[u8] = include_bytes!("../../../contracts-sdk/testdata/counter.wasm");
pub(crate) const COUNTER_ABI: &[u8] =
    include_bytes!("../../../contracts-sdk/testdata/counter.abi.json");
pub(crate) const CHAIN_ID: &str = "cairn-test";

pub(crate) fn validator() -> PrivateKey {
    PrivateKey::from([1; 32])
}

pub(crate) fn proposer() -> [u8; 32] {
    *validator().public_key().as_bytes()
}

pub(crate) fn user(seed: u8) -> PrivateKey {
    PrivateKey::from([seed; 32])
}

pub(crate) fn address(key: &PrivateKey) -> Address {
    Address(*key.public_key().as_bytes())
}

pub(crate) fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 1_000,
        validators: vec![GenesisValidator {
            name: "v0".into(),
            public_key: hex::encode(proposer()),
            power: 1,
        }],
        params: ChainParams::default(),
    }
}

pub(crate) fn config(dir: &Path, artifact_cache: Option<PathBuf>) -> ChainConfig {
    ChainConfig {
        db_path: dir.join("db"),
        artifact_cache,
        mempool: MempoolLimits::default(),
        verify_state_on_start: true,
    }
}

/// A chain with its database in `dir` and no on-disk artifact cache.
pub(crate) fn open(dir: &Path) -> Chain {
    Chain::open(genesis(), &config(dir, None), Metrics::default()).unwrap()
}

pub(crate) fn sign(
    key: &PrivateKey,
    nonce: u64,
    gas_limit: u64,
    action: Action,
) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID.into(),
        sender: address(key),
        nonce,
        gas_limit,
        action,
    }
    .sign(key)
}

pub(crate) fn deploy(key: &PrivateKey, nonce: u64, limit: u64) -> SignedTransaction {
    sign(
        key,
        nonce,
        2_000_000_000,
        Action::Deploy {
            code: COUNTER.to_vec(),
            abi: COUNTER_ABI.to_vec(),
            init_input: limit.encode(),
        },
    )
}

pub(crate) fn call(
    key: &PrivateKey,
    nonce: u64,
    contract: Address,
    method: &str,
    input: Vec<u8>,
) -> SignedTransaction {
    sign(
        key,
        nonce,
        100_000_000,
        Action::Call {
            contract,
            method: method.into(),
            input,
        },
    )
}

pub(crate) fn submit(chain: &Chain, tx: &SignedTransaction) -> Result<[u8; 32], TxError> {
    chain.submit(&tx.encode()).map(|(hash, _)| hash)
}

/// Builds the next block on `leader`, has `follower` verify it, and commits
/// it on both; returns the block.
pub(crate) fn advance(leader: &Chain, follower: &Chain) -> Block {
    let height = leader.head().height + 1;
    let built = leader
        .build(height, &proposer(), SystemTime::now())
        .unwrap();
    let verified = follower.verify(height, &proposer(), &built.bytes).unwrap();
    assert_eq!(verified.hash, built.hash);
    leader.commit(height, &built.hash, b"certificate").unwrap();
    follower
        .commit(height, &built.hash, b"certificate")
        .unwrap();
    assert_eq!(leader.head(), follower.head());
    Block::decode(&mut &built.bytes[..]).unwrap()
}

/// Builds the next block of `chain`'s mempool and commits it on the same
/// chain (a single validator's node); returns how many transactions it
/// held.
pub(crate) fn commit_next(chain: &Chain) -> usize {
    let height = chain.head().height + 1;
    let built = chain
        .build(height, &proposer(), SystemTime::now())
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
