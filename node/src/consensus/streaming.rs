//! Reassembly of proposal part streams, with every resource bounded by
//! who may publish.
//!
//! Only validators publish streams: the publisher of a gossipsub message is
//! authenticated (Malachite runs gossipsub in strict mode, so the source's
//! signature is checked), and a validator's libp2p identity is its
//! consensus key ([`crate::keys::libp2p_keypair`]). A message from anyone
//! else is refused before anything is stored. A stream's `Init` must name
//! the proposer of its height and round, for a height this node can use
//! soon; a validator holds at most [`MAX_STREAMS_PER_PUBLISHER`] incomplete
//! streams and evicts only its own. A stranger therefore cannot touch a
//! proposer's stream, and a faulty validator can fill only its own slots.
//!
//! What this cannot do: gossipsub in Malachite 0.8.2 relays every
//! well-signed message on `/proposal_parts` to its mesh before the
//! application sees it (`ValidationMode::Strict`, no
//! `validate_messages`; the engine passes no verdict back to the swarm), so
//! a junk message still costs each hop one relay. Its size is bounded by
//! the topic's limit (`pubsub_max_size_per_topic`, see `consensus::start`)
//! and gossipsub's duplicate cache drops repeats.

use std::collections::{BTreeMap, HashMap};

use blake2::Digest;
use malachitebft_app_channel::app::streaming::StreamContent;
use malachitebft_app_channel::app::streaming::{Sequence, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::core::Round;

use super::context::{Height, ProposalPart, Signature, ValidatorAddress, ValidatorSet};
use crate::limits::MAX_BLOCK_BYTES;

/// Blocks are cut into chunks of this size for streaming.
pub const CHUNK_BYTES: usize = 128 * 1024;
/// Init + data chunks + Fin part + the stream's end marker.
const MAX_SEQUENCE: Sequence = (MAX_BLOCK_BYTES / CHUNK_BYTES) as Sequence + 3;
/// Incomplete streams one validator may hold open at once: its proposal of
/// this round, one of the next round or height, and re-streams of others'
/// proposals (Malachite asks for those after a lock).
pub const MAX_STREAMS_PER_PUBLISHER: usize = 4;
/// Streams are accepted for the next height and this many after it (a
/// faster proposer may already stream the next one).
pub const MAX_HEIGHTS_AHEAD: u64 = 2;

/// A proposal whose parts have all arrived. Its signature is not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledProposal {
    pub height: Height,
    pub round: Round,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
    pub block: Vec<u8>,
    pub signature: Signature,
    /// The parts as received, to re-stream if consensus asks.
    pub parts: Vec<ProposalPart>,
}

/// The blake2b-256 of a block's bytes, which the proposer signs.
pub fn data_hash(block: &[u8]) -> [u8; 32] {
    blake2::Blake2b::<blake2::digest::consts::U32>::digest(block).into()
}

/// Cuts a block into the parts its proposer streams.
pub fn split(
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    block: &[u8],
    signature: Signature,
) -> Vec<ProposalPart> {
    let mut parts = vec![ProposalPart::Init {
        height,
        round,
        pol_round,
        proposer,
    }];
    parts.extend(
        block
            .chunks(CHUNK_BYTES)
            .map(|chunk| ProposalPart::Data(chunk.to_vec())),
    );
    parts.push(ProposalPart::Fin { signature });
    parts
}

/// The stream messages that carry `parts`, ending with the end marker.
pub fn stream_messages(
    stream_id: StreamId,
    parts: &[ProposalPart],
) -> Vec<StreamMessage<ProposalPart>> {
    let mut messages: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(sequence, part)| {
            StreamMessage::new(
                stream_id.clone(),
                sequence as Sequence,
                StreamContent::Data(part.clone()),
            )
        })
        .collect();
    messages.push(StreamMessage::new(
        stream_id,
        parts.len() as Sequence,
        StreamContent::Fin,
    ));
    messages
}

