//! Opening a chain: the database, the VM, and the checks that the stored
//! state is what the committed head says before anything runs on it.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use cairn_vm::{Vm, VmConfig};
use tokio::sync::broadcast;

use super::mempool::{Mempool, MempoolLimits};
use super::{Chain, ChainConfig};
use crate::execution::{VerifiedSignatures, genesis_state};
use crate::genesis::Genesis;
use crate::metrics::Metrics;
use crate::state::{Store, tree};

impl Chain {
    /// Opens (or creates) the node's database for `genesis` and checks that
    /// what it holds is consistent before anything runs on it.
    pub fn open(genesis: Genesis, config: &ChainConfig, metrics: Metrics) -> anyhow::Result<Self> {
        genesis.validate()?;
        let store = Store::open_with(&config.db_path, config.store)?;
        let genesis_hash = genesis.hash();
        let head = store.init_genesis(
            genesis_hash,
            genesis.genesis_time_ms,
            &genesis_state(&genesis)?,
        )?;
        let base_fee = store.snapshot().chain_state()?.base_fee;
        // Nothing below the chain's lowest base fee can ever be included.
        let mempool = MempoolLimits {
            min_gas_price: config
                .mempool
                .min_gas_price
                .max(genesis.params.min_base_fee),
            ..config.mempool
        };
        let vm = Vm::new(VmConfig {
            cache_dir: config.artifact_cache.clone(),
            ..VmConfig::default()
        })
        .context("starting the VM")?;
        let chain = Chain {
            store,
            vm,
            genesis,
            genesis_hash,
            mempool: Mutex::new({
                let mut pool = Mempool::new(mempool);
                pool.set_base_fee(base_fee);
                pool
            }),
            arrivals: tokio::sync::Notify::new(),
            signatures: VerifiedSignatures::default(),
            executed: Mutex::new(HashMap::new()),
            execution: Mutex::new(()),
            head: RwLock::new(head),
            committed: broadcast::channel(256).0,
            metrics,
        };
        chain.check_head()?;
        if config.verify_state_on_start {
            chain.verify_state()?;
        }
        chain
            .metrics
            .height
            .set(i64::try_from(head.height).unwrap_or(i64::MAX));
        Ok(chain)
    }

    /// The committed head must be the stored block's, and its root the
    /// tree's root at that version.
    fn check_head(&self) -> anyhow::Result<()> {
        let head = self.head();
        if head.height > 0 {
            let block = self
                .store
                .block(head.height)?
                .ok_or_else(|| anyhow!("block {} of the committed head is missing", head.height))?;
            if block.hash() != head.block_hash || block.header.state_root != head.state_root {
                bail!(
                    "the committed head does not match block {}: the database is corrupt",
                    head.height
                );
            }
        }
        tree::check_stored_root(&self.store.tree_reader(), &head)
    }

    /// Checks every flat record against the committed root, one record at
    /// a time ([`crate::state::StateSnapshot::check_records`]): catches
    /// state changed behind the tree's back, in memory that does not grow
    /// with the state.
    pub fn verify_state(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let snapshot = self.store.snapshot();
        let records = snapshot.check_records()?;
        tracing::info!(
            height = snapshot.head()?.height,
            records,
            elapsed_ms = started.elapsed().as_millis(),
            "state verified against its root"
        );
        Ok(())
    }
}
