//! The state root: a Jellyfish Merkle tree over every record, and the checks
//! that the stored tree and the flat records agree with the committed root.
//!
//! The tree's leaves are keyed by `blake2b(kind ++ flat key)` and hold the
//! blake2b of the record's value, so the tree stays small while committing
//! to every byte of state. A block updates only the leaves it changed. The
//! tree's nodes live in the store ([`super::Store::tree_reader`]), which
//! prunes the nodes a version made stale once that version is old enough
//! ([`TreeWrites::stale`]); this module only hashes and checks.

use anyhow::{Context, bail};
use blake2::{Blake2b, Digest, digest::consts::U32};
use cairn_vm::blake2b_256;
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, StaleNodeIndexBatch, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
use parity_scale_codec::Encode;

use super::changes::Changes;
use super::records::{Head, state_key};
use crate::types::Hash;

/// blake2b-256 for the state tree.
#[derive(Debug, Clone, Default)]
pub struct TreeHasher(Blake2b<U32>);

impl jmt::SimpleHasher for TreeHasher {
    fn new() -> Self {
        TreeHasher(<Blake2b<U32> as Digest>::new())
    }

    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    fn finalize(self) -> [u8; 32] {
        Digest::finalize(self.0).into()
    }
}

/// Which flat table a tree leaf stands for; part of its key hash, so that
/// records of different kinds can never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    Account,
    Contract,
    Storage,
    /// The one [`ChainState`](super::ChainState) record, at [`CHAIN_KEY`].
    Chain,
}

/// The flat key of the chain's fee and supply record.
pub const CHAIN_KEY: &[u8] = b"chain";

impl LeafKind {
    /// The tree key of a record whose flat key is `key` (an address, or
    /// contract address ++ storage key).
    pub fn key_hash(self, key: &[u8]) -> KeyHash {
        let tag: &[u8] = match self {
            LeafKind::Account => b"cairn/account/",
            LeafKind::Contract => b"cairn/contract/",
            LeafKind::Storage => b"cairn/storage/",
            LeafKind::Chain => b"cairn/chain/",
        };
        let mut hasher = Blake2b::<U32>::new();
        Digest::update(&mut hasher, tag);
        Digest::update(&mut hasher, key);
        KeyHash(hasher.finalize().into())
    }
}

/// What a tree leaf holds for a record's value.
pub fn leaf_value(value: &[u8]) -> Vec<u8> {
    blake2b_256(value).to_vec()
}

/// The leaf updates a block's changes make, in key order.
pub fn updates(changes: &Changes) -> Vec<(KeyHash, Option<OwnedValue>)> {
    let mut updates = Vec::new();
    for (address, account) in &changes.accounts {
        updates.push((
            LeafKind::Account.key_hash(&address.0),
            Some(leaf_value(&account.encode())),
        ));
    }
    for (address, info) in &changes.contracts {
        updates.push((
            LeafKind::Contract.key_hash(&address.0),
            Some(leaf_value(&info.encode())),
        ));
    }
    for (contract, entries) in &changes.storage {
        for (key, value) in entries {
            updates.push((
                LeafKind::Storage.key_hash(&state_key(contract, key)),
                value.as_deref().map(leaf_value),
            ));
        }
    }
    if let Some(chain) = &changes.chain {
        updates.push((
            LeafKind::Chain.key_hash(CHAIN_KEY),
            Some(leaf_value(&chain.encode())),
        ));
    }
    updates
}

/// What one version of the tree writes: its new nodes and values, and the
/// nodes it replaced, which the store deletes once no version it keeps
/// reads them.
#[derive(Debug, Clone, Default)]
pub struct TreeWrites {
    pub nodes: NodeBatch,
    pub stale: StaleNodeIndexBatch,
}

/// Version 0 of the tree, the genesis state (its balances and the chain
/// record): its root and its nodes.
pub fn genesis(changes: &Changes) -> anyhow::Result<(Hash, TreeWrites)> {
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&ScratchTree);
    let (root, batch) = tree.put_value_set(updates(changes), 0)?;
    Ok((
        root.0,
        TreeWrites {
            nodes: batch.node_batch,
            stale: batch.stale_node_index_batch,
        },
    ))
}

/// Applies a block's changes to the tree in `reader` as `version` (the
/// block's height): the new root and what to store with the block.
pub fn apply(
    reader: &impl TreeReader,
    changes: &Changes,
    version: Version,
) -> anyhow::Result<(Hash, TreeWrites)> {
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(reader);
    let (root, update) = tree
        .put_value_set(updates(changes), version)
        .context("updating the state tree")?;
    Ok((
        root.0,
        TreeWrites {
            nodes: update.node_batch,
            stale: update.stale_node_index_batch,
        },
    ))
}

/// The stored tree's root at the head's height must be the committed root.
pub fn check_stored_root(reader: &impl TreeReader, head: &Head) -> anyhow::Result<()> {
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(reader);
    let root = tree.get_root_hash(head.height)?;
    if root.0 != head.state_root {
        bail!(
            "the state tree's root at height {} is {}, but the committed root is {}: refusing to run on inconsistent state",
            head.height,
            hex::encode(root.0),
            hex::encode(head.state_root)
        );
    }
    Ok(())
}

