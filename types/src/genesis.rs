//! The genesis file: what every node of a network must agree on before the
//! first block: chain id, validators, the first balances of the native
//! token and the chain's gas and fee parameters.

use std::path::{Path, PathBuf};

use parity_scale_codec::Encode;
use serde::{Deserialize, Serialize};

use crate::address::Address;
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
    /// The balances at height 0: the whole supply of the native token.
    /// Fees burn part of it; nothing mints more.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    #[serde(default)]
    pub params: ChainParams,
}

/// An account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// 64 hex digits: an ed25519 public key, or any address.
    pub address: String,
    /// In the token's smallest unit, as a decimal string.
    #[serde(with = "crate::amount::as_string")]
    pub balance: u128,
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

/// The chain's gas and fee rules. Part of the genesis hash: nodes with
/// different parameters are on different chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode)]
#[serde(default, deny_unknown_fields)]
pub struct ChainParams {
    /// Gas all transactions of a block may use together. A transaction is
    /// included only if its gas limit fits what the block has left when it
    /// runs, so no validator ever executes more than this; what it then
    /// uses is what fills the block, so a large limit that is not used
    /// costs its sender nothing and takes no room from others.
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
    /// The lowest base fee, and the first block's: what a unit of gas costs
    /// at least, in the token's smallest unit. The base fee of each block
    /// is burned ([`ChainParams::next_base_fee`]).
    pub min_base_fee: u64,
    /// The base fee moves by at most `1 / base_fee_change_denominator` of
    /// itself per block (8: 12.5 %, as Ethereum's EIP-1559).
    pub base_fee_change_denominator: u64,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            block_gas_limit: 20_000_000_000,
            max_tx_gas: 5_000_000_000,
            tx_base_gas: 3_000_000,
            tx_byte_gas: 2_000,
            deploy_byte_gas: 16_000,
            min_base_fee: 1,
            base_fee_change_denominator: 8,
        }
    }
}

impl ChainParams {
    /// The gas a block uses when the base fee stays where it is: half the
    /// block gas limit, so that the fee can show demand both ways.
    pub fn base_fee_target(&self) -> u64 {
        (self.block_gas_limit / 2).max(1)
    }

