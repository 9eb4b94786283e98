//! A node's configuration file (`<home>/config.toml`), and the homes of a
//! local testnet written from one spec.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::chain::mempool::MempoolLimits;
use crate::genesis::{ChainParams, Genesis, GenesisAccount, GenesisValidator};
use crate::keys;
use crate::net::gossip::GossipLimits;
use crate::rpc::RpcLimits;
use crate::rpc::pool::PoolLimits;
use crate::rpc::subscriptions::SubscriptionLimits;
use crate::state::{DEFAULT_TREE_VERSIONS_KEPT, StoreOptions};
use crate::types::Address;

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
    pub gossip: GossipSection,
    pub rpc: RpcSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub mempool: MempoolSection,
    #[serde(default)]
    pub state: StateSection,
}

/// How the database keeps the state tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateSection {
    /// Versions of the state tree kept (the head's included, at least 2);
    /// older nodes are deleted as blocks commit. 0 keeps every version.
    pub tree_versions_kept: u64,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            tree_versions_kept: DEFAULT_TREE_VERSIONS_KEPT,
        }
    }
}

impl StateSection {
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            tree_versions_kept: (self.tree_versions_kept > 0).then_some(self.tree_versions_kept),
        }
    }
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
    /// With nothing to include, a node waits up to this long after a block
    /// before it starts the next height, whose proposer then proposes an
    /// empty block.
    #[serde(default = "default_max_idle_block_interval_ms")]
    pub max_idle_block_interval_ms: u64,
}

/// Low enough that a transaction is final in about 150 ms on a local
/// network under load (docs/BENCHMARKS.md); a node with nothing to include
/// still waits `max_idle_block_interval_ms`, so an idle chain stays quiet.
fn default_target_block_time_ms() -> u64 {
    100
}

fn default_max_idle_block_interval_ms() -> u64 {
    2_000
}

/// The gossip swarm: a network section with connection limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipSection {
    pub listen: Multiaddr,
    #[serde(default)]
    pub persistent_peers: Vec<Multiaddr>,
    /// Connections with one peer.
    #[serde(default = "gossip_defaults::per_peer")]
    pub max_connections_per_peer: u32,
    /// Established incoming connections.
    #[serde(default = "gossip_defaults::incoming")]
    pub max_incoming_connections: u32,
    /// Established connections, both ways.
    #[serde(default = "gossip_defaults::total")]
    pub max_connections: u32,
}

mod gossip_defaults {
    use crate::net::gossip::GossipLimits;

    pub(super) fn per_peer() -> u32 {
        GossipLimits::default().per_peer
    }

    pub(super) fn incoming() -> u32 {
        GossipLimits::default().incoming
    }

    pub(super) fn total() -> u32 {
        GossipLimits::default().total
    }
}

impl GossipSection {
    pub fn new(listen: Multiaddr) -> Self {
        let limits = GossipLimits::default();
        GossipSection {
            listen,
            persistent_peers: Vec::new(),
            max_connections_per_peer: limits.per_peer,
            max_incoming_connections: limits.incoming,
            max_connections: limits.total,
        }
    }

    pub fn limits(&self) -> GossipLimits {
        GossipLimits {
            per_peer: self.max_connections_per_peer,
            incoming: self.max_incoming_connections,
            total: self.max_connections,
            ..GossipLimits::default()
        }
    }
}

