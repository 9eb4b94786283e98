//! The application loop: Malachite asks, the chain answers.
//!
//! Every message gets its reply, even on failure, because Malachite waits
//! for it. Work that executes contracts runs on blocking threads; waiting
//! for transactions to propose runs in its own task so that the loop keeps
//! serving syncing peers and incoming proposals meanwhile.
//!
//! Work only for who may ask: a proposal is checked against the proposer of
//! its height and round, then its signature, before it is executed or
//! stored; a round executes one proposal at most (a second value from the
//! same proposer is not looked at); proposals for later rounds and heights
//! wait, bounded, until their round starts.
//!
//! Whatever a vote depends on is durable before consensus hears of it: a
//! block is stored, synced, before its `ProposedValue` goes back (a block
//! that cannot be stored is not offered); a decided block is committed
//! before `Decided` is answered, retried if the store fails, and
//! re-executed from its stored proposal if a restart lost its execution.
//! A commit that cannot be done stops the loop, and the node, rather than
//! restart the height: a restart clears Malachite's WAL of the height, the
//! record of the votes this validator already sent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
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
use tokio::sync::{mpsc, watch};

use super::codec::{UndecidedRecord, decode_certificate, encode_certificate};
use super::context::{BlockId, CairnContext, Height, ProposalPart, ValidatorAddress, ValidatorSet};
use super::signing::{SignatureVerifier, ValidatorSigner};
use super::streaming::{self, AssembledProposal, MAX_HEIGHTS_AHEAD, Streams};
use crate::chain::{BlockRejected, BlockSource, CommitError, ConsensusHost, ExecutedBlock};
use crate::faults::crash_point;
use crate::metrics::ConsensusMetrics;
use crate::types::{Block, decode_exact};

/// The least time between two looks at the mempool while a node waits
/// for transactions to start a height: a flood of transactions that cannot
/// be proposed wakes it at most this often.
const MEMPOOL_RECHECK: Duration = Duration::from_millis(5);
/// Decided blocks in one sync response, and their total size: below the
/// engine's response limit (`MAX_SYNC_RESPONSE_BYTES`).
const MAX_SYNC_BATCH: usize = 16;
pub(super) const MAX_SYNC_RESPONSE_BYTES: usize = 3 * crate::limits::MAX_BLOCK_BYTES;
/// Proposals for rounds this far past the current one (or, at later
/// heights, below it) are kept until their round starts; later ones are
/// dropped, as Malachite drops votes and proposals beyond its own lookahead.
const MAX_ROUNDS_AHEAD: i64 = 4;
/// Commit attempts of a decided block before the node stops.
const COMMIT_ATTEMPTS: u32 = 6;
/// The first wait between commit attempts; it doubles each time (1.5 s in
/// all).
const COMMIT_RETRY: Duration = Duration::from_millis(50);

/// The parts of every proposal seen at the next heights, by height, round
/// and block, to stream again when consensus asks.
type KnownParts = Arc<Mutex<HashMap<(Height, Round, BlockId), Vec<ProposalPart>>>>;

/// How a round was answered: the hash of the proposal's block and the value
/// consensus was given (none for a block that does not decode).
type Answer = ([u8; 32], Option<ProposedValue<CairnContext>>);

pub(super) struct App<H> {
    pub(super) host: Arc<H>,
    pub(super) signer: Option<ValidatorSigner>,
    pub(super) verifier: SignatureVerifier,
    pub(super) validators: ValidatorSet,
    pub(super) timeouts: LinearTimeouts,
    pub(super) target_block_time: Duration,
    pub(super) max_idle_block_interval: Duration,
    pub(super) streams: Streams,
    /// The height and round consensus started last.
    pub(super) current: (Height, Round),
    /// Proposals for a round or height that has not started, at most one
    /// per height and round (the round's proposer's first), verified when
    /// it starts.
    pub(super) future: BTreeMap<(Height, Round), AssembledProposal>,
    /// What each round of the coming heights was answered.
    pub(super) answered: HashMap<(Height, Round), Answer>,
    pub(super) known_parts: KnownParts,
    pub(super) stream_nonce: u64,
    pub(super) metrics: ConsensusMetrics,
    /// The highest height this node has seen the network reach: a valid
    /// proposal for it, or a block synced below it. A node that waits for
    /// transactions to start a height stops waiting once the network is
    /// there.
    pub(super) network_height: watch::Sender<u64>,
}

/// What the application loop is made of, besides the chain.
pub(super) struct AppParts {
    pub(super) signer: Option<ValidatorSigner>,
    pub(super) verifier: SignatureVerifier,
    pub(super) validators: ValidatorSet,
    pub(super) timeouts: LinearTimeouts,
    pub(super) target_block_time: Duration,
    pub(super) max_idle_block_interval: Duration,
    pub(super) metrics: ConsensusMetrics,
}

impl<H: ConsensusHost> App<H> {
    pub(super) fn new(host: Arc<H>, parts: AppParts) -> Self {
        App {
            host,
            streams: Streams::new(&parts.validators),
            signer: parts.signer,
            verifier: parts.verifier,
            validators: parts.validators,
            timeouts: parts.timeouts,
            target_block_time: parts.target_block_time,
            max_idle_block_interval: parts.max_idle_block_interval,
            current: (Height(0), Round::Nil),
            future: BTreeMap::new(),
            answered: HashMap::new(),
            known_parts: Arc::new(Mutex::new(HashMap::new())),
            stream_nonce: 0,
            metrics: parts.metrics,
            network_height: watch::Sender::new(0),
        }
    }

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

    /// The round consensus is in at `height`; `Nil` before it starts there.
    fn round_at(&self, height: Height) -> Round {
        if self.current.0 == height {
            self.current.1
        } else {
            Round::Nil
        }
    }

    pub(super) async fn run(mut self, mut channels: Channels<CairnContext>) -> anyhow::Result<()> {
        while let Some(message) = channels.consensus.recv().await {
            self.handle(message, &channels.network).await?;
        }
        bail!("the consensus engine stopped")
    }

    /// Answers one message. An error is fatal: the loop stops.
    async fn handle(
        &mut self,
        message: AppMsg<CairnContext>,
        network: &mpsc::Sender<NetworkMsg<CairnContext>>,
    ) -> anyhow::Result<()> {
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
                self.current = (height, round);
                let values = self.started_round(height, round).await;
                let _ = reply_value.send(values);
            }

