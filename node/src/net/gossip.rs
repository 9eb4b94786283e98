//! Transaction gossip: a libp2p swarm of its own (tcp + noise + yamux,
//! gossipsub, identify) beside Malachite's, so that a transaction submitted
//! to any node reaches every proposer's mempool.
//!
//! A message is relayed only after this node's mempool admitted it: peers
//! never forward what they have not checked. Messages that are invalid by
//! themselves (malformed, wrong chain, bad signature, too large) are
//! rejected, which lowers the sender's gossipsub score until it is
//! graylisted; messages that are merely stale (a used nonce, a duplicate, a
//! full mempool) are ignored without blame.
//!
//! Strangers can connect, so connections are bounded per peer and in total
//! ([`GossipLimits`], libp2p's `connection_limits`), a message is at most a
//! largest transaction, and each connection's outbound queue holds a
//! bounded number of messages.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, PeerScoreParams,
    PeerScoreThresholds, TopicScoreParams, ValidationMode,
};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, identity, noise, tcp, yamux};
use tokio::sync::{mpsc, watch};

use super::NetworkStatus;
use crate::background::BackgroundRuntime;
use crate::chain::Chain;
use crate::limits::MAX_TX_BYTES;
use crate::types::TxError;

/// How often unconnected persistent peers are dialled again.
const REDIAL_INTERVAL: Duration = Duration::from_secs(5);

/// Messages a connection's outbound queue holds; later ones are dropped
/// until the peer reads (libp2p's default is 5,000 of any size).
const CONNECTION_QUEUE: usize = 512;

#[derive(Debug, Clone)]
pub struct GossipConfig {
    pub listen: Multiaddr,
    pub persistent_peers: Vec<Multiaddr>,
    pub limits: GossipLimits,
}

/// How many connections the gossip swarm keeps; a connection over a limit
/// is closed as soon as it is established (or refused while pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipLimits {
    /// Connections with one peer: two when both dial at once.
    pub per_peer: u32,
    /// Incoming connections still in their handshake.
    pub pending_incoming: u32,
    /// Established incoming connections.
    pub incoming: u32,
    /// Established connections, both ways.
    pub total: u32,
}

impl Default for GossipLimits {
    fn default() -> Self {
        GossipLimits {
            per_peer: 2,
            pending_incoming: 32,
            incoming: 64,
            total: 128,
        }
    }
}

impl GossipLimits {
    fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits::default()
            .with_max_established_per_peer(Some(self.per_peer))
            .with_max_pending_incoming(Some(self.pending_incoming))
            .with_max_established_incoming(Some(self.incoming))
            .with_max_established(Some(self.total))
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    // First: a connection over a limit is refused before the other
    // behaviours see it.
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
}

/// The gossipsub topic of a chain's transactions.
pub fn topic(chain_id: &str) -> IdentTopic {
    IdentTopic::new(format!("/cairn/{chain_id}/transactions/1"))
}

/// The running gossip task's handle. Dropping it stops the swarm.
#[derive(Debug)]
pub struct Gossip {
    pub local_peer_id: PeerId,
    /// The addresses the swarm listens on, once bound.
    pub listening: watch::Receiver<Vec<Multiaddr>>,
    pub task: tokio::task::JoinHandle<()>,
    /// The swarm's own runtime: admitting what peers send (decoding,
    /// checking signatures) never takes a thread consensus runs on.
    _runtime: BackgroundRuntime,
}

