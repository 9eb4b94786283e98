//! The encoding of everything Malachite sends on the network or writes to
//! its WAL: borsh, through the borsh impls Malachite's types carry, with a
//! size cap and no trailing bytes allowed. Decoding never panics on hostile
//! input: borsh bounds its preallocation and the cap bounds the rest.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, SignedExtension,
    ValidatorProof,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use malachitebft_sync::ValueResponse;

use super::context::{BlockId, CairnContext, Height, ProposalPart, Signature, ValidatorAddress};

/// Nothing Cairn's consensus sends is larger: a sync response of several
/// maximal blocks stays below it (see `MAX_SYNC_RESPONSE_BYTES`).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("message of {size} bytes is larger than the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed message: {0}")]
    Malformed(#[from] std::io::Error),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct WireCodec;

fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(borsh::from_slice(bytes)?)
}

fn encode<T: BorshSerialize>(value: &T) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(borsh::to_vec(value)?))
}

/// Codecs for types that are borsh as they stand.
macro_rules! borsh_codec {
    ($($ty:ty),* $(,)?) => {$(
        impl Codec<$ty> for WireCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$ty, CodecError> {
                decode(&bytes)
            }

            fn encode(&self, value: &$ty) -> Result<Bytes, CodecError> {
                encode(value)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<CairnContext>,
    LivenessMsg<CairnContext>,
    StreamMessage<ProposalPart>,
    ProposedValue<CairnContext>,
    PolkaCertificate<CairnContext>,
    Status<CairnContext>,
    Request<CairnContext>,
);

/// Malachite 0.8.2 gives `ValidatorProof` and `ExtendedCommitCertificate`
/// no borsh impls, so they go through these mirrors.
#[derive(BorshSerialize, BorshDeserialize)]
struct WireValidatorProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Signature,
}

impl Codec<ValidatorProof<CairnContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<CairnContext>, CodecError> {
        let proof: WireValidatorProof = decode(&bytes)?;
        Ok(ValidatorProof::new(
            proof.public_key,
            proof.peer_id,
            proof.signature,
        ))
    }

    fn encode(&self, proof: &ValidatorProof<CairnContext>) -> Result<Bytes, CodecError> {
        encode(&WireValidatorProof {
            public_key: proof.public_key.clone(),
            peer_id: proof.peer_id.clone(),
            signature: proof.signature,
        })
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireCommitSignature {
    address: ValidatorAddress,
    signature: Signature,
    extension: Option<SignedExtension<CairnContext>>,
}

/// A decided block's certificate, as stored beside the block and served to
/// syncing peers.
#[derive(BorshSerialize, BorshDeserialize)]
struct WireCertificate {
    height: Height,
    round: Round,
    value_id: BlockId,
    signatures: Vec<WireCommitSignature>,
}

impl From<&ExtendedCommitCertificate<CairnContext>> for WireCertificate {
    fn from(certificate: &ExtendedCommitCertificate<CairnContext>) -> Self {
        WireCertificate {
            height: certificate.height,
            round: certificate.round,
            value_id: certificate.value_id,
            signatures: certificate
                .commit_signatures
                .iter()
                .map(|signature| WireCommitSignature {
                    address: signature.address,
                    signature: signature.signature,
                    extension: signature.extension.clone(),
                })
                .collect(),
        }
    }
}

impl From<WireCertificate> for ExtendedCommitCertificate<CairnContext> {
    fn from(certificate: WireCertificate) -> Self {
        ExtendedCommitCertificate {
            height: certificate.height,
            round: certificate.round,
            value_id: certificate.value_id,
            commit_signatures: certificate
                .signatures
                .into_iter()
                .map(|signature| {
                    ExtendedCommitSignature::new(
                        signature.address,
                        signature.signature,
                        signature.extension,
                    )
                })
                .collect(),
        }
    }
}

pub fn encode_certificate(certificate: &ExtendedCommitCertificate<CairnContext>) -> Vec<u8> {
    borsh::to_vec(&WireCertificate::from(certificate)).expect("writing to a Vec cannot fail")
}

pub fn decode_certificate(
    bytes: &[u8],
) -> Result<ExtendedCommitCertificate<CairnContext>, CodecError> {
    decode::<WireCertificate>(bytes).map(Into::into)
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireDecidedValue {
    value_bytes: Vec<u8>,
    certificate: WireCertificate,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireValueResponse {
    start_height: Height,
    values: Vec<WireDecidedValue>,
}

impl Codec<Response<CairnContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<CairnContext>, CodecError> {
        let response: WireValueResponse = decode(&bytes)?;
        Ok(Response::ValueResponse(ValueResponse::new(
            response.start_height,
            response
                .values
                .into_iter()
                .map(|value| {
                    RawDecidedValue::new(value.value_bytes.into(), value.certificate.into())
                })
                .collect(),
        )))
    }

    fn encode(&self, response: &Response<CairnContext>) -> Result<Bytes, CodecError> {
        let Response::ValueResponse(response) = response;
        encode(&WireValueResponse {
            start_height: response.start_height,
            values: response
                .values
                .iter()
                .map(|value| WireDecidedValue {
                    value_bytes: value.value_bytes.to_vec(),
                    certificate: WireCertificate::from(&value.certificate),
                })
                .collect(),
        })
    }
}

impl HasEncodedLen<Response<CairnContext>> for WireCodec {
    fn encoded_len(&self, response: &Response<CairnContext>) -> Result<usize, CodecError> {
        Ok(self.encode(response)?.len())
    }
}

/// An undecided proposal as the chain stores it between a crash and the
/// replay of its round: enough to rebuild the `ProposedValue` after
/// re-executing the block, to commit it if it is decided, and to stream it
/// again.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct UndecidedRecord {
    pub round: Round,
    pub valid_round: Round,
    pub proposer: ValidatorAddress,
    pub block: Vec<u8>,
    /// The proposer's signature over the streamed block (its `Fin` part);
    /// none for a block that came by sync.
    pub signature: Option<Signature>,
    /// A decided block that came by sync with its commit certificate.
    pub certified: bool,
}

impl UndecidedRecord {
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("writing to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_app_channel::app::streaming::{StreamContent, StreamId};
    use malachitebft_app_channel::app::types::core::{NilOrVal, SignedMessage, VoteType};

    use crate::consensus::context::Vote;

    #[test]
    fn consensus_messages_roundtrip() {
        let vote = Vote {
            vote_type: VoteType::Prevote,
            height: Height(5),
            round: Round::new(2),
            value: NilOrVal::Val(BlockId([3; 32])),
            validator: ValidatorAddress([4; 32]),
        };
        let message =
            SignedConsensusMsg::<CairnContext>::Vote(SignedMessage::new(vote, Signature([5; 64])));
        let bytes = WireCodec.encode(&message).unwrap();
        let decoded: SignedConsensusMsg<CairnContext> = WireCodec.decode(bytes).unwrap();
        assert_eq!(decoded, message);
    }

    #[test]
    fn stream_parts_roundtrip() {
        let part = StreamMessage::new(
            StreamId::new(Bytes::from_static(b"stream")),
            1,
            StreamContent::Data(ProposalPart::Data(vec![1, 2, 3])),
        );
        let bytes = WireCodec.encode(&part).unwrap();
        let decoded: StreamMessage<ProposalPart> = WireCodec.decode(bytes).unwrap();
        assert_eq!(decoded, part);
    }

    #[test]
    fn certificates_roundtrip() {
        let certificate = ExtendedCommitCertificate::<CairnContext> {
            height: Height(9),
            round: Round::new(0),
            value_id: BlockId([1; 32]),
            commit_signatures: vec![ExtendedCommitSignature::new(
                ValidatorAddress([2; 32]),
                Signature([3; 64]),
                None,
            )],
        };
        let bytes = encode_certificate(&certificate);
        assert_eq!(decode_certificate(&bytes).unwrap(), certificate);
    }

    #[test]
    fn garbage_and_trailing_bytes_are_errors_not_panics() {
        let mut valid = WireCodec
            .encode(&ProposalPart::Data(vec![7; 10]))
            .unwrap()
            .to_vec();
        valid.push(0);
        assert!(Codec::<ProposalPart>::decode(&WireCodec, valid.into()).is_err());
        // A length prefix claiming 4 GiB of data.
        let huge = Bytes::from_static(&[1, 0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert!(Codec::<ProposalPart>::decode(&WireCodec, huge).is_err());
        for length in 0..64usize {
            let bytes: Vec<u8> = (0..length)
                .map(|i| u8::try_from((i * 37) % 256).unwrap())
                .collect();
            let _ =
                Codec::<SignedConsensusMsg<CairnContext>>::decode(&WireCodec, bytes.clone().into());
            let _ = Codec::<Response<CairnContext>>::decode(&WireCodec, bytes.into());
        }
    }
}
