//! A block's state transition: its transactions, one after the other, on a
//! snapshot of the committed state.

use std::sync::Arc;

use anyhow::anyhow;
use bytes::Bytes;
use cairn_vm::{BlockInfo, Vm};
use parity_scale_codec::Encode;

use super::admission::check_unsigned;
use super::signatures::VerifiedSignatures;
use super::transaction::{account, credit, debit, execute_transaction};
use crate::genesis::Genesis;
use crate::state::{self, BlockWrites, Changes, Head, StateSnapshot, TxLocation};
use crate::types::{
    Address, Block, Hash, Header, Receipt, SignedTransaction, TxError, merkle_root,
};

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
    /// What a builder left out, and why (always empty when verifying).
    pub skipped: Vec<(Hash, TxError)>,
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
            chain: changes.chain,
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
    genesis_hash: Hash,
    /// Signatures known to verify; without it every one is verified.
    signatures: Option<&'a VerifiedSignatures>,
}

/// What the block has spent so far.
#[derive(Debug, Default)]
struct BlockTotals {
    gas_used: u64,
    burned: u128,
}

impl<'a> Executor<'a> {
    pub fn new(vm: &'a Vm, genesis: &'a Genesis) -> Self {
        Self::with_genesis_hash(vm, genesis, genesis.hash())
    }

    /// An executor for a chain that knows its genesis hash already (a
    /// genesis with many accounts takes a while to hash).
    pub fn with_genesis_hash(vm: &'a Vm, genesis: &'a Genesis, genesis_hash: Hash) -> Self {
        Executor {
            vm,
            genesis,
            genesis_hash,
            signatures: None,
        }
    }

    /// This executor, trusting the signatures `signatures` remembers; when
    /// it verifies a block, it checks the others there first (across the
    /// cores) and remembers those that hold.
    pub fn with_signatures(self, signatures: &'a VerifiedSignatures) -> Self {
        Executor {
            signatures: Some(signatures),
            ..self
        }
    }

    /// Executes `transactions` on `snapshot` (whose head is `next.parent`)
    /// as the next block, and returns the block with its roots.
    ///
    /// Each transaction must fit the gas the block has left (by its gas
    /// limit), pay at least the block's base fee, carry its sender's next
    /// nonce and be covered by its sender's balance (`gas_limit ×
    /// gas_price + value`). Its largest fee is taken before it runs and
    /// what it did not use is given back: of the fee for the gas used, the
    /// base fee's part is burned and the rest goes to the proposer, also
    /// when the transaction fails.
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
        let params = &self.genesis.params;
        let mut chain = snapshot.chain_state()?;
        let base_fee = chain.base_fee;
        let proposer = Address(next.proposer);
        let mut changes = Changes::default();
        let mut included = Vec::with_capacity(transactions.len());
        let mut receipts = Vec::with_capacity(transactions.len());
        let mut totals = BlockTotals::default();
        // Each transaction's encoding is hashed once, for the signature
        // check and the block's transaction root.
        let hashes: Vec<Hash> = transactions.iter().map(|tx| tx.hash()).collect();
        if mode == Mode::Verify
            && let Some(signatures) = self.signatures
        {
            let refs: Vec<&SignedTransaction> = transactions.iter().map(AsRef::as_ref).collect();
            signatures.verify_unknown(&refs, &hashes);
        }
        let mut tx_hashes = Vec::with_capacity(transactions.len());
        let mut skipped = Vec::new();
        for (index, (tx, hash)) in transactions.into_iter().zip(hashes).enumerate() {
            let remaining = params.block_gas_limit.saturating_sub(totals.gas_used);
            if mode == Mode::Build && remaining < params.tx_base_gas {
                // No transaction fits any more.
                break;
            }
            let intrinsic = match self.admit(snapshot, &changes, &tx, &hash, remaining, base_fee)? {
                Ok(intrinsic) => intrinsic,
                Err(error) if mode == Mode::Verify => {
                    return Err(ExecError::InvalidTransaction { index, error });
                }
                Err(error) => {
                    skipped.push((hash, error));
                    continue;
                }
            };
            let receipt = self
                .execute_one(
                    snapshot,
                    &mut changes,
                    &tx,
                    intrinsic,
                    block_info,
                    base_fee,
                    &proposer,
                )
                .map_err(|error| ExecError::TransactionFailed { index, error })?;
            totals.gas_used += receipt.gas_used;
            totals.burned = totals
                .burned
                .checked_add(receipt.burned)
                .ok_or_else(|| anyhow!("the block burned more than any supply"))?;
            receipts.push(receipt);
            tx_hashes.push(hash);
            included.push(Arc::unwrap_or_clone(tx));
        }

