//! The oracle of the `node_consensus` fuzz target: bytes as they arrive from
//! Malachite's network, through Cairn's wire codec and the proposal stream
//! reassembly (see [`super`] for the other node targets).

use bytes::Bytes;
use cairn_node::consensus::codec::{
    UndecidedRecord, WireCodec, decode_certificate, encode_certificate,
};
use cairn_node::consensus::context::{
    CairnContext, Height, ProposalPart, Validator, ValidatorAddress, ValidatorSet,
};
use cairn_node::consensus::streaming::{MAX_STREAMS_PER_PUBLISHER, Streams};
use cairn_node::limits::MAX_BLOCK_BYTES;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{PolkaCertificate, ValidatorProof};
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};

/// Decodes `bytes` as a `T`; whatever decodes must encode to bytes that
/// decode and encode to themselves again, so that a relayed message means
/// the same to every node.
fn round_trip<T>(bytes: &[u8]) -> Option<T>
where
    WireCodec: Codec<T>,
{
    let name = std::any::type_name::<T>();
    let value = <WireCodec as Codec<T>>::decode(&WireCodec, Bytes::copy_from_slice(bytes)).ok()?;
    let encoded = <WireCodec as Codec<T>>::encode(&WireCodec, &value)
        .unwrap_or_else(|_| panic!("a decoded {name} does not encode"));
    let again = <WireCodec as Codec<T>>::decode(&WireCodec, encoded.clone())
        .unwrap_or_else(|_| panic!("a re-encoded {name} does not decode"));
    let encoded_again = <WireCodec as Codec<T>>::encode(&WireCodec, &again)
        .unwrap_or_else(|_| panic!("a decoded {name} does not encode"));
    assert_eq!(encoded, encoded_again, "{name} does not round-trip");
    Some(value)
}

/// `data` is a sequence of frames: a kind byte, a two-byte length, then the
/// message. Kinds 0 to 10 are the types Malachite hands the codec; 11 to 15
/// are proposal stream messages, which also go into one reassembler (of the
/// four validators, deciding height 1) whose bounds must hold after every
/// message: kinds 11 to 14 as published by one validator and relayed by
/// another, kind 15 from a stranger without a publisher.
pub fn messages(data: &[u8]) {
    let keys: Vec<libp2p::identity::Keypair> = (0..5u8)
        .map(|seed| {
            libp2p::identity::Keypair::ed25519_from_bytes([seed; 32])
                .expect("32 bytes are an ed25519 secret")
        })
        .collect();
    let peers: Vec<PeerId> = keys
        .iter()
        .map(|key| {
            PeerId::from_bytes(&key.public().to_peer_id().to_bytes())
                .expect("a libp2p peer id is a Malachite peer id")
        })
        .collect();
    let validators = ValidatorSet::new(
        keys[..4]
            .iter()
            .map(|key| Validator {
                address: ValidatorAddress(
                    key.public()
                        .try_into_ed25519()
                        .expect("an ed25519 key")
                        .to_bytes(),
                ),
                power: 1,
            })
            .collect(),
    )
    .expect("four validators of power 1");
    let mut streams = Streams::new(&validators);
    let mut rest = data;
    while let [kind, high, low, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        match kind % 16 {
            0 => _ = round_trip::<ProposalPart>(frame),
            1 => _ = round_trip::<SignedConsensusMsg<CairnContext>>(frame),
            2 => _ = round_trip::<LivenessMsg<CairnContext>>(frame),
            3 => _ = round_trip::<ProposedValue<CairnContext>>(frame),
            4 => _ = round_trip::<PolkaCertificate<CairnContext>>(frame),
            5 => _ = round_trip::<Status<CairnContext>>(frame),
            6 => _ = round_trip::<Request<CairnContext>>(frame),
            7 => _ = round_trip::<Response<CairnContext>>(frame),
            8 => _ = round_trip::<ValidatorProof<CairnContext>>(frame),
            9 => {
                if let Ok(certificate) = decode_certificate(frame) {
                    let encoded = encode_certificate(&certificate);
                    let again = decode_certificate(&encoded).expect("a re-encoded certificate");
                    assert_eq!(encode_certificate(&again), encoded);
                }
            }
            10 => {
                if let Ok(record) = UndecidedRecord::decode(frame) {
                    assert_eq!(UndecidedRecord::decode(&record.encode()).ok(), Some(record));
                }
            }
            peer => {
                let Some(message) = round_trip::<StreamMessage<ProposalPart>>(frame) else {
                    continue;
                };
                let (from, published_by) = if peer == 15 {
                    (peers[4], None)
                } else {
                    (
                        peers[usize::from(peer) % 4],
                        Some(peers[usize::from(peer / 2) % 4]),
                    )
                };
                let received = streams.receive(from, published_by, message, &validators, Height(1));
                if let Ok(Some(proposal)) = received {
                    assert!(proposal.block.len() <= MAX_BLOCK_BYTES);
                    assert!(!proposal.parts.is_empty());
                    assert_eq!(
                        proposal.proposer,
                        validators.proposer(proposal.height, proposal.round).address
                    );
                }
                assert!(streams.open_streams() <= 4 * MAX_STREAMS_PER_PUBLISHER);
            }
        }
    }
}
