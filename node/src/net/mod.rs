//! The node's network beside consensus: transaction gossip ([`gossip`]) and
//! what the network layers know of their peers ([`NetworkStatus`]), which
//! consensus and gossip write and RPC's `status` reads.

pub mod gossip;

use std::sync::atomic::{AtomicU64, Ordering};

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
