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
use cairn_vm::{Address, BlockInfo, Call, Status, Vm, VmConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmer::{
    Engine, ExternType, Function, Imports, Instance, Module, Store, Type, TypedFunction, Value,
};

const CONTRACT: Address = Address([0xc0; 32]);

fn workloads() -> Vec<u8> {
    wat::parse_str(include_str!("workloads.wat")).expect("workloads parse")
}

fn rust_contract() -> Vec<u8> {
    include_bytes!("../testdata/rust_contract.wasm").to_vec()
}

/// A large contract: `functions` copies of an arithmetic-heavy function
/// with branches, loads and calls, about 400 bytes each.
fn large_contract(functions: usize) -> Vec<u8> {
    let mut text = String::from(
        r#"(module (memory (export "memory") 1) (func $leaf (param i64) (result i64) local.get 0)"#,
    );
    for index in 0..functions {
        text.push_str(&format!(
            r#"(func $f{index} (param $a i64) (param $b i32) (result i64) (local $i i32) (local $x i64)
                 (local.set $x (local.get $a))
                 (loop $l
                   (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
                   (local.set $x (i64.add (local.get $x) (i64.load (i32.and (local.get $i) (i32.const 0xff8)))))
                   (if (i32.and (local.get $i) (i32.const 1))
                     (then (local.set $x (call $leaf (local.get $x))))
                     (else (i64.store (i32.const 64) (local.get $x))))
                   (block $b
                     (br_if $b (i64.eqz (local.get $x)))
                     (local.set $x (i64.rotl (local.get $x) (i64.const {index}))))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (local.get $b))))
                 (i64.mul (local.get $x) (i64.const 31)))"#
        ));
    }
    text.push_str(r#"(func (export "noop")))"#);
    wat::parse_str(&text).expect("large contract parses")
}

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
    let call = Call {
        contract: CONTRACT,
        caller: Address([1; 32]),
        entry,
        input: &[],
        gas_limit: 10_000_000_000,
        block: BlockInfo::default(),
        read_only: false,
    };
    vm.execute(&call, state)
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

/// Instantiates `module` with no-op host functions and returns a runner of
/// `entry`; for metered modules it sets the gas first.
fn runner(engine: &Engine, module: &Module, entry: &str) -> impl FnMut() {
    let mut store = Store::new(engine.clone());
    // The measured loops make no host calls; every import is a stub that
    // returns zeros.
    let mut imports = Imports::new();
    for import in module.imports() {
        if let ExternType::Function(ty) = import.ty() {
            let results: Vec<Value> = ty
                .results()
                .iter()
                .map(|result| match result {
                    Type::I64 => Value::I64(0),
                    _ => Value::I32(0),
                })
                .collect();
            let stub = Function::new(&mut store, ty, move |_| Ok(results.clone()));
            imports.define(import.module(), import.name(), stub);
        }
    }
    let instance = Instance::new(&mut store, module, &imports).expect("instantiates");
    let gas = instance
        .exports
        .get_global(cairn_gas_meter::GAS_LEFT_EXPORT)
        .ok()
        .cloned();
    let function: TypedFunction<(), ()> = instance
        .exports
        .get_typed_function(&store, entry)
        .expect("entry exists");
    move || {
        if let Some(gas) = &gas {
            gas.set(&mut store, Value::I64(i64::MAX))
                .expect("gas is mutable");
        }
        function.call(&mut store).expect("runs to the end");
    }
}

fn metering(c: &mut Criterion) {
    let vm = vm(VmConfig::default());
    let wasm = workloads();
    let engine = vm.new_engine();
    let unmetered = Module::new(&engine, &wasm).expect("compiles unmetered");
    let metered = vm
        .compile_module(&engine, &wasm, &host_import_rule)
        .expect("compiles metered");
    let mut group = c.benchmark_group("metering");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    for entry in ["alu", "loads_stores", "calls", "indirect", "dispatch"] {
        let mut plain = runner(&engine, &unmetered, entry);
        group.bench_function(format!("{entry}/unmetered"), |b| b.iter(&mut plain));
        let mut counted = runner(&engine, &metered, entry);
        group.bench_function(format!("{entry}/metered"), |b| b.iter(&mut counted));
    }
    group.finish();
}

criterion_group!(benches, compile, instantiate, metering);
criterion_main!(benches);
