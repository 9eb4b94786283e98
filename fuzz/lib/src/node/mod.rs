//! The node's fuzz targets: what peers and clients send a node, through
//! the node's public API.
//!
//! | target | oracle | what a peer or client sends |
//! |---|---|---|
//! | `node_transaction` | [`transaction`] | a transaction, over gossip or `cairn_submitTransaction` |
//! | `node_block` | [`block`] | a proposed block, re-executed before a vote |
//! | `node_consensus` | [`consensus_messages`] | consensus, sync and proposal-stream messages |
//! | `node_rpc` | [`rpc_request`] | a JSON-RPC request |
//! | `node_supply` | [`supply`] | a block of transfers, deposits, payouts and refusals: the native token is conserved |
//!
//! The oracles are in `oracles.rs`, `consensus.rs` and `supply.rs`; this
//! module gives a fuzzing process the one fixture that `block`,
//! `rpc_request` and `supply` share between inputs.

mod consensus;
mod oracles;
mod supply;

use std::path::Path;
use std::sync::OnceLock;

pub use consensus::messages as consensus_messages;
pub use oracles::transaction;

use oracles::Fixture;

const SCRATCH_PREFIX: &str = "cairn-fuzz-node-";

/// A block proposed for height 2 on this process's fixture: it must be
/// refused as malformed or invalid (never as a local failure, which would
/// spare the proposer the blame), or accepted, and judged the same way
/// twice.
pub fn block(data: &[u8]) {
    oracles::block(process_fixture(), data);
}

/// A JSON-RPC request as a client sends it, to this process's fixture:
/// every request gets a response, and hostile parameters are the client's
/// error, never the node's.
pub fn rpc_request(data: &[u8]) {
    oracles::rpc_request(process_fixture(), data);
}

/// A block of value-moving transactions on this process's fixture: built,
/// verified to the same receipts, and conserving the native token
/// (balances lose exactly what they gain plus the fees burned, and the
/// supply falls by the burn).
pub fn supply(data: &[u8]) {
    supply::supply(process_fixture(), data);
}

/// The fixture of this process, its database in a temporary directory.
/// libFuzzer ends a process without running destructors, so the directory
/// outlives it; the first call removes those left by finished processes.
fn process_fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let temp = std::env::temp_dir();
        remove_finished_scratch(&temp);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{SCRATCH_PREFIX}{}-", std::process::id()))
            .tempdir_in(&temp)
            .expect("a temporary directory")
            .keep();
        Fixture::new(&dir)
    })
}

/// Removes `cairn-fuzz-node-<pid>-*` directories whose process is gone.
fn remove_finished_scratch(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
