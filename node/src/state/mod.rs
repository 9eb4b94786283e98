//! State: what every node holds identically after every block.
//!
//! - [`Account`] (nonce and balance), [`ContractInfo`], [`ChainState`]
//!   (base fee and supply), [`Head`], [`TxLocation`]: the records,
//!   SCALE-encoded in the store and hashed into the tree.
//! - [`Store`]: RocksDB, one column family per kind of record and one atomic
//!   write per committed block, which also prunes the tree's old versions;
//!   [`StateSnapshot`] reads it consistently.
//! - [`Changes`] and [`View`]: a block's changes on top of a snapshot, as the
//!   VM's `Storage` and `Contracts` see them.
//! - [`tree`]: the state root, a Jellyfish Merkle tree over every record,
//!   and the checks that the stored tree and the records agree with it.
//!
//! Nothing here knows about blocks being built, verified or decided: that is
//! [`crate::execution`] and [`crate::chain`], above.

mod changes;
mod records;
mod store;
pub mod tree;
mod view;

pub use changes::Changes;
pub use records::{Account, ChainState, ContractInfo, Head, StateWrite, TxLocation};
pub use store::{
    BlockWrites, COLUMN_FAMILIES, DEFAULT_TREE_VERSIONS_KEPT, MAX_UNDECIDED_PER_ROUND,
    MIN_TREE_VERSIONS_KEPT, StateSnapshot, Store, StoreOptions, TreeStore,
};
pub use view::{PendingDeploy, View};
