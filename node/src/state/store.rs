//! RocksDB: one column family per kind of record, and one atomic
//! `WriteBatch` per committed block.
//!
//! Keys that are heights are big-endian so that RocksDB's byte order is
//! numeric order. The state lives twice, deliberately: flat (`state`,
//! `accounts`, `contracts`) for reads and ordered ranges, and as the hashes
//! of those values in a Jellyfish Merkle tree (`jmt_nodes`, `jmt_values`)
//! whose root is the state root ([`super::tree`]). Both are written by the
//! same batch.
//!
//! The tree keeps every version it is given, so a commit also prunes: the
//! nodes and values that no longer belong to the last
//! [`StoreOptions::tree_versions_kept`] versions are deleted in the same
//! batch, through an index of what each version made stale
//! (`jmt_stale`). Nothing else reads old versions: queries read the flat
//! records through a RocksDB snapshot, executions and the startup checks
//! read the tree at the head, and syncing peers replay blocks.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use parity_scale_codec::{Decode, Encode};
use rocksdb::{
    BoundColumnFamily, ColumnFamilyDescriptor, DBRawIteratorWithThreadMode, DBWithThreadMode,
    Direction, IteratorMode, MultiThreaded, Options, ReadOptions, SnapshotWithThreadMode,
    WriteBatch, WriteOptions,
};

use super::changes::Changes;
use super::records::{Account, ChainState, ContractInfo, Head, StateWrite, TxLocation, state_key};
use super::tree::{self, CHAIN_KEY, LeafKind, TreeWrites};
use crate::types::{Address, Block, Hash, Receipt, decode_exact};

type Db = DBWithThreadMode<MultiThreaded>;

pub(crate) const CF_BLOCKS: &str = "blocks";
pub(crate) const CF_BLOCK_INDEX: &str = "block_index";
pub(crate) const CF_CERTIFICATES: &str = "certificates";
pub(crate) const CF_RECEIPTS: &str = "receipts";
pub(crate) const CF_CODE: &str = "code";
pub(crate) const CF_ABI: &str = "abi";
pub(crate) const CF_STATE: &str = "state";
pub(crate) const CF_ACCOUNTS: &str = "accounts";
pub(crate) const CF_CONTRACTS: &str = "contracts";
pub(crate) const CF_JMT_NODES: &str = "jmt_nodes";
pub(crate) const CF_JMT_VALUES: &str = "jmt_values";
pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_UNDECIDED: &str = "undecided";
/// What each tree version made stale: `stale_since (u64 BE) ++ kind ++
/// key`, for pruning.
pub(crate) const CF_JMT_STALE: &str = "jmt_stale";

pub const COLUMN_FAMILIES: [&str; 14] = [
    CF_BLOCKS,
    CF_BLOCK_INDEX,
    CF_CERTIFICATES,
    CF_RECEIPTS,
    CF_CODE,
    CF_ABI,
    CF_STATE,
    CF_ACCOUNTS,
    CF_CONTRACTS,
    CF_JMT_NODES,
    CF_JMT_VALUES,
    CF_META,
    CF_UNDECIDED,
    CF_JMT_STALE,
];

/// Undecided proposals kept per height and round: the round's proposal,
/// this node's own, a synced block, with room to spare. Consensus keeps one
/// per source; this bounds what a bug there could write.
pub const MAX_UNDECIDED_PER_ROUND: u32 = 8;

const META_GENESIS: &[u8] = b"genesis";
const META_HEAD: &[u8] = b"head";
/// The [`ChainState`] record; in the tree under [`CHAIN_KEY`].
const META_CHAIN: &[u8] = b"chain_state";
const META_FORMAT: &[u8] = b"format";
/// Versions of the tree below this one are pruned.
const META_PRUNED_BELOW: &[u8] = b"tree_pruned_below";

/// The layout of the records this code reads and writes. A database of
/// another format is refused at open, not misread. Format 1 (no `format`
/// key) kept ABIs by code hash outside the state root; format 2 had
/// accounts without balances and no chain record.
const FORMAT: u32 = 3;

/// A stale tree node (by its borsh key) or value (by its `jmt_values` key).
const STALE_NODE: u8 = 0;
const STALE_VALUE: u8 = 1;

/// Roots of old versions deleted by one commit at most: a database that
/// turns pruning on late catches up over several blocks.
const MAX_ROOTS_PRUNED_PER_COMMIT: u64 = 10_000;

/// How the store keeps the state tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The tree versions kept readable, the head's included; older nodes
    /// and values are deleted as blocks commit. `None` keeps every version
    /// (an archive).
    pub tree_versions_kept: Option<u64>,
}

/// Ample for anything that reads the tree near the head.
pub const DEFAULT_TREE_VERSIONS_KEPT: u64 = 100;
/// The head and its parent: a commit prunes only what earlier commits
/// indexed, never what its own batch is writing.
pub const MIN_TREE_VERSIONS_KEPT: u64 = 2;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            tree_versions_kept: Some(DEFAULT_TREE_VERSIONS_KEPT),
        }
    }
}

