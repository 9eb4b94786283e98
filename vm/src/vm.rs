//! The VM's public face: prepare code once, execute calls against state.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use cairn_gas_meter::Schedule;
use wasmer::{CompileError, Engine, Module};

use crate::engine::CompiledModule;

use crate::cache::{Artifact, ArtifactCache, ArtifactKey, CacheStats};
use crate::engine;
use crate::error::{PrepareError, VmError};
use crate::execute::{Frame, run_frame};
use crate::host::state::{TxPtr, TxState};
use crate::limits::MAX_INPUT_BYTES;
use crate::storage::{Accounts, Contracts, Overlay, Storage, StorageError};
use crate::types::{Call, CodeHash, Outcome, Status, TrapCode};
use crate::validate::{self, ImportRule, ModuleSummary, Reason, Rejection};

/// How to build a [`Vm`].
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Costs and execution limits; part of every artifact's cache key.
    pub schedule: Schedule,
    /// Bytes of compiled artifacts kept in memory.
    pub memory_cache_bytes: u64,
    /// Directory of the on-disk artifact cache; `None` keeps artifacts in
    /// memory only.
    pub cache_dir: Option<PathBuf>,
    /// Threads the single-pass compiler may use for one module.
    pub compile_threads: NonZeroUsize,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            schedule: Schedule::default(),
            memory_cache_bytes: 256 * 1024 * 1024,
            cache_dir: None,
            compile_threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// Code that passed validation, metering and compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub code_hash: CodeHash,
    pub summary: ModuleSummary,
    /// Gas every call of the code pays before its instance is created: the
    /// schedule's `InstantiationCosts` of `summary.instance`.
    pub instantiation_gas: u64,
}

/// The deterministic contract VM. Cheap to clone; clones share the artifact
/// cache, and may execute on several threads at once.
#[derive(Clone)]
pub struct Vm {
    inner: Arc<VmInner>,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("engine", &self.inner.engine_id)
            .field("schedule_version", &self.inner.schedule.version)
            .finish_non_exhaustive()
    }
}

pub(crate) struct VmInner {
    pub compile_threads: NonZeroUsize,
    pub engine_id: String,
    pub schedule: Schedule,
    pub schedule_hash: [u8; 32],
    pub cache: ArtifactCache,
}

impl Vm {
    pub fn new(config: VmConfig) -> Result<Self, VmError> {
        let engine_id = engine::engine_id(&engine::new_engine(config.compile_threads));
        let schedule_hash = config.schedule.hash();
        Ok(Vm {
            inner: Arc::new(VmInner {
                compile_threads: config.compile_threads,
                engine_id,
                schedule_hash,
                schedule: config.schedule,
                cache: ArtifactCache::new(config.memory_cache_bytes, config.cache_dir)?,
            }),
        })
    }

    pub fn schedule(&self) -> &Schedule {
        &self.inner.schedule
    }

    /// What the artifact cache has done so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Validates, meters and compiles contract code, and caches the
    /// artifact. Deploying calls this once; afterwards the code runs from the
    /// cache by its hash.
    pub fn prepare(&self, wasm: &[u8]) -> Result<Prepared, PrepareError> {
        Ok(self
            .prepare_for_deploy(wasm, u64::MAX)?
            .expect("no compile work costs more than all the gas there is")
            .0)
    }

    /// [`Vm::prepare`] for a deploy with `gas_limit` to spend: after
    /// validation and before compiling, the code's compile work
    /// ([`ModuleSummary::compile_work`] times the schedule's
    /// `compile_work_unit`) is charged. `Ok(None)` when the limit does not
    /// cover it: nothing was compiled (gas before work). The gas is charged
    /// whether or not an artifact of this code is cached already, so that
    /// it is the same on every node.
    pub fn prepare_for_deploy(
        &self,
        wasm: &[u8],
        gas_limit: u64,
    ) -> Result<Option<(Prepared, u64)>, PrepareError> {
        // The meter runs beside validation, also for code whose artifact
        // is cached (looking is work too, and comes after the gas): the
        // per-byte deploy gas (`deploy_byte_gas`), charged before either,
        // pays for both.
        let (summary, metered) = self
            .inner
            .validate_and_meter(wasm, || validate::validate_contract(wasm))?;
        let gas = self.compile_gas(&summary);
        if gas > gas_limit {
            return Ok(None);
        }
        let code_hash = CodeHash::of(wasm);
        let key = || self.inner.key(&code_hash);
        let instantiation_gas = self.inner.instantiation_gas(&summary);
        if self.inner.cache.get(&code_hash, key)?.is_none() {
            let artifact = Artifact {
                module: self.inner.compile_metered(&metered)?,
                instantiation_gas,
            };
            self.inner.cache.insert(code_hash, key(), &artifact)?;
        }
        let prepared = Prepared {
            code_hash,
            summary,
            instantiation_gas,
        };
        Ok(Some((prepared, gas)))
    }