    /// The base fee of the block after one with `base_fee` that used
    /// `gas_used`: EIP-1559's rule. Above the target it rises in proportion
    /// to the excess (12.5 % for a full block), below it falls likewise,
    /// by at least 1 either way so that small fees move too, and never
    /// below `min_base_fee`.
    pub fn next_base_fee(&self, base_fee: u64, gas_used: u64) -> u64 {
        let target = u128::from(self.base_fee_target());
        let denominator = u128::from(self.base_fee_change_denominator.max(1));
        let base = u128::from(base_fee.max(self.min_base_fee));
        let used = u128::from(gas_used);
        // Both factors are at most u64::MAX: the products fit a u128.
        let next = if used > target {
            let delta = (base * (used - target) / target / denominator).max(1);
            base.saturating_add(delta)
        } else if used < target {
            let delta = (base * (target - used) / target / denominator).max(1);
            base.saturating_sub(delta)
        } else {
            base
        };
        u64::try_from(next.max(u128::from(self.min_base_fee))).unwrap_or(u64::MAX)
    }

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
    #[error("base_fee_change_denominator must be at least 1")]
    ZeroBaseFeeDenominator,
    #[error("account {address}: {reason}")]
    BadAccount { address: String, reason: String },
    #[error("account {0} is listed twice")]
    DuplicateAccount(String),
    #[error("the genesis balances add up to more than the largest amount")]
    SupplyOverflow,
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
        if params.base_fee_change_denominator == 0 {
            return Err(GenesisError::ZeroBaseFeeDenominator);
        }
        self.total_supply()?;
        Ok(())
    }

    /// The funded accounts and their balances, in the file's order.
    pub fn balances(&self) -> Result<Vec<(Address, u128)>, GenesisError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut balances = Vec::with_capacity(self.accounts.len());
        for account in &self.accounts {
            let address =
                Address::from_hex(&account.address).map_err(|reason| GenesisError::BadAccount {
                    address: account.address.clone(),
                    reason,
                })?;
            if !seen.insert(address) {
                return Err(GenesisError::DuplicateAccount(account.address.clone()));
            }
            balances.push((address, account.balance));
        }
        Ok(balances)
    }

    /// The native token's supply at height 0: the sum of the balances.
    pub fn total_supply(&self) -> Result<u128, GenesisError> {
        self.balances()?
            .iter()
            .try_fold(0u128, |sum, (_, balance)| sum.checked_add(*balance))
            .ok_or(GenesisError::SupplyOverflow)
    }

    /// The hash every node must agree on; the first block's parent, and
    /// part of every transaction's signature.
    pub fn hash(&self) -> Hash {
        let validators: Vec<([u8; 32], u64)> = self
            .validators
            .iter()
            .map(|validator| (validator.key().unwrap_or_default(), validator.power))
            .collect();
        // Unparsable addresses hash as written: such a genesis never
        // validates, but its hash is still defined.
        let accounts: Vec<(Vec<u8>, u128)> = self
            .accounts
            .iter()
            .map(|account| {
                let address = Address::from_hex(&account.address)
                    .map_or_else(|_| account.address.as_bytes().to_vec(), |a| a.0.to_vec());
                (address, account.balance)
            })
            .collect();
        let encoded = (
            b"cairn-genesis-v2".as_slice(),
            &self.chain_id,
            self.genesis_time_ms,
            validators,
            accounts,
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
            accounts: vec![
                GenesisAccount {
                    address: "aa".repeat(32),
                    balance: 1_000,
                },
                GenesisAccount {
                    address: "bb".repeat(32),
                    balance: u128::from(u64::MAX) * 4,
                },
            ],
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
        let mut other = genesis.clone();
        other.accounts[1].balance += 1;
        assert_ne!(other.hash(), genesis.hash());
        let mut other = genesis.clone();
        other.accounts.swap(0, 1);
        assert_ne!(other.hash(), genesis.hash());
        let mut other = genesis.clone();
        other.params.min_base_fee += 1;
        assert_ne!(other.hash(), genesis.hash());
    }

    #[test]
    fn balances_are_decimal_strings_and_add_up_to_the_supply() {
        let genesis = genesis();
        let json = genesis.to_json();
        assert!(
            json.contains(&format!("\"balance\": \"{}\"", u128::from(u64::MAX) * 4)),
            "{json}"
        );
        assert_eq!(
            genesis.total_supply().unwrap(),
            1_000 + u128::from(u64::MAX) * 4
        );
        assert_eq!(genesis.balances().unwrap()[0], (Address([0xaa; 32]), 1_000));
        // A genesis file written before balances existed still loads.
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value.as_object_mut().unwrap().remove("accounts");
        let old: Genesis = serde_json::from_value(value).unwrap();
        assert_eq!(old.total_supply().unwrap(), 0);
    }

    #[test]
    fn the_base_fee_follows_how_full_blocks_are() {
        let params = ChainParams {
            block_gas_limit: 1_000,
            min_base_fee: 10,
            ..ChainParams::default()
        };
        let target = params.base_fee_target();
        assert_eq!(target, 500);
        // At the target it stays; a full block raises it by an eighth, an
        // empty one lowers it by an eighth.
        assert_eq!(params.next_base_fee(800, target), 800);
        assert_eq!(params.next_base_fee(800, 1_000), 900);
        assert_eq!(params.next_base_fee(800, 0), 700);
        assert_eq!(params.next_base_fee(800, 750), 850);
        // Small fees move by at least one, and never below the minimum.
        assert_eq!(params.next_base_fee(11, 1_000), 12);
        assert_eq!(params.next_base_fee(11, 0), 10);
        assert_eq!(params.next_base_fee(10, 0), 10);
        assert_eq!(params.next_base_fee(3, 500), 10);
        // A zero minimum lets fees reach zero and start again from it.
        let free = ChainParams {
            min_base_fee: 0,
            ..params.clone()
        };
        assert_eq!(free.next_base_fee(1, 0), 0);
        assert_eq!(free.next_base_fee(0, 0), 0);
        assert_eq!(free.next_base_fee(0, 1_000), 1);
        // Never overflows.
        assert_eq!(params.next_base_fee(u64::MAX, 1_000), u64::MAX);
        // Ten full blocks raise a fee about 3.2 times (1.125^10).
        let raised = (0..10).fold(1_000_000u64, |fee, _| params.next_base_fee(fee, 1_000));
        assert_eq!(raised, 3_247_314);
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

        let mut denominator = genesis();
        denominator.params.base_fee_change_denominator = 0;
        assert!(matches!(
            denominator.validate(),
            Err(GenesisError::ZeroBaseFeeDenominator)
        ));

        let mut twice = genesis();
        twice.accounts[1].address = twice.accounts[0].address.clone();
        assert!(matches!(
            twice.validate(),
            Err(GenesisError::DuplicateAccount(_))
        ));

        let mut bad_address = genesis();
        bad_address.accounts[0].address = "12".into();
        assert!(
            bad_address
                .validate()
                .unwrap_err()
                .to_string()
                .contains("account 12")
        );

        let mut overflow = genesis();
        overflow.accounts[0].balance = u128::MAX;
        assert!(matches!(
            overflow.validate(),
            Err(GenesisError::SupplyOverflow)
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
