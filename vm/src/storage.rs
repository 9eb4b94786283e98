//! What the VM needs from the chain's state, and the overlays a call's
//! writes go to before anything reaches it.
//!
//! The VM only ever *reads* the embedder's state while it runs: every write
//! and every balance change lands in an [`Overlay`] layer. A call's layer
//! merges into its caller's when it succeeds and is dropped when it fails;
//! when the top-level call succeeds the remaining layer is the
//! [`Outcome`](crate::Outcome)'s list of writes and balances, and the
//! embedder applies it (the node: into its block's batch).

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::types::{Address, CodeHash, StorageWrite};

/// A failure of the embedder's state store (I/O, corruption). It is the
/// node's fault, never part of a result: execution stops with
/// [`VmError::Storage`](crate::VmError::Storage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage: {0}")]
pub struct StorageError(pub String);

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Iteration order of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// A key range within one contract's key space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_slice(&self.start), as_slice(&self.end))
    }

    /// The first entry of `entries` within the range in `order`; empty and
    /// inverted ranges (on which `BTreeMap::range` would panic) have none.
    pub fn first_in<'m, V>(
        &self,
        entries: &'m BTreeMap<Vec<u8>, V>,
        order: Order,
    ) -> Option<(&'m Vec<u8>, &'m V)> {
        if self.is_empty() {
            return None;
        }
        let mut found = entries.range::<[u8], _>(self.bounds());
        match order {
            Order::Ascending => found.next(),
            Order::Descending => found.next_back(),
        }
    }

    /// Whether the range is empty by its bounds alone.
    fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(start), Bound::Included(end)) => start > end,
            (Bound::Included(start), Bound::Excluded(end))
            | (Bound::Excluded(start), Bound::Included(end))
            | (Bound::Excluded(start), Bound::Excluded(end)) => start >= end,
            _ => false,
        }
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// What one seek into a range found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeStep {
    /// The first live entry of the range.
    Entry(Vec<u8>, Vec<u8>),
    /// A key removed on top of the stored state (by a call's own writes, or
    /// by an earlier transaction of the node's block), nearer than any live
    /// entry: it hides what is stored under it. The VM charges it as a step
    /// of the iterator and seeks again past it.
    Removed(Vec<u8>),
    /// Nothing left in the range.
    End,
}

/// Contract key-value state. Each contract has its own key space; keys and
/// values are bytes, compared bytewise.
///
/// Reads take `&self` and run during execution; writes come only from
/// [`Storage::apply`] after a successful call, so an implementation can
/// batch them (the node collects a whole block into one RocksDB batch).
pub trait Storage {
    /// The value stored under `key`, if any.
    fn get(&self, contract: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// One seek into `range` in `order` (from the smallest key for
    /// ascending, the largest for descending): the first live entry, or,
    /// if it comes first, a key the implementation holds as removed on top
    /// of its store ([`RangeStep::Removed`]). Iterators are built from these
    /// seeks, and the VM charges each as one step (`storage_next`), so an
    /// implementation must do a bounded amount of work per call: never
    /// load a whole range, never walk past removed keys itself.
    fn seek(
        &self,
        contract: &Address,
        range: &KeyRange,
        order: Order,
    ) -> Result<RangeStep, StorageError>;

    /// Stores `value` under `key`.
    fn set(&mut self, contract: &Address, key: &[u8], value: &[u8]) -> Result<(), StorageError>;

    /// Removes `key`; removing an absent key is not an error.
    fn remove(&mut self, contract: &Address, key: &[u8]) -> Result<(), StorageError>;

    /// Applies an outcome's writes in order. Override to batch them.
    fn apply(&mut self, writes: &[StorageWrite]) -> Result<(), StorageError> {
        for write in writes {
            match &write.value {
                Some(value) => self.set(&write.contract, &write.key, value)?,
                None => self.remove(&write.contract, &write.key)?,
            }
        }
        Ok(())
    }
}

/// Where deployed code lives: which code a contract runs, and the code
/// itself (only read when the artifact cache misses).
pub trait Contracts {
    /// The hash of the code `contract` runs, or `None` if no contract is
    /// deployed there.
    fn code_hash(&self, contract: &Address) -> Result<Option<CodeHash>, StorageError>;

