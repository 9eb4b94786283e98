//! The artifact cache: identical artifacts from identical inputs, keys that
//! change with the schedule, and a disk cache that is used and checked.

use cairn_vm::{Schedule, Status, Vm, VmConfig};

use crate::support::{CONTRACT, Chain, wat};

fn counter() -> Vec<u8> {
    wat(include_str!("../../testdata/counter.wat"))
}

fn vm_with_dir(dir: &std::path::Path) -> Vm {
    Vm::new(VmConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..VmConfig::default()
    })
    .unwrap()
}

#[test]
fn compiling_the_same_module_three_times_gives_identical_artifacts() {
    let wasm = counter();
    let vm = crate::support::vm();
    let first = vm.artifact_bytes(&wasm).unwrap();
    assert!(first.len() > 1_000);
    for _ in 0..2 {
        assert_eq!(vm.artifact_bytes(&wasm).unwrap(), first);
    }
    // A separate engine compiles the same bytes too.
    assert_eq!(crate::support::vm().artifact_bytes(&wasm).unwrap(), first);
}

/// Validation and metering run side by side when the VM compiles on more
/// than one thread, in turn on one: the same artifact either way, and for
/// code both refuse, validation's reason (the one that names the feature).
#[test]
fn validating_beside_the_meter_gives_what_running_them_in_turn_gives() {
    let with_threads = |threads: usize| {
        Vm::new(VmConfig {
            compile_threads: std::num::NonZeroUsize::new(threads).unwrap(),
            ..VmConfig::default()
        })
        .unwrap()
    };
    let (in_turn, side_by_side) = (with_threads(1), with_threads(2));
    let wasm = counter();
    assert_eq!(
        in_turn.artifact_bytes(&wasm).unwrap(),
        side_by_side.artifact_bytes(&wasm).unwrap()
    );
    let prepared = side_by_side.prepare(&wasm).unwrap();
    assert_eq!(prepared.summary, in_turn.prepare(&wasm).unwrap().summary);

    let float = wat(r#"(module (memory (export "memory") 1)
        (func (export "f") (result f32) f32.const 1))"#);
    for vm in [&in_turn, &side_by_side] {
        let Err(cairn_vm::PrepareError::Rejected(rejection)) = vm.prepare(&float) else {
            panic!("a float module is refused");
        };
        assert_eq!(
            rejection.rejected_feature(),
            Some(cairn_vm::Feature::Floats)
        );
    }
}

#[test]
fn a_changed_schedule_gives_a_different_cache_key() {
    let wasm = counter();
    let base = crate::support::vm().artifact_key(&wasm);
    assert_eq!(crate::support::vm().artifact_key(&wasm), base);
    let mut schedule = Schedule::default();
    schedule.instructions.simple += 1;
    let changed = Vm::new(VmConfig {
        schedule,
        ..VmConfig::default()
    })
    .unwrap();
    assert_ne!(changed.artifact_key(&wasm), base);
    let other_code =
        crate::support::vm().artifact_key(&wat(include_str!("../../testdata/infinite_loop.wat")));
    assert_ne!(other_code, base);
}

#[test]
fn artifacts_come_back_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = counter();
    let first = vm_with_dir(dir.path());
    first.prepare(&wasm).unwrap();
    assert_eq!(first.cache_stats().misses, 1);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);

    // A new VM (a restarted node) finds it on disk, and runs it the same.
    let restarted = vm_with_dir(dir.path());
    let mut chain = Chain::with_vm(restarted.clone());
    chain.deploy(CONTRACT, &wasm);
    assert_eq!(restarted.cache_stats().disk_hits, 1);
    assert_eq!(restarted.cache_stats().misses, 0);
    let from_disk = chain.call(CONTRACT, "increment", &[]);
    assert_eq!(restarted.cache_stats().memory_hits, 1);

    let mut fresh = Chain::new();
    fresh.deploy(CONTRACT, &wasm);
    assert_eq!(fresh.call(CONTRACT, "increment", &[]), from_disk);
}

#[test]
fn damaged_disk_artifacts_are_detected_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = counter();
    vm_with_dir(dir.path()).prepare(&wasm).unwrap();
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let intact = std::fs::read(&path).unwrap();

    for damage in ["flip", "truncate", "empty"] {
        let mut bytes = intact.clone();
        match damage {
            "flip" => {
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x40;
            }
            "truncate" => bytes.truncate(bytes.len() - 100),
            _ => bytes.clear(),
        }
        std::fs::write(&path, &bytes).unwrap();
        let vm = vm_with_dir(dir.path());
        let mut chain = Chain::with_vm(vm.clone());
        chain.deploy(CONTRACT, &wasm);
        let stats = vm.cache_stats();
        assert_eq!(stats.corrupt_files, 1, "{damage}");
        assert_eq!(stats.disk_hits, 0, "{damage}");
        assert_eq!(
            chain.call(CONTRACT, "increment", &[]).status,
            Status::Ok,
            "{damage}"
        );
        // Recompiled and written back whole.
        assert_eq!(std::fs::read(&path).unwrap(), intact, "{damage}");
    }
}

