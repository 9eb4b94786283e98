//! The genesis file: what every node of a network must agree on before the
//! first block: chain id, validators and the chain's gas parameters.

use std::path::{Path, PathBuf};

use parity_scale_codec::Encode;
use serde::{Deserialize, Serialize};

use crate::hash::{Hash, blake2b_256, parse_hash};
use crate::keys::PublicKey;
use crate::limits::MAX_CHAIN_ID_BYTES;
use crate::transaction::{Action, Transaction};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: String,
    /// The time of the chain's "block 0", in milliseconds since the Unix
    /// epoch; the first block's time is later.
    pub genesis_time_ms: u64,
    pub validators: Vec<GenesisValidator>,
    #[serde(default)]
    pub params: ChainParams,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// A name for logs and status; not part of consensus.
    pub name: String,
    /// The validator's ed25519 public key, hex.
    pub public_key: String,
    pub power: u64,
}

/// The chain's gas rules. Part of the genesis hash: nodes with different
/// parameters are on different chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode)]
#[serde(default, deny_unknown_fields)]
pub struct ChainParams {
    /// Gas all transactions of a block may use together, counted by their
    /// gas limits so a proposer never has to execute to know a block fits.
    pub block_gas_limit: u64,
    /// The largest gas limit one transaction may set.
    pub max_tx_gas: u64,
    /// Charged to every transaction before it runs: signature check, nonce
    /// and receipt writes (about 70 µs at the VM's 45 gas/ns).
    pub tx_base_gas: u64,
    /// Charged per byte of the encoded transaction: it is gossiped, stored in
    /// a block and kept forever.
    pub tx_byte_gas: u64,
    /// Charged per byte of deployed code, on top of `tx_byte_gas`:
    /// validation, instrumentation and single-pass compilation run at about
    /// 2.8 MB/s (docs/BENCHMARKS.md), about 16,000 gas per byte at 45
    /// gas/ns; code stored once is shared by later deploys, which still pay.
    pub deploy_byte_gas: u64,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            block_gas_limit: 20_000_000_000,
            max_tx_gas: 5_000_000_000,
            tx_base_gas: 3_000_000,
            tx_byte_gas: 2_000,
            deploy_byte_gas: 16_000,
        }
    }
}

impl ChainParams {
    /// Gas a transaction costs before it executes anything.
    pub fn intrinsic_gas(&self, tx: &Transaction, encoded_len: usize) -> u64 {
        let bytes = u64::try_from(encoded_len).unwrap_or(u64::MAX);
        let mut gas = self
            .tx_base_gas
            .saturating_add(self.tx_byte_gas.saturating_mul(bytes));
        if let Action::Deploy { code, .. } = &tx.action {
            let code_bytes = u64::try_from(code.len()).unwrap_or(u64::MAX);
            gas = gas.saturating_add(self.deploy_byte_gas.saturating_mul(code_bytes));
        }
        gas
    }
}

/// Why a genesis file could not be read, written or accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    #[error("reading the genesis file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing the genesis file {}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing the genesis file {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the chain id must be 1 to {MAX_CHAIN_ID_BYTES} bytes")]
    ChainId,
    #[error("the genesis has no validators")]
    NoValidators,
    #[error("validator {0} is listed twice")]
    DuplicateValidator(String),
    #[error("validator {0} has zero power")]
    ZeroPower(String),
    #[error("validator {name}: {reason}")]
    BadValidatorKey { name: String, reason: String },
    #[error("max_tx_gas is above block_gas_limit: no such transaction could be included")]
    MaxTxGasAboveBlockLimit,
}

