//! A node's configuration (`<home>/config.toml`) and how its parts are
//! started: the chain on RocksDB, transaction gossip, consensus, JSON-RPC
//! and metrics.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::chain::{Chain, ChainConfig};
use crate::genesis::Genesis;
use crate::gossip::{self, GossipConfig};
use crate::mempool::MempoolLimits;
use crate::metrics::Metrics;
use crate::{consensus, keys, rpc};

pub const CONFIG_FILE: &str = "config.toml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name in logs, metrics and status.
    pub moniker: String,
    /// Paths are relative to the home directory unless absolute.
    pub genesis_file: PathBuf,
    /// The node's ed25519 key: its consensus key if it is a validator and
    /// its network identity on both swarms.
    pub key_file: PathBuf,
    pub data_dir: PathBuf,
    #[serde(default = "default_true")]
    pub verify_state_on_start: bool,
    pub consensus: ConsensusSection,
    pub gossip: NetworkSection,
    pub rpc: RpcSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub mempool: MempoolSection,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSection {
    pub listen: Multiaddr,
    #[serde(default)]
    pub persistent_peers: Vec<Multiaddr>,
    /// Blocks are not produced faster than this.
    #[serde(default = "default_target_block_time_ms")]
    pub target_block_time_ms: u64,
    /// With nothing to include, a proposer waits up to this long before it
    /// proposes an empty block.
    #[serde(default = "default_max_idle_block_interval_ms")]
    pub max_idle_block_interval_ms: u64,
}

fn default_target_block_time_ms() -> u64 {
    500
}

