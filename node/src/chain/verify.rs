//! Verifying a proposed or synced block before a vote: a list of small
//! checks of its header against the committed head, in order, then a
//! re-execution whose roots must be the header's.
//!
//! Who built the block and how its time compares with this node's clock
//! are local checks: they decide what this node votes for, so they apply to
//! proposals only. A block with a commit certificate is final ("Certified
//! is final", docs/DESIGN.md): it is checked only against what every node
//! computes identically (height, parent, time after the parent, the
//! transactions, the roots), whoever proposed it and whatever this node's
//! clock says.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{BlockRejected, Chain, ExecutedBlock, ValidatorKey, lock, now_ms};
use crate::execution::{ExecError, Mode, NextBlock};
use crate::limits::{MAX_BLOCK_BYTES, MAX_BLOCK_TRANSACTIONS};
use crate::state::Head;
use crate::types::{Block, Hash, Header, TxError, decode_exact};

/// How far ahead of this node's clock a proposed block's time may be.
pub const MAX_CLOCK_DRIFT_MS: u64 = 10_000;

/// How a block reached this node, which decides the checks it gets
/// besides the chain's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// A new proposal by the round's proposer: the header names it, and its
    /// time is not ahead of this node's clock by more than
    /// [`MAX_CLOCK_DRIFT_MS`].
    Proposal { proposer: ValidatorKey },
    /// A proposal of a value locked in an earlier round (its proof-of-lock
    /// round is set): built by whoever proposed it then, so the header names
    /// that validator; its time is still checked against the clock.
    Reproposal,
    /// A decided block, with its commit certificate: no local checks.
    Certified,
}

/// Why a block that decodes is invalid: the proposer's fault, one variant
/// per check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidBlock {
    #[error("block for height {header} proposed at height {proposed}")]
    WrongHeight { header: u64, proposed: u64 },
    #[error("conflicts with committed block {height}")]
    ConflictsWithCommitted { height: u64 },
    #[error("names proposer {} but was proposed by {}", hex::encode(.named), hex::encode(.proposer))]
    WrongProposer {
        named: ValidatorKey,
        proposer: ValidatorKey,
    },
    #[error("parent {} is not the committed block {}", hex::encode(.parent), hex::encode(.committed))]
    WrongParent { parent: Hash, committed: Hash },
    #[error("time {time_ms} is not after the parent's {parent_ms}")]
    TimeNotAfterParent { time_ms: u64, parent_ms: u64 },
    #[error("time {time_ms} is more than {MAX_CLOCK_DRIFT_MS} ms ahead of this node's clock")]
    TimeAheadOfClock { time_ms: u64 },
    #[error("{count} transactions; at most {MAX_BLOCK_TRANSACTIONS}")]
    TooManyTransactions { count: usize },
    /// Also a transaction whose gas limit is above what the block has left
    /// (`TxError::BlockGasExceeded`), checked as the block executes.
    #[error("transaction {index}: {error}")]
    InvalidTransaction { index: usize, error: TxError },
    #[error("{what} {} differs from this node's execution {}", hex::encode(.theirs), hex::encode(.ours))]
    RootMismatch {
        what: &'static str,
        theirs: Hash,
        ours: Hash,
    },
    #[error("gas used {theirs} differs from this node's execution {ours}")]
    GasUsedMismatch { theirs: u64, ours: u64 },
}

impl Chain {
    /// Verifies block `height` proposed by `proposer`: decodes it, checks
    /// its header, re-executes it on the committed state and keeps the
    /// result until it is decided.
    pub fn verify(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        bytes: &[u8],
    ) -> Result<ExecutedBlock, BlockRejected> {
        self.verify_from(
            height,
            BlockSource::Proposal {
                proposer: *proposer,
            },
            bytes,
        )
    }

