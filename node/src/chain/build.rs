//! Building the next block from the mempool, as its proposer.
//!
//! A transaction the VM fails on (a `VmError`: the node's fault, not the
//! contract's, such as a storage read that fails) is dropped from the
//! mempool and the block built again without it, so one such transaction
//! cannot stop a proposer from building anything.
//!
//! A transaction the builder leaves out for good (its nonce is used, its
//! sender cannot pay, its signature fails) leaves the mempool too. The
//! mempool should never offer one, but if it did, the transaction would
//! keep the node starting heights at once (the mempool says there is work)
//! to build empty blocks, as fast as the target block time allows.

use std::time::{Instant, SystemTime};

use anyhow::bail;

use super::{Chain, ExecutedBlock, ValidatorKey, system_time_ms};
use crate::execution::{ExecError, Mode, NextBlock};
use crate::limits::{MAX_BLOCK_BYTES, MAX_BLOCK_TRANSACTIONS};
use crate::types::TxError;

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
        self.drop_unincludable(height, &executed.skipped);
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

    /// Removes from the mempool what the builder skipped and no later
    /// block on this state could include.
    fn drop_unincludable(&self, height: u64, skipped: &[(crate::types::Hash, TxError)]) {
        for (hash, error) in skipped {
            if may_fit_a_later_block(error) || !self.lock_mempool().remove(hash) {
                continue;
            }
            self.metrics.build_dropped_transactions.inc();
            tracing::warn!(
                height,
                tx = %hex::encode(hash),
                "dropped a transaction no block can include: {error}"
            );
        }
    }
}

/// Whether a transaction the builder skipped for `error` may still go into
/// a later block: this one was full, the base fee may fall, or an earlier
/// transaction of its sender was left out before it.
fn may_fit_a_later_block(error: &TxError) -> bool {
    matches!(
        error,
        TxError::BlockGasExceeded { .. }
            | TxError::BelowBaseFee { .. }
            | TxError::NonceTooFarAhead { .. }
    )
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use parity_scale_codec::{Decode, Encode};

    use super::*;
    use crate::chain::ConsensusHost;
    use crate::chain::mempool::SenderState;
    use crate::test_utils::{TRANSFER_GAS, address, open, proposer, transfer, user};

    /// If the mempool ever holds a transaction the builder cannot include
    /// (here: it was admitted against a balance its sender does not have),
    /// the first block built without it removes it; otherwise the node
    /// would start height after height at once to build empty blocks.
    #[test]
    fn a_transaction_no_block_can_include_leaves_the_mempool_when_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let chain = open(dir.path());
        // Every `user` key is funded at genesis; this one is not.
        let mut seed = [9; 32];
        seed[0] = 0;
        let penniless = crate::keys::PrivateKey::from(seed);
        let tx = transfer(&penniless, 0, address(&user(3)), 1);
        let account = chain.store().snapshot().account(&address(&penniless));
        assert_eq!(account.unwrap().balance, 0);
        let believed = SenderState {
            nonce: 0,
            balance: u128::from(TRANSFER_GAS) * 1_000_000,
        };
        chain
            .lock_mempool()
            .insert(tx.clone(), tx.encode().len(), believed, Instant::now())
            .unwrap();
        assert!(chain.has_pending_transactions());

        let built = chain.build(1, &proposer(), SystemTime::now()).unwrap();
        let block = crate::types::Block::decode(&mut &built.bytes[..]).unwrap();
        assert!(block.transactions.is_empty(), "the builder skips it");
        assert!(
            !chain.has_pending_transactions(),
            "nothing is left to start a height for"
        );
        assert_eq!(chain.mempool_len(), 0);
        assert_eq!(chain.metrics().build_dropped_transactions.get(), 1);
    }

    /// A transaction that only missed this block (it was full) stays.
    #[test]
    fn a_transaction_that_may_fit_later_stays_in_the_mempool() {
        for error in [
            TxError::BlockGasExceeded {
                limit: 2,
                remaining: 1,
            },
            TxError::BelowBaseFee {
                price: 1,
                base_fee: 2,
            },
            TxError::NonceTooFarAhead {
                expected: 1,
                found: 2,
            },
        ] {
            assert!(may_fit_a_later_block(&error), "{error}");
        }
        for error in [
            TxError::NonceUsed {
                expected: 2,
                found: 1,
            },
            TxError::InsufficientBalance {
                needed: 2,
                available: 1,
            },
            TxError::BadSignature,
        ] {
            assert!(!may_fit_a_later_block(&error), "{error}");
        }
    }
}
