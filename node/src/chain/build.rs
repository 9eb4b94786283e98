//! Building the next block from the mempool, as its proposer.

use std::time::{Instant, SystemTime};

use anyhow::{anyhow, bail};

use super::{Chain, ExecutedBlock, ValidatorKey, system_time_ms};
use crate::execution::{Mode, NextBlock};
use crate::limits::{MAX_BLOCK_BYTES, MAX_BLOCK_TRANSACTIONS};

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
        let transactions = self
            .lock_mempool()
            .select(byte_budget, MAX_BLOCK_TRANSACTIONS);
        let executed = self
            .executor()
            .execute_block(&snapshot, &next, transactions, Mode::Build)
            .map_err(|error| anyhow!("building block {height}: {error}"))?;
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
