//! The application loop: Malachite asks, the chain answers.
//!
//! Every message gets its reply, even on failure, because Malachite waits
//! for it. Work that executes contracts runs on blocking threads; waiting
//! for transactions to propose runs in its own task so that the loop keeps
//! serving syncing peers and incoming proposals meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::VoteExtensionError;
use malachitebft_app_channel::app::engine::host::{Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::StreamId;
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, HeightParams, LinearTimeouts, Round, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use tokio::sync::mpsc;

use super::codec::{UndecidedRecord, decode_certificate, encode_certificate};
use super::context::{BlockId, CairnContext, Height, ValidatorAddress, ValidatorSet};
use super::signing::{SignatureVerifier, ValidatorSigner};
use super::streaming::{self, AssembledProposal, Streams};
use crate::chain::{BlockRejected, ConsensusHost, ExecutedBlock};
use crate::types::{Block, decode_exact};

/// The proposer stops waiting for transactions this long before the
/// propose timeout, to leave time to build and stream the block.
/// The parts of proposals seen at the current height, by block.
type KnownParts = Arc<Mutex<HashMap<(Height, BlockId), Vec<super::context::ProposalPart>>>>;

const BUILD_MARGIN: Duration = Duration::from_millis(1_000);
/// How often a waiting proposer looks at the mempool.
const MEMPOOL_POLL: Duration = Duration::from_millis(20);
/// Decided blocks in one sync response, and their total size: below the
/// engine's response limit (`MAX_SYNC_RESPONSE_BYTES`).
const MAX_SYNC_BATCH: usize = 16;
pub(super) const MAX_SYNC_RESPONSE_BYTES: usize = 3 * crate::limits::MAX_BLOCK_BYTES;
/// Complete proposals for heights after the next one are kept (at most this
/// many) until their height starts.
const MAX_FUTURE_PROPOSALS: usize = 32;

pub(super) struct App<H> {
    pub(super) host: Arc<H>,
    pub(super) signer: Option<ValidatorSigner>,
    pub(super) verifier: SignatureVerifier,
    pub(super) validators: ValidatorSet,
    pub(super) timeouts: LinearTimeouts,
    pub(super) target_block_time: Duration,
    pub(super) max_idle_block_interval: Duration,
    pub(super) streams: Streams,
    /// Proposals for later heights, verified when their height starts.
    pub(super) future: Vec<AssembledProposal>,
    /// The parts of every proposal seen at the current height, by block, to
    /// re-stream when consensus asks.
    pub(super) known_parts: KnownParts,
    pub(super) stream_nonce: u64,
}

impl<H: ConsensusHost> App<H> {
    fn params(&self) -> HeightParams<CairnContext> {
        HeightParams::new(
            self.validators.clone(),
            self.timeouts,
            Some(self.target_block_time),
        )
    }

    fn next_height(&self) -> Height {
        Height(self.host.committed_height() + 1)
    }

    pub(super) async fn run(mut self, mut channels: Channels<CairnContext>) -> anyhow::Result<()> {
        while let Some(message) = channels.consensus.recv().await {
            self.handle(message, &channels.network).await;
        }
        anyhow::bail!("the consensus engine stopped")
    }

    async fn handle(
        &mut self,
        message: AppMsg<CairnContext>,
        network: &mpsc::Sender<NetworkMsg<CairnContext>>,
    ) {
        match message {
            AppMsg::ConsensusReady { reply } => {
                let height = self.next_height();
                tracing::info!(%height, "consensus ready");
                let _ = reply.send((height, self.params()));
            }

            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                tracing::debug!(%height, %round, %proposer, ?role, "round started");
                let values = self.started_round(height, round).await;
                let _ = reply_value.send(values);
            }

            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => {
                let Some(signer) = self.signer.clone() else {
                    tracing::error!("asked to propose, but this node is not a validator");
                    return;
                };
                self.stream_nonce += 1;
                let proposal = Proposing {
                    host: Arc::clone(&self.host),
                    signer,
                    network: network.clone(),
                    known_parts: Arc::clone(&self.known_parts),
                    idle_wait: self
                        .max_idle_block_interval
                        .min(timeout.saturating_sub(BUILD_MARGIN)),
                    stream_id: stream_id(height, round, self.stream_nonce),
                };
                tokio::spawn(async move {
                    match proposal.propose(height, round).await {
                        Ok(value) => {
                            let _ = reply.send(value);
                        }
                        Err(error) => {
                            tracing::error!(%height, %round, "could not propose: {error:#}")
                        }
                    }
                });
            }

            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let value = match self.streams.receive(from, published_by, part) {
                    Ok(Some(proposal)) => self.received_proposal(proposal).await,
                    Ok(None) => None,
                    Err(error) => {
                        tracing::warn!(peer = %from, "dropped a proposal stream: {error}");
                        None
                    }
                };
                let _ = reply.send(value);
            }

            AppMsg::Decided {
                certificate,
                extensions,
                reply,
            } => {
                let certificate = ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                    certificate,
                    extensions,
                );
                self.commit(&certificate).await;
                let _ = reply.send(());
            }

            AppMsg::Finalized {
                certificate, reply, ..
            } => {
                let decided = certificate.height;
                if self.host.committed_height() < decided.0 {
                    // `Decided` could not commit; one more try before the
                    // height is restarted (and sync fetches the block).
                    let certificate =
                        ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                            certificate,
                            Default::default(),
                        );
                    self.commit(&certificate).await;
                }
                let next = self.next_height();
                // Incomplete streams are kept: a faster proposer may already
                // be streaming the next height's block. Stale ones are
                // evicted by the reassembler's bound, and a stale proposal
                // that completes is dropped by `received_proposal`.
                self.future.retain(|proposal| proposal.height >= next);
                self.known_parts
                    .lock()
                    .expect("known parts lock")
                    .retain(|(height, _), _| *height >= next);
                let reply_value = if next.0 > decided.0 {
                    Next::Start(next, self.params())
                } else {
                    tracing::error!(height = %decided, "the decided block is not committed; restarting the height");
                    Next::Restart(next, self.params())
                };
                let _ = reply.send(reply_value);
            }

            AppMsg::GetDecidedValues { range, reply } => {
                let values = self.decided_values(range.start().0, range.end().0);
                let _ = reply.send(values);
            }

            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(self.host.earliest_height()));
            }

            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self
                    .synced_value(height, round, proposer, value_bytes)
                    .await;
                let _ = reply.send(outcome);
            }

            AppMsg::RestreamProposal {
                height, value_id, ..
            } => {
                let parts = self
                    .known_parts
                    .lock()
                    .expect("known parts lock")
                    .get(&(height, value_id))
                    .cloned();
                match parts {
                    Some(parts) => {
                        self.stream_nonce += 1;
                        let id = stream_id(height, Round::Nil, self.stream_nonce);
                        publish(network, id, &parts).await;
                    }
                    None => tracing::debug!(%height, %value_id, "nothing to re-stream"),
                }
            }

            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }

            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                // Cairn does not use vote extensions.
                let verdicts = extensions
                    .into_iter()
                    .map(|(address, _)| (address, Err(VoteExtensionError::InvalidVoteExtension)))
                    .collect();
                let _ = reply.send(verdicts);
            }
        }
    }

    /// Proposals stored for this round (after a restart) and proposals that
    /// arrived before their height started, re-executed.
    async fn started_round(
        &mut self,
        height: Height,
        round: Round,
    ) -> Vec<ProposedValue<CairnContext>> {
        let mut values = Vec::new();
        if height != self.next_height() {
            return values;
        }
        let early: Vec<_> = {
            let (now, later) = std::mem::take(&mut self.future)
                .into_iter()
                .partition(|proposal| proposal.height == height);
            self.future = later;
            now
        };
        for proposal in early {
            if let Some(value) = self.received_proposal(proposal).await
                && value.round == round
            {
                values.push(value);
            }
        }
        let Some(round_number) = round.as_u32() else {
            return values;
        };
        let records = match self.host.undecided_proposals(height.0, round_number) {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%height, %round, "reading stored proposals: {error:#}");
                return values;
            }
        };
        for record in records {
            let record = match UndecidedRecord::decode(&record) {
                Ok(record) => record,
                Err(error) => {
                    tracing::error!(%height, %round, "a stored proposal is unreadable: {error}");
                    continue;
                }
            };
            let block = Bytes::from(record.block);
            let verdict = verify(&self.host, height, record.proposer, block.clone()).await;
            if let Some(value) = proposed_value(
                height,
                record.round,
                record.valid_round,
                record.proposer,
                &block,
                verdict,
            ) && !values.iter().any(|known| known.value == value.value)
            {
                values.push(value);
            }
        }
        tracing::debug!(%height, %round, replayed = values.len(), "proposals for the round");
        values
    }

    async fn received_proposal(
        &mut self,
        proposal: AssembledProposal,
    ) -> Option<ProposedValue<CairnContext>> {
        let next = self.next_height();
        if proposal.height < next {
            return None;
        }
        let hash = streaming::data_hash(&proposal.block);
        if !self.verifier.verify_proposal_parts(
            &proposal.proposer,
            proposal.height,
            proposal.round,
            proposal.pol_round,
            &hash,
            &proposal.signature,
        ) {
            tracing::warn!(height = %proposal.height, proposer = %proposal.proposer, "dropped a proposal with a bad signature");
            return None;
        }
        if proposal.height > next {
            if self.future.len() < MAX_FUTURE_PROPOSALS && proposal.height.0 <= next.0 + 2 {
                self.future.push(proposal);
            }
            return None;
        }
        let AssembledProposal {
            height,
            round,
            pol_round,
            proposer,
            block,
            parts,
            ..
        } = proposal;
        let started = Instant::now();
        let block = Bytes::from(block);
        let verdict = verify(&self.host, height, proposer, block.clone()).await;
        let value = proposed_value(height, round, pol_round, proposer, &block, verdict)?;
        tracing::info!(
            %height, %round, %proposer, block = %value.value, validity = ?value.validity,
            millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "verified a proposal"
        );
        self.known_parts
            .lock()
            .expect("known parts lock")
            .insert((height, value.value), parts);
        if value.validity == Validity::Valid
            && let Some(round_number) = round.as_u32()
        {
            let record = UndecidedRecord {
                round,
                valid_round: pol_round,
                proposer,
                block: block.to_vec(),
            };
            if let Err(error) =
                self.host
                    .store_undecided_proposal(height.0, round_number, &record.encode())
            {
                tracing::error!(%height, %round, "storing a proposal: {error:#}");
            }
        }
        Some(value)
    }

    async fn commit(&self, certificate: &ExtendedCommitCertificate<CairnContext>) {
        let height = certificate.height;
        if self.host.committed_height() >= height.0 {
            return;
        }
        let host = Arc::clone(&self.host);
        let hash = certificate.value_id.0;
        let encoded = encode_certificate(certificate);
        let result =
            tokio::task::spawn_blocking(move || host.commit_block(height.0, &hash, &encoded)).await;
        match result {
            Ok(Ok(())) => {
                tracing::info!(%height, block = %certificate.value_id, round = %certificate.round, "committed")
            }
            Ok(Err(error)) => tracing::error!(%height, "commit failed: {error:#}"),
            Err(error) => tracing::error!(%height, "commit task failed: {error}"),
        }
    }

    fn decided_values(&self, start: u64, end: u64) -> Vec<RawDecidedValue<CairnContext>> {
        let first = start.max(self.host.earliest_height());
        let last = end.min(self.host.committed_height());
        let mut values = Vec::new();
        let mut total = 0usize;
        for height in first..=last {
            if values.len() >= MAX_SYNC_BATCH {
                break;
            }
            let (block, certificate) = match self.host.decided_block(height) {
                Ok(Some(found)) => found,
                Ok(None) => break,
                Err(error) => {
                    tracing::error!(height, "reading a decided block: {error:#}");
                    break;
                }
            };
            let certificate = match decode_certificate(&certificate) {
                Ok(certificate) => certificate,
                Err(error) => {
                    tracing::error!(height, "a stored certificate is unreadable: {error}");
                    break;
                }
            };
            total += block.len();
            if !values.is_empty() && total > MAX_SYNC_RESPONSE_BYTES {
                break;
            }
            values.push(RawDecidedValue::new(block, certificate));
        }
        values
    }

    async fn synced_value(
        &self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
        bytes: Bytes,
    ) -> SyncedValueOutcome<CairnContext> {
        if height != self.next_height() {
            return SyncedValueOutcome::LocalTransientError;
        }
        match verify(&self.host, height, proposer, bytes.clone()).await {
            Ok(block) => SyncedValueOutcome::Verdict(ProposedValue {
                height,
                round,
                valid_round: Round::Nil,
                proposer,
                value: BlockId(block.hash),
                validity: Validity::Valid,
            }),
            Err(BlockRejected::Local(error)) => {
                tracing::error!(%height, "could not verify a synced block: {error}");
                SyncedValueOutcome::LocalTransientError
            }
            Err(rejected) => {
                tracing::warn!(%height, "a synced block was refused: {rejected}");
                match block_id(&bytes) {
                    Some(value) => SyncedValueOutcome::Verdict(ProposedValue {
                        height,
                        round,
                        valid_round: Round::Nil,
                        proposer,
                        value,
                        validity: Validity::Invalid,
                    }),
                    None => SyncedValueOutcome::PeerFault,
                }
            }
        }
    }
}