    /// The original (uninstrumented) wasm with this hash.
    fn code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>, StorageError>;
}

/// The native token's balances: every address has one (0 if it never
/// held any), accounts and contracts alike. The VM only reads them; the
/// changes a call makes come back in its outcome.
pub trait Accounts {
    /// What `account` holds, in the token's smallest unit.
    fn balance(&self, account: &Address) -> Result<u128, StorageError>;
}

/// The view of the embedder's state that execution reads through.
pub(crate) trait StateView {
    fn get(&self, contract: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    fn seek(
        &self,
        contract: &Address,
        range: &KeyRange,
        order: Order,
    ) -> Result<RangeStep, StorageError>;
    fn code_hash(&self, contract: &Address) -> Result<Option<CodeHash>, StorageError>;
    fn code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>, StorageError>;
    fn balance(&self, account: &Address) -> Result<u128, StorageError>;
}

impl<S: Storage + Contracts + Accounts> StateView for S {
    fn get(&self, contract: &Address, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Storage::get(self, contract, key)
    }
    fn seek(
        &self,
        contract: &Address,
        range: &KeyRange,
        order: Order,
    ) -> Result<RangeStep, StorageError> {
        Storage::seek(self, contract, range, order)
    }
    fn code_hash(&self, contract: &Address) -> Result<Option<CodeHash>, StorageError> {
        Contracts::code_hash(self, contract)
    }
    fn code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>, StorageError> {
        Contracts::code(self, hash)
    }
    fn balance(&self, account: &Address) -> Result<u128, StorageError> {
        Accounts::balance(self, account)
    }
}

/// One call's pending changes: storage writes (`None` marks a removal)
/// and the new balances of the accounts it moved value between.
#[derive(Debug, Default)]
struct Layer {
    storage: BTreeMap<Address, BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    balances: BTreeMap<Address, u128>,
}

/// Why value could not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InsufficientBalance;

/// Stacked layers of pending changes over the embedder's state, one layer
/// per call in progress: a nested call's storage writes and value
/// transfers are kept or dropped together.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    layers: Vec<Layer>,
}

impl Overlay {
    pub(crate) fn push(&mut self) {
        self.layers.push(Layer::default());
    }

    /// Merges the top layer into the one below (the call succeeded).
    pub(crate) fn commit(&mut self) {
        let Some(top) = self.layers.pop() else { return };
        let Some(below) = self.layers.last_mut() else {
            self.layers.push(top);
            return;
        };
        for (contract, entries) in top.storage {
            below.storage.entry(contract).or_default().extend(entries);
        }
        below.balances.extend(top.balances);
    }

    /// Drops the top layer (the call failed).
    pub(crate) fn discard(&mut self) {
        self.layers.pop();
    }

    pub(crate) fn write(&mut self, contract: &Address, key: &[u8], value: Option<Vec<u8>>) {
        if let Some(top) = self.layers.last_mut() {
            top.storage
                .entry(*contract)
                .or_default()
                .insert(key.to_vec(), value);
        }
    }

    /// `Some(pending)` if a layer has written `key` (`Some(None)`: removed).
    fn pending(&self, contract: &Address, key: &[u8]) -> Option<Option<&Vec<u8>>> {
        self.layers
            .iter()
            .rev()
            .find_map(|layer| layer.storage.get(contract)?.get(key))
            .map(Option::as_ref)
    }

    /// What `account` holds with the pending transfers applied.
    pub(crate) fn balance(
        &self,
        base: &dyn StateView,
        account: &Address,
    ) -> Result<u128, StorageError> {
        match self
            .layers
            .iter()
            .rev()
            .find_map(|layer| layer.balances.get(account))
        {
            Some(balance) => Ok(*balance),
            None => base.balance(account),
        }
    }