    /// What compiling a module of `summary` costs a deploy.
    pub fn compile_gas(&self, summary: &ModuleSummary) -> u64 {
        summary
            .compile_work
            .saturating_mul(self.inner.schedule.compile_work_unit)
    }

    /// The cache key an artifact of `wasm` has under this VM's schedule and
    /// engine.
    pub fn artifact_key(&self, wasm: &[u8]) -> ArtifactKey {
        self.inner.key(&CodeHash::of(wasm))
    }

    /// A new engine configured like the VM's own (single-pass, the accepted
    /// features, Cairn's native stack), for tools that link several modules
    /// in one store and so must compile them with one engine.
    pub fn new_engine(&self) -> Engine {
        engine::new_engine(self.inner.compile_threads)
    }

    /// Validates any module against the accepted subset (with `imports`
    /// deciding which function imports are allowed), meters it and compiles
    /// it with `engine`, without caching. For conformance tests and tools;
    /// contracts go through [`Vm::prepare`].
    pub fn compile_module(
        &self,
        engine: &Engine,
        wasm: &[u8],
        imports: ImportRule<'_>,
    ) -> Result<Module, PrepareError> {
        let (_, metered) = self
            .inner
            .validate_and_meter(wasm, || validate::validate_module(wasm, imports))?;
        engine::compile_with(engine, &metered).map_err(classify_compile_error)
    }

    /// The serialized artifact of `wasm` (validated, metered, compiled), to
    /// compare compilations byte for byte.
    pub fn artifact_bytes(&self, wasm: &[u8]) -> Result<Vec<u8>, PrepareError> {
        let (_, metered) = self
            .inner
            .validate_and_meter(wasm, || validate::validate_contract(wasm))?;
        Ok(self.inner.compile_metered(&metered)?.serialize()?)
    }

    /// Executes `call` against `state`. The state is only read; on success
    /// the outcome lists the writes ([`Storage::apply`]) and the new
    /// balances for the caller to apply, on failure nothing changes. The
    /// call's value moves from its caller to the contract before the entry
    /// point runs.
    ///
    /// `Err` means the node failed (storage, engine); contract failures are
    /// an `Ok` outcome with a failed status.
    pub fn execute<S: Storage + Contracts + Accounts>(
        &self,
        call: &Call<'_>,
        state: &S,
    ) -> Result<Outcome, VmError> {
        let failed = |status| Outcome {
            status,
            gas_used: 0,
            output: Vec::new(),
            events: Vec::new(),
            writes: Vec::new(),
            balances: Vec::new(),
        };
        if call.input.len() > MAX_INPUT_BYTES {
            return Ok(failed(Status::Trap(TrapCode::HostLimit)));
        }
        let Some(code_hash) = state.code_hash(&call.contract)? else {
            return Ok(failed(Status::Trap(TrapCode::NoSuchContract)));
        };
        let mut tx = TxState {
            state,
            overlay: Overlay::default(),
            events: Vec::new(),
            call_stack: vec![call.contract],
            block: call.block,
        };
        tx.overlay.push();
        if call.value > 0 {
            // A query moves nothing, as it writes nothing.
            if call.read_only {
                return Ok(failed(Status::Trap(TrapCode::ReadOnly)));
            }
            if tx
                .overlay
                .transfer(state, &call.caller, &call.contract, call.value)?
                .is_err()
            {
                return Ok(failed(Status::Trap(TrapCode::InsufficientBalance)));
            }
        }
        let frame = Frame {
            contract: call.contract,
            caller: call.caller,
            code_hash,
            entry: call.entry.to_owned(),
            input: call.input.to_vec(),
            gas_limit: call.gas_limit,
            value: call.value,
            read_only: call.read_only,
            depth: 0,
        };
        // Every store holding this pointer is created and dropped inside
        // `run_frame`, before `tx` goes out of scope.
        let result = run_frame(&self.inner, TxPtr::new(&mut tx), frame)?;
        let (events, (writes, balances)) = if result.status.is_ok() {
            (tx.events, tx.overlay.into_changes())
        } else {
            (Vec::new(), (Vec::new(), Vec::new()))
        };
        Ok(Outcome {
            status: result.status,
            gas_used: result.gas_used,
            output: result.output,
            events,
            writes,
            balances,
        })
    }
}

