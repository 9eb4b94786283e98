//! The state a block executes against: the committed snapshot with the
//! block's own changes on top, as the VM's `Storage` and `Contracts`.

use std::ops::Bound;

use cairn_vm::{
    Accounts, CodeHash, Contracts, Entry, KeyRange, Order, RangeStep, Storage, StorageError,
};

use super::changes::Changes;
use super::records::{Account, ContractInfo, state_key};
use super::store::StateSnapshot;
use crate::types::{Address, Hash, VmAddress};

/// A contract being deployed by the current transaction: visible to its
/// `init` call, and committed to the block's changes only if `init`
/// succeeds.
#[derive(Debug, Clone, Copy)]
pub struct PendingDeploy<'a> {
    pub address: Address,
    pub code_hash: Hash,
    pub code: &'a [u8],
}

/// The VM's view: a pending deploy, then the block's changes, then the
/// committed snapshot.
pub struct View<'a> {
    pub snapshot: &'a StateSnapshot<'a>,
    pub changes: &'a Changes,
    pub deploy: Option<PendingDeploy<'a>>,
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View").finish_non_exhaustive()
    }
}

fn storage_error(error: anyhow::Error) -> StorageError {
    StorageError(format!("{error:#}"))
}

impl View<'_> {
    pub fn account(&self, address: &Address) -> anyhow::Result<Account> {
        match self.changes.accounts.get(address) {
            Some(account) => Ok(*account),
            None => self.snapshot.account(address),
        }
    }

    pub fn contract(&self, address: &Address) -> anyhow::Result<Option<ContractInfo>> {
        if let Some(info) = self.changes.contracts.get(address) {
            return Ok(Some(*info));
        }
        self.snapshot.contract(address)
    }

    pub fn has_code(&self, hash: &Hash) -> anyhow::Result<bool> {
        Ok(self.changes.code.contains_key(hash) || self.snapshot.code(hash)?.is_some())
    }

    /// The first committed entry of `contract` in the range, in `order`.
    fn committed_first(
        &self,
        contract: &Address,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        order: Order,
    ) -> anyhow::Result<Option<Entry>> {
        let mut found = None;
        match order {
            Order::Ascending => {
                let from = match start {
                    Bound::Included(key) | Bound::Excluded(key) => state_key(contract, key),
                    Bound::Unbounded => contract.0.to_vec(),
                };
                self.snapshot
                    .walk_storage(contract, &from, true, |key, value| {
                        if let Bound::Excluded(excluded) = start
                            && key == excluded
                        {
                            return true;
                        }
                        let in_range = match end {
                            Bound::Included(end) => key <= end,
                            Bound::Excluded(end) => key < end,
                            Bound::Unbounded => true,
                        };
                        if in_range {
                            found = Some((key.to_vec(), value.to_vec()));
                        }
                        false
                    })?;
            }
            Order::Descending => {
                let from = match end {
                    Bound::Included(key) | Bound::Excluded(key) => state_key(contract, key),
                    // Above every key of this contract: keys are at most
                    // MAX_KEY_BYTES long.
                    Bound::Unbounded => {
                        let mut key = contract.0.to_vec();
                        key.resize(32 + cairn_vm::limits::MAX_KEY_BYTES + 1, 0xff);
                        key
                    }
                };
                self.snapshot
                    .walk_storage(contract, &from, false, |key, value| {
                        if let Bound::Excluded(excluded) = end
                            && key == excluded
                        {
                            return true;
                        }
                        let in_range = match start {
                            Bound::Included(start) => key >= start,
                            Bound::Excluded(start) => key > start,
                            Bound::Unbounded => true,
                        };
                        if in_range {
                            found = Some((key.to_vec(), value.to_vec()));
                        }
                        false
                    })?;
            }
        }
        Ok(found)
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn is_empty_range(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(start), Bound::Included(end)) => start > end,
        (Bound::Included(start), Bound::Excluded(end))
        | (Bound::Excluded(start), Bound::Included(end))
        | (Bound::Excluded(start), Bound::Excluded(end)) => start >= end,
        _ => false,
    }
}

