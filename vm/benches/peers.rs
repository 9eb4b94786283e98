//! Cairn against its peers, on the same bytes in the same run:
//!
//! - `compile`: Cairn's whole deploy pipeline (validate, meter, single-pass)
//!   against wasmer's optimising Cranelift compiler on the original module.
//! - `engines`: the `hasher` example's CPU-bound calls natively (the same
//!   Rust kernel compiled for the host), through the whole VM (a call from
//!   the artifact cache), on wasmer single-pass and on wasmi, an
//!   interpreter (the engine pallet-contracts used), both running the same
//!   metered module with the same reduced host.
//!
//! `cargo bench -p cairn-vm --features bench-cranelift --bench peers`
//! (`make bench`). Cranelift is a dev-only comparison: the feature exists
//! so that ordinary builds and `cargo test` never compile it.

use std::hint::black_box;
use std::time::Duration;

use cairn_vm::testing::MemoryStorage;
use cairn_vm::validate::host_import_rule;
use cairn_vm::{Call, Status, Vm, VmConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmer::Module;
use wasmer::sys::{Cranelift, EngineBuilder};

mod common;
use common::{
    CONTRACT, HASH_ROUNDS, SEED, SORT_COUNT, entry_call, hasher, hasher_calls, large_contract,
    runner, rust_contract,
};

fn compile(c: &mut Criterion) {
    let vm = Vm::new(VmConfig::default()).expect("the VM starts");
    let mut group = c.benchmark_group("compile_vs_cranelift");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (name, wasm) in [
        ("rust_contract", rust_contract()),
        ("hasher", hasher()),
        ("large", large_contract(2_500)),
    ] {
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        group.bench_function(format!("{name}/cairn"), |b| {
            b.iter(|| {
                let engine = vm.new_engine();
                vm.compile_module(&engine, black_box(&wasm), &host_import_rule)
                    .expect("compiles")
            })
        });
        group.bench_function(format!("{name}/cranelift"), |b| {
            b.iter(|| {
                let engine: wasmer::Engine =
                    EngineBuilder::new(Cranelift::default()).engine().into();
                Module::new(&engine, black_box(&wasm)).expect("compiles")
            })
        });
    }
    group.finish();
}

/// The whole VM: a call of `entry` on the deployed contract, from the
/// in-memory artifact cache, on a fresh instance.
fn vm_call(vm: &Vm, state: &MemoryStorage, entry: &str, input: &[u8]) {
    let call = Call {
        input,
        ..entry_call(entry, 10_000_000_000)
    };
    let outcome = vm.execute(&call, state).expect("the VM does not fail");
    assert_eq!(outcome.status, Status::Ok, "{entry} failed: {outcome:?}");
}

/// wasmi running `metered` with the host of [`common::runner`]: the input,
/// and zeros from every other import. A new store and instance per run.
fn wasmi_runner(metered: &[u8], entry: &str, input: &[u8]) -> impl FnMut() {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, metered).expect("wasmi takes the metered module");
    let mut linker = wasmi::Linker::<Vec<u8>>::new(&engine);
    for import in module.imports() {
        let wasmi::ExternType::Func(ty) = import.ty() else {
            continue;
        };
        match import.name() {
            "input_len" => linker.func_wrap(
                import.module(),
                "input_len",
                |caller: wasmi::Caller<'_, Vec<u8>>| -> i32 {
                    i32::try_from(caller.data().len()).expect("a small input")
                },
            ),
            "input_read" => linker.func_wrap(
                import.module(),
                "input_read",
                |mut caller: wasmi::Caller<'_, Vec<u8>>, destination: i32| {
                    let memory = caller
                        .get_export("memory")
                        .and_then(wasmi::Extern::into_memory)
                        .expect("the contract exports its memory");
                    let input = caller.data().clone();
                    let offset = usize::try_from(destination.cast_unsigned()).expect("32 bits");
                    memory
                        .write(&mut caller, offset, &input)
                        .expect("the input fits in memory");
                },
            ),
            name => {
                let zeros: Vec<wasmi::Val> = ty
                    .results()
                    .iter()
                    .map(|result| match result {
                        wasmi::ValType::I64 => wasmi::Val::I64(0),
                        _ => wasmi::Val::I32(0),
                    })
                    .collect();
                linker.func_new(import.module(), name, ty.clone(), move |_, _, results| {
                    results.clone_from_slice(&zeros);
                    Ok(())
                })
            }
        }
        .expect("each import is defined once");
    }
    let (entry, input) = (entry.to_owned(), input.to_vec());
    move || {
        let mut store = wasmi::Store::new(&engine, input.clone());
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("instantiates");
        if let Some(gas) = instance.get_global(&store, cairn_gas_meter::GAS_LEFT_EXPORT) {
            gas.set(&mut store, wasmi::Val::I64(i64::MAX))
                .expect("gas is mutable");
        }
        instance
            .get_typed_func::<(), ()>(&store, &entry)
            .expect("entry exists")
            .call(&mut store, ())
            .expect("runs to the end");
    }
}

fn engines(c: &mut Criterion) {
    let vm = Vm::new(VmConfig::default()).expect("the VM starts");
    let wasm = hasher();
    vm.prepare(&wasm).expect("the hasher prepares");
    let mut state = MemoryStorage::new();
    state.deploy(CONTRACT, &wasm);
    let metered = cairn_gas_meter::instrument(&wasm, vm.schedule()).expect("the hasher meters");
    let engine = vm.new_engine();
    let singlepass = Module::new(&engine, &metered).expect("compiles");

    let mut group = c.benchmark_group("engines");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(6));
    for call in hasher_calls() {
        let name = call.name;
        group.bench_function(format!("{name}/native"), |b| match call.entry {
            "hash_chain" => b.iter(|| hasher::kernel::hash_chain(black_box([3; 32]), HASH_ROUNDS)),
            _ => b.iter(|| hasher::kernel::sort(black_box(SORT_COUNT), SEED)),
        });
        group.bench_function(format!("{name}/vm"), |b| {
            b.iter(|| vm_call(&vm, &state, call.entry, &call.input))
        });
        let mut on_singlepass = runner(&engine, &singlepass, call.entry, &call.input);
        group.bench_function(format!("{name}/singlepass"), |b| b.iter(&mut on_singlepass));
        let mut on_wasmi = wasmi_runner(&metered, call.entry, &call.input);
        group.bench_function(format!("{name}/wasmi"), |b| b.iter(&mut on_wasmi));
    }
    group.finish();
}

criterion_group!(benches, compile, engines);
criterion_main!(benches);