/// JSON-RPC: where it listens and how much it serves at once. Every
/// field but `listen` has a default (`RpcLimits::default`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    pub listen: SocketAddr,
    /// Connections (HTTP and WebSocket) open at once.
    #[serde(default = "rpc_defaults::max_connections")]
    pub max_connections: u32,
    /// Calls in one JSON-RPC batch.
    #[serde(default = "rpc_defaults::max_batch")]
    pub max_batch: u32,
    /// Gas a query may use (default and cap of its `gas_limit`).
    #[serde(default = "rpc_defaults::query_gas_limit")]
    pub query_gas_limit: u64,
    /// Threads running queries, at a lower priority than the rest of the
    /// node, and queries waiting for one; more are refused as busy.
    #[serde(default = "rpc_defaults::query_threads")]
    pub query_threads: usize,
    #[serde(default = "rpc_defaults::query_queue")]
    pub query_queue: usize,
    /// Threads for every other request that reads the database or admits
    /// a transaction, and requests waiting for one.
    #[serde(default = "rpc_defaults::request_threads")]
    pub request_threads: usize,
    #[serde(default = "rpc_defaults::request_queue")]
    pub request_queue: usize,
    /// WebSocket subscriptions open at once on the node, and on one
    /// connection; more are refused.
    #[serde(default = "rpc_defaults::max_subscriptions")]
    pub max_subscriptions: u32,
    #[serde(default = "rpc_defaults::max_subscriptions_per_connection")]
    pub max_subscriptions_per_connection: u32,
    /// Blocks waiting to be sent to one block subscriber; one that falls
    /// further behind is dropped.
    #[serde(default = "rpc_defaults::subscription_buffer")]
    pub subscription_buffer: usize,
}

mod rpc_defaults {
    use crate::rpc::RpcLimits;

    fn limits() -> RpcLimits {
        RpcLimits::default()
    }

    pub(super) fn max_connections() -> u32 {
        limits().max_connections
    }

    pub(super) fn max_batch() -> u32 {
        limits().max_batch
    }

    pub(super) fn query_gas_limit() -> u64 {
        limits().query_gas_limit
    }

    pub(super) fn query_threads() -> usize {
        limits().queries.threads
    }

    pub(super) fn query_queue() -> usize {
        limits().queries.queue
    }

    pub(super) fn request_threads() -> usize {
        limits().requests.threads
    }

    pub(super) fn request_queue() -> usize {
        limits().requests.queue
    }

    pub(super) fn max_subscriptions() -> u32 {
        limits().subscriptions.total
    }

    pub(super) fn max_subscriptions_per_connection() -> u32 {
        limits().subscriptions.per_connection
    }

    pub(super) fn subscription_buffer() -> usize {
        limits().subscriptions.buffer
    }
}

impl RpcSection {
    /// Listening on `listen` with the default limits.
    pub fn new(listen: SocketAddr) -> Self {
        let limits = RpcLimits::default();
        RpcSection {
            listen,
            max_connections: limits.max_connections,
            max_batch: limits.max_batch,
            query_gas_limit: limits.query_gas_limit,
            query_threads: limits.queries.threads,
            query_queue: limits.queries.queue,
            request_threads: limits.requests.threads,
            request_queue: limits.requests.queue,
            max_subscriptions: limits.subscriptions.total,
            max_subscriptions_per_connection: limits.subscriptions.per_connection,
            subscription_buffer: limits.subscriptions.buffer,
        }
    }

    pub fn limits(&self) -> RpcLimits {
        RpcLimits {
            max_connections: self.max_connections,
            max_batch: self.max_batch,
            query_gas_limit: self.query_gas_limit,
            queries: PoolLimits {
                threads: self.query_threads,
                queue: self.query_queue,
            },
            requests: PoolLimits {
                threads: self.request_threads,
                queue: self.request_queue,
            },
            subscriptions: SubscriptionLimits {
                total: self.max_subscriptions,
                per_connection: self.max_subscriptions_per_connection,
                buffer: self.subscription_buffer,
            },
            ..RpcLimits::default()
        }
    }
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
    /// The lowest gas price this node admits, on top of the chain's base
    /// fee. 0 (the default) admits whatever the chain would include; a
    /// validator open to the public sets its own floor.
    pub min_gas_price: u64,
    /// Seconds a transaction may wait for a block before it is dropped.
    pub ttl_secs: u64,
    /// How many of one sender's transactions may wait behind a nonce gap.
    pub max_queued_per_sender: usize,
}