    /// Verifies a decided block `height`, with a valid commit certificate:
    /// whoever proposed it and whatever this node's clock says, it is
    /// executed and kept if it follows the chain's rules.
    pub fn verify_certified(
        &self,
        height: u64,
        bytes: &[u8],
    ) -> Result<ExecutedBlock, BlockRejected> {
        self.verify_from(height, BlockSource::Certified, bytes)
    }

    /// Verifies block `height`, which reached this node as `source`.
    pub fn verify_from(
        &self,
        height: u64,
        source: BlockSource,
        bytes: &[u8],
    ) -> Result<ExecutedBlock, BlockRejected> {
        let _execution = self.lock_execution();
        let started = Instant::now();
        let block = decode_block(bytes)?;
        let hash = block.hash();
        let local = |error: anyhow::Error| BlockRejected::Local(format!("{error:#}"));
        let snapshot = self.store.snapshot();
        let head = snapshot.head().map_err(local)?;
        let header = &block.header;
        check_height(header, height)?;
        if height <= head.height {
            // A block this node already committed, offered again by sync.
            let committed = self.store.block(height).map_err(local)?;
            return match committed {
                Some(committed) if committed.hash() == hash => Ok(ExecutedBlock {
                    hash,
                    bytes: Bytes::copy_from_slice(bytes),
                }),
                _ => Err(InvalidBlock::ConflictsWithCommitted { height }.into()),
            };
        }
        if height != head.height + 1 {
            return Err(BlockRejected::Local(format!(
                "block {height} is ahead of committed height {}",
                head.height
            )));
        }
        if let Some(executed) = lock(&self.executed).get(&hash) {
            return Ok(ExecutedBlock {
                hash,
                bytes: executed.bytes.clone(),
            });
        }
        match source {
            BlockSource::Proposal { proposer } => {
                check_proposer(header, &proposer)?;
                check_clock_drift(header, now_ms())?;
            }
            BlockSource::Reproposal => check_clock_drift(header, now_ms())?,
            BlockSource::Certified => {}
        }
        check_parent(header, &head)?;
        check_time_after_parent(header, &head)?;
        check_transaction_count(&block)?;
        let next = NextBlock {
            parent: head,
            time_ms: header.time_ms,
            proposer: header.proposer,
        };
        let transactions = block.transactions.iter().cloned().map(Arc::new).collect();
        let executed =
            match self
                .executor()
                .execute_block(&snapshot, &next, transactions, Mode::Verify)
            {
                Ok(executed) => executed,
                Err(ExecError::InvalidTransaction { index, error }) => {
                    return Err(InvalidBlock::InvalidTransaction { index, error }.into());
                }
                Err(ExecError::Local(error) | ExecError::TransactionFailed { error, .. }) => {
                    return Err(local(error));
                }
            };
        check_execution(header, &executed.block.header)?;
        debug_assert_eq!(executed.block.hash(), hash);
        self.metrics
            .execution_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(self.remember(executed))
    }
}

/// A block is at most [`MAX_BLOCK_BYTES`] and has exactly one encoding.
fn decode_block(bytes: &[u8]) -> Result<Block, BlockRejected> {
    if bytes.len() > MAX_BLOCK_BYTES {
        return Err(BlockRejected::Malformed(format!(
            "{} bytes; at most {MAX_BLOCK_BYTES}",
            bytes.len()
        )));
    }
    decode_exact(bytes).map_err(BlockRejected::Malformed)
}

/// The header names the height it was proposed at.
fn check_height(header: &Header, proposed: u64) -> Result<(), InvalidBlock> {
    if header.height != proposed {
        return Err(InvalidBlock::WrongHeight {
            header: header.height,
            proposed,
        });
    }
    Ok(())
}

/// The header names the validator that proposed it.
fn check_proposer(header: &Header, proposer: &ValidatorKey) -> Result<(), InvalidBlock> {
    if header.proposer != *proposer {
        return Err(InvalidBlock::WrongProposer {
            named: header.proposer,
            proposer: *proposer,
        });
    }
    Ok(())
}