/// Everything one block changes, written at once by [`Store::commit`].
#[derive(Debug, Default)]
pub struct BlockWrites {
    pub block: Option<(Block, Vec<u8>)>,
    pub certificate: Vec<u8>,
    pub receipts: Vec<(Hash, TxLocation, Receipt)>,
    /// Contract storage: `(contract, key) -> value`, `None` removes.
    pub state: Vec<StateWrite>,
    pub accounts: Vec<(Address, Account)>,
    pub contracts: Vec<(Address, ContractInfo)>,
    pub chain: Option<ChainState>,
    pub code: Vec<(Hash, Vec<u8>)>,
    /// ABIs by their hash ([`crate::state::ContractInfo::abi_hash`]).
    pub abis: Vec<(Hash, Vec<u8>)>,
    pub tree: TreeWrites,
    pub head: Head,
}

/// The node's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Db>,
    options: StoreOptions,
    faults: Arc<StoreFaults>,
}

/// Failures a test makes the store report (feature `test-utils`), to drive
/// the node's recovery paths through the real database: writes that fail,
/// and reads of one contract's storage that fail (which the VM reports as a
/// `VmError`, the node's fault).
#[derive(Debug, Default)]
struct StoreFaults {
    failing_writes: std::sync::atomic::AtomicU32,
    failing_contract: std::sync::Mutex<Option<Address>>,
}

impl StoreFaults {
    fn take_write_failure(&self) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        let failing =
            self.failing_writes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                });
        if failing.is_ok() {
            bail!("writing to the database: injected failure");
        }
        Ok(())
    }

    fn check_contract_read(&self, contract: &Address) -> anyhow::Result<()> {
        let failing = *self
            .failing_contract
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if failing == Some(*contract) {
            bail!("reading contract storage: injected failure");
        }
        Ok(())
    }
}

#[cfg(feature = "test-utils")]
impl Store {
    /// Makes the next `count` writes (block commits and stored proposals)
    /// fail, as a full or failing disk would.
    pub fn fail_next_writes(&self, count: u32) {
        self.faults
            .failing_writes
            .store(count, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes every read of `contract`'s storage fail (or none, with `None`).
    pub fn fail_storage_reads_of(&self, contract: Option<Address>) {
        *self
            .faults
            .failing_contract
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = contract;
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish()
    }
}

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

fn decode<T: Decode>(bytes: &[u8], what: &str) -> anyhow::Result<T> {
    decode_exact(bytes).map_err(|error| anyhow!("corrupt {what} record in the database: {error}"))
}

impl Store {
    /// Opens (or creates) the database at `path` with the default options.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, StoreOptions::default())
    }

    pub fn open_with(path: &Path, options: StoreOptions) -> anyhow::Result<Self> {
        if options
            .tree_versions_kept
            .is_some_and(|kept| kept < MIN_TREE_VERSIONS_KEPT)
        {
            bail!(
                "the store must keep at least {MIN_TREE_VERSIONS_KEPT} versions of the state tree"
            );
        }
        let store_options = options;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Bounded resource use on small machines and testnets of many nodes.
        options.set_max_open_files(512);
        options.increase_parallelism(2);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let families = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = Db::open_cf_descriptors(&options, path, families)
            .with_context(|| format!("opening the database at {}", path.display()))?;
        Ok(Store {
            db: Arc::new(db),
            options: store_options,
            faults: Arc::default(),
        })
    }

    fn cf(&self, name: &str) -> Arc<BoundColumnFamily<'_>> {
        self.db
            .cf_handle(name)
            .unwrap_or_else(|| panic!("column family {name} is created by Store::open"))
    }

