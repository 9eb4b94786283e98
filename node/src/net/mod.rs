//! The node's network beside consensus: transaction gossip ([`gossip`]) and
//! what the network layers know of their peers ([`NetworkStatus`]), which
//! consensus and gossip write and RPC's `status` reads.

pub mod gossip;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long after the last block that arrived through sync a node still
/// counts as syncing: longer than the pause between two sync requests
/// (Malachite asks again within its status interval, 2 s here), so that
/// `status.syncing` does not flicker while a node catches up batch by
/// batch.
pub const SYNC_QUIET_PERIOD: Duration = Duration::from_secs(4);

/// What the network layers know, for `status`.
#[derive(Debug, Default)]
pub struct NetworkStatus {
    consensus_peers: AtomicU64,
    gossip_peers: AtomicU64,
    gossip_connections: AtomicU64,
    gossip_denied: AtomicU64,
    /// The highest block that reached this node through sync: certified,
    /// so a peer cannot inflate it.
    highest_synced: AtomicU64,
    /// When the last block arrived through sync (ms since the epoch).
    last_synced_ms: AtomicU64,
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

    /// Open connections on the gossip swarm, counting every connection of
    /// a peer.
    pub fn gossip_connections(&self) -> u64 {
        self.gossip_connections.load(Ordering::Relaxed)
    }

    pub fn set_gossip_connections(&self, connections: usize) {
        self.gossip_connections.store(
            u64::try_from(connections).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Connections the gossip swarm refused because of its limits, since
    /// start.
    pub fn gossip_denied(&self) -> u64 {
        self.gossip_denied.load(Ordering::Relaxed)
    }

    pub fn count_gossip_denied(&self) {
        self.gossip_denied.fetch_add(1, Ordering::Relaxed);
    }

    /// A certified block at `height` arrived through sync at `now_ms`.
    pub fn observe_synced(&self, height: u64, now_ms: u64) {
        self.highest_synced.fetch_max(height, Ordering::Relaxed);
        self.last_synced_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Whether the node is catching up: a block that came through sync is
    /// not committed yet, or one came within [`SYNC_QUIET_PERIOD`] (the
    /// next may be on its way).
    pub fn syncing(&self, committed_height: u64, now_ms: u64) -> bool {
        let last = self.last_synced_ms.load(Ordering::Relaxed);
        if last == 0 {
            return false;
        }
        let quiet = u64::try_from(SYNC_QUIET_PERIOD.as_millis()).unwrap_or(u64::MAX);
        self.highest_synced.load(Ordering::Relaxed) > committed_height
            || now_ms.saturating_sub(last) < quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_syncing_while_synced_blocks_arrive_and_not_after() {
        let status = NetworkStatus::default();
        let quiet = u64::try_from(SYNC_QUIET_PERIOD.as_millis()).unwrap();
        // Nothing synced yet: a node in consensus is not syncing.
        assert!(!status.syncing(5, 1_000_000));

        // A block at 7 arrived through sync; the node is at 6.
        status.observe_synced(7, 1_000_000);
        assert!(status.syncing(6, 1_000_000));
        // Committed, but the next may be coming: still syncing.
        assert!(status.syncing(7, 1_000_000 + quiet - 1));
        // Quiet for the whole period and caught up: done.
        assert!(!status.syncing(7, 1_000_000 + quiet));
        // Behind what sync delivered is syncing whatever the clock says.
        assert!(status.syncing(6, 1_000_000 + 10 * quiet));

        // A late, lower observation moves neither the height nor the time
        // back.
        status.observe_synced(3, 900_000);
        assert!(!status.syncing(7, 1_000_000 + quiet));
    }
}
