//! The last line against double signing: what this validator signed at its
//! highest height, on disk before any signature leaves the signer.
//!
//! Malachite already writes every vote to its WAL, synced, before it
//! publishes it, and re-uses the recorded vote when it replays the WAL after
//! a crash. But a height restart resets that WAL, and a lost or damaged WAL
//! forgets. The guard (CometBFT's "last sign state", for every round of the
//! height) refuses to sign a second, different vote or proposal for a
//! height, round and kind it already signed, and to sign for a height below
//! its own: a validator stops rather than equivocate.
//!
//! The record is small (the votes and proposals of one height) and is
//! rewritten whole, through a synced temporary file and a rename, so a crash
//! leaves either the old record or the new one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app_channel::app::types::core::{NilOrVal, Round, VoteType};

use super::context::{BlockId, Height, Proposal, Signature, Vote};

/// Why the guard would not let a signature out.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("already signed a different {kind} at height {height}, round {round}")]
    Conflict {
        kind: &'static str,
        height: Height,
        round: Round,
    },
    #[error("asked to sign at height {asked}, below height {signed} already signed")]
    Stale { asked: Height, signed: Height },
    #[error("recording the signature in {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Default, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Signed {
    height: Height,
    /// By (prevote 0 or precommit 1, round).
    votes: BTreeMap<(u8, Round), (NilOrVal<BlockId>, Signature)>,
    /// By round: the value, its proof-of-lock round, and the signature.
    proposals: BTreeMap<Round, (BlockId, Round, Signature)>,
}

/// What a validator signed at its highest height, kept in a file.
#[derive(Debug)]
pub struct SignGuard {
    path: PathBuf,
    signed: Mutex<Signed>,
}

/// Whether a signature was made now or is the one made before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    New(Signature),
    Again(Signature),
}

impl Signing {
    pub fn signature(self) -> Signature {
        match self {
            Signing::New(signature) | Signing::Again(signature) => signature,
        }
    }
}

fn vote_kind(vote_type: VoteType) -> (u8, &'static str) {
    match vote_type {
        VoteType::Prevote => (0, "prevote"),
        VoteType::Precommit => (1, "precommit"),
    }
}

impl SignGuard {
    /// The guard recorded at `path`, or an empty one if there is no file
    /// yet. A file that does not decode is an error: without it the node
    /// cannot know what it signed.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let signed = match std::fs::read(path) {
            Ok(bytes) => borsh::from_slice(&bytes).map_err(|error| {
                anyhow::anyhow!(
                    "{} is damaged ({error}); it records what this validator signed, so the \
                     node will not sign without it. Restore it, or (knowing the risk of double \
                     signing) remove it",
                    path.display()
                )
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Signed::default(),
            Err(error) => {
                return Err(anyhow::anyhow!("reading {}: {error}", path.display()));
            }
        };
        Ok(SignGuard {
            path: path.to_owned(),
            signed: Mutex::new(signed),
        })
    }

    /// The signature of `vote`: `sign` is called only if the guard has not
    /// signed this kind at this height and round before, and its result is
    /// on disk before it is returned.
    pub fn vote(
        &self,
        vote: &Vote,
        sign: impl FnOnce() -> Signature,
    ) -> Result<Signing, GuardError> {
        let (kind_key, kind) = vote_kind(vote.vote_type);
        let mut signed = self.lock();
        self.enter_height(&mut signed, vote.height)?;
        if let Some((value, signature)) = signed.votes.get(&(kind_key, vote.round)) {
            if *value == vote.value {
                return Ok(Signing::Again(*signature));
            }
            return Err(GuardError::Conflict {
                kind,
                height: vote.height,
                round: vote.round,
            });
        }
        let signature = sign();
        let mut updated = signed.clone();
        updated
            .votes
            .insert((kind_key, vote.round), (vote.value, signature));
        self.persist(&updated)?;
        *signed = updated;
        Ok(Signing::New(signature))
    }

