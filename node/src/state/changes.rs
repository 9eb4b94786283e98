//! A block's changes so far, on top of the committed state.

use std::collections::BTreeMap;

use super::records::{Account, ChainState, ContractInfo};
use crate::types::{Address, Hash, VmAddress};

/// What the transactions of a block have changed so far: read back by the
/// next transaction through [`super::View`], hashed into the state tree
/// ([`super::tree::apply`]) and written by the commit.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub storage: BTreeMap<Address, BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    pub accounts: BTreeMap<Address, Account>,
    pub contracts: BTreeMap<Address, ContractInfo>,
    /// The fee and supply record after the block (every block sets it).
    pub chain: Option<ChainState>,
    /// Code first stored by this block, by code hash.
    pub code: BTreeMap<Hash, Vec<u8>>,
    /// ABIs first stored by this block, by ABI hash.
    pub abis: BTreeMap<Hash, Vec<u8>>,
}

impl Changes {
    pub fn apply_writes(&mut self, writes: &[cairn_vm::StorageWrite]) {
        for write in writes {
            self.storage
                .entry(Address::from_vm(write.contract))
                .or_default()
                .insert(write.key.clone(), write.value.clone());
        }
    }
}