/// Building, announcing and streaming this node's proposal.
struct Proposing<H> {
    host: Arc<H>,
    signer: ValidatorSigner,
    network: mpsc::Sender<NetworkMsg<CairnContext>>,
    known_parts: KnownParts,
    idle_wait: Duration,
    stream_id: StreamId,
}

impl<H: ConsensusHost> Proposing<H> {
    async fn propose(
        self,
        height: Height,
        round: Round,
    ) -> anyhow::Result<LocallyProposedValue<CairnContext>> {
        let me = self.signer.address();
        let round_number = round.as_u32().unwrap_or(0);
        // A proposal this node made for this round before a restart must be
        // proposed again, unchanged: anything else would equivocate.
        let mut previous = None;
        for record in self.host.undecided_proposals(height.0, round_number)? {
            if let Ok(record) = UndecidedRecord::decode(&record)
                && record.proposer == me
            {
                previous = Some(record.block);
                break;
            }
        }
        let block = match previous {
            Some(bytes) => verify(&self.host, height, me, Bytes::from(bytes))
                .await
                .map_err(|rejected| {
                    anyhow::anyhow!("re-executing this node's earlier proposal: {rejected}")
                })?,
            None => {
                let deadline = Instant::now() + self.idle_wait;
                while !self.host.has_pending_transactions() && Instant::now() < deadline {
                    tokio::time::sleep(MEMPOOL_POLL).await;
                }
                let host = Arc::clone(&self.host);
                let key = me.0;
                let block = tokio::task::spawn_blocking(move || {
                    host.build_block(height.0, &key, SystemTime::now())
                })
                .await??;
                let record = UndecidedRecord {
                    round,
                    valid_round: Round::Nil,
                    proposer: me,
                    block: block.bytes.to_vec(),
                };
                self.host
                    .store_undecided_proposal(height.0, round_number, &record.encode())?;
                block
            }
        };
        tracing::info!(%height, %round, block = %hex::encode(block.hash), bytes = block.bytes.len(), "proposing");

        let signature = self.signer.sign_proposal_parts(
            height,
            round,
            Round::Nil,
            &streaming::data_hash(&block.bytes),
        );
        let parts = streaming::split(height, round, Round::Nil, me, &block.bytes, signature);
        self.known_parts
            .lock()
            .expect("known parts lock")
            .insert((height, BlockId(block.hash)), parts.clone());
        let value = LocallyProposedValue::new(height, round, BlockId(block.hash));
        publish(&self.network, self.stream_id, &parts).await;
        Ok(value)
    }
}