impl Storage for View<'_> {
    fn get(
        &self,
        contract: &cairn_vm::Address,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let address = Address::from_vm(*contract);
        if let Some(value) = self
            .changes
            .storage
            .get(&address)
            .and_then(|entries| entries.get(key))
        {
            return Ok(value.clone());
        }
        self.snapshot.storage(&address, key).map_err(storage_error)
    }

    /// One seek into the block's changes merged with the committed
    /// entries: the first candidate of each side is compared, and a removal
    /// in the changes that comes first is returned as such
    /// ([`RangeStep::Removed`]), so the VM charges an iterator step for it
    /// and seeks again past it. Each call is one lookup in the changes and
    /// one seek of the snapshot, however many keys earlier transactions of
    /// the block removed.
    fn seek(
        &self,
        contract: &cairn_vm::Address,
        range: &KeyRange,
        order: Order,
    ) -> Result<RangeStep, StorageError> {
        let address = Address::from_vm(*contract);
        let (start, end) = (as_slice(&range.start), as_slice(&range.end));
        if is_empty_range(start, end) {
            return Ok(RangeStep::End);
        }
        let changed = self.changes.storage.get(&address).and_then(|changes| {
            let mut changed = changes.range::<[u8], _>((start, end));
            match order {
                Order::Ascending => changed.next(),
                Order::Descending => changed.next_back(),
            }
        });
        let committed = self
            .committed_first(&address, start, end, order)
            .map_err(storage_error)?;
        let Some((changed_key, changed_value)) = changed else {
            return Ok(
                committed.map_or(RangeStep::End, |(key, value)| RangeStep::Entry(key, value))
            );
        };
        let changed_first = match &committed {
            None => true,
            Some((committed_key, _)) => match order {
                Order::Ascending => changed_key <= committed_key,
                Order::Descending => changed_key >= committed_key,
            },
        };
        Ok(match (changed_first, changed_value, committed) {
            (true, Some(value), _) => RangeStep::Entry(changed_key.clone(), value.clone()),
            (true, None, _) => RangeStep::Removed(changed_key.clone()),
            (false, _, Some((key, value))) => RangeStep::Entry(key, value),
            (false, _, None) => RangeStep::End,
        })
    }

    fn set(
        &mut self,
        _contract: &cairn_vm::Address,
        _key: &[u8],
        _value: &[u8],
    ) -> Result<(), StorageError> {
        // The VM reads through the view and returns its writes in the
        // outcome; the block applies them to `Changes`.
        Err(StorageError("the block view is read-only".into()))
    }

    fn remove(&mut self, _contract: &cairn_vm::Address, _key: &[u8]) -> Result<(), StorageError> {
        Err(StorageError("the block view is read-only".into()))
    }
}

impl Accounts for View<'_> {
    fn balance(&self, account: &cairn_vm::Address) -> Result<u128, StorageError> {
        Ok(self
            .account(&Address::from_vm(*account))
            .map_err(storage_error)?
            .balance)
    }
}

