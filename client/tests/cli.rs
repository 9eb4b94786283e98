//! The `cairn` binary's commands that need no node: key files, and
//! arguments refused before anything is sent.

use std::process::{Command, Output};

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        // Nothing listens here: a command that reached the network would
        // fail with a connection error, not the one asserted.
        .args(["--rpc", "http://127.0.0.1:9"])
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_new_key_shows_the_address_it_was_created_with() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alice.json");
    let file = file.to_str().unwrap();
    let created: serde_json::Value =
        serde_json::from_str(&stdout(&cairn(&["--json", "keys", "new", file]))).unwrap();
    let address = created["address"].as_str().unwrap().to_owned();
    assert_eq!(address.len(), 64);
    assert_eq!(stdout(&cairn(&["keys", "show", file])).trim(), address);
    let key = cairn_types::keys::load(file.as_ref()).unwrap();
    assert_eq!(cairn_types::keys::address(&key).to_string(), address);

    // A second key into the same file is refused, and the first survives.
    let again = cairn(&["keys", "new", file]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(stdout(&cairn(&["keys", "show", file])).trim(), address);
}

#[test]
fn bad_hashes_and_addresses_are_refused_before_anything_is_sent() {
    for args in [
        &["receipt", "0x1234"][..],
        &["account", "not-hex"],
        &["balance", "not-hex"],
        &["contract", "abcd"],
        &["block", "zz"],
    ] {
        let output = cairn(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("32 expected") || stderr.contains("is not hex"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn bad_amounts_are_refused_before_anything_is_sent() {
    let to = "ab".repeat(32);
    for args in [
        &["transfer", &to, "1.5", "--key", "nobody.json"][..],
        &["transfer", &to, "3e5", "--key", "nobody.json"],
        &["call", &to, "m", "--value", "0x10", "--key", "nobody.json"],
    ] {
        let output = cairn(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not an amount"), "{args:?}: {stderr}");
    }
}
