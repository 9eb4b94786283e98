//! `cargo cairn new`, then `cargo cairn build` on what it made: the result
//! is a contract the VM accepts and runs, and its lock file follows its
//! dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Status, Vm, VmConfig};

/// The target directory this test was built in: the scaffolds share it,
/// as `cargo cairn new` makes them share the checkout's.
fn shared_target_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_cargo-cairn"));
    binary
        .ancestors()
        .nth(2)
        .expect("the binary is in <target>/<profile>/")
        .to_path_buf()
}

fn run_cargo_cairn(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-cairn"))
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        // Everything the scaffold needs is in the local registry cache (the
        // workspace's build fetched it): resolve from there, no network.
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .expect("cargo-cairn runs")
}

fn cargo_cairn(dir: &Path, args: &[&str]) -> String {
    let output = run_cargo_cairn(dir, args);
    assert!(
        output.status.success(),
        "cargo-cairn {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `cargo cairn new <name>` in `dir`, against this checkout's SDK.
fn new_contract(dir: &Path, name: &str) -> (PathBuf, String) {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    // As `cargo cairn new`, the way cargo passes it to the subcommand.
    let created = cargo_cairn(
        dir,
        &["cairn", "new", name, "--sdk-path", sdk.to_str().unwrap()],
    );
    (dir.join(name), created)
}

fn build_json(contract: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["build", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(cargo_cairn(contract, &args).trim()).unwrap()
}

#[test]
fn a_new_contract_builds_and_runs_on_the_vm() {
    let dir = tempfile::tempdir().unwrap();
    let (contract, created) = new_contract(dir.path(), "tally-counter");
    assert!(created.contains("cargo cairn build"), "{created}");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "tests/vm.rs",
        ".gitignore",
        "Cargo.lock",
        "rust-toolchain.toml",
        ".cargo/config.toml",
    ] {
        assert!(contract.join(file).exists(), "{file} missing");
    }
    // The first `cargo test` reuses the VM built in the shared directory.
    let config = std::fs::read_to_string(contract.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains(&format!(
            "target-dir = \"{}\"",
            shared_target_dir().display()
        )),
        "{config}"
    );
    assert!(created.contains(&shared_target_dir().display().to_string()));
    let toolchain = std::fs::read_to_string(contract.join("rust-toolchain.toml")).unwrap();
    let pinned = include_str!("../../../rust-toolchain.toml");
    let channel = toolchain.lines().find(|line| line.starts_with("channel"));
    assert!(
        channel.is_some_and(|channel| pinned.contains(channel)),
        "{toolchain}"
    );

    let out = dir.path().join("out");
    let report = build_json(&contract, &["--out-dir", out.to_str().unwrap()]);
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
                    value: 0,
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
fn an_added_dependency_updates_the_lock_and_locked_refuses_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let (contract, _) = new_contract(dir.path(), "pinned-counter");
    let lock_path = contract.join("Cargo.lock");
    let lock = || std::fs::read_to_string(&lock_path).unwrap();
    let pins = |lock: &str, name: &str| lock.contains(&format!("name = \"{name}\"\n"));

    // The scaffold starts from the checkout's lock file; the first build
    // keeps only what the contract uses.
    assert!(pins(&lock(), "static_assertions"));
    let report = build_json(&contract, &[]);
    assert_eq!(report["lock_file_change"], "updated");
    assert_eq!(
        report["lock_file"].as_str().map(PathBuf::from),
        Some(lock_path.canonicalize().unwrap())
    );
    let without = lock();
    assert!(!pins(&without, "static_assertions"));
    assert!(pins(&without, "parity-scale-codec"));

    // A new dependency (tiny, no_std, in the local registry cache), used so
    // that it is compiled into the contract.
    let manifest = contract.join("Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    let toml = toml.replacen(
        "[dependencies]\n",
        "[dependencies]\nstatic_assertions = \"=1.1.0\"\n",
        1,
    );
    std::fs::write(&manifest, toml).unwrap();
    let lib = contract.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap()
        + "\nstatic_assertions::const_assert_eq!(core::mem::size_of::<u64>(), 8);\n";
    std::fs::write(&lib, source).unwrap();

    let output = run_cargo_cairn(&contract, &["build", "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["lock_file_change"], "updated");
    assert!(stderr.contains("note: cargo updated"), "{stderr}");
    assert!(stderr.contains("commit it"), "{stderr}");
    let with = lock();
    assert!(
        with.contains("name = \"static_assertions\"\nversion = \"1.1.0\"\n"),
        "{with}"
    );

    // Strict, with a current lock: nothing to change.
    let report = build_json(&contract, &["--locked"]);
    assert_eq!(report["lock_file_change"], "unchanged");

    // Strict, with the lock from before the dependency: a clear error, and
    // the lock file is left as it was.
    std::fs::write(&lock_path, &without).unwrap();
    let output = run_cargo_cairn(&contract, &["build", "--locked"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("Cargo.lock is out of date"), "{stderr}");
    assert!(stderr.contains("without --locked"), "{stderr}");
    assert!(stderr.contains("static_assertions"), "{stderr}");
    assert_eq!(lock(), without);

    // Strict, with no lock at all.
    std::fs::remove_file(&lock_path).unwrap();
    let output = run_cargo_cairn(&contract, &["build", "--locked"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("needs the contract's lock file"),
        "{stderr}"
    );
    assert!(!lock_path.exists());
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
