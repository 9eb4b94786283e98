//! VM benchmarks: compile throughput, instantiation from the memory cache,
//! the disk cache and raw bytes, and the cost of metering.
//!
//! `cargo bench -p cairn-vm --bench vm`. Each group has a baseline measured
//! in the same run (validation alone; the memory cache; the unmetered
//! module); docs/BENCHMARKS.md reports the ratios.

use std::hint::black_box;
use std::time::Duration;

use cairn_vm::testing::MemoryStorage;
use cairn_vm::validate::{host_import_rule, validate_contract};
use cairn_vm::{Status, Vm, VmConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmer::Module;

mod common;
use common::{
    CONTRACT, entry_call, hasher, hasher_calls, large_contract, runner, rust_contract, workloads,
};

fn vm(config: VmConfig) -> Vm {
    Vm::new(config).expect("the VM starts")
}

fn compile(c: &mut Criterion) {
    let vm = vm(VmConfig::default());
    let mut group = c.benchmark_group("compile");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for (name, wasm) in [
        ("rust_contract", rust_contract()),
        ("hasher", hasher()),
        ("workloads", workloads()),
        ("large", large_contract(2_500)),
    ] {
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        // Baseline: validation alone.
        group.bench_function(format!("{name}/validate"), |b| {
            b.iter(|| validate_contract(black_box(&wasm)).expect("valid"))
        });
        // Baseline: wasmer single-pass alone on the original bytes.
        group.bench_function(format!("{name}/singlepass_unmetered"), |b| {
            b.iter(|| {
                let engine = vm.new_engine();
                Module::new(&engine, black_box(&wasm)).expect("compiles")
            })
        });
        group.bench_function(format!("{name}/validate+meter+compile"), |b| {
            b.iter(|| {
                // A new engine each time, as the VM gives every module its
                // own (so the old code is freed).
                let engine = vm.new_engine();
                vm.compile_module(&engine, black_box(&wasm), &host_import_rule)
                    .expect("compiles")
            })
        });
    }
    group.finish();
}

fn call(vm: &Vm, state: &MemoryStorage, entry: &str) -> Status {
    vm.execute(&entry_call(entry, 10_000_000_000), state)
        .expect("the VM does not fail")
        .status
}

fn instantiate(c: &mut Criterion) {
    let mut state = MemoryStorage::new();
    state.deploy(CONTRACT, &workloads());
    let mut group = c.benchmark_group("instantiate_and_call_noop");
    group.sample_size(30);

    // Baseline: the artifact in the in-memory cache.
    let warm = vm(VmConfig::default());
    warm.prepare(&workloads()).expect("prepares");
    group.bench_function("memory_cache", |b| {
        b.iter(|| assert_eq!(call(&warm, &state, "noop"), Status::Ok))
    });

    // The same from a module with no imports that exports only its memory
    // and `noop`. Every instance gets a host function per import and a map
    // of all its module's exports (wasmer builds it); `workloads` has 6
    // imports and 26 exports.
    let one_export =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "noop")))"#)
            .expect("valid wat");
    let mut one_export_state = MemoryStorage::new();
    one_export_state.deploy(CONTRACT, &one_export);
    warm.prepare(&one_export).expect("prepares");
    group.bench_function("memory_cache_one_export", |b| {
        b.iter(|| assert_eq!(call(&warm, &one_export_state, "noop"), Status::Ok))
    });

    // Nothing kept in memory: every call reads, checks and deserializes the
    // artifact file.
    let dir = tempfile::tempdir().expect("temporary directory");
    let cold = vm(VmConfig {
        memory_cache_bytes: 1,
        cache_dir: Some(dir.path().to_path_buf()),
        ..VmConfig::default()
    });
    cold.prepare(&workloads()).expect("prepares");
    group.bench_function("disk_cache", |b| {
        b.iter(|| assert_eq!(call(&cold, &state, "noop"), Status::Ok))
    });

    // No cache at all: validate, meter and compile on every call.
    let uncached = vm(VmConfig {
        memory_cache_bytes: 1,
        ..VmConfig::default()
    });
    group.bench_function("raw_bytes", |b| {
        b.iter(|| assert_eq!(call(&uncached, &state, "noop"), Status::Ok))
    });
    group.finish();
}

fn metering(c: &mut Criterion) {
    let vm = vm(VmConfig::default());
    let engine = vm.new_engine();
    let mut group = c.benchmark_group("metering");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    let wasm = workloads();
    let kernels = [
        "alu",
        "loads_stores",
        "scattered_bytes",
        "calls",
        "recursion",
        "indirect",
        "indirect_runs",
        "dispatch",
    ]
    .map(|entry| (entry, entry, Vec::new()));
    let contract = hasher();
    let calls = hasher_calls()
        .into_iter()
        .map(|call| (call.name, call.entry, call.input));
    for (module, cases) in [
        (&wasm, kernels.into_iter().collect::<Vec<_>>()),
        (&contract, calls.collect()),
    ] {
        let unmetered = Module::new(&engine, module).expect("compiles unmetered");
        let metered = vm
            .compile_module(&engine, module, &host_import_rule)
            .expect("compiles metered");
        for (name, entry, input) in cases {
            let mut plain = runner(&engine, &unmetered, entry, &input);
            group.bench_function(format!("{name}/unmetered"), |b| b.iter(&mut plain));
            let mut counted = runner(&engine, &metered, entry, &input);
            group.bench_function(format!("{name}/metered"), |b| b.iter(&mut counted));
        }
    }
    group.finish();
}

criterion_group!(benches, compile, instantiate, metering);
criterion_main!(benches);
