//! The replicated state machine: admits transactions, builds and verifies
//! blocks by executing them, and commits decided blocks.
//!
//! Start reading at [`Chain::build`] and [`Chain::verify`]: both run
//! [`crate::execution`] on the committed state, so a proposer and every
//! validator compute the same receipts and state root from the same block,
//! and a block is voted for only if they match. The result of an execution
//! is kept by block hash until consensus decides, so a commit writes what
//! was verified without executing again.
//!
//! | file | what |
//! |---|---|
//! | `open.rs` | [`Chain::open`] and the startup checks of the stored state |
//! | `submit.rs` | admitting transactions into the [`mempool`] (ordered by gas price, bounded, expiring) |
//! | `build.rs` | [`Chain::build`]: the next block from the mempool |
//! | `verify.rs` | [`Chain::verify`]: a proposed block, check by check ([`InvalidBlock`]) |
//! | `commit.rs` | [`Chain::commit`]: a decided block to disk |
//! | `queries.rs` | read-only calls and lookups for RPC |
//! | `host.rs` | [`ConsensusHost`]: what consensus asks of the chain, and the chain's answers |

mod build;
mod commit;
mod host;
pub mod mempool;
mod open;
mod queries;
mod submit;
mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_vm::Vm;
use tokio::sync::broadcast;

pub use commit::CommitError;
pub use host::{BlockHash, BlockRejected, ConsensusHost, ExecutedBlock, ValidatorKey};
pub use queries::{GasPrices, Queried};
pub use verify::{BlockSource, InvalidBlock, MAX_CLOCK_DRIFT_MS};

use crate::execution::{BlockExecution, Executor, VerifiedSignatures};
use crate::genesis::{ChainParams, Genesis};
use crate::metrics::Metrics;
use crate::state::{Head, Store, StoreOptions};
use crate::types::Hash;
use mempool::{Mempool, MempoolLimits};

#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The RocksDB directory.
    pub db_path: PathBuf,
    /// The VM's on-disk artifact cache.
    pub artifact_cache: Option<PathBuf>,
    pub mempool: MempoolLimits,
    /// Check every record against the committed state root at startup
    /// (reads the whole state).
    pub verify_state_on_start: bool,
    /// How the store keeps the state tree (pruning).
    pub store: StoreOptions,
}

/// A committed block, announced to RPC waiters and the gossip layer.
#[derive(Debug, Clone)]
pub struct Committed {
    pub height: u64,
    pub hash: Hash,
    pub state_root: Hash,
    pub transactions: usize,
    pub gas_used: u64,
}

pub struct Chain {
    store: Store,
    vm: Vm,
    genesis: Genesis,
    genesis_hash: Hash,
    mempool: Mutex<Mempool>,
    /// Woken by every transaction the mempool admits.
    arrivals: tokio::sync::Notify,
    /// Transactions whose signatures verified here: admitted ones are not
    /// verified again when a block includes them.
    signatures: VerifiedSignatures,
    /// Blocks built or verified at the next height, by hash, until one is
    /// decided.
    executed: Mutex<HashMap<Hash, Arc<BlockExecution>>>,
    /// Serialises execution and commits: every execution reads the state
    /// tree at the committed version.
    execution: Mutex<()>,
    head: RwLock<Head>,
    committed: broadcast::Sender<Committed>,
    metrics: Metrics,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.genesis.chain_id)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

/// This node's clock, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    system_time_ms(crate::faults::now())
}

fn system_time_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A poisoned lock still guards consistent data here: every critical
/// section either completes its update or changes nothing.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl Chain {
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn params(&self) -> &ChainParams {
        &self.genesis.params
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn head(&self) -> Head {
        *self
            .head
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.committed.subscribe()
    }

    fn executor(&self) -> Executor<'_> {
        Executor::with_genesis_hash(&self.vm, &self.genesis, self.genesis_hash)
            .with_signatures(&self.signatures)
    }

    fn lock_mempool(&self) -> MutexGuard<'_, Mempool> {
        lock(&self.mempool)
    }

    fn lock_execution(&self) -> MutexGuard<'_, ()> {
        lock(&self.execution)
    }

    /// Keeps an execution until its block is decided or another is.
    fn remember(&self, executed: BlockExecution) -> ExecutedBlock {
        let hash = executed.block.hash();
        let result = ExecutedBlock {
            hash,
            bytes: executed.bytes.clone(),
        };
        lock(&self.executed).insert(hash, Arc::new(executed));
        result
    }
}