/// The libp2p peer id of the validator with this key: the same ed25519
/// key is its libp2p identity.
pub fn validator_peer_id(address: &ValidatorAddress) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&address.0).ok()?;
    let peer = libp2p::identity::PublicKey::from(key).to_peer_id();
    PeerId::from_bytes(&peer.to_bytes()).ok()
}

#[derive(Debug, Default)]
struct PartialStream {
    parts: BTreeMap<Sequence, ProposalPart>,
    end: Option<Sequence>,
    data_bytes: usize,
    /// The height its `Init` names, once it has arrived.
    height: Option<Height>,
    opened: u64,
}

/// Why a message or its stream was refused; logged, and the stream
/// forgotten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("the publisher is not a validator")]
    NotAValidator,
    #[error("sequence {0} is beyond any valid block")]
    SequenceTooHigh(Sequence),
    #[error("a chunk of more than {CHUNK_BYTES} bytes")]
    ChunkTooLarge,
    #[error("the stream carries more than {MAX_BLOCK_BYTES} bytes of block data")]
    TooLarge,
    #[error("part {0} was sent again with other content")]
    Conflict(Sequence),
    #[error(
        "a proposal for height {height}, which is not between {next} and {MAX_HEIGHTS_AHEAD} after"
    )]
    HeightOutOfRange { height: Height, next: Height },
    #[error("{named} is not the proposer of height {height} round {round}")]
    NotTheProposer {
        named: ValidatorAddress,
        height: Height,
        round: Round,
    },
    #[error("the stream's parts are out of shape: {0}")]
    Malformed(&'static str),
}

/// The incomplete proposal streams of the validators.
#[derive(Debug, Default)]
pub struct Streams {
    /// Who may publish: the validators' libp2p identities.
    publishers: HashMap<PeerId, ValidatorAddress>,
    open: HashMap<(PeerId, StreamId), PartialStream>,
    opened: u64,
}

impl Streams {
    /// Streams that `validators` may publish.
    pub fn new(validators: &ValidatorSet) -> Self {
        let publishers = validators
            .validators()
            .iter()
            .filter_map(|validator| {
                validator_peer_id(&validator.address).map(|peer| (peer, validator.address))
            })
            .collect();
        Streams {
            publishers,
            ..Streams::default()
        }
    }

    /// Adds a message delivered by the neighbour `from`; returns the
    /// proposal once its stream is complete. `next` is the height this
    /// node decides next.
    ///
    /// Streams are grouped by the message's publisher, not by `from`:
    /// gossipsub relays each message through whichever neighbour is first,
    /// so the parts of one stream arrive from different peers. The
    /// publisher is signed in Malachite's strict gossipsub mode; `from`
    /// stands in when the transport gives none.
    pub fn receive(
        &mut self,
        from: PeerId,
        published_by: Option<PeerId>,
        message: StreamMessage<ProposalPart>,
        validators: &ValidatorSet,
        next: Height,
    ) -> Result<Option<AssembledProposal>, StreamError> {
        let publisher = published_by.unwrap_or(from);
        if !self.publishers.contains_key(&publisher) {
            return Err(StreamError::NotAValidator);
        }
        let key = (publisher, message.stream_id.clone());
        let result = self.insert(&key, message, validators, next);
        if result.is_err() {
            self.open.remove(&key);
        }
        result
    }

    /// Forgets streams for heights below `next`, which can no longer be
    /// used.
    pub fn prune(&mut self, next: Height) {
        self.open
            .retain(|_, stream| stream.height.is_none_or(|height| height >= next));
    }

    /// How many incomplete streams are held.
    pub fn open_streams(&self) -> usize {
        self.open.len()
    }

