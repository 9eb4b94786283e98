//! Prometheus metrics. They live in Malachite's shared registry, so one
//! `/metrics` page shows consensus and chain together; every series carries
//! the node's moniker. [`serve`] answers `GET /metrics` over plain HTTP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use malachitebft_app_channel::app::metrics::SharedRegistry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

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

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 16;
/// How long one connection may take, request and response together.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed accept (out of file descriptors, memory), the loop waits
/// this long, doubling up to [`ACCEPT_BACKOFF_MAX`], instead of retrying
/// at once: the failure lasts until something else frees resources, and
/// retrying in a loop would only burn the processor the node needs to
/// free them.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `GET /metrics` in the Prometheus text format on `address`;
/// anything else gets a 404.
pub async fn serve(
    address: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics endpoint to {address}"))?;
    let bound = listener.local_addr()?;
    Ok((bound, tokio::spawn(accept_loop(listener))))
}

/// Where the accept loop takes connections from: a TCP listener, or a
/// stand-in that fails on purpose in tests.
pub(crate) trait Acceptor: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Acceptor for TcpListener {
    type Stream = TcpStream;

    async fn accept(&mut self) -> io::Result<TcpStream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// Errors that end one incoming connection but say nothing about the
/// listener: the next accept can go ahead at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

pub(crate) async fn accept_loop(mut acceptor: impl Acceptor) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        // A slot first: the connections this loop holds stay bounded.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        match acceptor.accept().await {
            Ok(stream) => {
                backoff = ACCEPT_BACKOFF_MIN;
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(CONNECTION_TIMEOUT, answer(stream)).await;
                    drop(slot);
                });
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                tracing::warn!(%error, retry_ms = backoff.as_millis(), "the metrics endpoint cannot accept connections");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// Reads one request (its first 4 KiB) and answers it.
async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
    let mut request = vec![0u8; 4096];
    let Ok(length) = stream.read(&mut request).await else {
        return;
    };
    let line = String::from_utf8_lossy(&request[..length]);
    let response = if line.starts_with("GET /metrics ") {
        let body = export();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::DuplexStream;
    use tokio::sync::mpsc;

    use super::*;

    /// An acceptor out of file descriptors: every accept fails with EMFILE
    /// until the test hands it a connection. It gives up (never returns)
    /// after `MAX_CALLS`, so that a loop that spins ends the test with a
    /// failed assertion instead of hanging it.
    struct OutOfFiles {
        calls: Arc<AtomicUsize>,
        connections: mpsc::Receiver<DuplexStream>,
    }

    const MAX_CALLS: usize = 100_000;

    impl Acceptor for OutOfFiles {
        type Stream = DuplexStream;

        async fn accept(&mut self) -> io::Result<DuplexStream> {
            if self.calls.fetch_add(1, Ordering::Relaxed) >= MAX_CALLS {
                std::future::pending::<()>().await;
            }
            match self.connections.try_recv() {
                Ok(stream) => Ok(stream),
                Err(_) => Err(io::Error::from_raw_os_error(libc::EMFILE)),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_accept_loop_backs_off_while_out_of_files_and_serves_after() {
        let calls = Arc::new(AtomicUsize::new(0));
        let (connect, connections) = mpsc::channel(1);
        let server = tokio::spawn(accept_loop(OutOfFiles {
            calls: Arc::clone(&calls),
            connections,
        }));

        // Ten seconds (of the test's paused clock) out of files: a few
        // dozen attempts, not a spin.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let attempts = calls.load(Ordering::Relaxed);
        assert!(
            (5..=30).contains(&attempts),
            "{attempts} accept attempts in 10 s out of files"
        );

        // Files free again: the next connection is served.
        let (mut client, server_side) = tokio::io::duplex(64 * 1024);
        connect.send(server_side).await.unwrap();
        client
            .write_all(b"GET /nothing HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        server.abort();
    }
}