    fn get(&self, cf: &str, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(&self.cf(cf), key)?)
    }

    /// The genesis hash the database was created with.
    pub fn genesis_hash(&self) -> anyhow::Result<Option<Hash>> {
        self.get(CF_META, META_GENESIS)?
            .map(|bytes| decode(&bytes, "genesis"))
            .transpose()
    }

    /// Initialises an empty database for a genesis with its initial state
    /// (the funded accounts and the chain record), or checks that an
    /// existing one belongs to it.
    pub fn init_genesis(
        &self,
        genesis_hash: Hash,
        genesis_time_ms: u64,
        state: &Changes,
    ) -> anyhow::Result<Head> {
        if let Some(stored) = self.genesis_hash()? {
            if stored != genesis_hash {
                bail!(
                    "the database belongs to genesis {}, not {}: use another home directory",
                    hex::encode(stored),
                    hex::encode(genesis_hash)
                );
            }
            let format = self
                .get(CF_META, META_FORMAT)?
                .map(|bytes| decode::<u32>(&bytes, "format"))
                .transpose()?
                .unwrap_or(1);
            if format != FORMAT {
                bail!(
                    "the database at {} is in format {format}, written by another version of Cairn; this node reads format {FORMAT}: move the data directory away and let the node resync from its peers",
                    self.db.path().display()
                );
            }
            return self.head();
        }
        // Version 0 of the tree is the genesis state.
        if !state.storage.is_empty() || !state.contracts.is_empty() || !state.code.is_empty() {
            bail!("a genesis state holds accounts and the chain record only");
        }
        let (root, batch) = tree::genesis(state)?;
        let head = Head {
            height: 0,
            block_hash: genesis_hash,
            state_root: root,
            time_ms: genesis_time_ms,
        };
        let mut write = WriteBatch::default();
        write.put_cf(&self.cf(CF_META), META_GENESIS, genesis_hash.encode());
        write.put_cf(&self.cf(CF_META), META_FORMAT, FORMAT.encode());
        write.put_cf(&self.cf(CF_META), META_HEAD, head.encode());
        for (address, account) in &state.accounts {
            write.put_cf(&self.cf(CF_ACCOUNTS), address.0, account.encode());
        }
        if let Some(chain) = &state.chain {
            write.put_cf(&self.cf(CF_META), META_CHAIN, chain.encode());
        }
        self.put_tree(&mut write, &batch)?;
        self.write(write)?;
        Ok(head)
    }

    pub fn head(&self) -> anyhow::Result<Head> {
        self.get(CF_META, META_HEAD)?
            .map(|bytes| decode(&bytes, "head"))
            .transpose()?
            .ok_or_else(|| anyhow!("the database has no genesis"))
    }

    pub fn block(&self, height: u64) -> anyhow::Result<Option<Block>> {
        self.block_bytes(height)?
            .map(|bytes| decode(&bytes, "block"))
            .transpose()
    }

    pub fn block_bytes(&self, height: u64) -> anyhow::Result<Option<Vec<u8>>> {
        self.get(CF_BLOCKS, &height_key(height))
    }

    pub fn block_height(&self, hash: &Hash) -> anyhow::Result<Option<u64>> {
        self.get(CF_BLOCK_INDEX, hash)?
            .map(|bytes| decode(&bytes, "block index"))
            .transpose()
    }

    pub fn certificate(&self, height: u64) -> anyhow::Result<Option<Vec<u8>>> {
        self.get(CF_CERTIFICATES, &height_key(height))
    }

    /// The lowest height with a stored block (blocks are never pruned yet).
    pub fn earliest_height(&self) -> anyhow::Result<u64> {
        let mut iter = self
            .db
            .iterator_cf(&self.cf(CF_BLOCKS), IteratorMode::Start);
        match iter.next().transpose()? {
            Some((key, _)) => Ok(u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| anyhow!("corrupt block key"))?,
            )),
            None => Ok(1),
        }
    }

    pub fn receipt(&self, tx_hash: &Hash) -> anyhow::Result<Option<(TxLocation, Receipt)>> {
        self.get(CF_RECEIPTS, tx_hash)?
            .map(|bytes| decode(&bytes, "receipt"))
            .transpose()
    }

    pub fn code(&self, hash: &Hash) -> anyhow::Result<Option<Vec<u8>>> {
        self.get(CF_CODE, hash)
    }

    /// An ABI by its hash.
    pub fn abi(&self, hash: &Hash) -> anyhow::Result<Option<Vec<u8>>> {
        self.get(CF_ABI, hash)
    }

    pub fn snapshot(&self) -> StateSnapshot<'_> {
        StateSnapshot {
            store: self,
            snapshot: self.db.snapshot(),
        }
    }

    /// Stores an undecided proposal's record, durably (synced) before it
    /// returns: consensus may vote for the block as soon as it hears of
    /// it, and must find it again after a crash. At most
    /// [`MAX_UNDECIDED_PER_ROUND`] records per height and round.
    pub fn store_undecided(&self, height: u64, round: u32, record: &[u8]) -> anyhow::Result<()> {
        // Records of one round keep their arrival order through a sequence
        // number: the next free one after the last stored.
        let prefix = undecided_prefix(height, round);
        let mut sequence = 0u32;
        let mut upper = prefix.to_vec();
        upper.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut iter = self.db.iterator_cf(
            &self.cf(CF_UNDECIDED),
            IteratorMode::From(&upper, Direction::Reverse),
        );
        if let Some((key, _)) = iter.next().transpose()?
            && key.starts_with(&prefix)
        {
            let last = u32::from_be_bytes(key[12..16].try_into()?);
            sequence = last
                .checked_add(1)
                .ok_or_else(|| anyhow!("too many proposals"))?;
        }
        if sequence >= MAX_UNDECIDED_PER_ROUND {
            bail!("{sequence} proposals are stored for height {height}, round {round} already");
        }
        let mut key = prefix.to_vec();
        key.extend_from_slice(&sequence.to_be_bytes());
        let mut batch = WriteBatch::default();
        batch.put_cf(&self.cf(CF_UNDECIDED), key, record);
        self.write(batch)
    }

    /// The records of `height` and `round`, in the order they were stored.
    pub fn undecided(&self, height: u64, round: u32) -> anyhow::Result<Vec<Vec<u8>>> {
        self.undecided_with_prefix(&undecided_prefix(height, round))
    }

    /// Every record of `height`, by round, then in the order stored.
    pub fn undecided_at(&self, height: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        self.undecided_with_prefix(&height.to_be_bytes())
    }

    fn undecided_with_prefix(&self, prefix: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut records = Vec::new();
        let iter = self.db.iterator_cf(
            &self.cf(CF_UNDECIDED),
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            records.push(value.to_vec());
        }
        Ok(records)
    }

    /// Commits a block and everything it changed, atomically and durably.
    pub fn commit(&self, writes: BlockWrites) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        let head = writes.head;
        if let Some((block, bytes)) = &writes.block {
            let height = block.header.height;
            batch.put_cf(&self.cf(CF_BLOCKS), height_key(height), bytes);
            batch.put_cf(&self.cf(CF_BLOCK_INDEX), block.hash(), height.encode());
            batch.put_cf(
                &self.cf(CF_CERTIFICATES),
                height_key(height),
                &writes.certificate,
            );
        }
        for (tx_hash, location, receipt) in &writes.receipts {
            batch.put_cf(&self.cf(CF_RECEIPTS), tx_hash, (location, receipt).encode());
        }
        let state = self.cf(CF_STATE);
        for ((contract, key), value) in &writes.state {
            let key = state_key(contract, key);
            match value {
                Some(value) => batch.put_cf(&state, key, value),
                None => batch.delete_cf(&state, key),
            }
        }
        for (address, account) in &writes.accounts {
            batch.put_cf(&self.cf(CF_ACCOUNTS), address.0, account.encode());
        }
        for (address, info) in &writes.contracts {
            batch.put_cf(&self.cf(CF_CONTRACTS), address.0, info.encode());
        }
        if let Some(chain) = &writes.chain {
            batch.put_cf(&self.cf(CF_META), META_CHAIN, chain.encode());
        }
        for (hash, code) in &writes.code {
            batch.put_cf(&self.cf(CF_CODE), hash, code);
        }
        for (hash, abi) in &writes.abis {
            batch.put_cf(&self.cf(CF_ABI), hash, abi);
        }
        self.put_tree(&mut batch, &writes.tree)?;
        if let Some(kept) = self.options.tree_versions_kept {
            self.prune_tree(&mut batch, head.height, kept)?;
        }
        batch.put_cf(&self.cf(CF_META), META_HEAD, head.encode());
        // Proposals of this height and below can never be needed again.
        let end = undecided_prefix(head.height.saturating_add(1), 0);
        batch.delete_range_cf(&self.cf(CF_UNDECIDED), [0u8; 12], end);
        self.write(batch)
    }

    /// The tree's new nodes and values, and the index of what they make
    /// stale.
    fn put_tree(&self, batch: &mut WriteBatch, tree: &TreeWrites) -> anyhow::Result<()> {
        let nodes = self.cf(CF_JMT_NODES);
        for (key, node) in tree.nodes.nodes() {
            batch.put_cf(&nodes, borsh::to_vec(key)?, borsh::to_vec(node)?);
        }
        let stale = self.cf(CF_JMT_STALE);
        for index in &tree.stale {
            let key = borsh::to_vec(&index.node_key)?;
            batch.put_cf(
                &stale,
                stale_key(index.stale_since_version, STALE_NODE, &key),
                [],
            );
        }
        let values = self.cf(CF_JMT_VALUES);
        // One iterator for every lookup: making one costs more than a seek.
        let mut earlier_values = self.db.raw_iterator_cf(&values);
        for ((version, key_hash), value) in tree.nodes.values() {
            batch.put_cf(&values, tree_value_key(key_hash, *version), value.encode());
            // The key's earlier value is read by versions before this one
            // only; a deletion's marker, once no version before it is
            // kept, by nobody.
            if let Some(earlier) = value_version_before(&mut earlier_values, key_hash, *version)? {
                batch.put_cf(
                    &stale,
                    stale_key(*version, STALE_VALUE, &tree_value_key(key_hash, earlier)),
                    [],
                );
            }
            if value.is_none() {
                batch.put_cf(
                    &stale,
                    stale_key(*version, STALE_VALUE, &tree_value_key(key_hash, *version)),
                    [],
                );
            }
        }
        Ok(())
    }

    /// Deletes, in `batch`, every tree node and value that only versions
    /// older than the last `kept` up to `version` read.
    fn prune_tree(
        &self,
        batch: &mut WriteBatch,
        version: Version,
        kept: u64,
    ) -> anyhow::Result<()> {
        // Versions oldest..=version stay readable.
        let Some(oldest) = (version + 1).checked_sub(kept) else {
            return Ok(());
        };
        let pruned_below = self
            .get(CF_META, META_PRUNED_BELOW)?
            .map(|bytes| decode::<u64>(&bytes, "pruning mark"))
            .transpose()?
            .unwrap_or(0);
        if oldest <= pruned_below {
            return Ok(());
        }
        // What became stale at a version up to `oldest` is in no version
        // from `oldest` on.
        let (from, to) = (stale_prefix(pruned_below), stale_prefix(oldest + 1));
        let stale = self.cf(CF_JMT_STALE);
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(from.to_vec());
        options.set_iterate_upper_bound(to.to_vec());
        let (nodes, values) = (self.cf(CF_JMT_NODES), self.cf(CF_JMT_VALUES));
        for item in self
            .db
            .iterator_cf_opt(&stale, options, IteratorMode::Start)
        {
            let (key, _) = item?;
            match key.get(8) {
                Some(&STALE_NODE) => batch.delete_cf(&nodes, &key[9..]),
                Some(&STALE_VALUE) => batch.delete_cf(&values, &key[9..]),
                _ => bail!("corrupt stale tree index entry in the database"),
            }
        }
        batch.delete_range_cf(&stale, from, to);
        // A version that changed nothing copied its parent's root without
        // marking it stale: old roots go by version.
        let roots_from = pruned_below.max(oldest.saturating_sub(MAX_ROOTS_PRUNED_PER_COMMIT));
        for old in roots_from..oldest {
            batch.delete_cf(&nodes, root_node_key(old)?);
        }
        batch.put_cf(&self.cf(CF_META), META_PRUNED_BELOW, oldest.encode());
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> anyhow::Result<()> {
        self.faults.take_write_failure()?;
        let mut options = WriteOptions::default();
        // A committed block survives power loss, not only a killed process.
        options.set_sync(true);
        self.db
            .write_opt(batch, &options)
            .context("writing to the database")
    }

    pub(crate) fn tree_reader(&self) -> TreeStore<'_> {
        TreeStore { store: self }
    }
}

