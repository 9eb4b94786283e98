//! An attacker on the consensus network: a real libp2p peer (Malachite's
//! own network actor, so it speaks the nodes' gossipsub exactly) that
//! publishes what honest nodes must refuse without work:
//!
//! - [`JunkPeer::publish_junk_streams`]: streams that never complete, each
//!   under a new stream id, the flood that evicted proposers' streams when
//!   the reassembler kept 64 streams from everyone together;
//! - [`JunkPeer::publish_proposal`]: a complete proposal, correctly signed
//!   by this peer's key, for a height and round it does not propose (with a
//!   validator's key: a faulty validator proposing out of turn).
//!
//! Started with a validator's key it is that validator as far as the
//! network can tell (its peer id is derived from the key). Loopback only:
//! [`JunkPeer::start`] refuses any other address.
//!
//! It needs only libp2p, Malachite's network actor and the node's public
//! wire codec, so it lives with the attacker rather than in the node.

use bytes::Bytes;
use libp2p::Multiaddr;
use malachitebft_app_channel::NetworkIdentity;
use malachitebft_app_channel::app::config::{ConsensusConfig, P2pConfig, ValueSyncConfig};
use malachitebft_app_channel::app::engine::network::{Msg as NetworkMsg, NetworkRef};
use malachitebft_app_channel::app::metrics::SharedRegistry;
use malachitebft_app_channel::app::spawn::spawn_network_actor;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::Round;

use cairn_node::consensus::codec::WireCodec;
use cairn_node::consensus::context::{CairnContext, Height, ProposalPart, ValidatorAddress};
use cairn_node::consensus::signing::{ChainTag, ValidatorSigner};
use cairn_node::consensus::streaming;
use cairn_node::genesis::Genesis;
use cairn_node::keys::{self, PrivateKey};

/// A peer on the consensus network that publishes junk.
pub struct JunkPeer {
    network: NetworkRef<CairnContext>,
    signer: ValidatorSigner,
    streams: u64,
}

impl std::fmt::Debug for JunkPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JunkPeer")
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

impl JunkPeer {
    /// Joins the consensus network of `genesis` as the holder of `key`,
    /// listening on `listen` and dialling `peers`, all on loopback.
    pub async fn start(
        key: &PrivateKey,
        genesis: &Genesis,
        listen: Multiaddr,
        peers: Vec<Multiaddr>,
    ) -> anyhow::Result<JunkPeer> {
        for address in std::iter::once(&listen).chain(&peers) {
            if !on_loopback(address) {
                anyhow::bail!("{address} is not on loopback: the junk peer stays on this machine");
            }
        }
        let consensus = ConsensusConfig {
            p2p: P2pConfig {
                listen_addr: listen,
                persistent_peers: peers,
                ..P2pConfig::default()
            },
            ..ConsensusConfig::default()
        };
        let identity = NetworkIdentity::new("junk".to_owned(), keys::libp2p_keypair(key), None);
        let registry = SharedRegistry::global().with_moniker("junk");
        let network = spawn_network_actor::<CairnContext, _>(
            &consensus,
            &ValueSyncConfig::default(),
            identity,
            &registry,
            WireCodec,
        )
        .await
        .map_err(|error| anyhow::anyhow!("starting the junk peer's network: {error:#}"))?;
        let signer = ValidatorSigner::new(keys::consensus_key(key), ChainTag(genesis.hash()));
        Ok(JunkPeer {
            network,
            signer,
            streams: 0,
        })
    }

    /// This peer's address as a validator (its key).
    pub fn address(&self) -> ValidatorAddress {
        self.signer.address()
    }

    fn next_stream(&mut self) -> StreamId {
        self.streams += 1;
        let mut id = b"junk".to_vec();
        id.extend_from_slice(&self.streams.to_be_bytes());
        StreamId::new(Bytes::from(id))
    }

    fn publish(&self, message: StreamMessage<ProposalPart>) -> anyhow::Result<()> {
        self.network
            .cast(NetworkMsg::PublishProposalPart(message))
            .map_err(|error| anyhow::anyhow!("the junk peer's network is gone: {error}"))
    }

    /// Opens `count` streams that never complete: each one data part of
    /// `bytes` bytes, with no `Init` and no end.
    pub fn publish_junk_streams(&mut self, count: usize, bytes: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            let id = self.next_stream();
            let part = ProposalPart::Data(vec![0xa5; bytes]);
            self.publish(StreamMessage::new(id, 1, StreamContent::Data(part)))?;
        }
        Ok(())
    }

    /// Streams a complete proposal of `block` for `height` and `round`,
    /// signed by this peer's key, whoever proposes that round.
    pub fn publish_proposal(
        &mut self,
        height: u64,
        round: u32,
        block: &[u8],
    ) -> anyhow::Result<()> {
        let (height, round) = (Height(height), Round::new(round));
        let signature = self.signer.sign_proposal_parts(
            height,
            round,
            Round::Nil,
            &streaming::data_hash(block),
        );
        let parts = streaming::split(
            height,
            round,
            Round::Nil,
            self.signer.address(),
            block,
            signature,
        );
        let id = self.next_stream();
        for message in streaming::stream_messages(id, &parts) {
            self.publish(message)?;
        }
        Ok(())
    }

    /// Leaves the network.
    pub fn stop(self) {
        self.network.stop(Some("junk peer done".into()));
    }
}

/// Whether every IP address in `address` is a loopback one (and there is
/// one).
fn on_loopback(address: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    let mut any = false;
    for protocol in address.iter() {
        match protocol {
            Protocol::Ip4(ip) if ip.is_loopback() => any = true,
            Protocol::Ip6(ip) if ip.is_loopback() => any = true,
            Protocol::Ip4(_) | Protocol::Ip6(_) | Protocol::Dns(_) | Protocol::Dns4(_) => {
                return false;
            }
            Protocol::Dns6(_) | Protocol::Dnsaddr(_) => return false,
            _ => {}
        }
    }
    any
}

/// A loopback address nobody listens on right now, for a peer of its own.
pub fn free_address() -> anyhow::Result<Multiaddr> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(format!("/ip4/127.0.0.1/tcp/{port}").parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_used() {
        for address in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/127.9.9.9/tcp/2",
            "/ip6/::1/tcp/3",
        ] {
            assert!(on_loopback(&address.parse().unwrap()), "{address}");
        }
        for address in [
            "/ip4/10.0.0.1/tcp/1",
            "/ip4/0.0.0.0/tcp/1",
            "/dns4/localhost/tcp/1",
            "/tcp/1",
        ] {
            assert!(!on_loopback(&address.parse().unwrap()), "{address}");
        }
        assert!(on_loopback(&free_address().unwrap()));
    }
}
