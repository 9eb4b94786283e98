//! How a node is started: the chain on RocksDB, transaction gossip,
//! consensus, JSON-RPC and metrics, each given its part of the
//! configuration ([`crate::config`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::background::BackgroundRuntime;
use crate::chain::{Chain, ChainConfig};
use crate::config::{NodeConfig, resolve};
use crate::consensus::{self, ConsensusConfig};
use crate::genesis::Genesis;
use crate::metrics::{ConsensusMetrics, Metrics};
use crate::net::NetworkStatus;
use crate::net::gossip::{self, GossipConfig};
use crate::{keys, rpc};

// The testnet crate generates its homes through these paths.
pub use crate::config::{TestnetSpec, generate_testnet};

/// A running node.
#[derive(Debug)]
pub struct Node {
    pub chain: Arc<Chain>,
    pub rpc_address: SocketAddr,
    pub metrics_address: Option<SocketAddr>,
    rpc: jsonrpsee::server::ServerHandle,
    rpc_runtime: BackgroundRuntime,
    gossip: gossip::Gossip,
    consensus: consensus::ConsensusHandle,
    metrics_server: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Opens the node's state and starts every part of it.
    pub async fn start(home: &Path) -> anyhow::Result<Node> {
        let config = NodeConfig::load(home)?;
        let genesis = Genesis::load(&resolve(home, &config.genesis_file))?;
        let key = keys::load(&resolve(home, &config.key_file))?;
        let data = resolve(home, &config.data_dir);
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;

        let registry = malachitebft_app_channel::app::metrics::SharedRegistry::global()
            .with_moniker(config.moniker.clone());
        let metrics = Metrics::register(&registry);
        let consensus_metrics = ConsensusMetrics::register(&registry);
        let chain_config = chain_config(&config, &data);
        let chain = {
            let genesis = genesis.clone();
            tokio::task::spawn_blocking(move || Chain::open(genesis, &chain_config, metrics))
                .await??
        };
        let chain = Arc::new(chain);
        let head = chain.head();
        tracing::info!(
            moniker = %config.moniker,
            chain_id = %genesis.chain_id,
            height = head.height,
            state_root = %hex::encode(head.state_root),
            address = %keys::address(&key),
            "chain opened"
        );

        let network = Arc::new(NetworkStatus::default());
        let (gossip_tx, gossip_rx) = mpsc::channel(1024);
        let gossip = gossip::start(
            Arc::clone(&chain),
            keys::libp2p_keypair(&key),
            gossip_config(&config),
            gossip_rx,
            Arc::clone(&network),
        )
        .await?;

        let rpc_limits = config.rpc.limits();
        let service = rpc::Rpc::new(
            Arc::clone(&chain),
            gossip_tx,
            Arc::clone(&network),
            config.moniker.clone(),
            &rpc_limits,
        )
        .context("starting the RPC threads")?;
        let rpc_runtime = BackgroundRuntime::start("rpc-io", rpc::RUNTIME_THREADS)
            .context("starting the RPC runtime")?;
        let (rpc_address, rpc) =
            rpc::serve(service, config.rpc.listen, &rpc_limits, &rpc_runtime).await?;
        tracing::info!(address = %rpc_address, "JSON-RPC listening");

        let (metrics_address, metrics_server) = match config.metrics.listen {
            Some(address) => {
                let (bound, task) = crate::metrics::serve(address).await?;
                tracing::info!(address = %bound, "metrics listening");
                (Some(bound), Some(task))
            }
            None => (None, None),
        };

        let consensus = consensus::start(
            Arc::clone(&chain),
            consensus::ConsensusParams::new(
                &consensus_config(&config, &data),
                &genesis,
                keys::consensus_key(&key),
                Arc::clone(&network),
                consensus_metrics,
            )?,
        )
        .await?;

        Ok(Node {
            chain,
            rpc_address,
            metrics_address,
            rpc,
            rpc_runtime,
            gossip,
            consensus,
            metrics_server,
        })
    }