fn default_max_idle_block_interval_ms() -> u64 {
    2_000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub listen: Multiaddr,
    #[serde(default)]
    pub persistent_peers: Vec<Multiaddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Where `GET /metrics` is served; no metrics endpoint if absent.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolSection {
    pub max_transactions: usize,
    pub max_bytes: usize,
}

impl Default for MempoolSection {
    fn default() -> Self {
        let limits = MempoolLimits::default();
        MempoolSection {
            max_transactions: limits.max_transactions,
            max_bytes: limits.max_bytes,
        }
    }
}

impl NodeConfig {
    pub fn load(home: &Path) -> anyhow::Result<Self> {
        let path = home.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        let path = home.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self)?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// A configuration for a node at `home` whose ports start at
    /// `base_port`: consensus, gossip, RPC and metrics on four consecutive
    /// ports, listening on `host`.
    pub fn with_ports(moniker: &str, host: &str, base_port: u16) -> anyhow::Result<Self> {
        let port = |offset: u16| {
            base_port
                .checked_add(offset)
                .context("port numbers above 65535")
        };
        Ok(NodeConfig {
            moniker: moniker.to_owned(),
            genesis_file: "genesis.json".into(),
            key_file: "node_key.json".into(),
            data_dir: "data".into(),
            verify_state_on_start: true,
            consensus: ConsensusSection {
                listen: format!("/ip4/{host}/tcp/{}", port(0)?).parse()?,
                persistent_peers: Vec::new(),
                target_block_time_ms: default_target_block_time_ms(),
                max_idle_block_interval_ms: default_max_idle_block_interval_ms(),
            },
            gossip: NetworkSection {
                listen: format!("/ip4/{host}/tcp/{}", port(1)?).parse()?,
                persistent_peers: Vec::new(),
            },
            rpc: RpcSection {
                listen: format!("{host}:{}", port(2)?).parse()?,
            },
            metrics: MetricsSection {
                listen: Some(format!("{host}:{}", port(3)?).parse()?),
            },
            mempool: MempoolSection::default(),
        })
    }
}

/// A local network to generate: every node a validator of equal power,
/// each with every other as a persistent peer.
#[derive(Debug, Clone)]
pub struct TestnetSpec {
    pub validators: usize,
    /// Node `i`'s home is `out/node{i}`.
    pub out: PathBuf,
    pub chain_id: String,
    pub host: String,
    /// Node `i` uses the four ports from `base_port + 10 * i`.
    pub base_port: u16,
    pub target_block_time_ms: u64,
    pub max_idle_block_interval_ms: u64,
}

/// Writes the homes of a testnet: keys, one genesis, configs. Returns each
/// node's home and config.
pub fn generate_testnet(spec: &TestnetSpec) -> anyhow::Result<Vec<(PathBuf, NodeConfig)>> {
    if spec.validators == 0 {
        anyhow::bail!("a testnet needs at least one validator");
    }
    if spec.out.exists() && std::fs::read_dir(&spec.out)?.next().is_some() {
        anyhow::bail!("{} is not empty", spec.out.display());
    }
    let mut nodes = Vec::new();
    for index in 0..spec.validators {
        let home = spec.out.join(format!("node{index}"));
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        let port = u16::try_from(index * 10)
            .ok()
            .and_then(|offset| spec.base_port.checked_add(offset))
            .and_then(|port| port.checked_add(3).map(|_| port))
            .context("too many validators for the port range")?;
        let mut config = NodeConfig::with_ports(&format!("node{index}"), &spec.host, port)?;
        config.consensus.target_block_time_ms = spec.target_block_time_ms;
        config.consensus.max_idle_block_interval_ms = spec.max_idle_block_interval_ms;
        let key = keys::generate();
        keys::save(&key, &home.join(&config.key_file))?;
        nodes.push((home, config, key));
    }
    let genesis = Genesis {
        chain_id: spec.chain_id.clone(),
        genesis_time_ms: crate::chain::now_ms(),
        validators: nodes
            .iter()
            .map(|(_, config, key)| crate::genesis::GenesisValidator {
                name: config.moniker.clone(),
                public_key: keys::address(key).to_string(),
                power: 1,
            })
            .collect(),
        params: crate::genesis::ChainParams::default(),
    };
    genesis.validate()?;
    let peers: Vec<(Multiaddr, Multiaddr)> = nodes
        .iter()
        .map(|(_, config, key)| {
            let peer = keys::libp2p_keypair(key).public().to_peer_id();
            let with_peer =
                |address: &Multiaddr| address.clone().with(libp2p::multiaddr::Protocol::P2p(peer));
            (
                with_peer(&config.consensus.listen),
                with_peer(&config.gossip.listen),
            )
        })
        .collect();
    let mut written = Vec::new();
    for (index, (home, mut config, _)) in nodes.into_iter().enumerate() {
        for (other, (consensus, gossip)) in peers.iter().enumerate() {
            if other != index {
                config.consensus.persistent_peers.push(consensus.clone());
                config.gossip.persistent_peers.push(gossip.clone());
            }
        }
        genesis.save(&home.join(&config.genesis_file))?;
        config.save(&home)?;
        written.push((home, config));
    }
    Ok(written)
}

/// `path` from a config, relative to the node's home unless absolute.
pub fn resolve(home: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        home.join(path)
    }
}

/// What the network layers know, for `status`.
#[derive(Debug, Default)]
pub struct NetworkStatus {
    consensus_peers: AtomicU64,
    gossip_peers: AtomicU64,
    highest_peer_height: AtomicU64,
}

impl NetworkStatus {
    pub fn consensus_peers(&self) -> u64 {
        self.consensus_peers.load(Ordering::Relaxed)
    }