    fn insert(
        &mut self,
        key: &(PeerId, StreamId),
        message: StreamMessage<ProposalPart>,
        validators: &ValidatorSet,
        next: Height,
    ) -> Result<Option<AssembledProposal>, StreamError> {
        let sequence = message.sequence;
        if sequence > MAX_SEQUENCE {
            return Err(StreamError::SequenceTooHigh(sequence));
        }
        let init_height = match &message.content {
            StreamContent::Data(part) => check_part(sequence, part, validators, next)?,
            StreamContent::Fin => None,
        };
        if !self.open.contains_key(key) {
            self.make_room(&key.0);
        }
        self.opened += 1;
        let opened = self.opened;
        let stream = self
            .open
            .entry(key.clone())
            .or_insert_with(|| PartialStream {
                opened,
                ..PartialStream::default()
            });
        match message.content {
            StreamContent::Fin => match stream.end {
                Some(end) if end != sequence => return Err(StreamError::Conflict(sequence)),
                _ => stream.end = Some(sequence),
            },
            StreamContent::Data(part) => {
                if let Some(known) = stream.parts.get(&sequence) {
                    // A re-sent part is fine only unchanged: a changed one
                    // would have to be counted again, and no honest
                    // proposer changes what it signed.
                    if *known != part {
                        return Err(StreamError::Conflict(sequence));
                    }
                    return Ok(None);
                }
                if let ProposalPart::Data(data) = &part {
                    stream.data_bytes += data.len();
                    if stream.data_bytes > MAX_BLOCK_BYTES {
                        return Err(StreamError::TooLarge);
                    }
                }
                if init_height.is_some() {
                    stream.height = init_height;
                }
                stream.parts.insert(sequence, part);
            }
        }
        let complete = stream
            .end
            .is_some_and(|end| stream.parts.len() as Sequence >= end);
        if !complete {
            return Ok(None);
        }
        match self.open.remove(key) {
            Some(stream) => assemble(stream).map(Some),
            None => Ok(None),
        }
    }

    /// Keeps `publisher` within its quota of open streams, by dropping its
    /// own oldest.
    fn make_room(&mut self, publisher: &PeerId) {
        let own: Vec<_> = self
            .open
            .iter()
            .filter(|((peer, _), _)| peer == publisher)
            .map(|(key, stream)| (stream.opened, key.clone()))
            .collect();
        if own.len() < MAX_STREAMS_PER_PUBLISHER {
            return;
        }
        if let Some((_, oldest)) = own.into_iter().min_by_key(|(opened, _)| *opened) {
            self.open.remove(&oldest);
        }
    }
}

/// Checks a part on its own, before it is stored: the size of a chunk, and
/// that an `Init` comes first and names the proposer of a height and round
/// this node can use. Returns the height an `Init` names.
fn check_part(
    sequence: Sequence,
    part: &ProposalPart,
    validators: &ValidatorSet,
    next: Height,
) -> Result<Option<Height>, StreamError> {
    match part {
        ProposalPart::Data(data) if data.len() > CHUNK_BYTES => Err(StreamError::ChunkTooLarge),
        ProposalPart::Init {
            height,
            round,
            proposer,
            ..
        } => {
            if sequence != 0 {
                return Err(StreamError::Malformed("Init after the first part"));
            }
            if *height < next || height.0 > next.0.saturating_add(MAX_HEIGHTS_AHEAD) {
                return Err(StreamError::HeightOutOfRange {
                    height: *height,
                    next,
                });
            }
            if validators.proposer(*height, *round).address != *proposer {
                return Err(StreamError::NotTheProposer {
                    named: *proposer,
                    height: *height,
                    round: *round,
                });
            }
            Ok(Some(*height))
        }
        ProposalPart::Data(_) | ProposalPart::Fin { .. } => Ok(None),
    }
}