    /// Waits until consensus stops by itself, on a failure it must not work
    /// around; returns why.
    pub async fn consensus_failed(&mut self) -> anyhow::Error {
        self.consensus.failed().await
    }

    /// Stops every part; committed state is already on disk.
    pub async fn stop(self) {
        self.consensus.stop().await;
        let _ = self.rpc.stop();
        self.rpc.stopped().await;
        drop(self.rpc_runtime);
        self.gossip.task.abort();
        if let Some(task) = self.metrics_server {
            task.abort();
        }
    }
}

/// The chain's part of the configuration; its database and artifact cache
/// go under `data`.
fn chain_config(config: &NodeConfig, data: &Path) -> ChainConfig {
    ChainConfig {
        db_path: data.join("db"),
        artifact_cache: Some(data.join("artifacts")),
        mempool: config.mempool.limits(),
        verify_state_on_start: config.verify_state_on_start,
        store: config.state.store_options(),
    }
}

fn gossip_config(config: &NodeConfig) -> GossipConfig {
    GossipConfig {
        listen: config.gossip.listen.clone(),
        persistent_peers: config.gossip.persistent_peers.clone(),
        limits: config.gossip.limits(),
    }
}

/// Consensus's part of the configuration; its write-ahead log goes under
/// `data`.
fn consensus_config(config: &NodeConfig, data: &Path) -> ConsensusConfig {
    ConsensusConfig {
        moniker: config.moniker.clone(),
        listen: config.consensus.listen.clone(),
        persistent_peers: config.consensus.persistent_peers.clone(),
        target_block_time: Duration::from_millis(config.consensus.target_block_time_ms),
        max_idle_block_interval: Duration::from_millis(config.consensus.max_idle_block_interval_ms),
        wal_dir: data.join("wal"),
    }
}

/// Runs the node in `home` until SIGINT or SIGTERM, then stops it: what
/// `cairn-node run` and `cairn-testnet run-node` do, on a runtime of their
/// own. If consensus stops by itself (a decided block that cannot be
/// committed), the node stops too, with the error.
pub fn run_until_signal(home: &Path) -> anyhow::Result<()> {
    crate::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut node = Node::start(home).await?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let failure = tokio::select! {
            _ = tokio::signal::ctrl_c() => None,
            _ = terminate.recv() => None,
            error = node.consensus_failed() => Some(error),
        };
        tracing::info!("shutting down");
        node.stop().await;
        match failure {
            // A non-zero exit: whatever supervises the node restarts it, and
            // consensus resumes from its write-ahead log.
            Some(error) => Err(error.context("consensus stopped")),
            None => anyhow::Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_gets_its_section_of_the_config() {
        let mut config = NodeConfig::with_ports("node3", "127.0.0.1", 26000).unwrap();
        config.consensus.target_block_time_ms = 250;
        config.consensus.max_idle_block_interval_ms = 4_000;
        config.mempool.max_transactions = 7;
        config.mempool.ttl_secs = 30;
        let data = Path::new("/home/node3/data");

        let consensus = consensus_config(&config, data);
        assert_eq!(consensus.moniker, "node3");
        assert_eq!(consensus.listen, config.consensus.listen);
        assert_eq!(consensus.target_block_time, Duration::from_millis(250));
        assert_eq!(consensus.max_idle_block_interval, Duration::from_secs(4));
        assert_eq!(consensus.wal_dir, data.join("wal"));

        let chain = chain_config(&config, data);
        assert_eq!(chain.db_path, data.join("db"));
        assert_eq!(chain.artifact_cache, Some(data.join("artifacts")));
        assert_eq!(chain.mempool.max_transactions, 7);
        assert_eq!(chain.mempool.ttl, Duration::from_secs(30));
        assert!(chain.verify_state_on_start);

        assert_eq!(gossip_config(&config).listen, config.gossip.listen);
    }
}