impl Contracts for View<'_> {
    fn code_hash(&self, contract: &cairn_vm::Address) -> Result<Option<CodeHash>, StorageError> {
        let address = Address::from_vm(*contract);
        if let Some(deploy) = &self.deploy
            && deploy.address == address
        {
            return Ok(Some(CodeHash(deploy.code_hash)));
        }
        Ok(self
            .contract(&address)
            .map_err(storage_error)?
            .map(|info| CodeHash(info.code_hash)))
    }

    fn code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(deploy) = &self.deploy
            && deploy.code_hash == hash.0
        {
            return Ok(Some(deploy.code.to_vec()));
        }
        if let Some(code) = self.changes.code.get(&hash.0) {
            return Ok(Some(code.clone()));
        }
        self.snapshot.code(&hash.0).map_err(storage_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BlockWrites, Store};
    use cairn_vm::testing::MemoryStorage;
    use proptest::prelude::*;

    const CONTRACT: Address = Address([9; 32]);

    fn range(start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> KeyRange {
        KeyRange { start, end }
    }

    fn bound(kind: u8, key: u8) -> Bound<Vec<u8>> {
        match kind % 3 {
            0 => Bound::Included(vec![key]),
            1 => Bound::Excluded(vec![key]),
            _ => Bound::Unbounded,
        }
    }

    /// Seeks until a live entry or the end, moving past each removed key
    /// as the VM's iterator does; returns what it found and how many
    /// removed keys it was told of.
    fn first_live(view: &View<'_>, range: &KeyRange, order: Order) -> (RangeStep, usize) {
        let mut range = range.clone();
        let mut skipped = 0;
        loop {
            match view.seek(&CONTRACT.to_vm(), &range, order).unwrap() {
                RangeStep::Removed(key) => {
                    skipped += 1;
                    match order {
                        Order::Ascending => range.start = Bound::Excluded(key),
                        Order::Descending => range.end = Bound::Excluded(key),
                    }
                }
                found => return (found, skipped),
            }
        }
    }

    #[test]
    fn each_seek_reports_one_removed_key_before_the_committed_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.init_genesis([0; 32], 0, &Changes::default()).unwrap();
        let mut writes = BlockWrites {
            head: store.head().unwrap(),
            ..BlockWrites::default()
        };
        for key in 0u8..10 {
            writes.state.push(((CONTRACT, vec![key]), Some(vec![key])));
        }
        store.commit(writes).unwrap();
        // An earlier transaction of the block removed the first eight.
        let mut block = Changes::default();
        for key in 0u8..8 {
            block.apply_writes(&[cairn_vm::StorageWrite {
                contract: CONTRACT.to_vm(),
                key: vec![key],
                value: None,
            }]);
        }
        let snapshot = store.snapshot();
        let view = View {
            snapshot: &snapshot,
            changes: &block,
            deploy: None,
        };
        let all = range(Bound::Unbounded, Bound::Unbounded);
        assert_eq!(
            view.seek(&CONTRACT.to_vm(), &all, Order::Ascending)
                .unwrap(),
            RangeStep::Removed(vec![0])
        );
        assert_eq!(
            first_live(&view, &all, Order::Ascending),
            (RangeStep::Entry(vec![8], vec![8]), 8)
        );
        assert_eq!(
            first_live(&view, &all, Order::Descending),
            (RangeStep::Entry(vec![9], vec![9]), 0)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The merged view answers range queries exactly like one in-memory
        /// map holding the committed entries with the block's changes
        /// applied.
        #[test]
        fn merged_ranges_match_a_flat_map(
            committed in proptest::collection::btree_map(0u8..32, 0u8..255, 0..16),
            changes in proptest::collection::btree_map(0u8..32, proptest::option::of(0u8..255), 0..16),
            bounds in proptest::collection::vec((0u8..3, 0u8..34, 0u8..3, 0u8..34), 8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            store.init_genesis([0; 32], 0, &Changes::default()).unwrap();
            let mut writes = BlockWrites { head: store.head().unwrap(), ..BlockWrites::default() };
            // A neighbouring contract's keys must never leak into the range.
            writes.state.push(((Address([10; 32]), vec![0]), Some(vec![1])));
            writes.state.push(((Address([8; 32]), vec![255]), Some(vec![1])));
            let mut expected = MemoryStorage::default();
            for (key, value) in &committed {
                writes.state.push(((CONTRACT, vec![*key]), Some(vec![*value])));
                expected.set(&CONTRACT.to_vm(), &[*key], &[*value]).unwrap();
            }
            store.commit(writes).unwrap();

            let mut block = Changes::default();
            for (key, value) in &changes {
                let value = value.map(|value| vec![value]);
                block.apply_writes(&[cairn_vm::StorageWrite {
                    contract: CONTRACT.to_vm(),
                    key: vec![*key],
                    value: value.clone(),
                }]);
                match value {
                    Some(value) => expected.set(&CONTRACT.to_vm(), &[*key], &value).unwrap(),
                    None => expected.remove(&CONTRACT.to_vm(), &[*key]).unwrap(),
                }
            }
            let snapshot = store.snapshot();
            let view = View { snapshot: &snapshot, changes: &block, deploy: None };
            let removed = changes.iter().filter(|(_, value)| value.is_none()).count();
            for (start_kind, start, end_kind, end) in bounds {
                let range = range(bound(start_kind, start), bound(end_kind, end));
                for order in [Order::Ascending, Order::Descending] {
                    let (first, skipped) = first_live(&view, &range, order);
                    prop_assert_eq!(
                        first,
                        expected.seek(&CONTRACT.to_vm(), &range, order).unwrap(),
                        "range {:?} {:?}", range, order
                    );
                    // Each removed key is reported once, never walked past.
                    prop_assert!(skipped <= removed);
                }
            }
        }
    }
}