        chain.total_supply = chain
            .total_supply
            .checked_sub(totals.burned)
            .ok_or_else(|| anyhow!("fees burned more than the supply: the state is corrupt"))?;
        chain.burned = chain
            .burned
            .checked_add(totals.burned)
            .ok_or_else(|| anyhow!("the burned total overflows: the state is corrupt"))?;
        chain.base_fee = params.next_base_fee(base_fee, totals.gas_used);
        changes.chain = Some(chain);

        let (state_root, tree) = state::tree::apply(&snapshot.tree_reader(), &changes, height)?;
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
                gas_used: totals.gas_used,
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
            skipped,
        })
    }

    /// Whether `tx` can go into the block now, the cheap checks first: a
    /// builder skips what fails, a verifier refuses the block. Returns the
    /// intrinsic gas, or why not; `Err` is this node's failure.
    fn admit(
        &self,
        snapshot: &StateSnapshot<'_>,
        changes: &Changes,
        tx: &SignedTransaction,
        hash: &Hash,
        remaining: u64,
        base_fee: u64,
    ) -> anyhow::Result<Result<u64, TxError>> {
        let t = &tx.tx;
        if t.gas_limit > remaining {
            return Ok(Err(TxError::BlockGasExceeded {
                limit: t.gas_limit,
                remaining,
            }));
        }
        if t.gas_price < base_fee {
            return Ok(Err(TxError::BelowBaseFee {
                price: t.gas_price,
                base_fee,
            }));
        }
        let intrinsic = match check_unsigned(self.genesis, &self.genesis_hash, tx, tx.encoded_len())
        {
            Ok(intrinsic) => intrinsic,
            Err(error) => return Ok(Err(error)),
        };
        if !self
            .signatures
            .is_some_and(|signatures| signatures.contains(hash))
            && let Err(error) = tx.verify_signature()
        {
            return Ok(Err(error));
        }
        let sender = account(snapshot, changes, &t.sender)?;
        if sender.nonce != t.nonce {
            return Ok(Err(if t.nonce < sender.nonce {
                TxError::NonceUsed {
                    expected: sender.nonce,
                    found: t.nonce,
                }
            } else {
                TxError::NonceTooFarAhead {
                    expected: sender.nonce,
                    found: t.nonce,
                }
            }));
        }
        // `check_unsigned` refused a cost that overflows.
        let needed = t.max_cost().unwrap_or(u128::MAX);
        if sender.balance < needed {
            return Ok(Err(TxError::InsufficientBalance {
                needed,
                available: sender.balance,
            }));
        }
        Ok(Ok(intrinsic))
    }

    /// Runs an admitted transaction and settles its fee.
    #[allow(clippy::too_many_arguments)]
    fn execute_one(
        &self,
        snapshot: &StateSnapshot<'_>,
        changes: &mut Changes,
        tx: &SignedTransaction,
        intrinsic: u64,
        block: BlockInfo,
        base_fee: u64,
        proposer: &Address,
    ) -> anyhow::Result<Receipt> {
        let t = &tx.tx;
        let mut sender = account(snapshot, changes, &t.sender)?;
        sender.nonce += 1;
        changes.accounts.insert(t.sender, sender);
        debit(snapshot, changes, &t.sender, t.max_fee())?;
        let mut receipt = execute_transaction(self.vm, snapshot, changes, tx, intrinsic, block)?;
        let price = u128::from(t.gas_price);
        let used = u128::from(receipt.gas_used);
        let unused = u128::from(t.gas_limit - receipt.gas_used);
        credit(snapshot, changes, &t.sender, unused * price)?;
        // The price is at least the base fee (checked on admission).
        let tip = used * (price - u128::from(base_fee));
        if tip > 0 {
            credit(snapshot, changes, proposer, tip)?;
        }
        receipt.fee = used * price;
        receipt.burned = used * u128::from(base_fee);
        Ok(receipt)
    }
}