/// Checks the flat records, streamed one by one, against the committed
/// root: each record's leaf is proven against the root (a Merkle proof
/// from the stored tree), and the tree holds as many leaves as there are
/// records, so no record was changed, added or removed behind the tree's
/// back. Memory stays that of one proof, however large the state.
pub struct RecordCheck<'a, R: TreeReader> {
    tree: JellyfishMerkleTree<'a, R, TreeHasher>,
    head: Head,
    records: u64,
}

impl<R: TreeReader> std::fmt::Debug for RecordCheck<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCheck")
            .field("head", &self.head)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

impl<'a, R: TreeReader> RecordCheck<'a, R> {
    pub fn new(reader: &'a R, head: Head) -> Self {
        RecordCheck {
            tree: JellyfishMerkleTree::new(reader),
            head,
            records: 0,
        }
    }

    /// One record, as its leaf: its key hash and [`leaf_value`].
    pub fn record(&mut self, key: KeyHash, value: &[u8]) -> anyhow::Result<()> {
        let (_, proof) = self
            .tree
            .get_with_proof(key, self.head.height)
            .context("reading the state tree")?;
        proof
            .verify_existence(RootHash(self.head.state_root), key, value)
            .map_err(|error| {
                anyhow::anyhow!(
                    "the state does not match its root at height {}: the record of key hash {} is not in the tree ({error}); refusing to run",
                    self.head.height,
                    hex::encode(key.0)
                )
            })?;
        self.records += 1;
        Ok(())
    }

    /// After the last record: the tree must have no leaf without one.
    /// Returns the number of records.
    pub fn finish(self) -> anyhow::Result<u64> {
        let leaves = self.tree.get_leaf_count(self.head.height)?;
        if u64::try_from(leaves).ok() != Some(self.records) {
            bail!(
                "the state tree has {leaves} leaves at height {} but the state has {} records: some were removed behind the tree's back; refusing to run",
                self.head.height,
                self.records
            );
        }
        Ok(self.records)
    }
}

/// The root rebuilt in memory from every flat record's leaf must be the
/// committed root: catches state changed behind the tree's back.
pub fn check_rebuilt_root(head: &Head, leaves: &[(KeyHash, OwnedValue)]) -> anyhow::Result<()> {
    let root = rebuild_root(leaves)?;
    if root != head.state_root {
        bail!(
            "the state does not match its root at height {}: rebuilt {}, committed {}; refusing to run",
            head.height,
            hex::encode(root),
            hex::encode(head.state_root)
        );
    }
    Ok(())
}

/// The root of a tree holding exactly `leaves`.
pub fn rebuild_root(leaves: &[(KeyHash, OwnedValue)]) -> anyhow::Result<Hash> {
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&ScratchTree);
    let (root, _) = tree.put_value_set(
        leaves
            .iter()
            .map(|(key, value)| (*key, Some(value.clone()))),
        0,
    )?;
    Ok(root.0)
}

/// An empty tree in memory, for building a tree from nothing.
#[derive(Debug, Default)]
struct ScratchTree;

impl TreeReader for ScratchTree {
    fn get_node_option(&self, _: &NodeKey) -> anyhow::Result<Option<Node>> {
        // put_value_set at version 0 starts from an empty tree and keeps
        // every node it creates in its own cache.
        Ok(None)
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Account;
    use crate::types::Address;

    #[test]
    fn applying_changes_to_the_empty_tree_gives_the_rebuilt_root() {
        let mut changes = Changes::default();
        changes.accounts.insert(
            Address([1; 32]),
            Account {
                nonce: 3,
                balance: 9,
            },
        );
        changes.chain = Some(crate::state::ChainState {
            base_fee: 4,
            total_supply: 9,
            burned: 1,
        });
        changes
            .storage
            .entry(Address([2; 32]))
            .or_default()
            .insert(vec![7], Some(vec![8]));
        let (_, genesis) = genesis(&Changes::default()).unwrap();
        let reader = NodesInMemory(genesis.nodes);
        let (root, _) = apply(&reader, &changes, 1).unwrap();
        let leaves: Vec<_> = updates(&changes)
            .into_iter()
            .map(|(key, value)| (key, value.unwrap()))
            .collect();
        assert_eq!(rebuild_root(&leaves).unwrap(), root);
        let head = Head {
            height: 1,
            state_root: root,
            ..Head::default()
        };
        check_rebuilt_root(&head, &leaves).unwrap();
        let wrong = Head {
            state_root: [0; 32],
            ..head
        };
        let error = check_rebuilt_root(&wrong, &leaves).unwrap_err();
        assert!(
            error.to_string().contains("does not match its root"),
            "{error}"
        );
    }

    #[test]
    fn leaves_of_different_kinds_never_share_a_key() {
        let key = [5u8; 32];
        let hashes = [
            LeafKind::Account,
            LeafKind::Contract,
            LeafKind::Storage,
            LeafKind::Chain,
        ]
        .map(|kind| kind.key_hash(&key));
        for (index, hash) in hashes.iter().enumerate() {
            assert!(!hashes[index + 1..].contains(hash), "kind {index}");
        }
    }

    /// The nodes of one batch, as a tree reader.
    struct NodesInMemory(NodeBatch);

    impl TreeReader for NodesInMemory {
        fn get_node_option(&self, key: &NodeKey) -> anyhow::Result<Option<Node>> {
            Ok(self.0.nodes().get(key).cloned())
        }

        fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
            Ok(None)
        }

        fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
            Ok(None)
        }
    }
}