/// The block builds on the committed head.
fn check_parent(header: &Header, head: &Head) -> Result<(), InvalidBlock> {
    if header.parent != head.block_hash {
        return Err(InvalidBlock::WrongParent {
            parent: header.parent,
            committed: head.block_hash,
        });
    }
    Ok(())
}

/// Block times strictly increase.
fn check_time_after_parent(header: &Header, head: &Head) -> Result<(), InvalidBlock> {
    if header.time_ms <= head.time_ms {
        return Err(InvalidBlock::TimeNotAfterParent {
            time_ms: header.time_ms,
            parent_ms: head.time_ms,
        });
    }
    Ok(())
}

/// A proposer cannot push block times far into the future.
fn check_clock_drift(header: &Header, now_ms: u64) -> Result<(), InvalidBlock> {
    if header.time_ms > now_ms.saturating_add(MAX_CLOCK_DRIFT_MS) {
        return Err(InvalidBlock::TimeAheadOfClock {
            time_ms: header.time_ms,
        });
    }
    Ok(())
}

fn check_transaction_count(block: &Block) -> Result<(), InvalidBlock> {
    let count = block.transactions.len();
    if count > MAX_BLOCK_TRANSACTIONS {
        return Err(InvalidBlock::TooManyTransactions { count });
    }
    Ok(())
}

