//! Addresses of accounts and contracts.

use std::fmt;

use parity_scale_codec::{Decode, Encode};

use crate::hash::{blake2b_256, parse_hash};

/// An account's address is its ed25519 public key; a contract's is derived
/// from its deployer and the deploy's nonce (see [`contract_address`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode)]
pub struct Address(pub [u8; 32]);

impl Address {
    pub fn from_hex(text: &str) -> Result<Self, String> {
        parse_hash(text).map(Address)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", hex::encode(self.0))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Where a deploy puts its contract: a function of who deployed it and the
/// nonce of the deploying transaction, so it is known before inclusion.
pub fn contract_address(deployer: &Address, nonce: u64) -> Address {
    let mut seed = Vec::with_capacity(14 + 32 + 8);
    seed.extend_from_slice(b"cairn-contract");
    seed.extend_from_slice(&deployer.0);
    seed.extend_from_slice(&nonce.to_le_bytes());
    Address(blake2b_256(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_addresses_depend_on_deployer_and_nonce() {
        let a = Address([1; 32]);
        let b = Address([2; 32]);
        assert_ne!(contract_address(&a, 0), contract_address(&a, 1));
        assert_ne!(contract_address(&a, 0), contract_address(&b, 0));
        assert_eq!(contract_address(&a, 3), contract_address(&a, 3));
    }

    #[test]
    fn contract_addresses_are_pinned() {
        // A change here moves every deployed contract of existing chains.
        assert_eq!(
            contract_address(&Address([1; 32]), 0).to_string(),
            hex::encode(blake2b_256(
                &[b"cairn-contract".as_slice(), &[1; 32], &0u64.to_le_bytes()].concat()
            ))
        );
    }

    #[test]
    fn addresses_print_as_bare_hex_and_parse_back() {
        let address = Address([0xab; 32]);
        assert_eq!(address.to_string(), "ab".repeat(32));
        assert_eq!(Address::from_hex(&address.to_string()).unwrap(), address);
        assert!(Address::from_hex("0x12").is_err());
    }
}
