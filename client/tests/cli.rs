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

/// An ABI whose one argument type nests far deeper than any stack could
/// take unbounded.
fn deep_abi() -> serde_json::Value {
    serde_json::json!({
        "contract": "Deep",
        "methods": [{"name": "f", "args": [{"name": "x", "type": "Vec<".repeat(200_000)}]}],
        "events": [],
    })
}

#[test]
fn a_deeply_nested_abi_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.abi.json");
    std::fs::write(&file, deep_abi().to_string()).unwrap();
    let contract = "00".repeat(32);
    for command in ["query", "call"] {
        let mut args = vec![
            command,
            &contract,
            "f",
            "[]",
            "--abi",
            file.to_str().unwrap(),
        ];
        if command == "call" {
            args.extend(["--key", "unused.json"]);
        }
        let output = cairn(&args);
        assert_eq!(output.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("nests more than 32"), "{command}: {stderr}");
    }
}

#[tokio::test]
async fn a_deeply_nested_abi_from_the_node_is_refused_with_a_clear_error() {
    use jsonrpsee::RpcModule;
    use jsonrpsee::server::Server;
    use jsonrpsee::types::ErrorObjectOwned;

    // A node (a stand-in) serving a hostile ABI for every contract.
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let mut module = RpcModule::new(());
    module
        .register_method(
            "cairn_getContract",
            |params, _, _| -> Result<serde_json::Value, ErrorObjectOwned> {
                let (address,): (String,) = params.parse()?;
                Ok(serde_json::json!({
                    "address": address,
                    "code_hash": "11".repeat(32),
                    "deployer": "22".repeat(32),
                    "deployed_at": 1,
                    "abi_hash": "33".repeat(32),
                    "abi": deep_abi(),
                }))
            },
        )
        .unwrap();
    let handle = server.start(module);
    let contract = "00".repeat(32);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["--rpc", &url, "query", &contract, "f"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    handle.stop().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nests more than 32"), "{stderr}");
}
