//! What the VM benchmarks share: the modules they measure and a harness
//! that runs an entry point of a (metered or unmetered) module directly in
//! wasmer, with the host reduced to the call's input.
// Each benchmark uses its own part of this module.
#![allow(dead_code)]

use cairn_vm::{Address, BlockInfo, Call};
use wasmer::{
    Engine, ExternType, Function, FunctionEnv, FunctionEnvMut, Imports, Instance, Memory, Module,
    Store, Type, TypedFunction, Value,
};

/// Where the benchmarks deploy the contract they call.
pub(crate) const CONTRACT: Address = Address([0xc0; 32]);

/// A top-level call of `entry` of [`CONTRACT`], without input, at most
/// `gas_limit` gas.
pub(crate) fn entry_call(entry: &str, gas_limit: u64) -> Call<'_> {
    Call {
        contract: CONTRACT,
        caller: Address([1; 32]),
        entry,
        input: &[],
        gas_limit,
        value: 0,
        block: BlockInfo::default(),
        read_only: false,
    }
}

pub(crate) fn workloads() -> Vec<u8> {
    wat::parse_str(include_str!("../workloads.wat")).expect("workloads parse")
}

pub(crate) fn rust_contract() -> Vec<u8> {
    include_bytes!("../../testdata/rust_contract.wasm").to_vec()
}

/// The SDK's `hasher` example as built for the VM (the committed fixture).
pub(crate) fn hasher() -> Vec<u8> {
    include_bytes!("../../../contracts-sdk/testdata/hasher.wasm").to_vec()
}

/// A CPU-bound call of the `hasher` contract.
pub(crate) struct HasherCall {
    /// The benchmark's name for it.
    pub(crate) name: &'static str,
    pub(crate) entry: &'static str,
    /// The SCALE-encoded arguments.
    pub(crate) input: Vec<u8>,
}

/// Rounds of `hash_chain` and numbers for `sort`: a few milliseconds each,
/// so the per-call overhead is a small part.
pub(crate) const HASH_ROUNDS: u32 = 2_000;
pub(crate) const SORT_COUNT: u32 = 20_000;
pub(crate) const SEED: u64 = 7;

pub(crate) fn hasher_calls() -> Vec<HasherCall> {
    let mut hash_input = vec![3u8; 32];
    hash_input.extend_from_slice(&HASH_ROUNDS.to_le_bytes());
    let mut sort_input = SORT_COUNT.to_le_bytes().to_vec();
    sort_input.extend_from_slice(&SEED.to_le_bytes());
    vec![
        HasherCall {
            name: "hasher_hash_chain",
            entry: "hash_chain",
            input: hash_input,
        },
        HasherCall {
            name: "hasher_sort",
            entry: "sort",
            input: sort_input,
        },
    ]
}

/// A large contract: `functions` copies of an arithmetic-heavy function
/// with branches, loads and calls, about 400 bytes each.
pub(crate) fn large_contract(functions: usize) -> Vec<u8> {
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

/// The host of [`runner`]: the call's input, and the memory to copy it to.
struct InputHost {
    input: Vec<u8>,
    memory: Option<Memory>,
}

/// Returns a runner of `entry` of `module`. Each run gets a new store and
/// instance, as every VM call does (the SDK's allocator never frees, so a
/// reused instance would run out of memory). The host is reduced to what
/// CPU-bound code needs: `input_len` and `input_read` give `input`; every
/// other import is a stub that returns zeros (storage reads find nothing,
/// writes and output are dropped). Metered modules get all the gas.
///
/// # Panics
///
/// When a run does not return normally: the work would not be the work
/// measured.
pub(crate) fn runner(engine: &Engine, module: &Module, entry: &str, input: &[u8]) -> impl FnMut() {
    let (engine, module, entry, input) = (
        engine.clone(),
        module.clone(),
        entry.to_owned(),
        input.to_vec(),
    );
    move || run_once(&engine, &module, &entry, &input)
}

fn run_once(engine: &Engine, module: &Module, entry: &str, input: &[u8]) {
    let mut store = Store::new(engine.clone());
    let env = FunctionEnv::new(
        &mut store,
        InputHost {
            input: input.to_vec(),
            memory: None,
        },
    );
    let mut imports = Imports::new();
    for import in module.imports() {
        let ExternType::Function(ty) = import.ty() else {
            continue;
        };
        let function = match import.name() {
            "input_len" => Function::new_typed_with_env(
                &mut store,
                &env,
                |env: FunctionEnvMut<'_, InputHost>| -> i32 {
                    i32::try_from(env.data().input.len()).expect("a small input")
                },
            ),
            "input_read" => Function::new_typed_with_env(
                &mut store,
                &env,
                |mut env: FunctionEnvMut<'_, InputHost>, destination: i32| {
                    let (host, store) = env.data_and_store_mut();
                    let memory = host.memory.as_ref().expect("memory is set");
                    memory
                        .view(&store)
                        .write(u64::from(destination.cast_unsigned()), &host.input)
                        .expect("the input fits in memory");
                },
            ),
            _ => {
                let results: Vec<Value> = ty
                    .results()
                    .iter()
                    .map(|result| match result {
                        Type::I64 => Value::I64(0),
                        _ => Value::I32(0),
                    })
                    .collect();
                Function::new(&mut store, ty, move |_| Ok(results.clone()))
            }
        };
        imports.define(import.module(), import.name(), function);
    }
    let instance = Instance::new(&mut store, module, &imports).expect("instantiates");
    let memory = instance.exports.get_memory("memory").ok().cloned();
    env.as_mut(&mut store).memory = memory;
    if let Ok(gas) = instance
        .exports
        .get_global(cairn_gas_meter::GAS_LEFT_EXPORT)
    {
        gas.set(&mut store, Value::I64(i64::MAX))
            .expect("gas is mutable");
    }
    let function: TypedFunction<(), ()> = instance
        .exports
        .get_typed_function(&store, entry)
        .expect("entry exists");
    function.call(&mut store).expect("runs to the end");
}
