//! The Cairn node: the VM embedded in a replicated state machine.
//!
//! Where to start reading:
//! - [`chain`]: transactions in, blocks built and verified by executing
//!   them, decided blocks committed. Everything deterministic is here and
//!   in [`state`] (the VM's view of state and the state root) and
//!   [`store`] (RocksDB).
//! - [`consensus`]: Malachite, which decides which block comes next and
//!   asks the chain through [`consensus::ConsensusHost`].
//! - [`gossip`]: the libp2p network that spreads transactions to every
//!   mempool; [`rpc`]: the JSON-RPC interface; [`node`]: how a node is
//!   configured and started.

pub mod abi;
pub mod chain;
pub mod consensus;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod genesis;
pub mod gossip;
pub mod keys;
pub mod limits;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod rpc;
pub mod state;
pub mod store;
pub mod types;

/// Logs to stderr, filtered by `RUST_LOG` (Cairn at info, the libraries'
/// chatter at warn by default).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        "info,libp2p=warn,libp2p_gossipsub=error,ractor=warn,arc_malachitebft=warn".into()
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
