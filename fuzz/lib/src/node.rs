//! The node's fuzz targets. Their oracles live in `cairn_node::fuzzing`,
//! next to the private parts they reach (stream reassembly); this module
//! gives a fuzzing process the one fixture it shares between inputs.

use std::path::Path;
use std::sync::OnceLock;

use cairn_node::fuzzing::Fixture;
pub use cairn_node::fuzzing::{consensus_messages, transaction};

const SCRATCH_PREFIX: &str = "cairn-fuzz-node-";

/// [`cairn_node::fuzzing::block`] on this process's fixture.
pub fn block(data: &[u8]) {
    cairn_node::fuzzing::block(process_fixture(), data);
}

/// [`cairn_node::fuzzing::rpc_request`] on this process's fixture.
pub fn rpc_request(data: &[u8]) {
    cairn_node::fuzzing::rpc_request(process_fixture(), data);
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