#[test]
fn the_memory_cache_is_bounded_by_bytes() {
    let modules: Vec<Vec<u8>> = (0..6)
        .map(|index| {
            wat(&include_str!("../../testdata/counter.wat")
                .replace("\"incremented\"", &format!("\"incremented {index}\"")))
        })
        .collect();
    let artifact = crate::support::vm()
        .artifact_bytes(&modules[0])
        .unwrap()
        .len() as u64;
    let capacity = artifact * 5 / 2;
    let vm = Vm::new(VmConfig {
        memory_cache_bytes: capacity,
        ..VmConfig::default()
    })
    .unwrap();
    for wasm in &modules {
        vm.prepare(wasm).unwrap();
        let stats = vm.cache_stats();
        assert!(stats.memory_bytes <= capacity, "{stats:?} over {capacity}");
    }
    let stats = vm.cache_stats();
    assert_eq!(stats.misses, 6);
    assert!(
        stats.memory_entries >= 1 && stats.memory_entries <= 2,
        "{stats:?}"
    );
}

/// A second contract, so that two artifacts compete for a memory cache
/// that holds one.
fn other_counter() -> Vec<u8> {
    wat(&include_str!("../../testdata/counter.wat").replace("\"incremented\"", "\"other\""))
}

#[test]
fn a_memory_cache_miss_in_a_call_loads_from_disk_and_never_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (counter(), other_counter());
    let artifact = crate::support::vm().artifact_bytes(&first).unwrap().len() as u64;
    // Room in memory for one artifact, not two.
    let vm = Vm::new(VmConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        memory_cache_bytes: artifact * 3 / 2,
        ..VmConfig::default()
    })
    .unwrap();
    let mut chain = Chain::with_vm(vm.clone());
    const SECOND: cairn_vm::Address = cairn_vm::Address([0xc2; 32]);
    chain.deploy(CONTRACT, &first);
    chain.deploy(SECOND, &second);
    let compiled = vm.cache_stats().misses;
    assert_eq!(compiled, 2, "each deploy compiled once");
    let mut reference = Chain::new();
    reference.deploy(CONTRACT, &first);
    reference.deploy(SECOND, &second);
    for round in 0..3 {
        for address in [CONTRACT, SECOND] {
            assert_eq!(
                chain.call(address, "increment", &[]),
                reference.call(address, "increment", &[]),
                "round {round}"
            );
        }
    }
    let stats = vm.cache_stats();
    assert_eq!(stats.misses, compiled, "no call compiled: {stats:?}");
    assert_eq!(stats.recompiled, 0);
    assert!(
        stats.disk_hits >= 5,
        "the calls alternated through disk: {stats:?}"
    );
}

#[test]
fn a_missing_or_damaged_disk_copy_is_compiled_again_for_the_same_gas() {
    let wasm = counter();
    let mut reference = Chain::new();
    reference.deploy(CONTRACT, &wasm);
    let expected = reference.call(CONTRACT, "increment", &[]);
    for damage in ["missing", "damaged"] {
        let dir = tempfile::tempdir().unwrap();
        vm_with_dir(dir.path()).prepare(&wasm).unwrap();
        let path = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let intact = std::fs::read(&path).unwrap();
        if damage == "missing" {
            std::fs::remove_file(&path).unwrap();
        } else {
            let mut bytes = intact.clone();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        }
        // A restarted node, whose state already holds the contract: the
        // call finds no artifact and compiles one.
        let restarted = vm_with_dir(dir.path());
        let mut chain = Chain::with_vm(restarted.clone());
        chain.state.deploy(CONTRACT, &wasm);
        assert_eq!(chain.call(CONTRACT, "increment", &[]), expected, "{damage}");
        let stats = restarted.cache_stats();
        assert_eq!(stats.recompiled, 1, "{damage}: {stats:?}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            intact,
            "{damage}: written back"
        );
        // The next restart finds it on disk.
        let again = vm_with_dir(dir.path());
        let mut chain = Chain::with_vm(again.clone());
        chain.state.deploy(CONTRACT, &wasm);
        assert_eq!(chain.call(CONTRACT, "increment", &[]), expected, "{damage}");
        assert_eq!(again.cache_stats().recompiled, 0, "{damage}");
        assert_eq!(again.cache_stats().disk_hits, 1, "{damage}");
    }
}

#[test]
fn an_artifact_of_another_schedule_is_not_loaded_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = counter();
    vm_with_dir(dir.path()).prepare(&wasm).unwrap();
    let mut schedule = Schedule::default();
    schedule.instantiation.memory_page += 1;
    let changed = Vm::new(VmConfig {
        schedule,
        cache_dir: Some(dir.path().to_path_buf()),
        ..VmConfig::default()
    })
    .unwrap();
    changed.prepare(&wasm).unwrap();
    let stats = changed.cache_stats();
    assert_eq!((stats.disk_hits, stats.misses), (0, 1), "{stats:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