            AppMsg::GetValue {
                height,
                round,
                timeout: _,
                reply,
            } => {
                let Some(signer) = self.signer.clone() else {
                    tracing::error!("asked to propose, but this node is not a validator");
                    return Ok(());
                };
                self.stream_nonce += 1;
                let proposal = Proposing {
                    host: Arc::clone(&self.host),
                    signer,
                    network: network.clone(),
                    known_parts: Arc::clone(&self.known_parts),
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
                let next = self.next_height();
                let received =
                    self.streams
                        .receive(from, published_by, part, &self.validators, next);
                let value = match received {
                    Ok(Some(proposal)) => self.received_proposal(proposal).await,
                    Ok(None) => None,
                    Err(error) => {
                        self.metrics.refused_stream_messages.inc();
                        // Debug only: anyone can send these, and logs are
                        // not theirs to fill.
                        tracing::debug!(peer = %from, "refused a proposal part: {error}");
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
                self.commit(&certificate).await?;
                let _ = reply.send(());
            }

            AppMsg::Finalized {
                certificate, reply, ..
            } => {
                let decided = certificate.height;
                crash_point("finalized", decided.0);
                if self.host.committed_height() < decided.0 {
                    // `Decided` commits before it answers; this is only a
                    // safeguard.
                    let certificate =
                        ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                            certificate,
                            Default::default(),
                        );
                    self.commit(&certificate).await?;
                }
                let next = self.next_height();
                self.forget_below(next);
                // The wait for transactions comes before the height starts,
                // not inside its first round: the round's proposer then
                // builds at once, and a silent proposer costs only the
                // propose timeout, which need not cover an idle wait.
                // Nor does it hold back a node that is behind: the others
                // have started the height, or sync is catching it up.
                let params = self.params();
                let host = Arc::clone(&self.host);
                let idle = self.max_idle_block_interval;
                let mut network_height = self.network_height.subscribe();
                tokio::spawn(async move {
                    tokio::select! {
                        () = wait_for_transactions(host.as_ref(), idle) => {}
                        _ = network_height.wait_for(|seen| *seen >= next.0) => {}
                    }
                    let _ = reply.send(Next::Start(next, params));
                });
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
                height,
                round,
                valid_round,
                address,
                value_id,
            } => match self.restream_parts(height, round, valid_round, address, value_id) {
                Some(parts) => {
                    self.stream_nonce += 1;
                    let id = stream_id(height, round, self.stream_nonce);
                    publish(network, id, &parts).await;
                }
                None => tracing::debug!(%height, %round, %value_id, "nothing to re-stream"),
            },

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
        Ok(())
    }

    /// Records that the network has reached `height`.
    fn saw_network_at(&self, height: u64) {
        self.network_height.send_if_modified(|seen| {
            let higher = height > *seen;
            if higher {
                *seen = height;
            }
            higher
        });
    }

    /// Drops what was kept for heights below `next`.
    fn forget_below(&mut self, next: Height) {
        self.streams.prune(next);
        self.future.retain(|(height, _), _| *height >= next);
        self.answered.retain(|(height, _), _| *height >= next);
        self.known_parts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .retain(|(height, _, _), _| *height >= next);
    }

    /// Proposals that arrived before their round started, and (after a
    /// restart) what this node stored for the round, verified.
    async fn started_round(
        &mut self,
        height: Height,
        round: Round,
    ) -> Vec<ProposedValue<CairnContext>> {
        let mut values = Vec::new();
        if height != self.next_height() {
            return values;
        }
        let due: Vec<(Height, Round)> = self
            .future
            .range((height, Round::Nil)..=(height, round))
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            if let Some(proposal) = self.future.remove(&key)
                && let Some(value) = self.execute_proposal(proposal).await
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
            if let Some(value) = self.replay_record(height, record).await
                && !values.iter().any(|known| known.value == value.value)
            {
                values.push(value);
            }
        }
        tracing::debug!(%height, %round, replayed = values.len(), "proposals for the round");
        values
    }

    /// A stored proposal, verified again (its execution did not survive
    /// the restart) and remembered as this round's answer.
    async fn replay_record(
        &mut self,
        height: Height,
        record: UndecidedRecord,
    ) -> Option<ProposedValue<CairnContext>> {
        if !record.certified
            && let Some((hash, value)) = self.answered.get(&(height, record.round))
            && *hash == streaming::data_hash(&record.block)
        {
            // Executed already in this run.
            return value.clone();
        }
        let block = Bytes::from(record.block);
        let source = if record.certified {
            BlockSource::Certified
        } else if record.valid_round != Round::Nil {
            BlockSource::Reproposal
        } else {
            BlockSource::Proposal {
                proposer: record.proposer.0,
            }
        };
        let verdict = verify(&self.host, height, source, block.clone()).await;
        let value = proposed_value(
            height,
            record.round,
            record.valid_round,
            record.proposer,
            &block,
            verdict,
        )?;
        if let Some(signature) = record.signature {
            let parts = streaming::split(
                height,
                record.round,
                record.valid_round,
                record.proposer,
                &block,
                signature,
            );
            self.remember_parts(height, record.round, value.value, parts);
        }
        if !record.certified {
            self.answered.insert(
                (height, record.round),
                (streaming::data_hash(&block), Some(value.clone())),
            );
        }
        Some(value)
    }

