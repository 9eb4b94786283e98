//! Fixtures that this crate's tests and benchmarks and `cairn-fuzz` share
//! (the `test-utils` feature): a one-validator chain's keys and genesis
//! (every [`user`] key funded), signed transactions, chains on RocksDB in a
//! test's directory, and the steps that build a block and commit it.
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use crate::keys::PrivateKey;
use parity_scale_codec::{Decode, Encode};

use crate::chain::mempool::MempoolLimits;
use crate::chain::{Chain, ChainConfig, ValidatorKey};
use crate::genesis::{ChainParams, Genesis, GenesisAccount, GenesisValidator};
use crate::metrics::Metrics;
use crate::state::StoreOptions;
use crate::types::{Action, Address, Block, Hash, SignedTransaction, Transaction, TxError};

/// The `counter` example contract and its ABI.
pub const COUNTER: &[u8] = include_bytes!("../../../contracts-sdk/testdata/counter.wasm");
pub const COUNTER_ABI: &[u8] = include_bytes!("../../../contracts-sdk/testdata/counter.abi.json");
/// The `escrow` example contract, which holds native value
/// (`open_native`, `release`, `refund`), and its ABI.
pub const ESCROW: &[u8] = include_bytes!("../../../contracts-sdk/testdata/escrow.wasm");
pub const ESCROW_ABI: &[u8] = include_bytes!("../../../contracts-sdk/testdata/escrow.abi.json");
pub const CHAIN_ID: &str = "cairn-test";

/// The gas limit of [`deploy`]'s transactions.
pub const DEPLOY_GAS: u64 = 2_000_000_000;
/// The gas limit of [`call`]'s transactions.
pub const CALL_GAS: u64 = 100_000_000;
/// The gas price of the transactions signed here: above the base fee's
/// floor (1), so that a few busy blocks do not leave them behind.
pub const GAS_PRICE: u64 = 10;
/// What every [`user`] holds at genesis: enough for any test's fees.
pub const USER_BALANCE: u128 = 1_000_000_000_000_000_000_000_000;

/// The genesis allocations of the test chains: every [`user`] key, seeds
/// 0 to 255, holds [`USER_BALANCE`].
pub fn funded_accounts() -> &'static [(Address, u128)] {
    static ACCOUNTS: OnceLock<Vec<(Address, u128)>> = OnceLock::new();
    ACCOUNTS.get_or_init(|| {
        (0..=u8::MAX)
            .map(|seed| (address(&user(seed)), USER_BALANCE))
            .collect()
    })
}

/// The token's supply on the test chains.
pub fn genesis_supply() -> u128 {
    funded_accounts().iter().map(|(_, balance)| balance).sum()
}

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
            accounts: funded_accounts()
                .iter()
                .map(|(address, balance)| GenesisAccount {
                    address: address.to_string(),
                    balance: *balance,
                })
                .collect(),
            params: ChainParams::default(),
        }
    }

    /// The hash of [`TestChain::genesis`], which every transaction signs
    /// (computed once per chain).
    pub fn genesis_hash(&self) -> Hash {
        type Key = (&'static str, &'static str, u8);
        static HASHES: OnceLock<Mutex<HashMap<Key, Hash>>> = OnceLock::new();
        let key = (self.chain_id, self.validator_name, self.validator_seed);
        let mut hashes = HASHES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *hashes.entry(key).or_insert_with(|| self.genesis().hash())
    }

    /// A transaction of this chain signed by `key`, at [`GAS_PRICE`] and
    /// with no value.
    pub fn sign(
        &self,
        key: &PrivateKey,
        nonce: u64,
        gas_limit: u64,
        action: Action,
    ) -> SignedTransaction {
        self.sign_with(key, nonce, gas_limit, GAS_PRICE, 0, action)
    }

    /// A transaction of this chain signed by `key`, every field given.
    pub fn sign_with(
        &self,
        key: &PrivateKey,
        nonce: u64,
        gas_limit: u64,
        gas_price: u64,
        value: u128,
        action: Action,
    ) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id.into(),
            genesis_hash: self.genesis_hash(),
            sender: address(key),
            nonce,
            gas_limit,
            gas_price,
            value,
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

/// The gas limit of [`transfer`]'s transactions: a transfer uses its
/// intrinsic gas only.
pub const TRANSFER_GAS: u64 = 10_000_000;

/// A transfer of `value` to `to`.
pub fn transfer(key: &PrivateKey, nonce: u64, to: Address, value: u128) -> SignedTransaction {
    TEST_CHAIN.sign_with(
        key,
        nonce,
        TRANSFER_GAS,
        GAS_PRICE,
        value,
        Action::Transfer { to },
    )
}

/// Every account's balance added up, as committed on `chain`.
pub fn sum_of_balances(chain: &Chain) -> u128 {
    let mut sum = 0u128;
    chain
        .store()
        .snapshot()
        .for_each_account(|_, account| sum += account.balance)
        .expect("the store reads");
    sum
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
