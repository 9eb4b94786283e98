//! The wasmer boundary: the single-pass engine, compiling metered modules,
//! and turning artifacts into bytes and back.
//!
//! Every compiled or deserialized module gets an engine of its own, kept
//! with it ([`CompiledModule`]). A wasmer engine keeps the executable memory
//! of every module it ever loaded until the engine itself is dropped
//! (wasmerio/wasmer#4377), so one long-lived engine would grow with every
//! cache miss and, after tens of thousands of them, fail to map memory;
//! CosmWasm does the same for the same reason. Dropping a module from the
//! cache now frees its code.
//!
//! This module, `pool` and `host::state` are the only places with `unsafe`:
//! here it implements wasmer's unsafe `Tunables` hooks (memories from the
//! `pool`, the rest delegated unchanged) and deserializes artifacts, which
//! wasmer trusts blindly (the cache checks their integrity before they get
//! here).

#![allow(unsafe_code)]

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

use wasmer::sys::vm::{
    MemoryError, MemoryStyle, TableStyle, VMConfig, VMMemory, VMMemoryDefinition, VMTable,
    VMTableDefinition,
};
use wasmer::sys::{
    BaseTunables, EngineBuilder, Features, NativeEngineExt, Singlepass, Target, Tunables,
};
use wasmer::{CompileError, Engine, ExternType, MemoryType, Module, TableType};

use crate::error::VmError;
use crate::pool::{MEMORY_POOL, PooledMemory};

/// Identifies everything about the engine that shapes an artifact; part of
/// every artifact cache key. Bump the trailing number when Cairn changes how
/// it compiles (engine features, tunables).
pub(crate) fn engine_id(engine: &Engine) -> String {
    let target = engine.target();
    format!(
        "wasmer-7.4.2/singlepass/{}/{:?}/cairn-1",
        target.triple(),
        target.cpu_features()
    )
}

/// Native stack for each wasm call, in bytes. Every call (nested
/// cross-contract calls too) runs on a fresh stack of this size; the
/// schedule's stack-height limit must trip well before it is used up, which
/// `tests/all/limits.rs` checks with the worst frames the limit allows.
pub const WASM_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Builds the engine: single-pass compiler, exactly the features of the
/// accepted subset, and Cairn's native stack size.
pub(crate) fn new_engine(compile_threads: NonZeroUsize) -> Engine {
    let (compiler, target) = engine_template();
    let mut compiler = compiler.clone();
    compiler.num_threads(compile_threads);
    let mut features = Features::none();
    features
        .bulk_memory(true)
        .multi_value(true)
        // Only for the LEB-encoded table index of `call_indirect` that rustc
        // emits; validation rejects every reference-typed instruction.
        .reference_types(true);
    let mut engine: Engine = EngineBuilder::new(compiler)
        .set_target(Some(target.clone()))
        .set_features(Some(features))
        .engine()
        .into();
    let base = BaseTunables::new();
    engine.set_tunables(CairnTunables {
        base,
        vm_config: VMConfig {
            wasm_stack_size: Some(WASM_STACK_BYTES),
        },
    });
    engine
}

/// The compiler configuration and host target every engine starts from,
/// made once: `Singlepass::new` asks the OS for the available parallelism
/// (reading cgroup files; 11% of a disk-cache load in perf when done per
/// engine), and the host target runs `cpuid` for every feature.
fn engine_template() -> &'static (Singlepass, Target) {
    static TEMPLATE: OnceLock<(Singlepass, Target)> = OnceLock::new();
    TEMPLATE.get_or_init(|| (Singlepass::new(), Target::default()))
}

/// A compiled module and the engine that owns its code. Instances of it must
/// live in stores of this engine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CompiledModule {
    engine: Engine,
    module: Module,
    /// The exports a call can enter (functions of type `() -> ()`, the
    /// only functions validation lets a module export), sorted. Listed once
    /// here: asking wasmer builds every export's name and type again, a
    /// twentieth of an empty call's time.
    entries: Arc<[Box<str>]>,
}

