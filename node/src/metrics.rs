//! Prometheus metrics. They live in Malachite's shared registry, so one
//! `/metrics` page shows consensus and chain together; every series carries
//! the node's moniker.

use malachitebft_app_channel::app::metrics::SharedRegistry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::types::Header;

#[derive(Debug, Clone)]
pub struct Metrics {
    pub height: Gauge,
    pub transactions: Counter,
    pub gas_used: Counter,
    pub block_interval_seconds: Histogram,
    pub execution_seconds: Histogram,
    pub mempool_size: Gauge,
    pub gossip_peers: Gauge,
    pub rejected_transactions: Counter,
    /// Transactions a proposer dropped because the VM failed on them (the
    /// node's fault, not the transaction's).
    pub build_dropped_transactions: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            height: Gauge::default(),
            transactions: Counter::default(),
            gas_used: Counter::default(),
            block_interval_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 10)),
            execution_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            mempool_size: Gauge::default(),
            gossip_peers: Gauge::default(),
            rejected_transactions: Counter::default(),
            build_dropped_transactions: Counter::default(),
        }
    }
}

impl Metrics {
    /// Metrics registered under `cairn_` in `registry`.
    pub fn register(registry: &SharedRegistry) -> Self {
        let metrics = Metrics::default();
        registry.with_prefix("cairn", |registry| {
            registry.register("height", "Last committed height", metrics.height.clone());
            registry.register(
                "transactions",
                "Transactions committed",
                metrics.transactions.clone(),
            );
            registry.register(
                "gas_used",
                "Gas used by committed transactions",
                metrics.gas_used.clone(),
            );
            registry.register(
                "block_interval_seconds",
                "Time between consecutive committed blocks, by block time",
                metrics.block_interval_seconds.clone(),
            );
            registry.register(
                "block_execution_seconds",
                "Time to execute a block, when building or verifying it",
                metrics.execution_seconds.clone(),
            );
            registry.register(
                "mempool_size",
                "Transactions waiting in the mempool",
                metrics.mempool_size.clone(),
            );
            registry.register(
                "gossip_peers",
                "Peers connected on the transaction gossip network",
                metrics.gossip_peers.clone(),
            );
            registry.register(
                "rejected_transactions",
                "Transactions refused by the mempool, from clients or peers",
                metrics.rejected_transactions.clone(),
            );
            registry.register(
                "build_dropped_transactions",
                "Transactions dropped from the mempool because the VM failed on them while \
                 building a block",
                metrics.build_dropped_transactions.clone(),
            );
        });
        metrics
    }

    pub(crate) fn on_commit(
        &self,
        header: &Header,
        transactions: usize,
        parent_time_ms: u64,
        mempool: usize,
    ) {
        self.height
            .set(i64::try_from(header.height).unwrap_or(i64::MAX));
        self.transactions
            .inc_by(u64::try_from(transactions).unwrap_or(u64::MAX));
        self.gas_used.inc_by(header.gas_used);
        if header.height > 1 {
            let interval_ms = header.time_ms.saturating_sub(parent_time_ms);
            #[allow(clippy::cast_precision_loss)]
            self.block_interval_seconds
                .observe(interval_ms as f64 / 1000.0);
        }
        self.mempool_size
            .set(i64::try_from(mempool).unwrap_or(i64::MAX));
    }
}

/// What the consensus application loop refuses and does, under
/// `cairn_consensus_`.
#[derive(Debug, Clone, Default)]
pub struct ConsensusMetrics {
    /// Proposal stream messages refused before they were kept: from a
    /// non-validator, for another proposer, out of range, malformed.
    pub refused_stream_messages: Counter,
    /// Complete proposals refused before execution: not from the round's
    /// proposer, badly signed, a second value for a round, too far ahead.
    pub refused_proposals: Counter,
    /// Proposals executed to decide a vote.
    pub executed_proposals: Counter,
    /// Commits that failed and were retried.
    pub commit_retries: Counter,
}

impl ConsensusMetrics {
    pub fn register(registry: &SharedRegistry) -> Self {
        let metrics = ConsensusMetrics::default();
        registry.with_prefix("cairn_consensus", |registry| {
            registry.register(
                "refused_stream_messages",
                "Proposal stream messages refused before they were kept",
                metrics.refused_stream_messages.clone(),
            );
            registry.register(
                "refused_proposals",
                "Complete proposals refused before execution",
                metrics.refused_proposals.clone(),
            );
            registry.register(
                "executed_proposals",
                "Proposals executed to decide a vote",
                metrics.executed_proposals.clone(),
            );
            registry.register(
                "commit_retries",
                "Commits of a decided block that failed and were retried",
                metrics.commit_retries.clone(),
            );
        });
        metrics
    }
}

/// The text exposition of every registered metric, for `GET /metrics`.
pub fn export() -> String {
    let mut text = String::new();
    malachitebft_app_channel::app::metrics::export(&mut text);
    text
}