impl Default for MempoolSection {
    fn default() -> Self {
        let limits = MempoolLimits::default();
        MempoolSection {
            max_transactions: limits.max_transactions,
            max_bytes: limits.max_bytes,
            min_gas_price: limits.min_gas_price,
            ttl_secs: limits.ttl.as_secs(),
            max_queued_per_sender: limits.max_queued_per_sender,
        }
    }
}

impl MempoolSection {
    pub fn limits(&self) -> MempoolLimits {
        MempoolLimits {
            max_transactions: self.max_transactions,
            max_bytes: self.max_bytes,
            min_gas_price: self.min_gas_price,
            ttl: Duration::from_secs(self.ttl_secs),
            max_queued_per_sender: self.max_queued_per_sender,
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
            gossip: GossipSection::new(format!("/ip4/{host}/tcp/{}", port(1)?).parse()?),
            rpc: RpcSection::new(format!("{host}:{}", port(2)?).parse()?),
            metrics: MetricsSection {
                listen: Some(format!("{host}:{}", port(3)?).parse()?),
            },
            mempool: MempoolSection::default(),
            state: StateSection::default(),
        })
    }

    /// The same config with the client-facing endpoints (JSON-RPC and
    /// metrics) on `host`, ports unchanged. `cairn-node init` puts them on
    /// loopback unless told otherwise: peers must reach consensus and
    /// gossip, but an RPC port open to the world lets anyone run queries
    /// on a validator.
    pub fn with_client_host(mut self, host: std::net::IpAddr) -> Self {
        self.rpc.listen.set_ip(host);
        if let Some(metrics) = self.metrics.listen.as_mut() {
            metrics.set_ip(host);
        }
        self
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
    /// The accounts funded at genesis, and what each holds.
    pub accounts: Vec<(Address, u128)>,
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
            .map(|(_, config, key)| GenesisValidator {
                name: config.moniker.clone(),
                public_key: keys::address(key).to_string(),
                power: 1,
            })
            .collect(),
        accounts: spec
            .accounts
            .iter()
            .map(|(address, balance)| GenesisAccount {
                address: address.to_string(),
                balance: *balance,
            })
            .collect(),
        params: ChainParams::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_served_on_loopback_while_peers_reach_every_interface() {
        let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
        let config = NodeConfig::with_ports("node0", "0.0.0.0", 26000)
            .unwrap()
            .with_client_host(loopback);
        let rpc: SocketAddr = "127.0.0.1:26002".parse().unwrap();
        let metrics: SocketAddr = "127.0.0.1:26003".parse().unwrap();
        assert_eq!(config.rpc.listen, rpc);
        assert_eq!(config.metrics.listen, Some(metrics));
        let everywhere: Multiaddr = "/ip4/0.0.0.0/tcp/26000".parse().unwrap();
        assert_eq!(config.consensus.listen, everywhere);
        assert_eq!(
            config.gossip.listen,
            "/ip4/0.0.0.0/tcp/26001".parse::<Multiaddr>().unwrap()
        );
    }

    #[test]
    fn a_config_roundtrips_through_toml() {
        let mut config = NodeConfig::with_ports("node0", "127.0.0.1", 26000).unwrap();
        config.consensus.persistent_peers = vec!["/ip4/10.0.0.2/tcp/26000".parse().unwrap()];
        let dir = tempfile::tempdir().unwrap();
        config.save(dir.path()).unwrap();
        assert_eq!(NodeConfig::load(dir.path()).unwrap(), config);
    }

    #[test]
    fn the_rpc_section_sets_the_subscription_limits_and_defaults_them() {
        let bare: RpcSection = toml::from_str("listen = \"127.0.0.1:26657\"").unwrap();
        assert_eq!(bare.limits(), RpcLimits::default());
        let set: RpcSection = toml::from_str(
            "listen = \"127.0.0.1:26657\"\nmax_subscriptions = 7\n\
             max_subscriptions_per_connection = 3\nsubscription_buffer = 16\n",
        )
        .unwrap();
        assert_eq!(
            set.limits().subscriptions,
            SubscriptionLimits {
                total: 7,
                per_connection: 3,
                buffer: 16,
            }
        );
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