impl VmInner {
    fn key(&self, code_hash: &CodeHash) -> ArtifactKey {
        ArtifactKey::new(
            code_hash,
            &self.schedule_hash,
            cairn_gas_meter::INSTRUMENTATION_VERSION,
            &self.engine_id,
        )
    }

    fn instantiation_gas(&self, summary: &ModuleSummary) -> u64 {
        self.schedule.instantiation.cost(&summary.instance)
    }

    fn meter(&self, wasm: &[u8]) -> Result<Vec<u8>, PrepareError> {
        cairn_gas_meter::instrument(wasm, &self.schedule).map_err(|error| {
            PrepareError::Rejected(Rejection::new(Reason::Invalid(format!(
                "the gas meter refused it: {error}"
            ))))
        })
    }

    /// Meters and compiles validated code, with an engine of its own.
    fn compile(&self, wasm: &[u8]) -> Result<CompiledModule, PrepareError> {
        self.compile_metered(&self.meter(wasm)?)
    }

    /// Compiles metered code with an engine of its own.
    fn compile_metered(&self, metered: &[u8]) -> Result<CompiledModule, PrepareError> {
        engine::compile(self.compile_threads, metered).map_err(classify_compile_error)
    }

    /// Runs `validate` on `wasm` and meters it at the same time, on a
    /// second thread when the VM compiles on more than one: they were a
    /// third of the compile pipeline, one after the other on one core.
    /// The meter takes unvalidated bytes safely (it parses and checks the
    /// module itself, and refuses what is not valid), and validation's
    /// verdict is returned first, so the outcome is the one running them
    /// in turn gives.
    fn validate_and_meter<T>(
        &self,
        wasm: &[u8],
        validate: impl FnOnce() -> Result<T, Rejection>,
    ) -> Result<(T, Vec<u8>), PrepareError> {
        if self.compile_threads.get() < 2 {
            let validated = validate()?;
            return Ok((validated, self.meter(wasm)?));
        }
        let (validated, metered) = std::thread::scope(|scope| {
            let meter = std::thread::Builder::new()
                .name("cairn-meter".into())
                .spawn_scoped(scope, || self.meter(wasm));
            let validated = validate();
            let metered = match meter {
                Ok(meter) => meter
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: in turn, then.
                Err(_) => self.meter(wasm),
            };
            (validated, metered)
        });
        Ok((validated?, metered?))
    }

    /// The artifact of deployed code: from memory, else from disk, where
    /// deploying (`prepare`) put it. Only if the disk copy is missing or
    /// damaged (or there is no disk cache) is it compiled again from the
    /// code store, inside the call: that costs the node time, and the call
    /// exactly the same gas, since nothing of the outcome depends on where
    /// the artifact came from.
    pub(crate) fn artifact(
        &self,
        code_hash: &CodeHash,
        load_code: impl FnOnce(&CodeHash) -> Result<Option<Vec<u8>>, StorageError>,
    ) -> Result<Artifact, VmError> {
        if let Some(artifact) = self.cache.get(code_hash, || self.key(code_hash))? {
            return Ok(artifact);
        }
        let wasm = load_code(code_hash)?.ok_or(VmError::MissingCode(*code_hash))?;
        // Deployed code was accepted once; if it no longer is, the node's
        // rules changed under it, which is the node's problem.
        let summary = validate::validate_contract(&wasm).map_err(|rejection| {
            VmError::Engine(format!(
                "deployed code {code_hash} no longer validates: {rejection}"
            ))
        })?;
        let module = self.compile(&wasm).map_err(|error| match error {
            PrepareError::Vm(error) => error,
            PrepareError::Rejected(rejection) => VmError::Engine(format!(
                "deployed code {code_hash} no longer compiles: {rejection}"
            )),
        })?;
        let artifact = Artifact {
            module,
            instantiation_gas: self.instantiation_gas(&summary),
        };
        self.cache
            .insert(*code_hash, self.key(code_hash), &artifact)?;
        self.cache.note_recompiled();
        Ok(artifact)
    }
}

/// Running out of resources, or a target the engine cannot serve, is the
/// node's problem; any other compile failure is the code's, and the same
/// answer on every node.
fn classify_compile_error(error: CompileError) -> PrepareError {
    match error {
        CompileError::Resource(_) | CompileError::UnsupportedTarget(_) => {
            PrepareError::Vm(VmError::Engine(format!("compiling: {error}")))
        }
        other => PrepareError::Rejected(Rejection::new(Reason::Invalid(format!(
            "the compiler refused it: {other}"
        )))),
    }
}