async fn publish(
    network: &mpsc::Sender<NetworkMsg<CairnContext>>,
    stream_id: StreamId,
    parts: &[super::context::ProposalPart],
) {
    for message in streaming::stream_messages(stream_id, parts) {
        if network
            .send(NetworkMsg::PublishProposalPart(message))
            .await
            .is_err()
        {
            tracing::error!("the consensus network is gone");
            return;
        }
    }
}

fn stream_id(height: Height, round: Round, nonce: u64) -> StreamId {
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(&height.0.to_be_bytes());
    bytes.extend_from_slice(&round.as_i64().to_be_bytes()[4..]);
    bytes.extend_from_slice(&nonce.to_be_bytes());
    StreamId::new(Bytes::from(bytes))
}

async fn verify<H: ConsensusHost>(
    host: &Arc<H>,
    height: Height,
    proposer: ValidatorAddress,
    block: Bytes,
) -> Result<ExecutedBlock, BlockRejected> {
    let host = Arc::clone(host);
    tokio::task::spawn_blocking(move || host.verify_block(height.0, &proposer.0, &block))
        .await
        .unwrap_or_else(|error| Err(BlockRejected::Local(error.to_string())))
}

/// The id of a block that decodes, valid or not.
fn block_id(bytes: &[u8]) -> Option<BlockId> {
    decode_exact::<Block>(bytes)
        .ok()
        .map(|block| BlockId(block.hash()))
}

/// What consensus is told about a proposal: valid, invalid (when the block
/// at least decodes, so it has an id and consensus can prevote nil at once),
/// or nothing.
fn proposed_value(
    height: Height,
    round: Round,
    valid_round: Round,
    proposer: ValidatorAddress,
    block: &[u8],
    verdict: Result<ExecutedBlock, BlockRejected>,
) -> Option<ProposedValue<CairnContext>> {
    let (value, validity) = match verdict {
        Ok(block) => (BlockId(block.hash), Validity::Valid),
        Err(BlockRejected::Invalid(reason)) => {
            tracing::warn!(%height, %round, %proposer, "invalid proposal: {reason}");
            (block_id(block)?, Validity::Invalid)
        }
        Err(BlockRejected::Malformed(reason)) => {
            tracing::warn!(%height, %round, %proposer, "undecodable proposal: {reason}");
            return None;
        }
        Err(BlockRejected::Local(reason)) => {
            tracing::error!(%height, %round, "could not verify a proposal: {reason}");
            return None;
        }
    };
    Some(ProposedValue {
        height,
        round,
        valid_round,
        proposer,
        value,
        validity,
    })
}
