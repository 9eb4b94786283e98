//! Cairn's Malachite context: the types consensus runs on.
//!
//! Consensus votes on a block's hash (`BlockId`); the block itself travels in
//! proposal parts and sync responses. Validators are identified by their
//! ed25519 public key, which is also their address.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app_channel::app::types::core::{
    self as core, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};

use super::proposer::ProposerSchedule;
use crate::chain::{BlockHash, ValidatorKey};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CairnContext;

/// A block height; the first block is height 1.
#[derive(
    Copy,
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's ed25519 public key, which is also its address.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct ValidatorAddress(pub ValidatorKey);

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl core::Address for ValidatorAddress {}

/// What consensus decides on: a block, by the hash of its header.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct BlockId(pub BlockHash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl core::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

/// An ed25519 signature.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..8]))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} bytes, got {actual}")]
pub struct KeyLengthError {
    expected: usize,
    actual: usize,
}

impl core::SigningScheme for Ed25519 {
    type DecodingError = KeyLengthError;
    type Signature = Signature;
    type PublicKey = ValidatorAddress;
    type PrivateKey = malachitebft_signing_ed25519::PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, KeyLengthError> {
        let array = <[u8; 64]>::try_from(bytes).map_err(|_| KeyLengthError {
            expected: 64,
            actual: bytes.len(),
        })?;
        Ok(Signature(array))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<ValidatorAddress, KeyLengthError> {
        let array = <[u8; 32]>::try_from(bytes).map_err(|_| KeyLengthError {
            expected: 32,
            actual: bytes.len(),
        })?;
        Ok(ValidatorAddress(array))
    }

    fn encode_public_key(public_key: &ValidatorAddress) -> Vec<u8> {
        public_key.0.to_vec()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: BlockId,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
}

impl core::Proposal<CairnContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockId {
        &self.value
    }

    fn take_value(self) -> BlockId {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// A prevote or precommit. Cairn does not use vote extensions, so a vote
/// carries none on the wire.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub vote_type: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockId>,
    pub validator: ValidatorAddress,
}

impl core::Vote<CairnContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<CairnContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<CairnContext>> {
        None
    }

    fn extend(self, _extension: SignedExtension<CairnContext>) -> Self {
        self
    }
}

/// A block travels as a stream of parts: `Init`, the block's bytes in
/// `Data` chunks, then `Fin` with the proposer's signature over all of it,
/// which receivers check before they spend any time executing the block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    Init {
        height: Height,
        round: Round,
        pol_round: Round,
        proposer: ValidatorAddress,
    },
    Data(Vec<u8>),
    Fin {
        signature: Signature,
    },
}

impl core::ProposalPart<CairnContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: ValidatorAddress,
    pub power: VotingPower,
}

impl core::Validator<CairnContext> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &ValidatorAddress {
        &self.address
    }

    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// The validators, sorted by address, with positive powers, and who
/// proposes when ([`super::proposer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_power: VotingPower,
    schedule: ProposerSchedule,
}

impl ValidatorSet {
    /// Fails on an empty set, a zero power, a duplicate address or a total
    /// power that overflows.
    pub fn new(mut validators: Vec<Validator>) -> Result<Self, String> {
        if validators.is_empty() {
            return Err("the validator set is empty".into());
        }
        validators.sort_by_key(|validator| validator.address);
        let mut total_power: VotingPower = 0;
        for (index, validator) in validators.iter().enumerate() {
            if validator.power == 0 {
                return Err(format!(
                    "validator {} has no voting power",
                    validator.address
                ));
            }
            if index > 0 && validators[index - 1].address == validator.address {
                return Err(format!("validator {} appears twice", validator.address));
            }
            total_power = total_power
                .checked_add(validator.power)
                .ok_or("the total voting power overflows")?;
        }
        let powers: Vec<VotingPower> = validators.iter().map(|validator| validator.power).collect();
        Ok(ValidatorSet {
            schedule: ProposerSchedule::new(&powers),
            validators,
            total_power,
        })
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The proposer of `round` at `height`: CometBFT's proposer priority at
    /// round 0, and never the same validator two rounds in a row
    /// ([`super::proposer`]).
    pub fn proposer(&self, height: Height, round: Round) -> &Validator {
        let round = round.as_u32().unwrap_or(0);
        &self.validators[self.schedule.proposer(height.0, round)]
    }

    pub fn get(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(address, |validator| validator.address)
            .ok()
            .map(|index| &self.validators[index])
    }
}

impl core::ValidatorSet<CairnContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.total_power
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.get(address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

impl core::Context for CairnContext {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = core::LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = Vec<u8>;
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        validator_set.proposer(height, round)
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(byte: u8, power: u64) -> Validator {
        Validator {
            address: ValidatorAddress([byte; 32]),
            power,
        }
    }

    #[test]
    fn proposers_follow_the_priority_schedule() {
        let set =
            ValidatorSet::new(vec![validator(2, 1), validator(1, 2), validator(3, 1)]).unwrap();
        // Sorted by address: 1 (power 2), 2, 3. CometBFT's priorities give
        // 1, 2, 3, 1 over a cycle of 4 heights, then again.
        let picks: Vec<u8> = (1..=8)
            .map(|height| set.proposer(Height(height), Round::new(0)).address.0[0])
            .collect();
        assert_eq!(picks, [1, 2, 3, 1, 1, 2, 3, 1]);
        // Heights 4 and 5 both start with validator 1; their later rounds
        // move on to someone else at once.
        assert_eq!(set.proposer(Height(4), Round::new(1)).address.0[0], 2);
        assert_eq!(set.proposer(Height(5), Round::new(1)).address.0[0], 2);
        assert_eq!(set.proposer(Height(5), Round::Nil).address.0[0], 1);
    }

    #[test]
    fn invalid_validator_sets_are_refused() {
        assert!(ValidatorSet::new(vec![]).is_err());
        assert!(ValidatorSet::new(vec![validator(1, 0)]).is_err());
        assert!(ValidatorSet::new(vec![validator(1, 1), validator(1, 2)]).is_err());
        assert!(ValidatorSet::new(vec![validator(1, u64::MAX), validator(2, 1)]).is_err());
    }
}