    /// A complete proposal stream: checked against who may propose, then
    /// executed now, kept for its round, or dropped.
    async fn received_proposal(
        &mut self,
        proposal: AssembledProposal,
    ) -> Option<ProposedValue<CairnContext>> {
        let next = self.next_height();
        let key = (proposal.height, proposal.round);
        let refuse = |metrics: &ConsensusMetrics, why: &str| {
            metrics.refused_proposals.inc();
            tracing::debug!(
                height = %proposal.height, round = %proposal.round,
                proposer = %proposal.proposer, "refused a proposal: {why}"
            );
            None
        };
        if proposal.height < next {
            return refuse(&self.metrics, "its height is decided");
        }
        // Before any work: only the round's proposer proposes.
        if self
            .validators
            .proposer(proposal.height, proposal.round)
            .address
            != proposal.proposer
        {
            return refuse(&self.metrics, "not the proposer of its round");
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
            return refuse(&self.metrics, "a bad signature");
        }
        if let Some((answered_hash, value)) = self.answered.get(&key) {
            // The same proposal again (re-streamed): the same answer, and
            // no work. Another one: the proposer equivocates; the first
            // stands.
            if *answered_hash == hash {
                return value.clone();
            }
            return refuse(&self.metrics, "a second proposal for its round");
        }
        let ahead =
            proposal.height > next || proposal.round.as_i64() > self.round_at(next).as_i64();
        if ahead {
            let base = self.round_at(proposal.height).as_i64().max(0);
            let in_reach = proposal.height.0 <= next.0.saturating_add(MAX_HEIGHTS_AHEAD)
                && proposal.round.as_i64() <= base + MAX_ROUNDS_AHEAD;
            if !in_reach {
                return refuse(&self.metrics, "too far ahead");
            }
            if self.future.contains_key(&key) {
                return refuse(&self.metrics, "a second proposal for its round");
            }
            let height = proposal.height.0;
            self.future.insert(key, proposal);
            self.saw_network_at(height);
            return None;
        }
        self.execute_proposal(proposal).await
    }

    /// Executes a proposal of the next height whose round has started;
    /// stores it if valid, durably, before consensus hears of it.
    async fn execute_proposal(
        &mut self,
        proposal: AssembledProposal,
    ) -> Option<ProposedValue<CairnContext>> {
        let AssembledProposal {
            height,
            round,
            pol_round,
            proposer,
            block,
            parts,
            signature,
        } = proposal;
        let key = (height, round);
        if height != self.next_height() {
            return None;
        }
        let started = Instant::now();
        let hash = streaming::data_hash(&block);
        let block = Bytes::from(block);
        let source = if pol_round == Round::Nil {
            BlockSource::Proposal {
                proposer: proposer.0,
            }
        } else {
            BlockSource::Reproposal
        };
        self.metrics.executed_proposals.inc();
        let verdict = verify(&self.host, height, source, block.clone()).await;
        if let Err(BlockRejected::Local(reason)) = &verdict {
            // Not the proposer's fault: nothing is recorded, so the block
            // is looked at again if it comes again.
            tracing::error!(%height, %round, "could not verify a proposal: {reason}");
            return None;
        }
        let Some(value) = proposed_value(height, round, pol_round, proposer, &block, verdict)
        else {
            self.answered.insert(key, (hash, None));
            return None;
        };
        tracing::info!(
            %height, %round, %proposer, block = %value.value, validity = ?value.validity,
            millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "verified a proposal"
        );
        if value.validity == Validity::Valid {
            let record = UndecidedRecord {
                round,
                valid_round: pol_round,
                proposer,
                block: block.to_vec(),
                signature: Some(signature),
                certified: false,
            };
            if let Err(error) = store_record(&self.host, height, &record).await {
                // Consensus must not vote for a block this node could lose.
                tracing::error!(%height, %round, "storing a proposal: {error:#}");
                return None;
            }
            crash_point("proposal.stored", height.0);
        }
        self.remember_parts(height, round, value.value, parts);
        self.answered.insert(key, (hash, Some(value.clone())));
        Some(value)
    }

    fn remember_parts(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        parts: Vec<ProposalPart>,
    ) {
        self.known_parts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert((height, round, value), parts);
    }

    /// The parts to publish when consensus asks for a proposal again: this
    /// node's own re-proposal of a value (in a later round, with its lock
    /// round) is signed anew; another proposer's goes out as it signed it.
    fn restream_parts(
        &self,
        height: Height,
        round: Round,
        valid_round: Round,
        address: ValidatorAddress,
        value: BlockId,
    ) -> Option<Vec<ProposalPart>> {
        let known = self
            .known_parts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .filter(|((known_height, _, known_value), _)| {
                *known_height == height && *known_value == value
            })
            .map(|((_, known_round, _), parts)| (*known_round, parts.clone()))
            .collect::<Vec<_>>();
        let stored = || -> Vec<(Round, Vec<ProposalPart>)> {
            let records = self
                .host
                .undecided_proposals_at(height.0)
                .unwrap_or_default();
            records
                .iter()
                .filter_map(|bytes| UndecidedRecord::decode(bytes).ok())
                .filter(|record| block_id(&record.block) == Some(value))
                .filter_map(|record| {
                    let signature = record.signature?;
                    Some((
                        record.round,
                        streaming::split(
                            height,
                            record.round,
                            record.valid_round,
                            record.proposer,
                            &record.block,
                            signature,
                        ),
                    ))
                })
                .collect()
        };
        let candidates = if known.is_empty() { stored() } else { known };
        match &self.signer {
            Some(signer) if signer.address() == address => {
                let (_, parts) = candidates.first()?;
                let block = block_of(parts)?;
                let signature = signer.sign_proposal_parts(
                    height,
                    round,
                    valid_round,
                    &streaming::data_hash(&block),
                );
                Some(streaming::split(
                    height,
                    round,
                    valid_round,
                    address,
                    &block,
                    signature,
                ))
            }
            _ => candidates
                .into_iter()
                .find(|(known_round, _)| *known_round == round)
                .map(|(_, parts)| parts),
        }
    }

