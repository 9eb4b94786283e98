//! Running the `cairn-testnet` command in the integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// `cairn-testnet --dir DIR ARGS...`, its output whatever its status.
pub(crate) fn testnet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn-testnet"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// `cairn-testnet --dir DIR ARGS...`, which must succeed; its stdout.
pub(crate) fn succeed(dir: &Path, args: &[&str]) -> String {
    let output = testnet(dir, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "cairn-testnet {args:?} failed\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Takes the network down even when the test fails.
pub(crate) struct Guard<'a>(pub(crate) &'a Path);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = testnet(self.0, &["down"]);
    }
}