fn assemble(stream: PartialStream) -> Result<AssembledProposal, StreamError> {
    let Some(end) = stream.end else {
        return Err(StreamError::Malformed("no end"));
    };
    // Parts are numbered 0..end with nothing beyond: the map's keys must be
    // exactly that range.
    if stream
        .parts
        .keys()
        .next_back()
        .is_some_and(|&last| last >= end)
    {
        return Err(StreamError::Malformed("parts after the end of the stream"));
    }
    let parts: Vec<ProposalPart> = stream.parts.into_values().collect();
    let (
        Some(ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer,
        }),
        Some(ProposalPart::Fin { signature }),
    ) = (parts.first(), parts.last())
    else {
        return Err(StreamError::Malformed(
            "it must start with Init and end with Fin",
        ));
    };
    if parts.len() < 2 {
        return Err(StreamError::Malformed(
            "it must start with Init and end with Fin",
        ));
    }
    let mut block = Vec::with_capacity(stream.data_bytes);
    for part in &parts[1..parts.len() - 1] {
        let ProposalPart::Data(data) = part else {
            return Err(StreamError::Malformed("only data between Init and Fin"));
        };
        block.extend_from_slice(data);
    }
    Ok(AssembledProposal {
        height: *height,
        round: *round,
        pol_round: *pol_round,
        proposer: *proposer,
        signature: *signature,
        block,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::Validator;
    use bytes::Bytes;

    fn key(index: u8) -> malachitebft_signing_ed25519::PrivateKey {
        malachitebft_signing_ed25519::PrivateKey::from([index + 1; 32])
    }

    fn address(index: u8) -> ValidatorAddress {
        ValidatorAddress(*key(index).public_key().as_bytes())
    }

    /// Four validators of power 1.
    fn validators() -> ValidatorSet {
        ValidatorSet::new(
            (0..4)
                .map(|index| Validator {
                    address: address(index),
                    power: 1,
                })
                .collect(),
        )
        .unwrap()
    }

    fn publisher(address: ValidatorAddress) -> PeerId {
        validator_peer_id(&address).unwrap()
    }

    fn stranger() -> PeerId {
        PeerId::from_bytes(&libp2p::PeerId::random().to_bytes()).unwrap()
    }

    const NEXT: Height = Height(4);

    /// The proposer of height 4, round 1.
    fn proposer() -> ValidatorAddress {
        validators().proposer(NEXT, Round::new(1)).address
    }

    /// A validator that does not propose height 4, round 1.
    fn other() -> ValidatorAddress {
        (0..4)
            .map(address)
            .find(|address| *address != proposer())
            .unwrap()
    }

    fn messages_of(
        named: ValidatorAddress,
        id: &'static [u8],
        block: &[u8],
    ) -> Vec<StreamMessage<ProposalPart>> {
        let parts = split(
            NEXT,
            Round::new(1),
            Round::Nil,
            named,
            block,
            Signature([2; 64]),
        );
        stream_messages(StreamId::new(Bytes::from_static(id)), &parts)
    }

    fn messages(block: &[u8]) -> Vec<StreamMessage<ProposalPart>> {
        messages_of(proposer(), b"s1", block)
    }

    fn receive(
        streams: &mut Streams,
        from: PeerId,
        message: StreamMessage<ProposalPart>,
    ) -> Result<Option<AssembledProposal>, StreamError> {
        streams.receive(from, Some(from), message, &validators(), NEXT)
    }

    fn data(id: StreamId, sequence: Sequence, bytes: usize) -> StreamMessage<ProposalPart> {
        StreamMessage::new(
            id,
            sequence,
            StreamContent::Data(ProposalPart::Data(vec![0; bytes])),
        )
    }

    #[test]
    fn parts_in_any_order_reassemble_the_block() {
        let block: Vec<u8> = (0..(CHUNK_BYTES * 2 + 17))
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let mut messages = messages(&block);
        messages.reverse();
        let mut streams = Streams::new(&validators());
        let from = publisher(proposer());
        let last = messages.pop().unwrap();
        for message in messages {
            assert_eq!(receive(&mut streams, from, message).unwrap(), None);
        }
        let proposal = receive(&mut streams, from, last).unwrap().unwrap();
        assert_eq!(proposal.block, block);
        assert_eq!(proposal.height, NEXT);
        assert_eq!(proposal.proposer, proposer());
        assert!(streams.open.is_empty());
    }

    #[test]
    fn parts_relayed_by_different_neighbours_reassemble() {
        let block = vec![7; CHUNK_BYTES + 5];
        let source = publisher(proposer());
        let relays = [stranger(), stranger()];
        let mut streams = Streams::new(&validators());
        let mut messages = messages(&block);
        let last = messages.pop().unwrap();
        for (index, message) in messages.into_iter().enumerate() {
            let from = relays[index % 2];
            let received = streams.receive(from, Some(source), message, &validators(), NEXT);
            assert_eq!(received.unwrap(), None);
        }
        let proposal = streams
            .receive(source, Some(source), last, &validators(), NEXT)
            .unwrap();
        assert_eq!(proposal.map(|proposal| proposal.block), Some(block));
        assert!(streams.open.is_empty());
    }

    #[test]
    fn a_stranger_is_refused_before_anything_is_kept() {
        let mut streams = Streams::new(&validators());
        let stranger = stranger();
        for message in messages(&[1, 2, 3]) {
            assert_eq!(
                receive(&mut streams, stranger, message),
                Err(StreamError::NotAValidator)
            );
        }
        // Relayed through a validator, the publisher is still the stranger.
        let relay = publisher(other());
        let message = messages(&[1]).remove(0);
        assert_eq!(
            streams.receive(relay, Some(stranger), message, &validators(), NEXT),
            Err(StreamError::NotAValidator)
        );
        assert_eq!(streams.open_streams(), 0);
    }

    /// The attack of the reassembler this replaces: it held 64 incomplete
    /// streams from everyone together and evicted the oldest, so anyone
    /// opening streams fast enough pushed the proposer's out.
    #[test]
    fn nobody_can_evict_the_proposers_stream() {
        let block = vec![7; CHUNK_BYTES + 5];
        let mut honest = messages(&block);
        let rest = honest.split_off(2);
        let mut streams = Streams::new(&validators());
        let source = publisher(proposer());
        for message in honest {
            assert_eq!(receive(&mut streams, source, message).unwrap(), None);
        }
        let (stranger, faulty) = (stranger(), publisher(other()));
        for index in 0..500u32 {
            let id = StreamId::new(Bytes::from(index.to_be_bytes().to_vec()));
            let _ = receive(&mut streams, stranger, data(id.clone(), 1, 10));
            let _ = receive(&mut streams, faulty, data(id, 1, 10));
        }
        assert!(streams.open_streams() <= 1 + MAX_STREAMS_PER_PUBLISHER);
        let mut assembled = None;
        for message in rest {
            assembled = receive(&mut streams, source, message).unwrap();
        }
        assert_eq!(assembled.map(|proposal| proposal.block), Some(block));
    }

    #[test]
    fn every_validator_is_held_to_its_own_quota() {
        let mut streams = Streams::new(&validators());
        for index in 0..4 {
            let from = publisher(address(index));
            for stream in 0..(MAX_STREAMS_PER_PUBLISHER * 3) {
                let id = StreamId::new(Bytes::from(stream.to_be_bytes().to_vec()));
                receive(&mut streams, from, data(id, 1, 10)).unwrap();
            }
        }
        assert_eq!(streams.open_streams(), 4 * MAX_STREAMS_PER_PUBLISHER);
    }

    #[test]
    fn a_stream_must_be_the_proposers_of_a_near_height() {
        let mut streams = Streams::new(&validators());
        // Published by a validator, but naming one that does not propose
        // height 4, round 1.
        let impostor = messages_of(other(), b"impostor", &[1]).remove(0);
        assert!(matches!(
            receive(&mut streams, publisher(other()), impostor),
            Err(StreamError::NotTheProposer { .. })
        ));
        // Re-streamed by another validator, the proposer's own stream is
        // fine (Malachite asks validators to re-stream what they locked on).
        let restreamed = messages(&[1]).remove(0);
        assert_eq!(
            receive(&mut streams, publisher(other()), restreamed).unwrap(),
            None
        );
        for height in [Height(3), Height(4 + MAX_HEIGHTS_AHEAD + 1)] {
            let parts = split(
                height,
                Round::new(0),
                Round::Nil,
                validators().proposer(height, Round::new(0)).address,
                &[1],
                Signature([2; 64]),
            );
            let init = stream_messages(StreamId::new(Bytes::from_static(b"far")), &parts).remove(0);
            assert!(matches!(
                receive(&mut streams, publisher(proposer()), init),
                Err(StreamError::HeightOutOfRange { .. })
            ));
        }
    }

    /// The reassembler this replaces counted a sequence number's bytes the
    /// first time only: re-sending each part with a larger chunk grew a
    /// stream past the block limit unnoticed.
    #[test]
    fn a_part_sent_again_must_not_change() {
        let mut streams = Streams::new(&validators());
        let from = publisher(proposer());
        let id = StreamId::new(Bytes::from_static(b"resend"));
        receive(&mut streams, from, data(id.clone(), 1, 1)).unwrap();
        // Unchanged: ignored.
        receive(&mut streams, from, data(id.clone(), 1, 1)).unwrap();
        assert_eq!(
            receive(&mut streams, from, data(id.clone(), 1, CHUNK_BYTES)),
            Err(StreamError::Conflict(1))
        );
        assert_eq!(streams.open_streams(), 0);
        let held = |streams: &Streams| -> usize {
            streams.open.values().map(|stream| stream.data_bytes).sum()
        };
        for sequence in 1..MAX_SEQUENCE {
            for size in [1, CHUNK_BYTES] {
                let _ = receive(&mut streams, from, data(id.clone(), sequence, size));
            }
            assert!(held(&streams) <= MAX_BLOCK_BYTES);
        }
    }

    #[test]
    fn oversized_and_misshapen_streams_are_dropped() {
        let mut streams = Streams::new(&validators());
        let from = publisher(proposer());
        let id = StreamId::new(Bytes::from_static(b"big"));
        let mut error = None;
        for sequence in 1..MAX_SEQUENCE {
            if let Err(e) = receive(&mut streams, from, data(id.clone(), sequence, CHUNK_BYTES)) {
                error = Some(e);
                break;
            }
        }
        assert_eq!(error, Some(StreamError::TooLarge));
        assert!(streams.open.is_empty());

        assert_eq!(
            receive(&mut streams, from, data(id.clone(), 1, CHUNK_BYTES + 1)),
            Err(StreamError::ChunkTooLarge)
        );
        let beyond = StreamMessage::new(id.clone(), MAX_SEQUENCE + 1, StreamContent::Fin);
        assert!(matches!(
            receive(&mut streams, from, beyond),
            Err(StreamError::SequenceTooHigh(_))
        ));

        // Data where Init belongs.
        let mut streams = Streams::new(&validators());
        receive(&mut streams, from, data(id.clone(), 0, 1)).unwrap();
        let error = receive(
            &mut streams,
            from,
            StreamMessage::new(id, 1, StreamContent::Fin),
        )
        .unwrap_err();
        assert!(matches!(error, StreamError::Malformed(_)));
    }

    #[test]
    fn streams_of_decided_heights_are_pruned() {
        let mut streams = Streams::new(&validators());
        let from = publisher(proposer());
        let mut messages = messages(&[1, 2, 3]);
        messages.truncate(2);
        for message in messages {
            receive(&mut streams, from, message).unwrap();
        }
        streams.prune(NEXT);
        assert_eq!(streams.open_streams(), 1);
        streams.prune(Height(NEXT.0 + 1));
        assert_eq!(streams.open_streams(), 0);
    }
}