    /// Commits a decided block before consensus moves on: retried while the
    /// store fails, re-executed from its stored proposal if its execution
    /// was lost. An error stops the node.
    async fn commit(
        &self,
        certificate: &ExtendedCommitCertificate<CairnContext>,
    ) -> anyhow::Result<()> {
        let height = certificate.height;
        if self.host.committed_height() >= height.0 {
            return Ok(());
        }
        crash_point("decided", height.0);
        let hash = certificate.value_id.0;
        let encoded = Bytes::from(encode_certificate(certificate));
        let mut wait = COMMIT_RETRY;
        let mut reexecuted = false;
        for attempt in 1..=COMMIT_ATTEMPTS {
            let host = Arc::clone(&self.host);
            let certificate_bytes = encoded.clone();
            let result = tokio::task::spawn_blocking(move || {
                host.commit_block(height.0, &hash, &certificate_bytes)
            })
            .await;
            match result {
                Ok(Ok(())) => {
                    tracing::info!(%height, block = %certificate.value_id, round = %certificate.round, "committed");
                    return Ok(());
                }
                Ok(Err(CommitError::NotExecuted(_))) if !reexecuted => {
                    reexecuted = true;
                    self.reexecute_decided(height, BlockId(hash)).await?;
                    continue;
                }
                Ok(Err(error)) => tracing::error!(%height, attempt, "commit failed: {error:#}"),
                Err(error) => tracing::error!(%height, attempt, "commit task failed: {error}"),
            }
            self.metrics.commit_retries.inc();
            if attempt < COMMIT_ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        bail!(
            "block {height} was decided but could not be committed in {COMMIT_ATTEMPTS} attempts; \
             stopping (a restart resumes from the write-ahead log)"
        )
    }

    /// Executes a decided block again from the proposal stored for it.
    async fn reexecute_decided(&self, height: Height, value: BlockId) -> anyhow::Result<()> {
        let records = self
            .host
            .undecided_proposals_at(height.0)
            .context("reading the stored proposals")?;
        let block = records
            .iter()
            .filter_map(|bytes| UndecidedRecord::decode(bytes).ok())
            .find(|record| block_id(&record.block) == Some(value))
            .map(|record| record.block);
        let Some(block) = block else {
            bail!("block {value} was decided at height {height} but is in no stored proposal");
        };
        verify(
            &self.host,
            height,
            BlockSource::Certified,
            Bytes::from(block),
        )
        .await
        .map_err(|rejected| anyhow::anyhow!("executing decided block {value}: {rejected}"))?;
        tracing::info!(%height, block = %value, "executed the decided block again after a restart");
        Ok(())
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

    /// A block decided at `height` and `round`, with a commit certificate
    /// Malachite has checked: applied whoever proposed it and whatever this
    /// node's clock says; stored before consensus hears of it.
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
        match verify(&self.host, height, BlockSource::Certified, bytes.clone()).await {
            Ok(block) => {
                let record = UndecidedRecord {
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    block: bytes.to_vec(),
                    signature: None,
                    certified: true,
                };
                if let Err(error) = store_record(&self.host, height, &record).await {
                    tracing::error!(%height, "storing a synced block: {error:#}");
                    return SyncedValueOutcome::LocalTransientError;
                }
                crash_point("synced.stored", height.0);
                // Its peers have decided it: they are at the next height.
                self.saw_network_at(height.0 + 1);
                SyncedValueOutcome::Verdict(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value: BlockId(block.hash),
                    validity: Validity::Valid,
                })
            }
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

/// Stores `record` durably for its height and round, unless the same block
/// is stored there already (consensus and sync may bring it twice, and a
/// restart replays it).
async fn store_record<H: ConsensusHost>(
    host: &Arc<H>,
    height: Height,
    record: &UndecidedRecord,
) -> anyhow::Result<()> {
    let host = Arc::clone(host);
    let round = record.round.as_u32().unwrap_or(0);
    let record = record.clone();
    tokio::task::spawn_blocking(move || {
        let stored = host.undecided_proposals(height.0, round)?;
        let already = stored
            .iter()
            .filter_map(|bytes| UndecidedRecord::decode(bytes).ok())
            .any(|known| known == record);
        if !already {
            host.store_undecided_proposal(height.0, round, &record.encode())?;
        }
        anyhow::Ok(())
    })
    .await?
}

/// A block's bytes from its parts.
fn block_of(parts: &[ProposalPart]) -> Option<Vec<u8>> {
    let mut block = Vec::new();
    for part in parts {
        if let ProposalPart::Data(data) = part {
            block.extend_from_slice(data);
        }
    }
    (!parts.is_empty()).then_some(block)
}

/// Building, announcing and streaming this node's proposal.
struct Proposing<H> {
    host: Arc<H>,
    signer: ValidatorSigner,
    network: mpsc::Sender<NetworkMsg<CairnContext>>,
    known_parts: KnownParts,
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
                && !record.certified
            {
                previous = Some(record.block);
                break;
            }
        }
        let source = BlockSource::Proposal { proposer: me.0 };
        let block = match previous {
            Some(bytes) => verify(&self.host, height, source, Bytes::from(bytes))
                .await
                .map_err(|rejected| {
                    anyhow::anyhow!("re-executing this node's earlier proposal: {rejected}")
                })?,
            None => {
                let host = Arc::clone(&self.host);
                let key = me.0;
                tokio::task::spawn_blocking(move || {
                    host.build_block(height.0, &key, crate::faults::now())
                })
                .await??
            }
        };
        let signature = self.signer.sign_proposal_parts(
            height,
            round,
            Round::Nil,
            &streaming::data_hash(&block.bytes),
        );
        let record = UndecidedRecord {
            round,
            valid_round: Round::Nil,
            proposer: me,
            block: block.bytes.to_vec(),
            signature: Some(signature),
            certified: false,
        };
        store_record(&self.host, height, &record).await?;
        crash_point("propose.stored", height.0);
        tracing::info!(%height, %round, block = %hex::encode(block.hash), bytes = block.bytes.len(), "proposing");

        let parts = streaming::split(height, round, Round::Nil, me, &block.bytes, signature);
        self.known_parts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert((height, round, BlockId(block.hash)), parts.clone());
        let value = LocallyProposedValue::new(height, round, BlockId(block.hash));
        publish(&self.network, self.stream_id, &parts).await;
        Ok(value)
    }
}

/// Returns once the mempool holds a transaction to propose, or after
/// `idle`, whichever comes first.
async fn wait_for_transactions<H: ConsensusHost>(host: &H, idle: Duration) {
    let deadline = tokio::time::Instant::now() + idle;
    loop {
        let arrival = host.transaction_arrivals().notified();
        tokio::pin!(arrival);
        // Registered before the look, so an arrival between the two is not
        // missed.
        arrival.as_mut().enable();
        if host.has_pending_transactions() {
            return;
        }
        if tokio::time::timeout_at(deadline, arrival).await.is_err() {
            return;
        }
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + MEMPOOL_RECHECK)).await;
    }
}