fn undecided_prefix(height: u64, round: u32) -> [u8; 12] {
    let mut prefix = [0u8; 12];
    prefix[..8].copy_from_slice(&height.to_be_bytes());
    prefix[8..].copy_from_slice(&round.to_be_bytes());
    prefix
}

/// The stored key of `version`'s root node. jmt keeps the constructor of a
/// root's `NodeKey` to itself; its borsh form is the version, then an empty
/// nibble path (no nibbles, no bytes), which decoding checks (and a test
/// against the roots jmt writes).
fn root_node_key(version: Version) -> anyhow::Result<Vec<u8>> {
    let bytes = borsh::to_vec(&(version, 0u64, Vec::<u8>::new()))?;
    let key: NodeKey = borsh::from_slice(&bytes).context("encoding a root's tree key")?;
    if key.version() != version || !key.nibble_path().is_empty() {
        bail!("jmt's tree keys changed their encoding");
    }
    Ok(bytes)
}

fn stale_prefix(since: Version) -> [u8; 8] {
    since.to_be_bytes()
}

fn stale_key(since: Version, kind: u8, key: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(9 + key.len());
    bytes.extend_from_slice(&stale_prefix(since));
    bytes.push(kind);
    bytes.extend_from_slice(key);
    bytes
}

/// The latest version below `version` at which `key_hash` has a value
/// entry (or a deletion marker), found with `values`, an iterator over the
/// tree's values.
fn value_version_before(
    values: &mut DBRawIteratorWithThreadMode<'_, Db>,
    key_hash: &KeyHash,
    version: Version,
) -> anyhow::Result<Option<Version>> {
    let Some(before) = version.checked_sub(1) else {
        return Ok(None);
    };
    values.seek_for_prev(tree_value_key(key_hash, before));
    values.status()?;
    Ok(match values.key() {
        Some(key) if key.len() == 40 && key.starts_with(&key_hash.0) => {
            Some(u64::from_be_bytes(key[32..].try_into()?))
        }
        _ => None,
    })
}