    pub fn set_consensus_peers(&self, peers: usize) {
        self.consensus_peers
            .store(u64::try_from(peers).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn gossip_peers(&self) -> u64 {
        self.gossip_peers.load(Ordering::Relaxed)
    }

    pub fn set_gossip_peers(&self, peers: usize) {
        self.gossip_peers
            .store(u64::try_from(peers).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn highest_peer_height(&self) -> u64 {
        self.highest_peer_height.load(Ordering::Relaxed)
    }

    pub fn observe_peer_height(&self, height: u64) {
        self.highest_peer_height
            .fetch_max(height, Ordering::Relaxed);
    }
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    pub chain: Arc<Chain>,
    pub rpc_address: SocketAddr,
    pub metrics_address: Option<SocketAddr>,
    rpc: jsonrpsee::server::ServerHandle,
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
        let chain_config = ChainConfig {
            db_path: data.join("db"),
            artifact_cache: Some(data.join("artifacts")),
            mempool: MempoolLimits {
                max_transactions: config.mempool.max_transactions,
                max_bytes: config.mempool.max_bytes,
            },
            verify_state_on_start: config.verify_state_on_start,
        };
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
            GossipConfig {
                listen: config.gossip.listen.clone(),
                persistent_peers: config.gossip.persistent_peers.clone(),
            },
            gossip_rx,
            Arc::clone(&network),
        )
        .await?;

        let (rpc_address, rpc) = rpc::serve(
            rpc::Rpc {
                chain: Arc::clone(&chain),
                gossip: gossip_tx,
                network: Arc::clone(&network),
                moniker: config.moniker.clone(),
            },
            config.rpc.listen,
        )
        .await?;
        tracing::info!(address = %rpc_address, "JSON-RPC listening");

        let (metrics_address, metrics_server) = match config.metrics.listen {
            Some(address) => {
                let (bound, task) = serve_metrics(address).await?;
                tracing::info!(address = %bound, "metrics listening");
                (Some(bound), Some(task))
            }
            None => (None, None),
        };

        let consensus = consensus::start(
            Arc::clone(&chain),
            consensus::ConsensusParams::new(
                &config,
                &genesis,
                keys::consensus_key(&key),
                data.join("wal"),
                Arc::clone(&network),
            )?,
        )
        .await?;

        Ok(Node {
            chain,
            rpc_address,
            metrics_address,
            rpc,
            gossip,
            consensus,
            metrics_server,
        })
    }

    /// Stops every part; committed state is already on disk.
    pub async fn stop(self) {
        self.consensus.stop().await;
        let _ = self.rpc.stop();
        self.rpc.stopped().await;
        self.gossip.task.abort();
        if let Some(task) = self.metrics_server {
            task.abort();
        }
    }
}

/// Runs the node in `home` until SIGINT or SIGTERM, then stops it: what
/// `cairn-node run` and `cairn-testnet run-node` do, on a runtime of their
/// own.
pub fn run_until_signal(home: &Path) -> anyhow::Result<()> {
    crate::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let node = Node::start(home).await?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
        node.stop().await;
        anyhow::Ok(())
    })
}

/// Serves `GET /metrics` in the Prometheus text format; anything else gets
/// a 404. Requests are read with a size cap and a timeout.
async fn serve_metrics(
    address: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics endpoint to {address}"))?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    stream.read(&mut request),
                )
                .await;
                let Ok(Ok(length)) = read else { return };
                let line = String::from_utf8_lossy(&request[..length]);
                let response = if line.starts_with("GET /metrics ") {
                    let body = crate::metrics::export();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                };
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_roundtrips_through_toml() {
        let mut config = NodeConfig::with_ports("node0", "127.0.0.1", 26000).unwrap();
        config.consensus.persistent_peers = vec!["/ip4/10.0.0.2/tcp/26000".parse().unwrap()];
        let dir = tempfile::tempdir().unwrap();
        config.save(dir.path()).unwrap();
        assert_eq!(NodeConfig::load(dir.path()).unwrap(), config);
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let config = NodeConfig::with_ports("node0", "127.0.0.1", 26000).unwrap();
        let text = toml::to_string(&config).unwrap() + "\nunknown_key = 1\n";
        std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
        let error = format!("{:#}", NodeConfig::load(dir.path()).unwrap_err());
        assert!(error.contains("unknown_key"), "{error}");
    }
}