async fn publish(
    network: &mpsc::Sender<NetworkMsg<CairnContext>>,
    stream_id: StreamId,
    parts: &[ProposalPart],
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
    source: BlockSource,
    block: Bytes,
) -> Result<ExecutedBlock, BlockRejected> {
    let host = Arc::clone(host);
    tokio::task::spawn_blocking(move || host.verify_block(height.0, source, &block))
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

#[cfg(test)]
mod tests {
    //! The application loop driven message by message, as Malachite drives
    //! it, over a real chain on RocksDB.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;

    use malachitebft_app_channel::app::consensus::{MisbehaviorEvidence, Role};
    use malachitebft_app_channel::app::streaming::StreamMessage;
    use malachitebft_app_channel::app::types::PeerId;
    use malachitebft_app_channel::app::types::core::{CommitCertificate, VoteExtensions};
    use malachitebft_signing_ed25519::PrivateKey;
    use tokio::sync::oneshot;

    use super::*;
    use crate::chain::{BlockHash, Chain, ValidatorKey};
    use crate::consensus::context::{ProposalPart, Validator};
    use crate::consensus::signing::ChainTag;
    use crate::genesis::{Genesis, GenesisValidator};
    use crate::metrics::Metrics;
    use crate::test_utils;

    const VALIDATORS: u8 = 4;

    fn key(index: u8) -> PrivateKey {
        PrivateKey::from([index + 1; 32])
    }

    fn address(index: u8) -> ValidatorAddress {
        ValidatorAddress(*key(index).public_key().as_bytes())
    }

    fn peer(index: u8) -> PeerId {
        let keypair = crate::keys::libp2p_keypair(&key(index));
        PeerId::from_bytes(&keypair.public().to_peer_id().to_bytes()).unwrap()
    }

    fn genesis() -> Genesis {
        Genesis {
            chain_id: "cairn-app-test".into(),
            validators: (0..VALIDATORS)
                .map(|index| GenesisValidator {
                    name: format!("v{index}"),
                    public_key: hex::encode(address(index).0),
                    power: 1,
                })
                .collect(),
            ..test_utils::genesis()
        }
    }

    fn validator_set() -> ValidatorSet {
        ValidatorSet::new(
            (0..VALIDATORS)
                .map(|index| Validator {
                    address: address(index),
                    power: 1,
                })
                .collect(),
        )
        .unwrap()
    }

    fn open_chain(dir: &std::path::Path) -> Chain {
        Chain::open(
            genesis(),
            &test_utils::config(dir, None),
            Metrics::default(),
        )
        .unwrap()
    }

    fn chain_tag() -> ChainTag {
        ChainTag(genesis().hash())
    }

    /// A chain behind a counter of the work it is asked to do.
    struct Counted {
        chain: Chain,
        verified: AtomicUsize,
        stored: AtomicUsize,
    }

    impl ConsensusHost for Counted {
        fn committed_height(&self) -> u64 {
            self.chain.committed_height()
        }
        fn earliest_height(&self) -> u64 {
            self.chain.earliest_height()
        }
        fn has_pending_transactions(&self) -> bool {
            self.chain.has_pending_transactions()
        }
        fn transaction_arrivals(&self) -> &tokio::sync::Notify {
            self.chain.transaction_arrivals()
        }
        fn build_block(
            &self,
            height: u64,
            proposer: &ValidatorKey,
            now: SystemTime,
        ) -> anyhow::Result<ExecutedBlock> {
            self.chain.build_block(height, proposer, now)
        }
        fn verify_block(
            &self,
            height: u64,
            source: BlockSource,
            bytes: &[u8],
        ) -> Result<ExecutedBlock, BlockRejected> {
            self.verified.fetch_add(1, Ordering::SeqCst);
            self.chain.verify_block(height, source, bytes)
        }
        fn commit_block(
            &self,
            height: u64,
            hash: &BlockHash,
            certificate: &[u8],
        ) -> Result<(), CommitError> {
            self.chain.commit_block(height, hash, certificate)
        }
        fn decided_block(&self, height: u64) -> anyhow::Result<Option<(Bytes, Bytes)>> {
            self.chain.decided_block(height)
        }
        fn store_undecided_proposal(
            &self,
            height: u64,
            round: u32,
            record: &[u8],
        ) -> anyhow::Result<()> {
            self.stored.fetch_add(1, Ordering::SeqCst);
            self.chain.store_undecided_proposal(height, round, record)
        }
        fn undecided_proposals(&self, height: u64, round: u32) -> anyhow::Result<Vec<Vec<u8>>> {
            self.chain.undecided_proposals(height, round)
        }
        fn undecided_proposals_at(&self, height: u64) -> anyhow::Result<Vec<Vec<u8>>> {
            self.chain.undecided_proposals_at(height)
        }
    }

    /// Validator `me`'s application loop on its own database, and a second
    /// chain (another validator's) that builds the blocks it is sent.
    struct Harness {
        dir: tempfile::TempDir,
        /// `None` only while restarting.
        app: Option<App<Counted>>,
        network: mpsc::Sender<NetworkMsg<CairnContext>>,
        published: mpsc::Receiver<NetworkMsg<CairnContext>>,
        builder: Chain,
        _builder_dir: tempfile::TempDir,
    }

    fn app(host: Counted, me: u8) -> App<Counted> {
        app_idle_for(host, me, Duration::from_millis(10))
    }

    /// Validator `me`'s loop on a chain that, when idle, waits `idle`
    /// between heights.
    fn app_idle_for(host: Counted, me: u8, idle: Duration) -> App<Counted> {
        let validators = validator_set();
        App::new(
            Arc::new(host),
            AppParts {
                signer: Some(ValidatorSigner::new(key(me), chain_tag())),
                verifier: SignatureVerifier::new(chain_tag(), &validators),
                validators,
                timeouts: LinearTimeouts::default(),
                target_block_time: Duration::from_millis(10),
                max_idle_block_interval: idle,
                metrics: ConsensusMetrics::default(),
            },
        )
    }

    fn counted(chain: Chain) -> Counted {
        Counted {
            chain,
            verified: AtomicUsize::new(0),
            stored: AtomicUsize::new(0),
        }
    }

    impl Harness {
        fn new(me: u8) -> Harness {
            Harness::idle_for(me, Duration::from_millis(10))
        }

        /// A harness whose chain waits `idle` between heights when idle.
        fn idle_for(me: u8, idle: Duration) -> Harness {
            let dir = tempfile::tempdir().unwrap();
            let builder_dir = tempfile::tempdir().unwrap();
            let (network, published) = mpsc::channel(1024);
            Harness {
                app: Some(app_idle_for(counted(open_chain(dir.path())), me, idle)),
                dir,
                network,
                published,
                builder: open_chain(builder_dir.path()),
                _builder_dir: builder_dir,
            }
        }

        fn app(&self) -> &App<Counted> {
            self.app.as_ref().expect("the app is running")
        }

        fn chain(&self) -> &Chain {
            &self.app().host.chain
        }

        /// The process dies and starts again on the same database: nothing
        /// held in memory survives.
        fn restart(&mut self, me: u8) {
            drop(self.app.take());
            self.app = Some(app(counted(open_chain(self.dir.path())), me));
        }

        /// The next block, built by validator `by` with its clock at `now`.
        fn block_by(&self, by: u8, now: SystemTime) -> ExecutedBlock {
            let height = self.builder.head().height + 1;
            self.builder.build(height, &address(by).0, now).unwrap()
        }

        async fn send(&mut self, message: AppMsg<CairnContext>) {
            self.try_send(message).await.expect("the loop goes on");
        }

        async fn try_send(&mut self, message: AppMsg<CairnContext>) -> anyhow::Result<()> {
            let app = self.app.as_mut().expect("the app is running");
            app.handle(message, &self.network).await
        }

        /// Streams `block` as validator `by`'s proposal for `round`,
        /// published by `publisher`; the value, once assembled.
        async fn propose(
            &mut self,
            by: u8,
            publisher: u8,
            round: u32,
            block: &[u8],
        ) -> Option<ProposedValue<CairnContext>> {
            let height = Height(self.chain().head().height + 1);
            let round = Round::new(round);
            let signer = ValidatorSigner::new(key(by), chain_tag());
            let signature =
                signer.sign_proposal_parts(height, round, Round::Nil, &streaming::data_hash(block));
            let parts = streaming::split(height, round, Round::Nil, address(by), block, signature);
            let mut value = None;
            for message in streaming::stream_messages(stream_id(height, round, 7), &parts) {
                value = self.part(publisher, message).await;
            }
            value
        }

        async fn part(
            &mut self,
            publisher: u8,
            part: StreamMessage<ProposalPart>,
        ) -> Option<ProposedValue<CairnContext>> {
            let (reply, answer) = oneshot::channel();
            self.send(AppMsg::ReceivedProposalPart {
                from: peer(publisher),
                published_by: Some(peer(publisher)),
                part,
                reply,
            })
            .await;
            answer.await.unwrap()
        }

        async fn get_value(&mut self, round: u32) -> LocallyProposedValue<CairnContext> {
            let height = Height(self.chain().head().height + 1);
            let (reply, answer) = oneshot::channel();
            self.send(AppMsg::GetValue {
                height,
                round: Round::new(round),
                // Not a bound on building: the proposer takes what it needs.
                timeout: Duration::from_secs(3_600),
                reply,
            })
            .await;
            answer.await.unwrap()
        }

        async fn started_round(&mut self, round: u32) -> Vec<ProposedValue<CairnContext>> {
            let height = Height(self.chain().head().height + 1);
            let round = Round::new(round);
            let (reply_value, answer) = oneshot::channel();
            self.send(AppMsg::StartedRound {
                height,
                round,
                proposer: self.app().validators.proposer(height, round).address,
                role: Role::Validator,
                reply_value,
            })
            .await;
            answer.await.unwrap()
        }

        async fn synced(
            &mut self,
            round: u32,
            proposer: ValidatorAddress,
            block: &[u8],
        ) -> SyncedValueOutcome<CairnContext> {
            let (reply, answer) = oneshot::channel();
            self.send(AppMsg::ProcessSyncedValue {
                height: Height(self.chain().head().height + 1),
                round: Round::new(round),
                proposer,
                value_bytes: Bytes::copy_from_slice(block),
                reply,
            })
            .await;
            answer.await.unwrap()
        }

        /// Height 1, proposed by `proposer` in round 0, received, verified
        /// and decided here.
        async fn decide_first_block(&mut self, proposer: u8) -> ExecutedBlock {
            self.started_round(0).await;
            let block = self.block_by(proposer, SystemTime::now());
            assert!(valid(
                &self.propose(proposer, proposer, 0, &block.bytes).await
            ));
            self.decided(0, block.hash).await;
            block
        }

        /// Consensus finalizes the last committed height; the receiver of
        /// its order to start the next.
        async fn finalized(
            &mut self,
            round: u32,
            hash: BlockHash,
        ) -> oneshot::Receiver<Next<CairnContext>> {
            let (reply, answer) = oneshot::channel();
            self.send(AppMsg::Finalized {
                certificate: CommitCertificate {
                    height: Height(self.chain().head().height),
                    round: Round::new(round),
                    value_id: BlockId(hash),
                    commit_signatures: Vec::new(),
                },
                extensions: VoteExtensions::default(),
                evidence: MisbehaviorEvidence {
                    proposals: Default::default(),
                    votes: Default::default(),
                },
                reply,
            })
            .await;
            answer
        }

        /// Consensus decides `hash` at round `round`; the reply comes once
        /// the app has committed.
        async fn decided(&mut self, round: u32, hash: BlockHash) {
            let height = Height(self.chain().head().height + 1);
            let (reply, answer) = oneshot::channel();
            self.send(AppMsg::Decided {
                certificate: CommitCertificate {
                    height,
                    round: Round::new(round),
                    value_id: BlockId(hash),
                    commit_signatures: Vec::new(),
                },
                extensions: VoteExtensions::default(),
                reply,
            })
            .await;
            answer.await.unwrap();
        }
    }

    fn valid(value: &Option<ProposedValue<CairnContext>>) -> bool {
        value
            .as_ref()
            .is_some_and(|value| value.validity == Validity::Valid)
    }

    /// The validator that proposes round 0 of height 1, and one that does
    /// not.
    fn proposer_and_other() -> (u8, u8) {
        let index = proposer_of(1, 0);
        (index, (index + 1) % VALIDATORS)
    }

    /// The validator that proposes `round` at `height`.
    fn proposer_of(height: u64, round: u32) -> u8 {
        let proposer = validator_set()
            .proposer(Height(height), Round::new(round))
            .address;
        (0..VALIDATORS)
            .find(|&index| address(index) == proposer)
            .expect("the proposer is one of the validators")
    }

    /// Nothing has started the next height yet: the order stays held back.
    async fn assert_held(next: &mut oneshot::Receiver<Next<CairnContext>>) {
        for _ in 0..10 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(matches!(
                next.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ));
        }
    }

    /// The order to start height 2 comes, because of `why`.
    async fn assert_starts_height_2(next: oneshot::Receiver<Next<CairnContext>>, why: &str) {
        let next = tokio::time::timeout(Duration::from_secs(60), next)
            .await
            .expect(why)
            .unwrap();
        assert!(matches!(next, Next::Start(Height(2), _)));
    }

    fn stored_records(harness: &Harness, round: u32) -> Vec<UndecidedRecord> {
        harness
            .chain()
            .undecided_proposals(1, round)
            .unwrap()
            .iter()
            .map(|bytes| UndecidedRecord::decode(bytes).unwrap())
            .collect()
    }

    // Item 2 of issue 14: work only for the round's proposer.

    #[tokio::test]
    async fn a_non_proposers_block_is_neither_executed_nor_stored() {
        let (_, other) = proposer_and_other();
        let me = (other + 1) % VALIDATORS;
        let mut harness = Harness::new(me);
        let block = harness.block_by(other, SystemTime::now());
        harness.started_round(0).await;
        let value = harness.propose(other, other, 0, &block.bytes).await;
        assert_eq!(value, None);
        assert_eq!(harness.app().host.verified.load(Ordering::SeqCst), 0);
        assert_eq!(harness.app().host.stored.load(Ordering::SeqCst), 0);
        // Refused as soon as its first part named the wrong proposer.
        assert!(harness.app().metrics.refused_stream_messages.get() > 0);
    }

    #[tokio::test]
    async fn a_round_executes_one_proposal_and_answers_a_restream_without_work() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        harness.started_round(0).await;
        let first = harness.block_by(proposer, SystemTime::now());
        let value = harness.propose(proposer, proposer, 0, &first.bytes).await;
        assert!(valid(&value));
        // Re-streamed by another validator: the same answer, no execution.
        let again = harness.propose(proposer, other, 0, &first.bytes).await;
        assert_eq!(again, value);
        // A second, different block from the same proposer for the round
        // (it equivocates): not executed, not stored.
        let second = harness.block_by(proposer, SystemTime::now() + Duration::from_millis(5));
        assert_ne!(second.hash, first.hash);
        assert_eq!(
            harness.propose(proposer, proposer, 0, &second.bytes).await,
            None
        );
        assert_eq!(harness.app().host.verified.load(Ordering::SeqCst), 1);
        assert_eq!(stored_records(&harness, 0).len(), 1);
    }

    #[tokio::test]
    async fn proposals_for_later_rounds_wait_bounded_and_are_verified_when_due() {
        let (_, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        harness.started_round(0).await;
        // Every round's proposer sends a proposal for its round, far and near.
        let mut kept = Vec::new();
        for round in 1..40 {
            let by = proposer_of(1, round);
            let block =
                harness.block_by(by, SystemTime::now() + Duration::from_millis(round.into()));
            assert_eq!(harness.propose(by, by, round, &block.bytes).await, None);
            if i64::from(round) <= MAX_ROUNDS_AHEAD {
                kept.push((round, block.hash));
            }
        }
        assert_eq!(harness.app().host.verified.load(Ordering::SeqCst), 0);
        assert_eq!(harness.app().future.len(), kept.len());
        // Round 2 starts: rounds 1 and 2 are verified and offered.
        let values = harness.started_round(2).await;
        let offered: Vec<_> = values.iter().map(|value| value.value.0).collect();
        assert_eq!(offered, [kept[0].1, kept[1].1]);
        assert_eq!(harness.app().host.verified.load(Ordering::SeqCst), 2);
    }

    // Item 3: a certified block syncs on its certificate.

    #[tokio::test]
    async fn a_certified_block_from_an_earlier_rounds_proposer_syncs() {
        // Decided in round 1 (the value proposed in round 0 was re-proposed
        // there); the engine names round 1's proposer.
        let (proposer, _) = proposer_and_other();
        let mut harness = Harness::new(proposer);
        let block = harness.block_by(proposer, SystemTime::now());
        let round_one = harness
            .app()
            .validators
            .proposer(Height(1), Round::new(1))
            .address;
        assert_ne!(round_one, address(proposer));
        let outcome = harness.synced(1, round_one, &block.bytes).await;
        assert!(
            matches!(&outcome, SyncedValueOutcome::Verdict(value) if value.validity == Validity::Valid),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_certified_block_syncs_whatever_this_nodes_clock_says() {
        let (proposer, _) = proposer_and_other();
        let mut harness = Harness::new(proposer);
        let ahead = SystemTime::now() + Duration::from_secs(3_600);
        let block = harness.block_by(proposer, ahead);
        let outcome = harness.synced(0, address(proposer), &block.bytes).await;
        assert!(
            matches!(&outcome, SyncedValueOutcome::Verdict(value) if value.validity == Validity::Valid),
            "{outcome:?}"
        );
        // As a proposal, the same block is refused: the clock decides this
        // node's vote.
        let mut voter = Harness::new(proposer);
        voter.started_round(0).await;
        let value = voter.propose(proposer, proposer, 0, &block.bytes).await;
        assert_eq!(value.map(|value| value.validity), Some(Validity::Invalid));
    }

    // Item 5: whatever a vote depends on is durable first.

    #[tokio::test]
    async fn a_proposal_that_cannot_be_stored_is_not_offered_to_consensus() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        harness.started_round(0).await;
        let block = harness.block_by(proposer, SystemTime::now());
        harness.chain().store().fail_next_writes(1);
        let value = harness.propose(proposer, proposer, 0, &block.bytes).await;
        assert_eq!(value, None);
        // Once the disk recovers, the proposal streamed again is taken.
        let value = harness.propose(proposer, proposer, 0, &block.bytes).await;
        assert!(valid(&value), "{value:?}");
    }

    #[tokio::test]
    async fn a_failed_commit_write_is_retried() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        harness.started_round(0).await;
        let block = harness.block_by(proposer, SystemTime::now());
        let value = harness.propose(proposer, proposer, 0, &block.bytes).await;
        assert!(valid(&value));
        harness.chain().store().fail_next_writes(2);
        harness.decided(0, block.hash).await;
        assert_eq!(harness.chain().head().height, 1);
        assert_eq!(harness.chain().head().block_hash, block.hash);
        assert_eq!(harness.app().metrics.commit_retries.get(), 2);
    }

    #[tokio::test]
    async fn a_commit_that_keeps_failing_stops_the_loop_instead_of_restarting_the_height() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        harness.started_round(0).await;
        let block = harness.block_by(proposer, SystemTime::now());
        assert!(valid(
            &harness.propose(proposer, proposer, 0, &block.bytes).await
        ));
        harness.chain().store().fail_next_writes(u32::MAX);
        let (reply, answer) = oneshot::channel();
        let result = harness
            .try_send(AppMsg::Decided {
                certificate: CommitCertificate {
                    height: Height(1),
                    round: Round::new(0),
                    value_id: BlockId(block.hash),
                    commit_signatures: Vec::new(),
                },
                extensions: VoteExtensions::default(),
                reply,
            })
            .await;
        assert!(result.is_err());
        // Consensus is not told the block is committed.
        drop(harness);
        assert!(answer.await.is_err());
    }

    #[tokio::test]
    async fn a_received_proposal_decided_after_a_crash_is_committed() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        harness.started_round(0).await;
        let block = harness.block_by(proposer, SystemTime::now());
        assert!(valid(
            &harness.propose(proposer, proposer, 0, &block.bytes).await
        ));
        harness.restart(other);
        // Malachite replays its WAL and decides; no round is replayed here,
        // so nothing executed survives in memory.
        harness.decided(0, block.hash).await;
        assert_eq!(harness.chain().head().block_hash, block.hash);
    }

    #[tokio::test]
    async fn a_synced_value_survives_a_crash_before_its_commit() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        let block = harness.block_by(proposer, SystemTime::now());
        let outcome = harness.synced(0, address(proposer), &block.bytes).await;
        assert!(matches!(outcome, SyncedValueOutcome::Verdict(_)));
        assert_eq!(stored_records(&harness, 0).len(), 1);
        harness.restart(other);
        // Malachite replays the value from its WAL and decides with the
        // certificate sync brings again; the app must still have the block.
        let values = harness.started_round(0).await;
        assert_eq!(values.len(), 1);
        harness.decided(0, block.hash).await;
        assert_eq!(harness.chain().head().block_hash, block.hash);
    }

    #[tokio::test]
    async fn this_nodes_proposal_is_durable_and_proposed_again_after_a_crash() {
        let (proposer, _) = proposer_and_other();
        let mut harness = Harness::new(proposer);
        harness.started_round(0).await;
        let first = harness.get_value(0).await;
        assert_eq!(stored_records(&harness, 0).len(), 1);
        harness.restart(proposer);
        harness.started_round(0).await;
        let again = harness.get_value(0).await;
        assert_eq!(again.value, first.value);
        assert_eq!(stored_records(&harness, 0).len(), 1);
    }

    #[tokio::test]
    async fn parts_can_be_restreamed_after_a_crash() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::new(other);
        harness.started_round(0).await;
        let block = harness.block_by(proposer, SystemTime::now());
        assert!(valid(
            &harness.propose(proposer, proposer, 0, &block.bytes).await
        ));
        harness.restart(other);
        harness
            .send(AppMsg::RestreamProposal {
                height: Height(1),
                round: Round::new(0),
                valid_round: Round::Nil,
                address: address(proposer),
                value_id: BlockId(block.hash),
            })
            .await;
        let mut parts = Vec::new();
        while let Ok(NetworkMsg::PublishProposalPart(message)) = harness.published.try_recv() {
            parts.push(message);
        }
        assert!(!parts.is_empty());
        // The restreamed parts reassemble into the block for another node.
        let third = (0..VALIDATORS)
            .find(|&index| index != proposer && index != other)
            .unwrap();
        let mut receiver = Harness::new(third);
        receiver.started_round(0).await;
        let mut value = None;
        for message in parts {
            value = receiver.part(other, message).await;
        }
        assert!(valid(&value), "{value:?}");
    }

    // The wait for transactions is between heights, not in a round.

    #[tokio::test]
    async fn a_proposer_builds_at_once_even_with_nothing_to_include() {
        let (proposer, _) = proposer_and_other();
        // An hour of idle interval: a proposer that waited for it in the
        // round would never answer within the test.
        let mut harness = Harness::idle_for(proposer, Duration::from_secs(3_600));
        harness.started_round(0).await;
        let value = tokio::time::timeout(Duration::from_secs(60), harness.get_value(0))
            .await
            .expect("the proposal is built at once");
        assert_eq!(value.height, Height(1));
    }

    #[tokio::test]
    async fn the_next_height_starts_when_a_transaction_arrives() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::idle_for(other, Duration::from_secs(3_600));
        let block = harness.decide_first_block(proposer).await;
        let mut next = harness.finalized(0, block.hash).await;
        // Nothing to propose: the order to start height 2 is held back.
        assert_held(&mut next).await;
        let sender = test_utils::user(7);
        let tx = cairn_types::Transaction {
            chain_id: genesis().chain_id,
            genesis_hash: genesis().hash(),
            sender: test_utils::address(&sender),
            nonce: 0,
            gas_limit: test_utils::TRANSFER_GAS,
            gas_price: test_utils::GAS_PRICE,
            value: 1,
            action: cairn_types::Action::Transfer {
                to: test_utils::address(&test_utils::user(8)),
            },
        }
        .sign(&sender);
        test_utils::submit(harness.chain(), &tx).unwrap();
        assert_starts_height_2(next, "the arrival starts the height").await;
    }

    #[tokio::test]
    async fn a_proposal_for_the_next_height_starts_it_without_waiting() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::idle_for(other, Duration::from_secs(3_600));
        let block = harness.decide_first_block(proposer).await;
        harness
            .builder
            .commit(1, &block.hash, b"certificate")
            .unwrap();
        let mut next = harness.finalized(0, block.hash).await;
        assert_held(&mut next).await;
        // Height 2's proposer has started it: so does this node.
        let by = proposer_of(2, 0);
        let second = harness.block_by(by, SystemTime::now());
        assert_eq!(harness.propose(by, by, 0, &second.bytes).await, None);
        assert_starts_height_2(next, "the proposal starts the height").await;
    }

    #[tokio::test]
    async fn an_idle_chain_starts_the_next_height_after_the_idle_interval() {
        let (proposer, other) = proposer_and_other();
        let mut harness = Harness::idle_for(other, Duration::from_millis(50));
        let block = harness.decide_first_block(proposer).await;
        let next = harness.finalized(0, block.hash).await;
        assert_starts_height_2(next, "the idle interval ends the wait").await;
        assert!(!harness.chain().has_pending_transactions());
    }
}
