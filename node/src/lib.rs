//! The Cairn node: the VM embedded in a replicated state machine.
//!
//! # Where to start reading
//!
//! The modules are layers; each imports only the layers below it (the tests
//! in `layers.rs` read the sources and fail on an import upwards, and on a
//! cycle between the files of a folder). From the bottom:
//!
//! | layer | what it owns |
//! |---|---|
//! | [`types`], [`limits`], [`genesis`], [`keys`], [`abi`], [`background`], [`faults`] | chain types and their encodings, limits, the genesis file, keys, the contract ABI; the threads that yield to consensus; the faults tests inject into real node processes |
//! | [`metrics`] | the node's Prometheus metrics |
//! | [`state`] | RocksDB ([`state::Store`]), the view the VM's `Storage` reads ([`state::View`]), and the state root with its checks ([`state::tree`]) |
//! | [`execution`] | a block's state transition: transactions through the VM on a snapshot, to receipts, changes and the new root; the stateless admission check |
//! | [`chain`] | the state machine: open, build, verify (check by check), commit, queries, the mempool, and [`chain::ConsensusHost`], what consensus asks of it |
//! | [`net`] | transaction gossip and the peers' status |
//! | [`consensus`] | Malachite, which decides which block comes next and asks the chain through [`chain::ConsensusHost`] |
//! | [`rpc`] | the JSON-RPC interface |
//! | [`config`] | the configuration file, and testnet homes |
//! | [`node`] | assembly: opens the chain and starts gossip, RPC, metrics and consensus |
//!
//! What each layer imports (the `types` layer is `types`, `limits`,
//! `genesis`, `keys`, `abi`, `background` and `faults`):
//!
//! ```text
//! metrics    -> types
//! state      -> types
//! execution  -> state, types
//! chain      -> execution, state, metrics, types
//! net        -> chain, types
//! consensus  -> net, chain, metrics, types
//! rpc        -> net, chain, types
//! config     -> rpc, net, chain, state, types
//! node       -> config, rpc, consensus, net, chain, metrics, types
//! test_utils -> chain, state, metrics, types
//! ```
//!
//! Everything deterministic, the part every node must compute identically,
//! is in [`state`] and [`execution`]; `node/tests/execution.rs` runs blocks
//! through them with no node around.
//!
//! # Test fixtures
//!
//! With the `test-utils` feature, `test_utils` has what this crate's
//! tests and benchmarks and `cairn-fuzz` share: keys, a genesis, signed
//! transactions, chains in a temporary directory and the step that commits
//! a block.

pub mod abi;
pub mod background;
pub mod chain;
pub mod config;
pub mod consensus;
pub mod execution;
pub mod faults;
pub mod genesis;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod node;
pub mod rpc;
pub mod state;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod types;

/// Logs to stderr, filtered by `RUST_LOG` (Cairn at info, the libraries'
/// chatter at warn by default).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        "info,libp2p=warn,libp2p_gossipsub=error,ractor=warn,arc_malachitebft=warn".into()
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

#[cfg(test)]
mod layers;
