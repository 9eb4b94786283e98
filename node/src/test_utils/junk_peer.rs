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
//! it listens on and dials the addresses it is given.

use bytes::Bytes;
use libp2p::Multiaddr;
use malachitebft_app_channel::NetworkIdentity;
use malachitebft_app_channel::app::config::{ConsensusConfig, P2pConfig, ValueSyncConfig};
use malachitebft_app_channel::app::engine::network::{Msg as NetworkMsg, NetworkRef};
use malachitebft_app_channel::app::metrics::SharedRegistry;
use malachitebft_app_channel::app::spawn::spawn_network_actor;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::Round;

use crate::consensus::codec::WireCodec;
use crate::consensus::context::{CairnContext, Height, ProposalPart, ValidatorAddress};
use crate::consensus::signing::{ChainTag, ValidatorSigner};
use crate::genesis::Genesis;
use crate::keys::{self, PrivateKey};

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
    /// listening on `listen` and dialling `peers`.
    pub async fn start(
        key: &PrivateKey,
        genesis: &Genesis,
        listen: Multiaddr,
        peers: Vec<Multiaddr>,
    ) -> anyhow::Result<JunkPeer> {
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
            &crate::consensus::streaming::data_hash(block),
        );
        let parts = crate::consensus::streaming::split(
            height,
            round,
            Round::Nil,
            self.signer.address(),
            block,
            signature,
        );
        let id = self.next_stream();
        for message in crate::consensus::streaming::stream_messages(id, &parts) {
            self.publish(message)?;
        }
        Ok(())
    }

    /// Leaves the network.
    pub fn stop(self) {
        self.network.stop(Some("junk peer done".into()));
    }
}