    /// The signature of `proposal`, on the same terms as [`Self::vote`].
    pub fn proposal(
        &self,
        proposal: &Proposal,
        sign: impl FnOnce() -> Signature,
    ) -> Result<Signing, GuardError> {
        let mut signed = self.lock();
        self.enter_height(&mut signed, proposal.height)?;
        if let Some((value, pol_round, signature)) = signed.proposals.get(&proposal.round) {
            if *value == proposal.value && *pol_round == proposal.pol_round {
                return Ok(Signing::Again(*signature));
            }
            return Err(GuardError::Conflict {
                kind: "proposal",
                height: proposal.height,
                round: proposal.round,
            });
        }
        let signature = sign();
        let mut updated = signed.clone();
        updated.proposals.insert(
            proposal.round,
            (proposal.value, proposal.pol_round, signature),
        );
        self.persist(&updated)?;
        *signed = updated;
        Ok(Signing::New(signature))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Signed> {
        // The record is replaced whole after a successful write; a panic
        // elsewhere cannot leave it half updated.
        self.signed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Moves the record to `height` (forgetting lower heights, which are
    /// decided), or refuses a height below it.
    fn enter_height(&self, signed: &mut Signed, height: Height) -> Result<(), GuardError> {
        if height < signed.height {
            return Err(GuardError::Stale {
                asked: height,
                signed: signed.height,
            });
        }
        if height > signed.height {
            *signed = Signed {
                height,
                ..Signed::default()
            };
        }
        Ok(())
    }

    fn persist(&self, signed: &Signed) -> Result<(), GuardError> {
        let io = |source| GuardError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = borsh::to_vec(signed).map_err(io)?;
        let temporary = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temporary, &self.path).map_err(io)?;
        // The rename itself is durable once the directory is synced.
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

/// Appends every vote this node signs to the file `CAIRN_VOTE_LOG` names
/// (feature `test-utils`), a line each: `kind height round value
/// validator`. Tests read the logs of every run of a node, crashes
/// included, and check that no two votes of a kind, height and round
/// differ.
#[cfg(feature = "test-utils")]
pub(super) fn log_vote(vote: &Vote) {
    use std::sync::OnceLock;
    static LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let path = std::env::var_os("CAIRN_VOTE_LOG")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    });
    let Some(file) = log else { return };
    let (_, kind) = vote_kind(vote.vote_type);
    let value = match vote.value {
        NilOrVal::Nil => "nil".to_owned(),
        NilOrVal::Val(id) => id.to_string(),
    };
    let line = format!(
        "{kind} {} {} {value} {}\n",
        vote.height,
        vote.round.as_i64(),
        vote.validator
    );
    let mut file = file.lock().unwrap_or_else(|poison| poison.into_inner());
    // One small write per line: a process killed at any point leaves whole
    // lines behind.
    let _ = file.write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::ValidatorAddress;

    fn vote(vote_type: VoteType, height: u64, round: u32, value: Option<u8>) -> Vote {
        Vote {
            vote_type,
            height: Height(height),
            round: Round::new(round),
            value: value.map_or(NilOrVal::Nil, |byte| NilOrVal::Val(BlockId([byte; 32]))),
            validator: ValidatorAddress([1; 32]),
        }
    }

    fn signature(byte: u8) -> Signature {
        Signature([byte; 64])
    }

    #[test]
    fn a_second_different_vote_is_refused_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed");
        let guard = SignGuard::open(&path).unwrap();
        let prevote = vote(VoteType::Prevote, 5, 0, Some(1));
        assert_eq!(
            guard.vote(&prevote, || signature(1)).unwrap(),
            Signing::New(signature(1))
        );
        // The same vote again: the signature made before, not a new one.
        assert_eq!(
            guard.vote(&prevote, || unreachable!()).unwrap(),
            Signing::Again(signature(1))
        );
        // A precommit and another round are other votes.
        guard
            .vote(&vote(VoteType::Precommit, 5, 0, Some(1)), || signature(2))
            .unwrap();
        guard
            .vote(&vote(VoteType::Prevote, 5, 1, None), || signature(3))
            .unwrap();

        drop(guard);
        let guard = SignGuard::open(&path).unwrap();
        for conflicting in [
            vote(VoteType::Prevote, 5, 0, None),
            vote(VoteType::Prevote, 5, 0, Some(2)),
            vote(VoteType::Precommit, 5, 0, None),
            vote(VoteType::Prevote, 5, 1, Some(1)),
        ] {
            assert!(matches!(
                guard.vote(&conflicting, || unreachable!()),
                Err(GuardError::Conflict { .. })
            ));
        }
        assert_eq!(
            guard.vote(&prevote, || unreachable!()).unwrap(),
            Signing::Again(signature(1))
        );
    }

    #[test]
    fn lower_heights_are_refused_and_higher_ones_start_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SignGuard::open(&dir.path().join("signed")).unwrap();
        guard
            .vote(&vote(VoteType::Prevote, 5, 0, Some(1)), || signature(1))
            .unwrap();
        guard
            .vote(&vote(VoteType::Prevote, 6, 0, Some(2)), || signature(2))
            .unwrap();
        assert!(matches!(
            guard.vote(&vote(VoteType::Prevote, 5, 3, None), || signature(3)),
            Err(GuardError::Stale { .. })
        ));
    }

    #[test]
    fn proposals_are_guarded_by_value_and_lock_round() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SignGuard::open(&dir.path().join("signed")).unwrap();
        let proposal = Proposal {
            height: Height(3),
            round: Round::new(1),
            value: BlockId([4; 32]),
            pol_round: Round::Nil,
            proposer: ValidatorAddress([1; 32]),
        };
        guard.proposal(&proposal, || signature(1)).unwrap();
        let other_value = Proposal {
            value: BlockId([5; 32]),
            ..proposal.clone()
        };
        assert!(guard.proposal(&other_value, || signature(2)).is_err());
        let other_lock = Proposal {
            pol_round: Round::new(0),
            ..proposal.clone()
        };
        assert!(guard.proposal(&other_lock, || signature(2)).is_err());
        assert_eq!(
            guard.proposal(&proposal, || unreachable!()).unwrap(),
            Signing::Again(signature(1))
        );
    }

    #[test]
    fn a_damaged_record_stops_the_node_instead_of_forgetting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed");
        std::fs::write(&path, b"\xff\xff").unwrap();
        let error = SignGuard::open(&path).unwrap_err();
        assert!(error.to_string().contains("damaged"), "{error}");
    }

    #[test]
    fn a_failed_write_lets_no_signature_out() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SignGuard::open(&dir.path().join("missing").join("signed")).unwrap();
        assert!(matches!(
            guard.vote(&vote(VoteType::Prevote, 1, 0, None), || signature(1)),
            Err(GuardError::Io { .. })
        ));
        // Nothing was recorded: the next attempt signs afresh.
        std::fs::create_dir(dir.path().join("missing")).unwrap();
        assert_eq!(
            guard
                .vote(&vote(VoteType::Prevote, 1, 0, Some(1)), || signature(2))
                .unwrap(),
            Signing::New(signature(2))
        );
    }
}