impl Genesis {
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Read {
            path: path.to_owned(),
            source,
        })?;
        let genesis: Genesis =
            serde_json::from_str(&text).map_err(|source| GenesisError::Parse {
                path: path.to_owned(),
                source,
            })?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        // Strings and integers only: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub fn save(&self, path: &Path) -> Result<(), GenesisError> {
        std::fs::write(path, self.to_json()).map_err(|source| GenesisError::Write {
            path: path.to_owned(),
            source,
        })
    }

    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id.is_empty() || self.chain_id.len() > MAX_CHAIN_ID_BYTES {
            return Err(GenesisError::ChainId);
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut keys = std::collections::BTreeSet::new();
        for validator in &self.validators {
            let key = validator.key()?;
            if !keys.insert(key) {
                return Err(GenesisError::DuplicateValidator(
                    validator.public_key.clone(),
                ));
            }
            if validator.power == 0 {
                return Err(GenesisError::ZeroPower(validator.name.clone()));
            }
        }
        let params = &self.params;
        if params.max_tx_gas > params.block_gas_limit {
            return Err(GenesisError::MaxTxGasAboveBlockLimit);
        }
        Ok(())
    }

    /// The hash every node must agree on; the first block's parent.
    pub fn hash(&self) -> Hash {
        let validators: Vec<([u8; 32], u64)> = self
            .validators
            .iter()
            .map(|validator| (validator.key().unwrap_or_default(), validator.power))
            .collect();
        let encoded = (
            b"cairn-genesis-v1".as_slice(),
            &self.chain_id,
            self.genesis_time_ms,
            validators,
            &self.params,
        )
            .encode();
        blake2b_256(&encoded)
    }
}

impl GenesisValidator {
    pub fn key(&self) -> Result<[u8; 32], GenesisError> {
        let key = parse_hash(&self.public_key).map_err(|reason| GenesisError::BadValidatorKey {
            name: self.name.clone(),
            reason,
        })?;
        PublicKey::from_bytes(key).map_err(|_| GenesisError::BadValidatorKey {
            name: self.name.clone(),
            reason: format!("{} is not an ed25519 public key", self.public_key),
        })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn genesis() -> Genesis {
        Genesis {
            chain_id: "cairn-test".into(),
            genesis_time_ms: 1,
            validators: (1..=4u8)
                .map(|seed| GenesisValidator {
                    name: format!("v{seed}"),
                    public_key: hex::encode(PrivateKey::from([seed; 32]).public_key().as_bytes()),
                    power: 1,
                })
                .collect(),
            params: ChainParams::default(),
        }
    }

    #[test]
    fn a_genesis_survives_json_and_its_hash_tracks_every_field() {
        let genesis = genesis();
        genesis.validate().unwrap();
        let json = serde_json::to_string(&genesis).unwrap();
        let parsed: Genesis = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.hash(), genesis.hash());

        let mut other = genesis.clone();
        other.params.tx_base_gas += 1;
        assert_ne!(other.hash(), genesis.hash());
        let mut other = genesis.clone();
        other.validators[0].power = 2;
        assert_ne!(other.hash(), genesis.hash());
        let mut other = genesis.clone();
        other.chain_id.push('x');
        assert_ne!(other.hash(), genesis.hash());
    }

    #[test]
    fn bad_geneses_are_refused_with_a_reason() {
        let mut duplicate = genesis();
        duplicate.validators[1].public_key = duplicate.validators[0].public_key.clone();
        assert!(
            duplicate
                .validate()
                .unwrap_err()
                .to_string()
                .contains("twice")
        );

        let mut bad_key = genesis();
        bad_key.validators[0].public_key = "zz".into();
        assert!(matches!(
            bad_key.validate(),
            Err(GenesisError::BadValidatorKey { .. })
        ));

        let mut empty = genesis();
        empty.validators.clear();
        assert!(matches!(empty.validate(), Err(GenesisError::NoValidators)));

        let mut zero = genesis();
        zero.validators[2].power = 0;
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("v3 has zero power")
        );

        let mut long = genesis();
        long.chain_id = "x".repeat(MAX_CHAIN_ID_BYTES + 1);
        assert!(matches!(long.validate(), Err(GenesisError::ChainId)));

        let mut gas = genesis();
        gas.params.max_tx_gas = gas.params.block_gas_limit + 1;
        assert!(matches!(
            gas.validate(),
            Err(GenesisError::MaxTxGasAboveBlockLimit)
        ));
    }

    #[test]
    fn a_saved_genesis_loads_back_and_a_bad_file_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        let genesis = genesis();
        genesis.save(&path).unwrap();
        assert_eq!(Genesis::load(&path).unwrap(), genesis);
        std::fs::write(&path, "{").unwrap();
        let error = Genesis::load(&path).unwrap_err();
        assert!(matches!(error, GenesisError::Parse { .. }));
        assert!(error.to_string().contains("genesis.json"), "{error}");
    }
}