impl CompiledModule {
    fn new(engine: Engine, module: Module) -> Self {
        let mut entries: Vec<Box<str>> = module
            .exports()
            .filter(|export| {
                matches!(export.ty(), ExternType::Function(ty)
                    if ty.params().is_empty() && ty.results().is_empty())
            })
            .map(|export| export.name().into())
            .collect();
        entries.sort_unstable();
        CompiledModule {
            engine,
            module,
            entries: entries.into(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Whether the module exports `name` as a function a call can enter
    /// (`() -> ()`).
    pub fn has_entry(&self, name: &str) -> bool {
        self.entries
            .binary_search_by(|entry| (**entry).cmp(name))
            .is_ok()
    }

    /// The artifact's bytes, for the disk cache.
    pub(crate) fn serialize(&self) -> Result<Vec<u8>, VmError> {
        self.module
            .serialize()
            .map(|bytes| bytes.to_vec())
            .map_err(|error| VmError::Cache(format!("serializing an artifact: {error}")))
    }
}

/// Compiles an already validated and metered module with a new engine of
/// its own.
pub(crate) fn compile(
    compile_threads: NonZeroUsize,
    metered: &[u8],
) -> Result<CompiledModule, CompileError> {
    let engine = new_engine(compile_threads);
    let module = compile_with(&engine, metered)?;
    Ok(CompiledModule::new(engine, module))
}

/// Compiles an already validated and metered module with a given engine.
///
/// wasmer is not asked to validate it a third time: the original passed
/// Cairn's validation (full wasmparser validation, `validate`), and the
/// meter turns valid code into valid code, which the `validate` fuzz target
/// checks for every module it accepts and debug builds (every test) check
/// here. It was 5.5% of the hasher example's whole pipeline (perf).
pub(crate) fn compile_with(engine: &Engine, metered: &[u8]) -> Result<Module, CompileError> {
    #[cfg(debug_assertions)]
    if let Err(error) =
        wasmparser::Validator::new_with_features(cairn_gas_meter::supported_features())
            .validate_all(metered)
    {
        panic!("the gas meter wrote an invalid module: {error}");
    }
    // SAFETY: `metered` is the meter's output for a module that passed
    // validation, so it is valid WebAssembly of the features the engine
    // enables (see above); single-pass may assume what validation proves.
    unsafe { Module::from_binary_unchecked(engine, metered) }
}

/// Loads an artifact from bytes, with a new engine of its own. The module
/// keeps `bytes` (its metadata is read in place), so pass an owned buffer:
/// a slice would be copied first.
///
/// Only for bytes whose integrity the caller has checked against the hash it
/// stored when it wrote them: wasmer maps them as executable code, and
/// checks no more than their header.
pub(crate) fn deserialize_checked(bytes: bytes::Bytes) -> Result<CompiledModule, VmError> {
    let engine = new_engine(NonZeroUsize::MIN);
    // SAFETY: the bytes are an artifact this engine version serialized (the
    // engine id is part of the cache key) and the cache verified their hash
    // before calling.
    let module = unsafe { Module::deserialize(&engine, bytes) }
        .map_err(|error| VmError::Cache(format!("deserializing an artifact: {error}")))?;
    Ok(CompiledModule::new(engine, module))
}

/// wasmer's base tunables with Cairn's native stack size, and instance
/// memories from the process's pool of reservations. Memory styles are
/// wasmer's own, so compiled artifacts do not change.
struct CairnTunables {
    base: BaseTunables,
    vm_config: VMConfig,
}

impl Tunables for CairnTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        self.base.create_host_memory(ty, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        if *style == MemoryStyle::Static && !ty.shared {
            // SAFETY: the caller guarantees the definition is the instance's
            // and outlives the memory's use, which is `PooledMemory::new`'s
            // contract too.
            return unsafe { PooledMemory::new(&MEMORY_POOL, ty, vm_definition_location) }
                .map(VMMemory::from);
        }
        // SAFETY: forwarded unchanged; the caller upholds the same contract.
        unsafe {
            self.base
                .create_vm_memory(ty, style, vm_definition_location)
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: forwarded unchanged; the caller upholds the same contract.
        unsafe { self.base.create_vm_table(ty, style, vm_definition_location) }
    }

    fn vmconfig(&self) -> &VMConfig {
        &self.vm_config
    }
}
