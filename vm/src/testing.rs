//! In-memory state for tests, tools and the `cairn-vm` command line.

use std::collections::BTreeMap;

use crate::storage::{Accounts, Contracts, KeyRange, Order, RangeStep, Storage, StorageError};
use crate::types::{Address, CodeHash, Outcome, StorageWrite};

/// Contract storage, deployed code and balances in `BTreeMap`s.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemoryStorage {
    entries: BTreeMap<Address, BTreeMap<Vec<u8>, Vec<u8>>>,
    contracts: BTreeMap<Address, CodeHash>,
    code: BTreeMap<CodeHash, Vec<u8>>,
    balances: BTreeMap<Address, u128>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `wasm` as the code of `contract` (without validating it;
    /// prepare it with [`Vm::prepare`](crate::Vm::prepare) first to get the
    /// deploy-time checks).
    pub fn deploy(&mut self, contract: Address, wasm: &[u8]) -> CodeHash {
        let hash = CodeHash::of(wasm);
        self.code.insert(hash, wasm.to_vec());
        self.contracts.insert(contract, hash);
        hash
    }

    /// Every entry of one contract, in key order.
    pub fn entries(&self, contract: &Address) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.entries
            .get(contract)
            .map(|entries| {
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets what `account` holds.
    pub fn set_balance(&mut self, account: Address, balance: u128) {
        self.balances.insert(account, balance);
    }

    /// What `account` holds (0 if it never held anything).
    pub fn balance_of(&self, account: &Address) -> u128 {
        self.balances.get(account).copied().unwrap_or(0)
    }

    /// Applies a successful outcome: its writes and its balances.
    pub fn commit_outcome(&mut self, outcome: &Outcome) {
        self.commit(&outcome.writes);
        for (account, balance) in &outcome.balances {
            self.set_balance(*account, *balance);
        }
    }

    /// Applies writes; infallible for memory.
    pub fn commit(&mut self, writes: &[StorageWrite]) {
        for write in writes {
            match &write.value {
                Some(value) => {
                    self.entries
                        .entry(write.contract)
                        .or_default()
                        .insert(write.key.clone(), value.clone());
                }
                None => {
                    if let Some(entries) = self.entries.get_mut(&write.contract) {
                        entries.remove(&write.key);
                    }
                }
            }
        }
    }
}

impl Storage for MemoryStorage {
    fn get(&self, contract: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .entries
            .get(contract)
            .and_then(|entries| entries.get(key))
            .cloned())
    }

    fn seek(
        &self,
        contract: &Address,
        range: &KeyRange,
        order: Order,
    ) -> Result<RangeStep, StorageError> {
        Ok(self
            .entries
            .get(contract)
            .and_then(|entries| range.first_in(entries, order))
            .map_or(RangeStep::End, |(key, value)| {
                RangeStep::Entry(key.clone(), value.clone())
            }))
    }

    fn set(&mut self, contract: &Address, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.entries
            .entry(*contract)
            .or_default()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&mut self, contract: &Address, key: &[u8]) -> Result<(), StorageError> {
        if let Some(entries) = self.entries.get_mut(contract) {
            entries.remove(key);
        }
        Ok(())
    }
}

impl Contracts for MemoryStorage {
    fn code_hash(&self, contract: &Address) -> Result<Option<CodeHash>, StorageError> {
        Ok(self.contracts.get(contract).copied())
    }

    fn code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.code.get(hash).cloned())
    }
}

impl Accounts for MemoryStorage {
    fn balance(&self, account: &Address) -> Result<u128, StorageError> {
        Ok(self.balance_of(account))
    }
}
