//! `cargo cairn new`, then `cargo cairn build` on what it made: the result
//! is a contract the VM accepts and runs.

use std::path::Path;
use std::process::Command;

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Status, Vm, VmConfig};

fn cargo_cairn(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-cairn"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("cargo-cairn runs");
    assert!(
        output.status.success(),
        "cargo-cairn {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_new_contract_builds_and_runs_on_the_vm() {
    let dir = tempfile::tempdir().unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    // As `cargo cairn new`, the way cargo passes it to the subcommand.
    let created = cargo_cairn(
        dir.path(),
        &[
            "cairn",
            "new",
            "tally-counter",
            "--sdk-path",
            sdk.to_str().unwrap(),
        ],
    );
    assert!(created.contains("cargo cairn build"), "{created}");
    for file in ["Cargo.toml", "src/lib.rs", "tests/vm.rs"] {
        assert!(
            dir.path().join("tally-counter").join(file).exists(),
            "{file} missing"
        );
    }

    let out = dir.path().join("out");
    let report = cargo_cairn(
        &dir.path().join("tally-counter"),
        &["build", "--json", "--out-dir", out.to_str().unwrap()],
    );
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["contract"], "TallyCounter");
    assert_eq!(
        report["entry_points"],
        serde_json::json!(["get", "increment", "init"])
    );

    let code = std::fs::read(out.join("tally-counter.wasm")).unwrap();
    let abi: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tally-counter.abi.json")).unwrap())
            .unwrap();
    assert_eq!(abi["methods"][0]["name"], "init");
    assert_eq!(abi["methods"][0]["args"][0]["type"], "u64");
    assert_eq!(abi["events"][0]["event"], "Incremented");
    // Custom sections (the ABI among them) are not deployed.
    assert!(
        wasmparser::Parser::new(0)
            .parse_all(&code)
            .all(|payload| !matches!(payload, Ok(wasmparser::Payload::CustomSection(_))))
    );

    // Deploy it and call it: init(41), then increment.
    let vm = Vm::new(VmConfig::default()).unwrap();
    vm.prepare(&code).unwrap();
    let mut state = MemoryStorage::new();
    let contract = Address([9; 32]);
    state.deploy(contract, &code);
    let mut call = |entry: &str, input: &[u8]| {
        let outcome = vm
            .execute(
                &Call {
                    contract,
                    caller: Address([1; 32]),
                    entry,
                    input,
                    gas_limit: 100_000_000,
                    block: BlockInfo::default(),
                    read_only: false,
                },
                &state,
            )
            .unwrap();
        assert_eq!(outcome.status, Status::Ok, "{entry}");
        state.commit(&outcome.writes);
        outcome.output
    };
    call("init", &41u64.to_le_bytes());
    assert_eq!(call("increment", &[]), 42u64.to_le_bytes());
}

#[test]
fn bad_names_and_missing_crates_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-cairn"))
        .current_dir(dir.path())
        .args(["new", "9lives"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a crate name"));

    let output = Command::new(env!("CARGO_BIN_EXE_cargo-cairn"))
        .current_dir(dir.path())
        .args(["build"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("error"));
}
