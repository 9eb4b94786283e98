//! What consensus asks of the chain: the boundary between Malachite's
//! application loop ([`crate::consensus`], above) and Cairn's state machine
//! (this module, below it), and the chain's answers. The trait is declared
//! here, with the layer that implements it, so that consensus depends on the
//! chain and never the other way round; consensus is generic over it.
//!
//! Consensus decides on a block *hash*; the block itself travels in proposal
//! parts and in sync responses as its SCALE encoding, and the chain keeps it
//! by hash from the moment it is built or verified until it is committed.

use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::Notify;

use super::{BlockSource, Chain, CommitError, InvalidBlock};

/// blake2b-256 of a block's SCALE-encoded header: what consensus votes on.
pub type BlockHash = [u8; 32];

/// A validator's identity on the chain: its ed25519 public key.
pub type ValidatorKey = [u8; 32];

/// A block built or verified by the chain, ready to be proposed or voted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutedBlock {
    pub hash: BlockHash,
    /// The block's SCALE encoding, as gossiped and stored.
    pub bytes: Bytes,
}

/// Why a proposed or synced block was refused. The text is logged; consensus
/// only needs to know whose fault it is: the proposer's ([`Malformed`],
/// [`Invalid`], which names the failed check) or this node's ([`Local`]).
///
/// [`Malformed`]: BlockRejected::Malformed
/// [`Invalid`]: BlockRejected::Invalid
/// [`Local`]: BlockRejected::Local
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockRejected {
    #[error("undecodable block: {0}")]
    Malformed(String),
    #[error("invalid block: {0}")]
    Invalid(#[from] InvalidBlock),
    /// A local failure (disk, VM): the block may be fine, so the sender is
    /// not to blame.
    #[error("could not verify the block: {0}")]
    Local(String),
}

/// Implemented by [`Chain`]. Methods take `&self`: the chain
/// locks internally, because RPC and the mempool use it concurrently.
/// Heavy methods (`build_block`, `verify_block`, `commit_block`) execute
/// contracts; call them from a blocking task.
pub trait ConsensusHost: Send + Sync + 'static {
    /// The last committed height; 0 before the first block.
    fn committed_height(&self) -> u64;

    /// The lowest height whose block and certificate can still be served to
    /// syncing peers.
    fn earliest_height(&self) -> u64;

    /// Whether the mempool holds transactions to propose. A node waits for
    /// this (up to a maximum idle interval) before it starts the next
    /// height, so that an idle chain does not produce a flood of empty
    /// blocks.
    fn has_pending_transactions(&self) -> bool;

    /// Notified whenever a transaction enters the mempool, to wake whoever
    /// waits for [`ConsensusHost::has_pending_transactions`].
    fn transaction_arrivals(&self) -> &Notify;

    /// Builds the block at `height` (always `committed_height() + 1`) from the
    /// mempool, executes it on the committed state, and returns it with the
    /// post-state root in its header. `proposer` is this node's key; `now` is
    /// the proposer's clock, which the chain clamps so block times increase.
    fn build_block(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        now: SystemTime,
    ) -> anyhow::Result<ExecutedBlock>;

    /// Decodes a block proposed (or synced) for `height`, re-executes it on
    /// the committed state, and accepts it only if its parent, time,
    /// transactions and every root match this node's own execution, and
    /// (for a proposal, as `source` says) its proposer and its time by this
    /// node's clock.
    fn verify_block(
        &self,
        height: u64,
        source: BlockSource,
        bytes: &[u8],
    ) -> Result<ExecutedBlock, BlockRejected>;

    /// Commits the decided block `hash` at `height`, previously returned by
    /// `build_block` or `verify_block`, together with the encoded commit
    /// certificate, in one atomic write. On failure the executed block is
    /// kept, so the commit can be tried again;
    /// [`CommitError::NotExecuted`] asks the caller to verify the block
    /// first (after a restart, nothing executed survives).
    fn commit_block(
        &self,
        height: u64,
        hash: &BlockHash,
        certificate: &[u8],
    ) -> Result<(), CommitError>;

    /// The committed block and its encoded certificate at `height`, for
    /// syncing peers.
    fn decided_block(&self, height: u64) -> anyhow::Result<Option<(Bytes, Bytes)>>;

    /// Persists an undecided proposal (an opaque record encoded by the
    /// consensus module) durably, before returning, so that a node that
    /// crashes mid-height still has every block it told consensus about.
    /// Records at or below the committed height are pruned by
    /// `commit_block`.
    fn store_undecided_proposal(
        &self,
        height: u64,
        round: u32,
        record: &[u8],
    ) -> anyhow::Result<()>;

    /// The records stored for `height` and `round`, in insertion order.
    fn undecided_proposals(&self, height: u64, round: u32) -> anyhow::Result<Vec<Vec<u8>>>;

    /// Every record stored for `height`, by round, then insertion order.
    fn undecided_proposals_at(&self, height: u64) -> anyhow::Result<Vec<Vec<u8>>>;
}

impl ConsensusHost for Chain {
    fn committed_height(&self) -> u64 {
        self.head().height
    }

    fn earliest_height(&self) -> u64 {
        self.store.earliest_height().unwrap_or(1)
    }

    fn has_pending_transactions(&self) -> bool {
        self.lock_mempool().has_executable()
    }

    fn transaction_arrivals(&self) -> &Notify {
        &self.arrivals
    }

    fn build_block(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        now: SystemTime,
    ) -> anyhow::Result<ExecutedBlock> {
        self.build(height, proposer, now)
    }

    fn verify_block(
        &self,
        height: u64,
        source: BlockSource,
        bytes: &[u8],
    ) -> Result<ExecutedBlock, BlockRejected> {
        self.verify_from(height, source, bytes)
    }

    fn commit_block(
        &self,
        height: u64,
        hash: &BlockHash,
        certificate: &[u8],
    ) -> Result<(), CommitError> {
        self.commit(height, hash, certificate)
    }

    fn decided_block(&self, height: u64) -> anyhow::Result<Option<(Bytes, Bytes)>> {
        let Some(block) = self.store.block_bytes(height)? else {
            return Ok(None);
        };
        let certificate = self.store.certificate(height)?.unwrap_or_default();
        Ok(Some((Bytes::from(block), Bytes::from(certificate))))
    }

    fn store_undecided_proposal(
        &self,
        height: u64,
        round: u32,
        record: &[u8],
    ) -> anyhow::Result<()> {
        self.store.store_undecided(height, round, record)
    }

    fn undecided_proposals(&self, height: u64, round: u32) -> anyhow::Result<Vec<Vec<u8>>> {
        self.store.undecided(height, round)
    }

    fn undecided_proposals_at(&self, height: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        self.store.undecided_at(height)
    }
}
