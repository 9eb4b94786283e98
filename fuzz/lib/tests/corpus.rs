//! Every committed seed of every fuzz target (`fuzz/corpus/<target>/`)
//! through its oracle, on stable, as part of `cargo test`: the seeds are
//! regression tests, and a crash the fuzzer finds becomes one by copying
//! its input into the target's directory.

use std::path::{Path, PathBuf};

use arbitrary::Unstructured;
use cairn_fuzz::generate::{self, Imports};
use cairn_fuzz::{node, oracles};

/// What a target hands libFuzzer's bytes to.
type Oracle = fn(&[u8]);

/// The targets of `fuzz/fuzz_targets/`, each with its oracle.
const TARGETS: &[(&str, Oracle)] = &[
    ("validate", oracles::validate),
    ("execute", oracles::execute),
    ("differential", oracles::differential),
    ("gas_oracle", oracles::gas_oracle),
    ("compile_deterministic", oracles::compile_deterministic),
    ("node_transaction", node::transaction),
    ("node_block", node::block),
    ("node_consensus", node::consensus_messages),
    ("node_rpc", node::rpc_request),
    ("node_supply", node::supply),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The seeds of `target`, in name order.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("a readable seed"))
        })
        .collect();
    seeds.sort();
    assert!(
        !seeds.is_empty(),
        "no seeds for `{target}` in {}",
        dir.display()
    );
    seeds
}

fn run_corpus(target: &str) {
    let (_, oracle) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    for (name, data) in seeds(target) {
        let result = std::panic::catch_unwind(|| oracle(&data));
        assert!(result.is_ok(), "`{target}` fails on its seed {name}");
    }
}

#[test]
fn validate_corpus() {
    run_corpus("validate");
}

#[test]
fn execute_corpus() {
    run_corpus("execute");
}

#[test]
fn differential_corpus() {
    run_corpus("differential");
}

#[test]
fn gas_oracle_corpus() {
    run_corpus("gas_oracle");
}

#[test]
fn compile_deterministic_corpus() {
    run_corpus("compile_deterministic");
}

#[test]
fn node_transaction_corpus() {
    run_corpus("node_transaction");
}

#[test]
fn node_block_corpus() {
    run_corpus("node_block");
}

#[test]
fn node_consensus_corpus() {
    run_corpus("node_consensus");
}

#[test]
fn node_rpc_corpus() {
    run_corpus("node_rpc");
}

#[test]
fn node_supply_corpus() {
    run_corpus("node_supply");
}

/// Each target has a binary, a corpus and a test above, and nothing else
/// is in `fuzz_targets/` or `corpus/`.
#[test]
fn every_target_has_a_binary_and_a_corpus() {
    let names = |dir: &str| {
        let mut names: Vec<String> = std::fs::read_dir(fuzz_dir().join(dir))
            .expect("the directory exists")
            .map(|entry| {
                let path = entry.expect("an entry").path();
                let stem = path.file_stem().expect("a name").to_string_lossy();
                stem.into_owned()
            })
            .collect();
        names.sort();
        names
    };
    let mut targets: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    targets.sort();
    assert_eq!(names("fuzz_targets"), targets);
    assert_eq!(names("corpus"), targets);
}

/// The seeds of the generated-contract targets do generate contracts, and
/// between them every entry point of theirs runs, so the corpus tests
/// above exercise the VM rather than the early return of an oracle.
#[test]
fn generator_seeds_make_contracts() {
    for (target, imports, terminating) in [
        ("execute", Imports::All, false),
        ("differential", Imports::Reference, false),
        ("gas_oracle", Imports::None, true),
    ] {
        // `seed-*` are the generator seeds; `regression-*` are inputs the
        // fuzzer found, which may be ones the generator now declines.
        for (name, data) in seeds(target)
            .into_iter()
            .filter(|(name, _)| name.starts_with("seed-"))
        {
            let contract = generate::contract(&mut Unstructured::new(&data), imports, terminating)
                .unwrap_or_else(|error| {
                    panic!("`{target}` seed {name} makes no contract: {error}")
                });
            assert!(!contract.entries.is_empty());
        }
    }
    // compile_deterministic: an odd first byte generates, anything else is
    // the contract itself; either way most seeds must be contracts.
    let contracts = seeds("compile_deterministic")
        .into_iter()
        .filter(|(_, data)| match data.split_first() {
            Some((mode, rest)) if mode % 2 == 1 => {
                generate::contract(&mut Unstructured::new(rest), Imports::All, false).is_ok()
            }
            _ => cairn_vm::validate::validate_contract(data).is_ok(),
        })
        .count();
    assert!(
        contracts >= 3,
        "only {contracts} compile_deterministic seeds are contracts"
    );
}

/// The hand-made seeds are what their names say: the validator rejects the
/// float one and accepts the others as contracts.
#[test]
fn hand_made_seeds_are_what_they_say() {
    let seed = |path: &str| std::fs::read(fuzz_dir().join("corpus").join(path)).expect("a seed");
    let float = cairn_vm::validate::validate_contract(&seed("validate/float.wasm"));
    assert!(float.is_err(), "float.wasm was accepted");
    for path in [
        "validate/infinite-loop.wasm",
        "validate/rust-contract.wasm",
        "validate/sdk-counter.wasm",
        "compile_deterministic/infinite-loop.wasm",
    ] {
        if let Err(rejection) = cairn_vm::validate::validate_contract(&seed(path)) {
            panic!("{path} was rejected: {rejection}");
        }
    }
}