fn tree_value_key(key_hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&key_hash.0);
    key[32..].copy_from_slice(&version.to_be_bytes());
    key
}

/// The Jellyfish Merkle tree's view of the database.
#[derive(Debug)]
pub struct TreeStore<'a> {
    store: &'a Store,
}

impl TreeReader for TreeStore<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.store
            .get(CF_JMT_NODES, &borsh::to_vec(node_key)?)?
            .map(|bytes| borsh::from_slice(&bytes).context("corrupt tree node"))
            .transpose()
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let cf = self.store.cf(CF_JMT_VALUES);
        let mut iter = self.store.db.raw_iterator_cf(&cf);
        iter.seek_for_prev(tree_value_key(&key_hash, max_version));
        iter.status()?;
        match (iter.key(), iter.value()) {
            (Some(key), Some(value)) if key.starts_with(&key_hash.0) => {
                decode::<Option<Vec<u8>>>(value, "tree value")
            }
            _ => Ok(None),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only jmt's chunked restore and its "migration" feature ask for
        // this; Cairn syncs by replaying blocks instead.
        bail!("restoring a state tree from chunks is not supported")
    }
}

/// A consistent view of the committed state: reads made through one
/// snapshot never mix two blocks, however long they take.
pub struct StateSnapshot<'a> {
    store: &'a Store,
    snapshot: SnapshotWithThreadMode<'a, Db>,
}

