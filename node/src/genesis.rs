//! The genesis file: what every node of a network must agree on before the
//! first block: chain id, validators and the chain's gas parameters.

use std::path::Path;

use anyhow::{Context, bail};
use cairn_vm::blake2b_256;
use parity_scale_codec::Encode;
use serde::{Deserialize, Serialize};

use crate::limits::MAX_CHAIN_ID_BYTES;
use crate::types::{Action, Hash, Transaction};

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

impl Genesis {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the genesis file {}", path.display()))?;
        let genesis: Genesis = serde_json::from_str(&text)
            .with_context(|| format!("parsing the genesis file {}", path.display()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing the genesis file {}", path.display()))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.chain_id.is_empty() || self.chain_id.len() > MAX_CHAIN_ID_BYTES {
            bail!("the chain id must be 1 to {MAX_CHAIN_ID_BYTES} bytes");
        }
        if self.validators.is_empty() {
            bail!("the genesis has no validators");
        }
        let mut keys = std::collections::BTreeSet::new();
        for validator in &self.validators {
            let key = validator.key()?;
            if !keys.insert(key) {
                bail!("validator {} is listed twice", validator.public_key);
            }
            if validator.power == 0 {
                bail!("validator {} has zero power", validator.name);
            }
        }
        let params = &self.params;
        if params.max_tx_gas > params.block_gas_limit {
            bail!("max_tx_gas is above block_gas_limit: no such transaction could be included");
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
    pub fn key(&self) -> anyhow::Result<[u8; 32]> {
        let key = crate::types::parse_hash(&self.public_key)
            .map_err(|error| anyhow::anyhow!("validator {}: {error}", self.name))?;
        malachitebft_signing_ed25519::PublicKey::from_bytes(key).map_err(|_| {
            anyhow::anyhow!(
                "validator {}: {} is not an ed25519 public key",
                self.name,
                self.public_key
            )
        })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_signing_ed25519::PrivateKey;

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
        assert!(bad_key.validate().is_err());

        let mut empty = genesis();
        empty.validators.clear();
        assert!(empty.validate().is_err());
    }
}
