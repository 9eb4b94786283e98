//! Reassembly of proposal part streams, with every resource bounded: a peer
//! can open only so many streams, each only so large, and incomplete
//! streams are evicted oldest first.

use std::collections::{BTreeMap, HashMap};

use blake2::Digest;
use malachitebft_app_channel::app::streaming::StreamContent;
use malachitebft_app_channel::app::streaming::{Sequence, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::core::Round;

use super::context::{Height, ProposalPart, Signature, ValidatorAddress};
use crate::limits::MAX_BLOCK_BYTES;

/// Blocks are cut into chunks of this size for streaming.
pub(super) const CHUNK_BYTES: usize = 128 * 1024;
/// Init + data chunks + Fin part + the stream's end marker.
const MAX_SEQUENCE: Sequence = (MAX_BLOCK_BYTES / CHUNK_BYTES) as Sequence + 3;
/// Incomplete streams kept at once, from all peers together.
pub const MAX_OPEN_STREAMS: usize = 64;

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
pub(super) fn data_hash(block: &[u8]) -> [u8; 32] {
    blake2::Blake2b::<blake2::digest::consts::U32>::digest(block).into()
}

/// Cuts a block into the parts its proposer streams.
pub(super) fn split(
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
pub(super) fn stream_messages(
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

#[derive(Debug, Default)]
struct PartialStream {
    parts: BTreeMap<Sequence, ProposalPart>,
    end: Option<Sequence>,
    data_bytes: usize,
    opened: u64,
}

/// Why a stream was dropped; logged, and the stream forgotten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("sequence {0} is beyond any valid block")]
    SequenceTooHigh(Sequence),
    #[error("the stream carries more than {MAX_BLOCK_BYTES} bytes of block data")]
    TooLarge,
    #[error("the stream's parts are out of shape: {0}")]
    Malformed(&'static str),
}

/// The incomplete proposal streams of every peer.
#[derive(Debug, Default)]
pub struct Streams {
    open: HashMap<(PeerId, StreamId), PartialStream>,
    opened: u64,
}

impl Streams {
    /// Adds a message delivered by the neighbour `from`; returns the
    /// proposal once its stream is complete.
    ///
    /// Streams are grouped by the message's publisher, not by `from`:
    /// gossipsub relays each message through whichever neighbour is first,
    /// so the parts of one stream arrive from different peers. (Grouping by
    /// `from` split such streams and none completed: validators missed the
    /// round's proposal and prevoted nil.) The publisher is signed in
    /// Malachite's strict gossipsub mode; `from` stands in when the
    /// transport gives none.
    pub fn receive(
        &mut self,
        from: PeerId,
        published_by: Option<PeerId>,
        message: StreamMessage<ProposalPart>,
    ) -> Result<Option<AssembledProposal>, StreamError> {
        self.insert(published_by.unwrap_or(from), message)
    }

    /// Adds a message of `publisher`'s stream.
    fn insert(
        &mut self,
        publisher: PeerId,
        message: StreamMessage<ProposalPart>,
    ) -> Result<Option<AssembledProposal>, StreamError> {
        let key = (publisher, message.stream_id.clone());
        if message.sequence > MAX_SEQUENCE {
            self.open.remove(&key);
            return Err(StreamError::SequenceTooHigh(message.sequence));
        }
        if !self.open.contains_key(&key) && self.open.len() >= MAX_OPEN_STREAMS {
            self.evict_oldest();
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
            StreamContent::Fin => stream.end = Some(message.sequence),
            StreamContent::Data(part) => {
                if let ProposalPart::Data(data) = &part
                    && !stream.parts.contains_key(&message.sequence)
                {
                    stream.data_bytes += data.len();
                }
                if stream.data_bytes > MAX_BLOCK_BYTES {
                    self.open.remove(&key);
                    return Err(StreamError::TooLarge);
                }
                stream.parts.insert(message.sequence, part);
            }
        }
        let complete = stream
            .end
            .is_some_and(|end| stream.parts.len() as Sequence >= end);
        if !complete {
            return Ok(None);
        }
        let stream = self.open.remove(&key).expect("the stream was just used");
        assemble(stream).map(Some)
    }

    /// How many incomplete streams are held.
    pub fn open_streams(&self) -> usize {
        self.open.len()
    }

    fn evict_oldest(&mut self) {
        if let Some(key) = self
            .open
            .iter()
            .min_by_key(|(_, stream)| stream.opened)
            .map(|(key, _)| key.clone())
        {
            self.open.remove(&key);
        }
    }
}

fn assemble(stream: PartialStream) -> Result<AssembledProposal, StreamError> {
    let end = stream.end.expect("complete streams have an end");
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
    use bytes::Bytes;

    fn peer() -> PeerId {
        PeerId::from_bytes(&libp2p::PeerId::random().to_bytes()).unwrap()
    }

    fn messages(block: &[u8]) -> Vec<StreamMessage<ProposalPart>> {
        let parts = split(
            Height(4),
            Round::new(1),
            Round::Nil,
            ValidatorAddress([1; 32]),
            block,
            Signature([2; 64]),
        );
        stream_messages(StreamId::new(Bytes::from_static(b"s1")), &parts)
    }

    #[test]
    fn parts_in_any_order_reassemble_the_block() {
        let block: Vec<u8> = (0..(CHUNK_BYTES * 2 + 17))
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let mut messages = messages(&block);
        messages.reverse();
        let mut streams = Streams::default();
        let from = peer();
        let last = messages.pop().unwrap();
        for message in messages {
            assert_eq!(streams.insert(from, message).unwrap(), None);
        }
        let proposal = streams.insert(from, last).unwrap().unwrap();
        assert_eq!(proposal.block, block);
        assert_eq!(proposal.height, Height(4));
        assert_eq!(proposal.proposer, ValidatorAddress([1; 32]));
        assert!(streams.open.is_empty());
    }

    #[test]
    fn parts_relayed_by_different_neighbours_reassemble() {
        let block = vec![7; CHUNK_BYTES + 5];
        let (publisher, relays) = (peer(), [peer(), peer()]);
        let mut streams = Streams::default();
        let mut messages = messages(&block);
        let last = messages.pop().unwrap();
        for (index, message) in messages.into_iter().enumerate() {
            let from = relays[index % 2];
            assert_eq!(
                streams.receive(from, Some(publisher), message).unwrap(),
                None
            );
        }
        let proposal = streams.receive(publisher, Some(publisher), last).unwrap();
        assert_eq!(proposal.map(|proposal| proposal.block), Some(block));
        assert!(streams.open.is_empty());
    }

    #[test]
    fn without_a_publisher_the_delivering_peer_keys_the_stream() {
        let block = vec![9; 10];
        let (one, other) = (peer(), peer());
        let mut streams = Streams::default();
        let mut messages = messages(&block);
        let last = messages.pop().unwrap();
        for message in messages {
            streams.receive(one, None, message).unwrap();
        }
        // The end marker from someone else is another stream.
        assert_eq!(streams.receive(other, None, last.clone()).unwrap(), None);
        let proposal = streams.receive(one, None, last).unwrap();
        assert_eq!(proposal.map(|proposal| proposal.block), Some(block));
    }

    #[test]
    fn oversized_and_misshapen_streams_are_dropped() {
        let mut streams = Streams::default();
        let from = peer();
        let id = StreamId::new(Bytes::from_static(b"big"));
        let mut error = None;
        for sequence in 1..MAX_SEQUENCE {
            let chunk = ProposalPart::Data(vec![0; CHUNK_BYTES * 2]);
            match streams.insert(
                from,
                StreamMessage::new(id.clone(), sequence, StreamContent::Data(chunk)),
            ) {
                Ok(_) => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        assert_eq!(error, Some(StreamError::TooLarge));
        assert!(streams.open.is_empty());

        let beyond = StreamMessage::new(id.clone(), MAX_SEQUENCE + 1, StreamContent::Fin);
        assert!(matches!(
            streams.insert(from, beyond),
            Err(StreamError::SequenceTooHigh(_))
        ));

        // Data where Init belongs.
        let mut streams = Streams::default();
        streams
            .insert(
                from,
                StreamMessage::new(
                    id.clone(),
                    0,
                    StreamContent::Data(ProposalPart::Data(vec![1])),
                ),
            )
            .unwrap();
        let error = streams
            .insert(from, StreamMessage::new(id, 1, StreamContent::Fin))
            .unwrap_err();
        assert!(matches!(error, StreamError::Malformed(_)));
    }

    #[test]
    fn open_streams_are_bounded() {
        let mut streams = Streams::default();
        let from = peer();
        for index in 0..(MAX_OPEN_STREAMS * 3) {
            let id = StreamId::new(Bytes::from(index.to_be_bytes().to_vec()));
            streams
                .insert(
                    from,
                    StreamMessage::new(id, 1, StreamContent::Data(ProposalPart::Data(vec![0; 10]))),
                )
                .unwrap();
        }
        assert_eq!(streams.open.len(), MAX_OPEN_STREAMS);
    }
}
