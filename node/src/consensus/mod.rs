//! Malachite BFT consensus, embedded through its channel interface.
//!
//! Start reading at [`start`]: it builds Cairn's context ([`context`], with
//! the proposer schedule of `proposer`), signing ([`signing`], behind the
//! [`guard`] that never signs two different votes for one height and round)
//! and wire codec ([`codec`]), starts Malachite's engine (its own libp2p
//! swarm, WAL and block sync), and runs the application loop (`app`) that
//! answers the engine from the chain through the
//! [`ConsensusHost`](crate::chain::ConsensusHost) boundary, which the chain
//! declares and implements. Proposal streams are reassembled by
//! [`streaming`], from validators only.
//!
//! It takes its settings as a [`ConsensusConfig`], which the node builds from
//! its configuration file; it knows nothing of the node that runs it.

mod app;
pub mod codec;
pub mod context;
pub mod guard;
mod proposer;
pub mod signing;
pub mod streaming;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytesize::ByteSize;
use libp2p::Multiaddr;
use malachitebft_app_channel::app::config::{
    ConsensusConfig as EngineConsensusConfig, NodeConfig as EngineConfigTrait, P2pConfig,
    PubSubMaxSizePerTopic, ValueSyncConfig,
};
use malachitebft_app_channel::app::engine::util::events::Event;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{LinearTimeouts, Validity, ValueOrigin};
use malachitebft_app_channel::{
    ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, NetworkRequest,
    RequestContext, Signer, SyncContext, WalContext,
};
use malachitebft_signing_ed25519::PrivateKey;

use crate::chain::ConsensusHost;
use crate::genesis::Genesis;
use crate::metrics::ConsensusMetrics;
use crate::net::NetworkStatus;
use codec::WireCodec;
use context::{CairnContext, Validator, ValidatorAddress, ValidatorSet};
use guard::SignGuard;
use signing::{ChainTag, SignatureVerifier, ValidatorSigner};

/// What consensus takes from the node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsensusConfig {
    /// The node's name in logs and on the consensus swarm.
    pub moniker: String,
    /// Where the consensus swarm listens.
    pub listen: Multiaddr,
    /// Peers dialled at start and redialled when they drop.
    pub persistent_peers: Vec<Multiaddr>,
    /// Blocks are not produced faster than this.
    pub target_block_time: Duration,
    /// With nothing to include, a node waits up to this long after a block
    /// before it starts the next height, whose proposer then proposes an
    /// empty block.
    pub max_idle_block_interval: Duration,
    /// Where the write-ahead log, and the record of what this validator
    /// signed, are kept.
    pub wal_dir: PathBuf,
}

/// Everything consensus needs from its configuration and genesis.
pub struct ConsensusParams {
    pub moniker: String,
    pub validators: ValidatorSet,
    pub chain: ChainTag,
    pub key: PrivateKey,
    pub listen: Multiaddr,
    pub persistent_peers: Vec<Multiaddr>,
    pub wal_file: PathBuf,
    /// What this validator signed at its highest height ([`guard`]).
    pub signed_file: PathBuf,
    pub timeouts: LinearTimeouts,
    pub target_block_time: Duration,
    pub max_idle_block_interval: Duration,
    pub network: Arc<NetworkStatus>,
    pub metrics: ConsensusMetrics,
}

impl std::fmt::Debug for ConsensusParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusParams")
            .field("moniker", &self.moniker)
            .field("validators", &self.validators)
            .field("listen", &self.listen)
            .field("persistent_peers", &self.persistent_peers)
            .field("wal_file", &self.wal_file)
            .finish_non_exhaustive()
    }
}

