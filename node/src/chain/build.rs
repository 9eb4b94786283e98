//! Building the next block from the mempool, as its proposer.
//!
//! A transaction the VM fails on (a `VmError`: the node's fault, not the
//! contract's, such as a storage read that fails) is dropped from the
//! mempool and the block built again without it, so one such transaction
//! cannot stop a proposer from building anything.

use std::time::{Instant, SystemTime};

use anyhow::bail;

use super::{Chain, ExecutedBlock, ValidatorKey, system_time_ms};
use crate::execution::{ExecError, Mode, NextBlock};
use crate::limits::{MAX_BLOCK_BYTES, MAX_BLOCK_TRANSACTIONS};

/// Transactions dropped while building one block before the proposer gives
/// up on it: more failures than this point at the node, not at them.
const MAX_DROPPED_PER_BLOCK: usize = 8;

impl Chain {
    /// Builds block `height` (the next one) from the mempool, executes it on
    /// the committed state and keeps the result until it is decided. `now`
    /// is clamped so that block times increase.
    pub fn build(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        now: SystemTime,
    ) -> anyhow::Result<ExecutedBlock> {
        let _execution = self.lock_execution();
        let started = Instant::now();
        let snapshot = self.store.snapshot();
        let head = snapshot.head()?;
        if height != head.height + 1 {
            bail!(
                "asked to build block {height} on top of committed height {}",
                head.height
            );
        }
        let next = NextBlock {
            parent: head,
            time_ms: system_time_ms(now).max(head.time_ms + 1),
            proposer: *proposer,
        };
        // Room for the header and the transaction list's length prefix. The
        // gas is the executor's to count, by what each transaction uses.
        let byte_budget = MAX_BLOCK_BYTES - 1024;
        let mut dropped = 0;
        let executed = loop {
            let transactions = self
                .lock_mempool()
                .select(byte_budget, MAX_BLOCK_TRANSACTIONS);
            let (index, error) = match self.executor().execute_block(
                &snapshot,
                &next,
                transactions.clone(),
                Mode::Build,
            ) {
                Ok(executed) => break executed,
                Err(ExecError::TransactionFailed { index, error })
                    if dropped < MAX_DROPPED_PER_BLOCK =>
                {
                    (index, error)
                }
                Err(error) => bail!("building block {height}: {error}"),
            };
            let Some(tx) = transactions.get(index) else {
                bail!("building block {height}: {error:#}");
            };
            let hash = tx.hash();
            self.lock_mempool().remove(&hash);
            self.metrics.build_dropped_transactions.inc();
            dropped += 1;
            tracing::warn!(
                height,
                tx = %hex::encode(hash),
                "dropped a transaction the VM failed on: {error:#}"
            );
        };
        tracing::debug!(
            height,
            transactions = executed.block.transactions.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "built block"
        );
        self.metrics
            .execution_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(self.remember(executed))
    }
}