fn build_swarm(
    keypair: identity::Keypair,
    chain_id: &str,
    limits: &GossipLimits,
) -> anyhow::Result<Swarm<Behaviour>> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| {
            let config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(500))
                // Transactions sign themselves; messages need no author.
                .validation_mode(ValidationMode::Anonymous)
                .validate_messages()
                .max_transmit_size(MAX_TX_BYTES + 1024)
                // Content-addressed: the same transaction from two peers is
                // one message.
                .message_id_fn(|message| {
                    MessageId::from(cairn_vm::blake2b_256(&message.data).to_vec())
                })
                .duplicate_cache_time(Duration::from_secs(120))
                // Anonymous messages carry no author, so a peer cannot tell
                // it is relaying a transaction back to the node that
                // published it. gossipsub would count each such echo as an
                // invalid message and, with the weight below, graylist an
                // honest peer for it (a node then missed a fifth to a half
                // of its peers' transactions); echoes are duplicates.
                .allow_self_origin(true)
                .max_messages_per_rpc(Some(256))
                .connection_handler_queue_len(CONNECTION_QUEUE)
                .build()
                .map_err(|error| anyhow::anyhow!("gossipsub config: {error}"))?;
            let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
                .map_err(|error| anyhow::anyhow!("gossipsub: {error}"))?;
            let mut score = PeerScoreParams::default();
            score.topics.insert(
                topic(chain_id).hash(),
                TopicScoreParams {
                    // One invalid transaction costs -100 after squaring: a
                    // peer is graylisted (-80) by its first.
                    invalid_message_deliveries_weight: -100.0,
                    invalid_message_deliveries_decay: 0.9,
                    ..TopicScoreParams::default()
                },
            );
            gossipsub
                .with_peer_score(score, PeerScoreThresholds::default())
                .map_err(|error| anyhow::anyhow!("gossipsub scoring: {error}"))?;
            let identify = identify::Behaviour::new(identify::Config::new(
                "/cairn/gossip/1".into(),
                key.public(),
            ));
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits.connection_limits()),
                gossipsub,
                identify,
            })
        })?
        .with_swarm_config(|config| config.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    Ok(swarm)
}

fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|protocol| match protocol {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// What gossipsub is told of a message, given the mempool's answer: relay
/// what was admitted, penalise the peer for what is invalid by itself, and
/// drop without blame what is merely stale.
pub fn acceptance<T>(admitted: &Result<T, TxError>) -> MessageAcceptance {
    match admitted {
        Ok(_) => MessageAcceptance::Accept,
        Err(error) if is_peer_fault(error) => MessageAcceptance::Reject,
        Err(_) => MessageAcceptance::Ignore,
    }
}

/// Whether a refusal is the sending peer's fault.
pub fn is_peer_fault(error: &TxError) -> bool {
    match error {
        TxError::TooLarge { .. }
        | TxError::Malformed(_)
        | TxError::WrongChain { .. }
        | TxError::WrongGenesis { .. }
        | TxError::BadSignature
        | TxError::BadSender
        | TxError::GasBelowIntrinsic { .. }
        | TxError::GasAboveMaximum { .. }
        | TxError::BadMethod(_) => true,
        // Stale, or this node's own policy (its minimum price, its bounds):
        // another node may rightly hold the transaction.
        TxError::NonceUsed { .. }
        | TxError::NonceTooFarAhead { .. }
        | TxError::Duplicate
        | TxError::MempoolFull
        | TxError::GasPriceTooLow { .. }
        | TxError::BelowBaseFee { .. }
        | TxError::InsufficientBalance { .. }
        | TxError::ReplacementUnderpriced { .. }
        | TxError::TooManyQueued { .. }
        | TxError::BlockGasExceeded { .. } => false,
    }
}

/// Starts the gossip swarm, on a runtime of its own whose thread runs
/// below consensus in priority ([`crate::background`]). Transactions sent
/// on `outbound` (already admitted to this node's mempool) are published;
/// transactions from peers are admitted to the mempool and relayed if
/// valid.
pub async fn start(
    chain: Arc<Chain>,
    keypair: identity::Keypair,
    config: GossipConfig,
    mut outbound: mpsc::Receiver<Vec<u8>>,
    status: Arc<NetworkStatus>,
) -> anyhow::Result<Gossip> {
    let chain_id = chain.genesis().chain_id.clone();
    let runtime = BackgroundRuntime::start("gossip", 1).context("starting the gossip runtime")?;
    let handle = runtime
        .handle()
        .context("the gossip runtime is shut down")?
        .clone();
    let topic = topic(&chain_id);
    let mut swarm = {
        // Sockets belong to the runtime they are made in.
        let _context = handle.enter();
        let mut swarm = build_swarm(keypair, &chain_id, &config.limits)?;
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .context("subscribing to the transaction topic")?;
        swarm
            .listen_on(config.listen.clone())
            .with_context(|| format!("listening for gossip on {}", config.listen))?;
        for peer in &config.persistent_peers {
            if let Some(id) = peer_of(peer) {
                swarm.behaviour_mut().gossipsub.add_explicit_peer(&id);
            }
        }
        swarm
    };
    let local_peer_id = *swarm.local_peer_id();
    let (listening_tx, listening) = watch::channel(Vec::new());
    let task = handle.spawn(async move {
        let mut connected: HashSet<PeerId> = HashSet::new();
        let mut connections = 0usize;
        let mut redial = tokio::time::interval(REDIAL_INTERVAL);
        loop {
            tokio::select! {
                _ = redial.tick() => {
                    for address in &config.persistent_peers {
                        let known = peer_of(address).is_some_and(|peer| connected.contains(&peer));
                        if !known && let Err(error) = swarm.dial(address.clone()) {
                            tracing::debug!(%address, %error, "gossip dial failed");
                        }
                    }
                }
                message = outbound.recv() => {
                    let Some(bytes) = message else { break };
                    match swarm.behaviour_mut().gossipsub.publish(topic.clone(), bytes) {
                        Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
                        Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                            tracing::debug!("no gossip peers yet; transaction kept locally");
                        }
                        Err(error) => tracing::warn!(%error, "publishing a transaction failed"),
                    }
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                        propagation_source,
                        message_id,
                        message,
                    })) => {
                        let admitted = chain.submit(&message.data);
                        let acceptance = acceptance(&admitted);
                        if let Err(error) = &admitted {
                            chain.metrics().rejected_transactions.inc();
                            if matches!(acceptance, MessageAcceptance::Reject) {
                                tracing::info!(peer = %propagation_source, %error, "rejected a gossiped transaction");
                            } else {
                                tracing::debug!(peer = %propagation_source, %error, "ignored a gossiped transaction");
                            }
                        }
                        swarm.behaviour_mut().gossipsub.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            acceptance,
                        );
                    }
                    SwarmEvent::NewListenAddr { address, .. } => {
                        tracing::info!(%address, "gossip listening");
                        listening_tx.send_modify(|addresses| addresses.push(address));
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        connected.insert(peer_id);
                        connections += 1;
                        status.set_gossip_connections(connections);
                        status.set_gossip_peers(connected.len());
                        chain.metrics().gossip_peers.set(i64::try_from(connected.len()).unwrap_or(i64::MAX));
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => {
                        connections = connections.saturating_sub(1);
                        status.set_gossip_connections(connections);
                        if num_established == 0 {
                            connected.remove(&peer_id);
                            status.set_gossip_peers(connected.len());
                            chain.metrics().gossip_peers.set(i64::try_from(connected.len()).unwrap_or(i64::MAX));
                        }
                    }
                    SwarmEvent::IncomingConnectionError { error: ListenError::Denied { cause }, send_back_addr, .. } => {
                        status.count_gossip_denied();
                        tracing::debug!(%send_back_addr, %cause, "refused a gossip connection");
                    }
                    SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                        tracing::debug!(?peer_id, %error, "gossip connection failed");
                    }
                    _ => {}
                },
            }
        }
        tracing::info!("gossip stopped");
    });
    Ok(Gossip {
        local_peer_id,
        listening,
        task,
        _runtime: runtime,
    })
}
