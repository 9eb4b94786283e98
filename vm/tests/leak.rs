//! Loading artifacts again and again must not grow the process: a wasmer
//! engine keeps the code of every module it loaded until it is dropped
//! (wasmerio/wasmer#4377), which once made a node that kept missing its
//! memory cache run out of memory mappings after about 25,000 loads.
//!
//! Its own test binary, so no other test's mappings come and go meanwhile.

#![cfg(target_os = "linux")]

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Status, Vm, VmConfig};

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps is readable")
        .lines()
        .count()
}

#[test]
fn loading_artifacts_from_disk_repeatedly_frees_their_code() {
    let dir = tempfile::tempdir().unwrap();
    // A one-byte memory cache holds nothing: every call loads from disk.
    let vm = Vm::new(VmConfig {
        memory_cache_bytes: 1,
        cache_dir: Some(dir.path().to_path_buf()),
        ..VmConfig::default()
    })
    .unwrap();
    let wasm = wat::parse_str(include_str!("../testdata/counter.wat")).unwrap();
    vm.prepare(&wasm).unwrap();
    let contract = Address([0xc0; 32]);
    let mut state = MemoryStorage::new();
    state.deploy(contract, &wasm);
    let call = Call {
        contract,
        caller: Address([1; 32]),
        entry: "get",
        input: &[],
        gas_limit: 10_000_000,
        value: 0,
        block: BlockInfo::default(),
        read_only: true,
    };
    let run = |times: usize| {
        for _ in 0..times {
            assert_eq!(vm.execute(&call, &state).unwrap().status, Status::Ok);
        }
    };
    run(200);
    let before = mappings();
    run(2_000);
    let after = mappings();
    assert!(
        after < before + 100,
        "2,000 loads from disk grew the process from {before} to {after} memory mappings"
    );
    assert!(vm.cache_stats().disk_hits >= 2_200);
}