impl std::fmt::Debug for StateSnapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSnapshot").finish_non_exhaustive()
    }
}

impl StateSnapshot<'_> {
    fn get(&self, cf: &str, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.snapshot.get_cf(&self.store.cf(cf), key)?)
    }

    pub fn head(&self) -> anyhow::Result<Head> {
        self.get(CF_META, META_HEAD)?
            .map(|bytes| decode(&bytes, "head"))
            .transpose()?
            .ok_or_else(|| anyhow!("the database has no genesis"))
    }

    pub fn account(&self, address: &Address) -> anyhow::Result<Account> {
        Ok(self
            .get(CF_ACCOUNTS, &address.0)?
            .map(|bytes| decode(&bytes, "account"))
            .transpose()?
            .unwrap_or_default())
    }

    pub fn contract(&self, address: &Address) -> anyhow::Result<Option<ContractInfo>> {
        self.get(CF_CONTRACTS, &address.0)?
            .map(|bytes| decode(&bytes, "contract"))
            .transpose()
    }

    /// The base fee of the next block and the token's supply.
    pub fn chain_state(&self) -> anyhow::Result<ChainState> {
        self.get(CF_META, META_CHAIN)?
            .map(|bytes| decode(&bytes, "chain state"))
            .transpose()?
            .ok_or_else(|| anyhow!("the database has no chain state record"))
    }

    /// Calls `visit` with every account record, in address order.
    pub fn for_each_account(&self, mut visit: impl FnMut(Address, Account)) -> anyhow::Result<()> {
        let mut options = ReadOptions::default();
        options.set_snapshot(&self.snapshot);
        let iter = self.store.db.iterator_cf_opt(
            &self.store.cf(CF_ACCOUNTS),
            options,
            IteratorMode::Start,
        );
        for item in iter {
            let (key, value) = item?;
            let address = Address(
                key.as_ref()
                    .try_into()
                    .map_err(|_| anyhow!("corrupt account key in the database"))?,
            );
            visit(address, decode(&value, "account")?);
        }
        Ok(())
    }

    pub fn code(&self, hash: &Hash) -> anyhow::Result<Option<Vec<u8>>> {
        self.get(CF_CODE, hash)
    }

    /// An ABI by its hash.
    pub fn abi(&self, hash: &Hash) -> anyhow::Result<Option<Vec<u8>>> {
        self.get(CF_ABI, hash)
    }

    /// The state tree, read at this snapshot's head. Tree nodes are
    /// written once per version and removed only when that version falls
    /// out of the kept window, so reading them from the live database sees
    /// what the snapshot would while the head is kept (commits, which
    /// prune, are serialised with the executions that read the tree).
    pub fn tree_reader(&self) -> TreeStore<'_> {
        self.store.tree_reader()
    }

    pub fn storage(&self, contract: &Address, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        self.store.faults.check_contract_read(contract)?;
        self.get(CF_STATE, &state_key(contract, key))
    }

    /// Calls `visit` with the contract's stored entries from `from` (a full
    /// state key) in `direction`, until it returns false. Entries of other
    /// contracts end the walk.
    pub fn walk_storage(
        &self,
        contract: &Address,
        from: &[u8],
        forward: bool,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> anyhow::Result<()> {
        self.store.faults.check_contract_read(contract)?;
        let mut options = ReadOptions::default();
        options.set_snapshot(&self.snapshot);
        let cf = self.store.cf(CF_STATE);
        let mut iter = self.store.db.raw_iterator_cf_opt(&cf, options);
        if forward {
            iter.seek(from);
        } else {
            iter.seek_for_prev(from);
        }
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !key.starts_with(&contract.0) || !visit(&key[32..], value) {
                break;
            }
            if forward {
                iter.next();
            } else {
                iter.prev();
            }
        }
        iter.status()?;
        Ok(())
    }

    /// Checks every flat record against this snapshot's committed root,
    /// one at a time ([`tree::RecordCheck`]); returns the number of
    /// records. Memory does not grow with the state.
    pub fn check_records(&self) -> anyhow::Result<u64> {
        let reader = self.tree_reader();
        let mut check = tree::RecordCheck::new(&reader, self.head()?);
        self.for_each_state_leaf(|key, value| check.record(key, &value))?;
        check.finish()
    }

    /// Every flat state record, as the `(key hash, value)` leaves of the
    /// state tree, one at a time; for the startup check. Stops at the
    /// first error `visit` returns.
    pub fn for_each_state_leaf(
        &self,
        mut visit: impl FnMut(KeyHash, Vec<u8>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for (cf, kind) in [
            (CF_ACCOUNTS, LeafKind::Account),
            (CF_CONTRACTS, LeafKind::Contract),
            (CF_STATE, LeafKind::Storage),
        ] {
            let mut options = ReadOptions::default();
            options.set_snapshot(&self.snapshot);
            let iter =
                self.store
                    .db
                    .iterator_cf_opt(&self.store.cf(cf), options, IteratorMode::Start);
            for item in iter {
                let (key, value) = item?;
                visit(kind.key_hash(&key), tree::leaf_value(&value))?;
            }
        }
        if let Some(chain) = self.get(CF_META, META_CHAIN)? {
            visit(
                LeafKind::Chain.key_hash(CHAIN_KEY),
                tree::leaf_value(&chain),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecided_records_keep_order_and_are_pruned_by_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.init_genesis([1; 32], 0, &Changes::default()).unwrap();
        store.store_undecided(1, 0, b"a").unwrap();
        store.store_undecided(1, 0, b"b").unwrap();
        store.store_undecided(1, 1, b"c").unwrap();
        store.store_undecided(2, 0, b"d").unwrap();
        assert_eq!(
            store.undecided(1, 0).unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(store.undecided(1, 1).unwrap(), vec![b"c".to_vec()]);
        assert_eq!(
            store.undecided_at(1).unwrap(),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );

        let mut head = store.head().unwrap();
        head.height = 1;
        store
            .commit(BlockWrites {
                head,
                ..BlockWrites::default()
            })
            .unwrap();
        assert!(store.undecided(1, 0).unwrap().is_empty());
        assert!(store.undecided(1, 1).unwrap().is_empty());
        assert_eq!(store.undecided(2, 0).unwrap(), vec![b"d".to_vec()]);
    }

    use crate::state::{Account, Changes};

    /// Commits blocks `from..=to` that overwrite the same records: sixteen
    /// accounts, and a storage entry deleted and written again. Every
    /// fourth block changes nothing.
    fn overwrite(store: &Store, from: u64, to: u64) {
        for version in from..=to {
            let mut changes = Changes::default();
            if version % 4 != 0 {
                for seed in 0..16u8 {
                    changes.accounts.insert(
                        Address([seed; 32]),
                        Account {
                            nonce: version,
                            balance: 0,
                        },
                    );
                }
                let value = (version % 4 != 1).then(|| version.to_le_bytes().to_vec());
                changes
                    .storage
                    .entry(Address([99; 32]))
                    .or_default()
                    .insert(b"key".to_vec(), value);
            }
            let (root, tree) = tree::apply(&store.tree_reader(), &changes, version).unwrap();
            let head = Head {
                height: version,
                state_root: root,
                ..store.head().unwrap()
            };
            let state = changes
                .storage
                .into_iter()
                .flat_map(|(contract, entries)| {
                    entries
                        .into_iter()
                        .map(move |(key, value)| ((contract, key), value))
                })
                .collect();
            store
                .commit(BlockWrites {
                    state,
                    accounts: changes.accounts.into_iter().collect(),
                    tree,
                    head,
                    ..BlockWrites::default()
                })
                .unwrap();
        }
    }

    /// Entries of the tree's column families: what pruning keeps bounded.
    fn tree_entries(store: &Store) -> usize {
        [CF_JMT_NODES, CF_JMT_VALUES, CF_JMT_STALE]
            .iter()
            .map(|cf| {
                store
                    .db
                    .iterator_cf(&store.cf(cf), IteratorMode::Start)
                    .count()
            })
            .sum()
    }

    #[test]
    fn the_tree_stops_growing_under_overwrites_and_its_head_still_checks() {
        let kept = 8;
        let (pruned_dir, archive_dir) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let pruned = Store::open_with(
            pruned_dir.path(),
            StoreOptions {
                tree_versions_kept: Some(kept),
            },
        )
        .unwrap();
        let archive = Store::open_with(
            archive_dir.path(),
            StoreOptions {
                tree_versions_kept: None,
            },
        )
        .unwrap();
        for store in [&pruned, &archive] {
            store.init_genesis([1; 32], 0, &Changes::default()).unwrap();
        }

        overwrite(&pruned, 1, 52);
        overwrite(&archive, 1, 52);
        let (pruned_at_52, archive_at_52) = (tree_entries(&pruned), tree_entries(&archive));
        overwrite(&pruned, 53, 100);
        overwrite(&archive, 53, 100);
        // Same records, same point of the pattern: the pruned tree is the
        // same size; the archive kept every version.
        assert_eq!(tree_entries(&pruned), pruned_at_52);
        assert!(
            tree_entries(&archive) > archive_at_52 + 200,
            "{} then {}",
            archive_at_52,
            tree_entries(&archive)
        );
        assert_eq!(
            pruned.head().unwrap().state_root,
            archive.head().unwrap().state_root
        );

        // The kept versions read whole, the head proves every record, and
        // what fell out of the window is gone.
        let reader = pruned.tree_reader();
        let tree = jmt::JellyfishMerkleTree::<_, tree::TreeHasher>::new(&reader);
        let oldest = 100 + 1 - kept;
        for version in oldest..=100 {
            let root = tree.get_root_hash(version).unwrap();
            let expected =
                jmt::JellyfishMerkleTree::<_, tree::TreeHasher>::new(&archive.tree_reader())
                    .get_root_hash(version)
                    .unwrap();
            assert_eq!(root, expected, "version {version}");
            for seed in 0..16u8 {
                let key = LeafKind::Account.key_hash(&[seed; 32]);
                assert_eq!(
                    tree.get(key, version).unwrap(),
                    jmt::JellyfishMerkleTree::<_, tree::TreeHasher>::new(&archive.tree_reader())
                        .get(key, version)
                        .unwrap(),
                    "version {version}"
                );
            }
        }
        assert!(tree.get_root_hash(oldest - 1).is_err());
        assert_eq!(pruned.snapshot().check_records().unwrap(), 17);
        tree::check_stored_root(&reader, &pruned.head().unwrap()).unwrap();
    }

    #[test]
    fn root_keys_are_the_ones_jmt_writes() {
        let (_, genesis) = tree::genesis(&Changes::default()).unwrap();
        let mut changes = Changes::default();
        changes.accounts.insert(
            Address([1; 32]),
            Account {
                nonce: 1,
                balance: 0,
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.init_genesis([1; 32], 0, &Changes::default()).unwrap();
        let (_, seven) = tree::apply(&store.tree_reader(), &changes, 1).unwrap();
        for (version, writes) in [(0, genesis), (1, seven)] {
            let roots: Vec<_> = writes
                .nodes
                .nodes()
                .keys()
                .filter(|key| key.nibble_path().is_empty())
                .map(|key| borsh::to_vec(key).unwrap())
                .collect();
            assert_eq!(roots, [root_node_key(version).unwrap()]);
        }
    }

    #[test]
    fn a_store_keeps_at_least_two_versions() {
        let dir = tempfile::tempdir().unwrap();
        let error = Store::open_with(
            dir.path(),
            StoreOptions {
                tree_versions_kept: Some(1),
            },
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("at least 2"), "{error}");
    }

    #[test]
    fn a_database_of_another_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.init_genesis([1; 32], 0, &Changes::default()).unwrap();
            // What a database of the first format looks like.
            store.db.delete_cf(&store.cf(CF_META), META_FORMAT).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let error = store
            .init_genesis([1; 32], 0, &Changes::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("format 1"), "{error}");
        assert!(error.contains("resync"), "{error}");
    }

    #[test]
    fn undecided_records_are_bounded_per_round() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.init_genesis([1; 32], 0, &Changes::default()).unwrap();
        for _ in 0..MAX_UNDECIDED_PER_ROUND {
            store.store_undecided(1, 0, b"r").unwrap();
        }
        assert!(store.store_undecided(1, 0, b"r").is_err());
        store.store_undecided(1, 1, b"r").unwrap();
    }

    #[test]
    fn the_genesis_state_is_readable_and_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut state = Changes::default();
        let funded = Account {
            nonce: 0,
            balance: 7,
        };
        state.accounts.insert(Address([3; 32]), funded);
        let chain = ChainState {
            base_fee: 2,
            total_supply: 7,
            burned: 0,
        };
        state.chain = Some(chain);
        let head = store.init_genesis([1; 32], 0, &state).unwrap();
        let snapshot = store.snapshot();
        assert_eq!(snapshot.account(&Address([3; 32])).unwrap(), funded);
        assert_eq!(snapshot.chain_state().unwrap(), chain);
        let mut accounts = Vec::new();
        snapshot
            .for_each_account(|address, account| accounts.push((address, account)))
            .unwrap();
        assert_eq!(accounts, [(Address([3; 32]), funded)]);
        let mut leaves = Vec::new();
        snapshot
            .for_each_state_leaf(|key, value| {
                leaves.push((key, value));
                Ok(())
            })
            .unwrap();
        assert_eq!(leaves.len(), 2);
        tree::check_rebuilt_root(&head, &leaves).unwrap();
        tree::check_stored_root(&store.tree_reader(), &head).unwrap();
        // Contracts and storage are made by deploys, never by a genesis.
        let mut storage = Changes::default();
        storage.apply_writes(&[cairn_vm::StorageWrite {
            contract: cairn_vm::Address([1; 32]),
            key: vec![1],
            value: Some(vec![2]),
        }]);
        let other = tempfile::tempdir().unwrap();
        assert!(
            Store::open(other.path())
                .unwrap()
                .init_genesis([1; 32], 0, &storage)
                .is_err()
        );
    }

    #[test]
    fn a_database_refuses_another_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.init_genesis([1; 32], 0, &Changes::default()).unwrap();
        store.init_genesis([1; 32], 0, &Changes::default()).unwrap();
        let error = store
            .init_genesis([2; 32], 0, &Changes::default())
            .unwrap_err();
        assert!(error.to_string().contains("belongs to genesis"));
    }
}
