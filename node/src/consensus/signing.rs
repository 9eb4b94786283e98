//! ed25519 signing of votes, proposals, proposal parts and validator proofs.
//!
//! Every signed message is prefixed by a domain naming what it is and by the
//! chain (the genesis hash), so a signature cannot be replayed as another
//! kind of message or on another chain.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use borsh::BorshSerialize;
use malachitebft_app_channel::app::types::core::{
    SignedMessage, ValidatorProof, VoteExtensionScope,
};
use malachitebft_app_channel::{Signer, Verifier};
use malachitebft_signing_ed25519::{PrivateKey, PublicKey};

use super::context::{
    CairnContext, Height, Proposal, Signature, ValidatorAddress, ValidatorSet, Vote,
};
use super::guard::{SignGuard, Signing};
use crate::faults::crash_point;
use malachitebft_app_channel::app::types::core::Round;

use malachitebft_signing::{Error as SigningError, VerificationResult};

const VOTE_DOMAIN: &[u8] = b"cairn-vote-v1";
const PROPOSAL_DOMAIN: &[u8] = b"cairn-proposal-v1";
const PARTS_DOMAIN: &[u8] = b"cairn-proposal-parts-v1";
const EXTENSION_DOMAIN: &[u8] = b"cairn-vote-extension-v1";
const VALIDATOR_PROOF_DOMAIN: &[u8] = b"cairn-validator-proof-v1";

/// What signatures bind to besides their message: the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainTag(pub [u8; 32]);

impl ChainTag {
    fn bytes(&self, domain: &[u8], message: &impl BorshSerialize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(domain.len() + 1 + 32 + 128);
        bytes.extend_from_slice(domain);
        bytes.push(0);
        bytes.extend_from_slice(&self.0);
        message
            .serialize(&mut bytes)
            .expect("writing to a Vec cannot fail");
        bytes
    }

    /// What a proposer signs in a block's `Fin` part: the block's bytes as
    /// streamed (by their hash), at this height and round.
    pub fn proposal_parts_bytes(
        &self,
        height: Height,
        round: Round,
        pol_round: Round,
        data_hash: &[u8; 32],
    ) -> Vec<u8> {
        self.bytes(PARTS_DOMAIN, &(height, round, pol_round, data_hash))
    }
}

/// Signs as this validator. With a [`SignGuard`], it never signs two
/// different votes or proposals for one height, round and kind.
#[derive(Clone)]
pub struct ValidatorSigner {
    key: PrivateKey,
    address: ValidatorAddress,
    chain: ChainTag,
    guard: Option<Arc<SignGuard>>,
}

impl std::fmt::Debug for ValidatorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorSigner")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl ValidatorSigner {
    pub fn new(key: PrivateKey, chain: ChainTag) -> Self {
        let address = ValidatorAddress(*key.public_key().as_bytes());
        ValidatorSigner {
            key,
            address,
            chain,
            guard: None,
        }
    }

    /// This signer, checking every vote and proposal with `guard` first.
    pub fn with_guard(self, guard: Arc<SignGuard>) -> Self {
        ValidatorSigner {
            guard: Some(guard),
            ..self
        }
    }

    pub fn address(&self) -> ValidatorAddress {
        self.address
    }

    pub fn sign_bytes(&self, bytes: &[u8]) -> Signature {
        Signature(self.key.sign(bytes).to_bytes())
    }

    pub fn sign_proposal_parts(
        &self,
        height: Height,
        round: Round,
        pol_round: Round,
        data_hash: &[u8; 32],
    ) -> Signature {
        self.sign_bytes(
            &self
                .chain
                .proposal_parts_bytes(height, round, pol_round, data_hash),
        )
    }
}