impl ConsensusParams {
    pub fn new(
        config: &ConsensusConfig,
        genesis: &Genesis,
        key: PrivateKey,
        network: Arc<NetworkStatus>,
        metrics: ConsensusMetrics,
    ) -> anyhow::Result<Self> {
        let validators = genesis
            .validators
            .iter()
            .map(|validator| {
                Ok(Validator {
                    address: ValidatorAddress(validator.key()?),
                    power: validator.power,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let validators = ValidatorSet::new(validators).map_err(anyhow::Error::msg)?;
        Ok(ConsensusParams {
            moniker: config.moniker.clone(),
            validators,
            chain: ChainTag(genesis.hash()),
            key,
            listen: config.listen.clone(),
            persistent_peers: config.persistent_peers.clone(),
            wal_file: config.wal_dir.join("consensus.wal"),
            signed_file: config.wal_dir.join("signed_state"),
            timeouts: timeouts(genesis.params.block_gas_limit),
            target_block_time: config.target_block_time,
            max_idle_block_interval: config.max_idle_block_interval,
            network,
            metrics,
        })
    }
}

/// How long a round waits for its proposal, on top of executing it: the
/// proposer's start and the streaming of its parts on a busy machine.
/// Nothing else is in it: a node waits for transactions before it starts a
/// height (see `app::wait_for_transactions`), so a silent proposer costs
/// the propose timeout and no idle interval.
const PROPOSE_TIMEOUT_BASE: Duration = Duration::from_millis(500);
/// The rate at which the propose timeout assumes a block's gas executes:
/// below the schedule's 45 to 70 gas per nanosecond on the reference
/// machine (gas-meter's schedule), so that a full block of the work gas
/// prices cheapest still fits.
const TIMEOUT_GAS_PER_NANO: u64 = 40;
/// How long a round waits, once 2/3 of the power has precommitted without
/// agreeing, for the rest before it moves on. Tendermint waits even when
/// the 2/3 all precommitted nil, so after a silent proposer this is paid
/// on top of the propose timeout; it only waits for stragglers, so a
/// quarter of Malachite's default 1 s is enough here.
const PRECOMMIT_TIMEOUT: Duration = Duration::from_millis(250);

/// How long a round waits for its proposal on a chain whose blocks may use
/// `block_gas_limit` gas: a full block is executed twice before a follower
/// can prevote for it (the proposer builds it, the follower verifies it),
/// so a timeout that ignored the limit would let a chain with larger
/// blocks time out on every full one. 1.5 s at the default 20 billion.
pub fn propose_timeout(block_gas_limit: u64) -> Duration {
    let execution = Duration::from_nanos(block_gas_limit / TIMEOUT_GAS_PER_NANO);
    PROPOSE_TIMEOUT_BASE + execution * 2
}

/// Cairn's round timeouts for blocks of at most `block_gas_limit` gas.
/// Each later round of a height waits 0.5 s more in every step
/// (Malachite's deltas), so a slow network still decides.
pub fn timeouts(block_gas_limit: u64) -> LinearTimeouts {
    let defaults = LinearTimeouts::default();
    let propose = propose_timeout(block_gas_limit);
    LinearTimeouts {
        propose,
        precommit: PRECOMMIT_TIMEOUT,
        // A stuck round's votes are sent again after a whole round's worst
        // case, as Malachite's default is made.
        rebroadcast: propose + defaults.prevote + PRECOMMIT_TIMEOUT,
        ..defaults
    }
}

/// Malachite's configuration for a Cairn node.
#[derive(Clone, Debug)]
struct EngineConfig {
    moniker: String,
    consensus: EngineConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl EngineConfigTrait for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &EngineConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut EngineConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn engine_config(params: &ConsensusParams) -> EngineConfig {
    let response_limit = ByteSize::b(app::MAX_SYNC_RESPONSE_BYTES as u64 + (1 << 20));
    EngineConfig {
        moniker: params.moniker.clone(),
        consensus: EngineConsensusConfig {
            p2p: P2pConfig {
                listen_addr: params.listen.clone(),
                persistent_peers: params.persistent_peers.clone(),
                pubsub_max_size: ByteSize::mib(1),
                // What gossipsub relays before Cairn sees it is at most this
                // large: a proposal part is one chunk plus framing; votes and
                // proposals are a few hundred bytes.
                pubsub_max_size_per_topic: PubSubMaxSizePerTopic {
                    proposal_parts: Some(ByteSize::b(streaming::CHUNK_BYTES as u64 + 4096)),
                    consensus: Some(ByteSize::kib(64)),
                    liveness: None,
                },
                rpc_max_size: response_limit,
                ..P2pConfig::default()
            },
            ..EngineConsensusConfig::default()
        },
        value_sync: ValueSyncConfig {
            // Peers learn each other's heights this often; a node that fell
            // behind starts catching up within it.
            status_update_interval: Duration::from_secs(2),
            max_response_size: response_limit,
            ..ValueSyncConfig::default()
        },
    }
}

/// A running consensus engine and its application loop.
pub struct ConsensusHandle {
    engine: EngineHandle,
    app: tokio::task::JoinHandle<anyhow::Result<()>>,
    status: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ConsensusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusHandle").finish_non_exhaustive()
    }
}

impl ConsensusHandle {
    /// Waits until the application loop stops by itself, which it does
    /// only on a failure it must not work around (a decided block that
    /// cannot be committed); returns why. The node should then stop: a
    /// restart resumes from the WAL.
    pub async fn failed(&mut self) -> anyhow::Error {
        match (&mut self.app).await {
            Ok(Ok(())) => anyhow::anyhow!("the consensus application loop stopped"),
            Ok(Err(error)) => error,
            Err(error) => anyhow::anyhow!("the consensus application loop failed: {error}"),
        }
    }

    /// Stops the engine and the application loop. Committed blocks are
    /// already on disk and the WAL is flushed as it is written.
    pub async fn stop(self) {
        self.status.abort();
        self.engine.actor.stop(Some("node shutting down".into()));
        let _ = tokio::time::timeout(Duration::from_secs(5), self.engine.handle).await;
        self.app.abort();
    }
}

/// Starts Malachite for the chain behind `host`.
pub async fn start<H: ConsensusHost>(
    host: Arc<H>,
    params: ConsensusParams,
) -> anyhow::Result<ConsensusHandle> {
    let mut signer = ValidatorSigner::new(params.key.clone(), params.chain);
    let verifier = SignatureVerifier::new(params.chain, &params.validators);
    let address = signer.address();
    let is_validator = params
        .validators
        .validators()
        .iter()
        .any(|validator| validator.address == address);
    let keypair = crate::keys::libp2p_keypair(&params.key);
    let peer_id = keypair.public().to_peer_id();

    if let Some(parent) = params.wal_file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    if is_validator {
        let guard = SignGuard::open(&params.signed_file)?;
        signer = signer.with_guard(Arc::new(guard));
    }

    let identity = if is_validator {
        let proof = signer
            .sign_validator_proof(address.0.to_vec(), peer_id.to_bytes())
            .await
            .map_err(|error| anyhow::anyhow!("signing the validator proof: {error}"))?;
        let proof = Codec::encode(&WireCodec, &proof)?;
        NetworkIdentity::new_validator(params.moniker.clone(), keypair, address.to_string(), proof)
    } else {
        NetworkIdentity::new(params.moniker.clone(), keypair, None)
    };
    let consensus = if is_validator {
        ConsensusContext::new_validator(
            address,
            Box::new(verifier.clone()),
            Box::new(signer.clone()),
        )
    } else {
        ConsensusContext::new_full_node(address, Box::new(verifier.clone()))
    };

    let config = engine_config(&params);
    let (channels, engine) = malachitebft_app_channel::start_engine(
        CairnContext,
        config,
        WalContext::new(params.wal_file.clone(), WireCodec),
        NetworkContext::new(identity, WireCodec),
        consensus,
        SyncContext::new(WireCodec),
        RequestContext::new(64),
    )
    .await
    .map_err(|error| anyhow::anyhow!("starting consensus: {error:#}"))?;
    tracing::info!(
        %peer_id,
        listen = %params.listen,
        validator = is_validator,
        validators = params.validators.validators().len(),
        "consensus started"
    );

    let status = tokio::spawn({
        let peers = watch_peers(channels.net_requests.clone(), Arc::clone(&params.network));
        let sync = watch_sync(channels.events.subscribe(), Arc::clone(&params.network));
        async move {
            tokio::join!(peers, sync);
        }
    });
    let app = app::App::new(
        host,
        app::AppParts {
            signer: is_validator.then_some(signer),
            verifier,
            validators: params.validators,
            timeouts: params.timeouts,
            target_block_time: params.target_block_time,
            max_idle_block_interval: params.max_idle_block_interval,
            metrics: params.metrics,
        },
    );
    let app = tokio::spawn(async move {
        let result = app.run(channels).await;
        if let Err(error) = &result {
            tracing::error!("consensus application loop: {error:#}");
        }
        result
    });
    Ok(ConsensusHandle {
        engine,
        app,
        status,
    })
}

/// Keeps the node's status current with the consensus swarm's peer count.
async fn watch_peers(
    requests: tokio::sync::mpsc::Sender<NetworkRequest>,
    network: Arc<NetworkStatus>,
) {
    loop {
        if let Ok(Some(dump)) = NetworkRequest::dump_state(&requests).await {
            network.set_consensus_peers(dump.peers.len());
        }
        // Often enough that a restarted node's status shows its peers by
        // the time it has caught up.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Tells the node's status when certified blocks reach it through sync
/// (the engine's `ReceivedProposedValue` events of origin `Sync` that the
/// chain accepted): then the node is catching up (`status.syncing`).
async fn watch_sync(
    mut events: tokio::sync::broadcast::Receiver<Event<CairnContext>>,
    network: Arc<NetworkStatus>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(Event::ReceivedProposedValue(value, ValueOrigin::Sync))
                if value.validity == Validity::Valid =>
            {
                network.observe_synced(value.height.0, crate::chain::now_ms());
            }
            Ok(_) => {}
            // Missed events are only missed status updates.
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_propose_timeout_covers_building_and_verifying_a_full_block() {
        let default_limit = crate::genesis::ChainParams::default().block_gas_limit;
        assert_eq!(propose_timeout(default_limit), Duration::from_millis(1_500));
        // Five times the gas: five times the execution, the same base.
        assert_eq!(
            propose_timeout(default_limit * 5),
            PROPOSE_TIMEOUT_BASE + Duration::from_secs(5)
        );
        let timeouts = timeouts(default_limit * 5);
        assert_eq!(timeouts.propose, propose_timeout(default_limit * 5));
        assert!(timeouts.rebroadcast > timeouts.propose + timeouts.precommit);
    }
}