/// The header's roots and gas are those of this node's own execution.
fn check_execution(theirs: &Header, ours: &Header) -> Result<(), InvalidBlock> {
    for (what, theirs, ours) in [
        ("state root", theirs.state_root, ours.state_root),
        ("receipts root", theirs.receipts_root, ours.receipts_root),
        ("transactions root", theirs.tx_root, ours.tx_root),
    ] {
        if theirs != ours {
            return Err(InvalidBlock::RootMismatch { what, theirs, ours });
        }
    }
    if theirs.gas_used != ours.gas_used {
        return Err(InvalidBlock::GasUsedMismatch {
            theirs: theirs.gas_used,
            ours: ours.gas_used,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Action, Address, Transaction};

    fn head() -> Head {
        Head {
            height: 4,
            block_hash: [4; 32],
            state_root: [5; 32],
            time_ms: 1_000,
        }
    }

    /// A header that passes every check against `head()`.
    fn header() -> Header {
        Header {
            height: 5,
            time_ms: 1_001,
            parent: [4; 32],
            proposer: [9; 32],
            tx_root: [1; 32],
            receipts_root: [2; 32],
            state_root: [3; 32],
            gas_used: 10,
        }
    }

    fn block_of(gas_limits: &[u64]) -> Block {
        let key = crate::keys::PrivateKey::from([3; 32]);
        let transactions = gas_limits
            .iter()
            .map(|&gas_limit| {
                Transaction {
                    chain_id: "test".into(),
                    genesis_hash: [0; 32],
                    sender: Address([3; 32]),
                    nonce: 0,
                    gas_limit,
                    gas_price: 1,
                    value: 0,
                    action: Action::Call {
                        contract: Address([0; 32]),
                        method: "m".into(),
                        input: Vec::new(),
                    },
                }
                .sign(&key)
            })
            .collect();
        Block {
            header: header(),
            transactions,
        }
    }

    #[test]
    fn an_oversized_or_undecodable_block_is_malformed() {
        let too_big = vec![0; MAX_BLOCK_BYTES + 1];
        assert!(matches!(
            decode_block(&too_big),
            Err(BlockRejected::Malformed(reason)) if reason.contains("at most")
        ));
        assert!(matches!(
            decode_block(&[1, 2, 3]),
            Err(BlockRejected::Malformed(_))
        ));
        let block = block_of(&[1]);
        let mut bytes = parity_scale_codec::Encode::encode(&block);
        assert_eq!(decode_block(&bytes).unwrap(), block);
        bytes.push(0);
        assert!(matches!(
            decode_block(&bytes),
            Err(BlockRejected::Malformed(_))
        ));
    }

    #[test]
    fn the_header_must_name_its_height() {
        check_height(&header(), 5).unwrap();
        assert_eq!(
            check_height(&header(), 6),
            Err(InvalidBlock::WrongHeight {
                header: 5,
                proposed: 6
            })
        );
    }

    #[test]
    fn the_header_must_name_its_proposer() {
        check_proposer(&header(), &[9; 32]).unwrap();
        assert_eq!(
            check_proposer(&header(), &[8; 32]),
            Err(InvalidBlock::WrongProposer {
                named: [9; 32],
                proposer: [8; 32]
            })
        );
    }

    #[test]
    fn the_parent_must_be_the_committed_head() {
        check_parent(&header(), &head()).unwrap();
        let other = Header {
            parent: [7; 32],
            ..header()
        };
        assert!(matches!(
            check_parent(&other, &head()),
            Err(InvalidBlock::WrongParent {
                parent: [7, ..],
                committed: [4, ..]
            })
        ));
    }

    #[test]
    fn block_time_must_pass_the_parent_and_not_the_clock() {
        check_time_after_parent(&header(), &head()).unwrap();
        let same = Header {
            time_ms: 1_000,
            ..header()
        };
        assert_eq!(
            check_time_after_parent(&same, &head()),
            Err(InvalidBlock::TimeNotAfterParent {
                time_ms: 1_000,
                parent_ms: 1_000
            })
        );
        let now = 1_000;
        let at_limit = Header {
            time_ms: now + MAX_CLOCK_DRIFT_MS,
            ..header()
        };
        check_clock_drift(&at_limit, now).unwrap();
        let beyond = Header {
            time_ms: now + MAX_CLOCK_DRIFT_MS + 1,
            ..header()
        };
        assert!(matches!(
            check_clock_drift(&beyond, now),
            Err(InvalidBlock::TimeAheadOfClock { .. })
        ));
        // A clock near the end of time does not overflow.
        check_clock_drift(&beyond, u64::MAX).unwrap();
    }

    #[test]
    fn the_transaction_count_is_bounded() {
        check_transaction_count(&block_of(&[1; 3])).unwrap();
        let many = Block {
            header: header(),
            transactions: vec![block_of(&[1]).transactions[0].clone(); MAX_BLOCK_TRANSACTIONS + 1],
        };
        assert_eq!(
            check_transaction_count(&many),
            Err(InvalidBlock::TooManyTransactions {
                count: MAX_BLOCK_TRANSACTIONS + 1
            })
        );
    }

    #[test]
    fn every_root_and_the_gas_must_match_the_execution() {
        check_execution(&header(), &header()).unwrap();
        for (what, change) in [
            (
                "state root",
                (|h: &mut Header| h.state_root[0] ^= 1) as fn(&mut Header),
            ),
            ("receipts root", |h| h.receipts_root[0] ^= 1),
            ("transactions root", |h| h.tx_root[0] ^= 1),
        ] {
            let mut ours = header();
            change(&mut ours);
            match check_execution(&header(), &ours) {
                Err(InvalidBlock::RootMismatch { what: found, .. }) => assert_eq!(found, what),
                other => panic!("{what}: {other:?}"),
            }
        }
        let ours = Header {
            gas_used: 11,
            ..header()
        };
        assert_eq!(
            check_execution(&header(), &ours),
            Err(InvalidBlock::GasUsedMismatch {
                theirs: 10,
                ours: 11
            })
        );
    }

    #[test]
    fn the_messages_say_what_failed() {
        let error = InvalidBlock::WrongParent {
            parent: [0xab; 32],
            committed: [0xcd; 32],
        };
        assert_eq!(
            BlockRejected::from(error).to_string(),
            format!(
                "invalid block: parent {} is not the committed block {}",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        );
    }
}