#[async_trait]
impl Signer<CairnContext> for ValidatorSigner {
    async fn sign_vote(
        &self,
        vote: Vote,
    ) -> Result<SignedMessage<CairnContext, Vote>, SigningError> {
        let sign = || self.sign_bytes(&self.chain.bytes(VOTE_DOMAIN, &vote));
        let signature = match &self.guard {
            Some(guard) => {
                let signing = guard.vote(&vote, sign).map_err(|error| {
                    tracing::error!("refusing to sign: {error}");
                    SigningError::from_source(error)
                })?;
                if let Signing::New(_) = signing {
                    crash_point("vote.signed", vote.height.0);
                }
                signing.signature()
            }
            None => sign(),
        };
        #[cfg(feature = "test-utils")]
        super::guard::log_vote(&vote);
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<CairnContext, Proposal>, SigningError> {
        let sign = || self.sign_bytes(&self.chain.bytes(PROPOSAL_DOMAIN, &proposal));
        let signature = match &self.guard {
            Some(guard) => guard
                .proposal(&proposal, sign)
                .map_err(|error| {
                    tracing::error!("refusing to sign: {error}");
                    SigningError::from_source(error)
                })?
                .signature(),
            None => sign(),
        };
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<CairnContext>,
        extension: Vec<u8>,
    ) -> Result<SignedMessage<CairnContext, Vec<u8>>, SigningError> {
        let signature = self.sign_bytes(&extension_bytes(&self.chain, &scope, &extension));
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<CairnContext>, SigningError> {
        let preimage = ValidatorProof::<CairnContext>::signing_bytes(&public_key, &peer_id);
        let signature = self.sign_bytes(&self.chain.bytes(VALIDATOR_PROOF_DOMAIN, &preimage));
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

fn extension_bytes(
    chain: &ChainTag,
    scope: &VoteExtensionScope<CairnContext>,
    extension: &[u8],
) -> Vec<u8> {
    chain.bytes(
        EXTENSION_DOMAIN,
        &(
            scope.height,
            scope.round,
            scope.value_id,
            scope.validator_address,
            extension,
        ),
    )
}

/// Checks signatures. The validators' keys are decoded once, up front.
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    chain: ChainTag,
    keys: HashMap<ValidatorAddress, PublicKey>,
}

impl SignatureVerifier {
    pub fn new(chain: ChainTag, validators: &ValidatorSet) -> Self {
        let keys = validators
            .validators()
            .iter()
            .filter_map(|validator| {
                PublicKey::from_bytes(validator.address.0)
                    .ok()
                    .map(|key| (validator.address, key))
            })
            .collect();
        SignatureVerifier { chain, keys }
    }

    /// Whether `signature` by `signer` over `bytes` is valid. Only keys of
    /// the validator set are trusted; any other signer is refused.
    pub fn verify_bytes(
        &self,
        signer: &ValidatorAddress,
        bytes: &[u8],
        signature: &Signature,
    ) -> bool {
        let Some(key) = self.keys.get(signer) else {
            return false;
        };
        let signature = malachitebft_signing_ed25519::Signature::from_bytes(signature.0);
        key.verify(bytes, &signature).is_ok()
    }

    pub fn verify_proposal_parts(
        &self,
        proposer: &ValidatorAddress,
        height: Height,
        round: Round,
        pol_round: Round,
        data_hash: &[u8; 32],
        signature: &Signature,
    ) -> bool {
        self.verify_bytes(
            proposer,
            &self
                .chain
                .proposal_parts_bytes(height, round, pol_round, data_hash),
            signature,
        )
    }

    fn result(valid: bool) -> Result<VerificationResult, SigningError> {
        Ok(VerificationResult::from_bool(valid))
    }
}

#[async_trait]
impl Verifier<CairnContext> for SignatureVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &ValidatorAddress,
    ) -> Result<VerificationResult, SigningError> {
        Self::result(self.verify_bytes(public_key, &self.chain.bytes(VOTE_DOMAIN, vote), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &ValidatorAddress,
    ) -> Result<VerificationResult, SigningError> {
        Self::result(self.verify_bytes(
            public_key,
            &self.chain.bytes(PROPOSAL_DOMAIN, proposal),
            signature,
        ))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<CairnContext>,
        extension: &Vec<u8>,
        signature: &Signature,
        public_key: &ValidatorAddress,
    ) -> Result<VerificationResult, SigningError> {
        Self::result(self.verify_bytes(
            public_key,
            &extension_bytes(&self.chain, scope, extension),
            signature,
        ))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<CairnContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(key) = <[u8; 32]>::try_from(proof.public_key.as_slice()) else {
            return Self::result(false);
        };
        let bytes = self.chain.bytes(VALIDATOR_PROOF_DOMAIN, &proof.preimage());
        Self::result(self.verify_bytes(&ValidatorAddress(key), &bytes, &proof.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::{BlockId, Validator};
    use malachitebft_app_channel::app::types::core::{NilOrVal, VoteType};

    fn setup() -> (ValidatorSigner, SignatureVerifier) {
        let key = PrivateKey::from([7u8; 32]);
        let chain = ChainTag([1; 32]);
        let signer = ValidatorSigner::new(key, chain);
        let set = ValidatorSet::new(vec![Validator {
            address: signer.address(),
            power: 1,
        }])
        .unwrap();
        (signer, SignatureVerifier::new(chain, &set))
    }

    fn vote(signer: &ValidatorSigner) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height: Height(3),
            round: Round::new(1),
            value: NilOrVal::Val(BlockId([9; 32])),
            validator: signer.address(),
        }
    }

    #[tokio::test]
    async fn votes_verify_only_unchanged_and_on_their_chain() {
        let (signer, verifier) = setup();
        let signed = signer.sign_vote(vote(&signer)).await.unwrap();
        let key = signer.address();
        assert!(
            verifier
                .verify_signed_vote(&signed.message, &signed.signature, &key)
                .await
                .unwrap()
                .is_valid()
        );

        let mut changed = signed.message.clone();
        changed.value = NilOrVal::Nil;
        assert!(
            verifier
                .verify_signed_vote(&changed, &signed.signature, &key)
                .await
                .unwrap()
                .is_invalid()
        );

        let other_chain = SignatureVerifier {
            chain: ChainTag([2; 32]),
            keys: verifier.keys.clone(),
        };
        assert!(
            other_chain
                .verify_signed_vote(&signed.message, &signed.signature, &key)
                .await
                .unwrap()
                .is_invalid()
        );
    }

    #[tokio::test]
    async fn a_vote_signature_is_not_a_proposal_signature() {
        let (signer, verifier) = setup();
        let proposal = Proposal {
            height: Height(3),
            round: Round::new(1),
            value: BlockId([9; 32]),
            pol_round: Round::Nil,
            proposer: signer.address(),
        };
        let signed = signer.sign_proposal(proposal.clone()).await.unwrap();
        assert!(
            verifier
                .verify_signed_proposal(&proposal, &signed.signature, &signer.address())
                .await
                .unwrap()
                .is_valid()
        );
        let vote_signature = signer.sign_vote(vote(&signer)).await.unwrap().signature;
        assert!(
            verifier
                .verify_signed_proposal(&proposal, &vote_signature, &signer.address())
                .await
                .unwrap()
                .is_invalid()
        );
    }

    #[tokio::test]
    async fn signers_outside_the_validator_set_are_refused() {
        let (_, verifier) = setup();
        let stranger = ValidatorSigner::new(PrivateKey::from([8u8; 32]), ChainTag([1; 32]));
        let signed = stranger.sign_vote(vote(&stranger)).await.unwrap();
        assert!(
            verifier
                .verify_signed_vote(&signed.message, &signed.signature, &stranger.address())
                .await
                .unwrap()
                .is_invalid()
        );
        let proof = stranger
            .sign_validator_proof(stranger.address().0.to_vec(), vec![1, 2, 3])
            .await
            .unwrap();
        assert!(
            verifier
                .verify_validator_proof(&proof)
                .await
                .unwrap()
                .is_invalid()
        );
    }
}
