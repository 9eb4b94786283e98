//! A block's state transition: its transactions, one after the other, on a
//! snapshot of the committed state.

use std::sync::Arc;

use bytes::Bytes;
use cairn_vm::{BlockInfo, Vm};
use parity_scale_codec::Encode;

use super::admission::check_transaction;
use super::transaction::execute_transaction;
use crate::genesis::Genesis;
use crate::state::{self, BlockWrites, Changes, Head, StateSnapshot, TxLocation, View};
use crate::types::{Block, Hash, Header, Receipt, SignedTransaction, TxError, merkle_root};

/// Whether a block is being built (transactions that no longer apply are
/// left out) or verified (any such transaction makes the block invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Build,
    Verify,
}

/// Why a block could not be executed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// A transaction of a block being verified does not apply: the block is
    /// invalid.
    #[error("transaction {index}: {error}")]
    InvalidTransaction { index: usize, error: TxError },
    /// This node failed (storage, engine) on transaction `index`: the
    /// block may be fine. A proposer leaves that transaction out.
    #[error("transaction {index}: {error:#}")]
    TransactionFailed { index: usize, error: anyhow::Error },
    /// This node failed (storage, engine): the block may be fine.
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

/// Where the next block goes and who proposes it.
#[derive(Debug, Clone, Copy)]
pub struct NextBlock {
    /// The committed head the block builds on.
    pub parent: Head,
    pub time_ms: u64,
    pub proposer: [u8; 32],
}

/// An executed block: the block with the roots of its execution in its
/// header, and what committing it writes.
#[derive(Debug, Clone)]
pub struct BlockExecution {
    pub block: Block,
    /// The block's SCALE encoding, as gossiped and stored.
    pub bytes: Bytes,
    pub receipts: Vec<Receipt>,
    pub changes: Changes,
    /// The state tree's new nodes, and those they replace.
    pub tree: state::tree::TreeWrites,
}

impl BlockExecution {
    /// The head after this block.
    pub fn head(&self) -> Head {
        let header = &self.block.header;
        Head {
            height: header.height,
            block_hash: self.block.hash(),
            state_root: header.state_root,
            time_ms: header.time_ms,
        }
    }

    /// Everything committing this block writes, with the certificate that
    /// decided it, for [`state::Store::commit`].
    pub fn into_writes(self, certificate: &[u8]) -> BlockWrites {
        let head = self.head();
        let receipts = self
            .receipts
            .into_iter()
            .enumerate()
            .map(|(index, receipt)| {
                let location = TxLocation {
                    height: head.height,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                };
                (receipt.tx_hash, location, receipt)
            })
            .collect();
        let changes = self.changes;
        BlockWrites {
            block: Some((self.block, self.bytes.to_vec())),
            certificate: certificate.to_vec(),
            receipts,
            state: changes
                .storage
                .into_iter()
                .flat_map(|(contract, entries)| {
                    entries
                        .into_iter()
                        .map(move |(key, value)| ((contract, key), value))
                })
                .collect(),
            accounts: changes.accounts.into_iter().collect(),
            contracts: changes.contracts.into_iter().collect(),
            code: changes.code.into_iter().collect(),
            abis: changes.abis.into_iter().collect(),
            tree: self.tree,
            head,
        }
    }
}

/// Executes blocks with one VM on one chain. It holds no state and takes
/// no locks: callers serialise executions against commits.
#[derive(Debug, Clone, Copy)]
pub struct Executor<'a> {
    vm: &'a Vm,
    genesis: &'a Genesis,
}

impl<'a> Executor<'a> {
    pub fn new(vm: &'a Vm, genesis: &'a Genesis) -> Self {
        Executor { vm, genesis }
    }

    /// Executes `transactions` on `snapshot` (whose head is `next.parent`)
    /// as the next block, and returns the block with its roots.
    pub fn execute_block(
        &self,
        snapshot: &StateSnapshot<'_>,
        next: &NextBlock,
        transactions: Vec<Arc<SignedTransaction>>,
        mode: Mode,
    ) -> Result<BlockExecution, ExecError> {
        let height = next.parent.height + 1;
        let block_info = BlockInfo {
            height,
            time_ms: next.time_ms,
        };
        let mut changes = Changes::default();
        let mut included = Vec::with_capacity(transactions.len());
        let mut receipts = Vec::with_capacity(transactions.len());
        let mut gas_used = 0u64;
        for (index, tx) in transactions.into_iter().enumerate() {
            let bytes = tx.encoded_len();
            let intrinsic = match check_transaction(self.genesis, &tx, bytes) {
                Ok(intrinsic) => intrinsic,
                Err(error) if mode == Mode::Verify => {
                    return Err(ExecError::InvalidTransaction { index, error });
                }
                Err(_) => continue,
            };
            let sender = tx.tx.sender;
            let account = View {
                snapshot,
                changes: &changes,
                deploy: None,
            }
            .account(&sender)?;
            if account.nonce != tx.tx.nonce {
                if mode == Mode::Verify {
                    let error = if tx.tx.nonce < account.nonce {
                        TxError::NonceUsed {
                            expected: account.nonce,
                            found: tx.tx.nonce,
                        }
                    } else {
                        TxError::NonceTooFarAhead {
                            expected: account.nonce,
                            found: tx.tx.nonce,
                        }
                    };
                    return Err(ExecError::InvalidTransaction { index, error });
                }
                continue;
            }
            let mut updated = account;
            updated.nonce += 1;
            changes.accounts.insert(sender, updated);
            let receipt =
                execute_transaction(self.vm, snapshot, &mut changes, &tx, intrinsic, block_info)
                    .map_err(|error| ExecError::TransactionFailed { index, error })?;
            gas_used += receipt.gas_used;
            receipts.push(receipt);
            included.push(Arc::unwrap_or_clone(tx));
        }

        let (state_root, tree) = state::tree::apply(&snapshot.tree_reader(), &changes, height)?;
        let tx_hashes: Vec<Hash> = included.iter().map(SignedTransaction::hash).collect();
        let receipt_hashes: Vec<Hash> = receipts.iter().map(Receipt::hash).collect();
        let block = Block {
            header: Header {
                height,
                time_ms: next.time_ms,
                parent: next.parent.block_hash,
                proposer: next.proposer,
                tx_root: merkle_root(&tx_hashes),
                receipts_root: merkle_root(&receipt_hashes),
                state_root,
                gas_used,
            },
            transactions: included,
        };
        let bytes = Bytes::from(block.encode());
        Ok(BlockExecution {
            block,
            bytes,
            receipts,
            changes,
            tree,
        })
    }
}