    /// Moves `amount` from `from` to `to` in the top layer, if `from` holds
    /// it. Moving to oneself, or moving nothing, changes nothing.
    pub(crate) fn transfer(
        &mut self,
        base: &dyn StateView,
        from: &Address,
        to: &Address,
        amount: u128,
    ) -> Result<Result<(), InsufficientBalance>, StorageError> {
        let held = self.balance(base, from)?;
        if held < amount {
            return Ok(Err(InsufficientBalance));
        }
        if amount == 0 || from == to {
            return Ok(Ok(()));
        }
        let received = self.balance(base, to)?;
        // Balances add up to the supply, a u128: a credit cannot overflow
        // unless the embedder's state is corrupt.
        let received = received.checked_add(amount).ok_or_else(|| {
            StorageError(format!(
                "the balance of {to} overflows: the state is corrupt"
            ))
        })?;
        let Some(top) = self.layers.last_mut() else {
            return Ok(Ok(()));
        };
        top.balances.insert(*from, held - amount);
        top.balances.insert(*to, received);
        Ok(Ok(()))
    }

    pub(crate) fn get(
        &self,
        base: &dyn StateView,
        contract: &Address,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match self.pending(contract, key) {
            Some(pending) => Ok(pending.cloned()),
            None => base.get(contract, key),
        }
    }

    /// The nearest key any layer wrote within `range`, with what it wrote;
    /// upper layers win on equal keys.
    fn first_pending(
        &self,
        contract: &Address,
        range: &KeyRange,
        order: Order,
    ) -> Option<(&Vec<u8>, Option<&Vec<u8>>)> {
        let mut best: Option<(&Vec<u8>, Option<&Vec<u8>>)> = None;
        for layer in self.layers.iter().rev() {
            let Some(entries) = layer.storage.get(contract) else {
                continue;
            };
            let Some((key, value)) = range.first_in(entries, order) else {
                continue;
            };
            let nearer = match best {
                None => true,
                Some((best_key, _)) => match order {
                    Order::Ascending => key < best_key,
                    Order::Descending => key > best_key,
                },
            };
            if nearer {
                best = Some((key, value.as_ref()));
            }
        }
        best
    }

    /// One step of a merged range scan over the layers and the store: one
    /// seek of the store, whose removed keys come back as the layers' do.
    pub(crate) fn step(
        &self,
        base: &dyn StateView,
        contract: &Address,
        range: &KeyRange,
        order: Order,
    ) -> Result<RangeStep, StorageError> {
        if range.is_empty() {
            return Ok(RangeStep::End);
        }
        let pending = self.first_pending(contract, range, order);
        let stored = base.seek(contract, range, order)?;
        let stored_key = match &stored {
            RangeStep::Entry(key, _) | RangeStep::Removed(key) => Some(key),
            RangeStep::End => None,
        };
        let take_pending = match (&pending, stored_key) {
            (None, None) => return Ok(RangeStep::End),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((pending_key, _)), Some(stored_key)) => match order {
                Order::Ascending => *pending_key <= stored_key,
                Order::Descending => *pending_key >= stored_key,
            },
        };
        Ok(match pending {
            Some((key, Some(value))) if take_pending => {
                RangeStep::Entry(key.clone(), value.clone())
            }
            Some((key, None)) if take_pending => RangeStep::Removed(key.clone()),
            _ => stored,
        })
    }

    /// The single remaining layer as sorted writes and sorted balances.
    pub(crate) fn into_changes(mut self) -> (Vec<StorageWrite>, Vec<(Address, u128)>) {
        let mut writes = Vec::new();
        let Some(layer) = self.layers.pop() else {
            return (writes, Vec::new());
        };
        for (contract, entries) in layer.storage {
            for (key, value) in entries {
                writes.push(StorageWrite {
                    contract,
                    key,
                    value,
                });
            }
        }
        (writes, layer.balances.into_iter().collect())
    }
}

/// Narrows `range` to what lies beyond `key` in `order`.
pub(crate) fn advance_past(range: &mut KeyRange, key: Vec<u8>, order: Order) {
    match order {
        Order::Ascending => range.start = Bound::Excluded(key),
        Order::Descending => range.end = Bound::Excluded(key),
    }
}
