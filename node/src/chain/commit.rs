//! Committing a decided block: what its execution wrote, in one atomic
//! write, then the head, the mempool's nonces and the subscribers.
//!
//! The execution is kept until the write has succeeded: a failed write
//! (a full disk, an injected fault) can be tried again.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::anyhow;

use super::mempool::SenderState;
use super::{Chain, Committed, lock};
use crate::faults::crash_point;
use crate::types::{Address, Hash};

/// Why a decided block was not committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The block was never built or verified here (or was, before a
    /// restart): verify it, then commit again.
    #[error("block {} was decided but is not executed here", hex::encode(.0))]
    NotExecuted(Hash),
    /// The store failed; the execution is kept and the commit can be tried
    /// again.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl Chain {
    /// Commits block `height`, decided as `hash` with `certificate`. The
    /// block must have been built or verified here.
    pub fn commit(&self, height: u64, hash: &Hash, certificate: &[u8]) -> Result<(), CommitError> {
        let _execution = self.lock_execution();
        let head = self.store.head()?;
        if height <= head.height {
            // Consensus replays a decision after a crash between our commit
            // and its own record of it.
            let stored = self.store.block(height)?.map(|block| block.hash());
            if stored == Some(*hash) {
                return Ok(());
            }
            return Err(
                anyhow!("asked to commit block {height} over a different committed block").into(),
            );
        }
        if height != head.height + 1 {
            return Err(anyhow!(
                "asked to commit block {height} on top of committed height {}",
                head.height
            )
            .into());
        }
        let executed = lock(&self.executed)
            .get(hash)
            .cloned()
            .ok_or(CommitError::NotExecuted(*hash))?;
        let executed = (*executed).clone();
        let header = executed.block.header.clone();
        let transactions = executed.block.transactions.len();
        let accounts: BTreeMap<Address, SenderState> = executed
            .changes
            .accounts
            .iter()
            .map(|(address, account)| {
                let state = SenderState {
                    nonce: account.nonce,
                    balance: account.balance,
                };
                (*address, state)
            })
            .collect();
        let base_fee = executed.changes.chain.map(|chain| chain.base_fee);
        let writes = executed.into_writes(certificate);
        let new_head = writes.head;
        crash_point("commit.before_write", height);
        self.store.commit(writes)?;
        crash_point("commit.after_write", height);
        *self
            .head
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = new_head;
        // Other rounds' blocks for this height can never be committed now.
        lock(&self.executed).clear();
        let mempool_len = {
            let mut mempool = self.lock_mempool();
            mempool.update_accounts(accounts);
            if let Some(base_fee) = base_fee {
                mempool.set_base_fee(base_fee);
            }
            let expired = mempool.remove_expired(Instant::now());
            if expired > 0 {
                tracing::debug!(expired, "expired transactions left the mempool");
            }
            mempool.len()
        };
        self.metrics
            .on_commit(&header, transactions, head.time_ms, mempool_len);
        tracing::info!(
            height,
            hash = %hex::encode(hash),
            transactions,
            gas_used = header.gas_used,
            state_root = %hex::encode(header.state_root),
            "committed block"
        );
        // Nobody listening is fine.
        let _ = self.committed.send(Committed {
            height,
            hash: *hash,
            state_root: header.state_root,
            transactions,
            gas_used: header.gas_used,
        });
        Ok(())
    }
}
