//! The gas oracle's independent count: a deliberately naive instrumentation
//! that adds each instruction's cost from the schedule to a counter right
//! before that instruction, with no basic blocks at all, run in wasmi.
//!
//! On a run that does not stop in the middle of a basic block, the block
//! metering of `cairn-gas-meter` must charge exactly this total: an if/else
//! charged on one side only, a loop charged once instead of per iteration,
//! a missed branch target or a wrong per-page or per-byte charge would all
//! show up as a difference. This is a second, separate copy of the counter
//! in `gas-meter/tests/gas_oracle.rs` (which checks the meter on wasmi);
//! here the count is compared with what the VM itself reports, compiled by
//! wasmer.
//!
//! The schedule's per-block overhead has no per-instruction equivalent, so
//! the oracle runs with it set to zero; `gas-meter/tests/metering.rs` pins
//! it with exact tests.

use cairn_gas_meter::Schedule;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder, utils};
use wasm_encoder::{ConstExpr, ExportKind, Function, GlobalType, ValType};
use wasmi::{Engine, Linker, Module, Store, Val};
use wasmparser::Operator;

/// The exported `i64` global holding the naive count.
pub const COUNTER_EXPORT: &str = "naive_count";

/// Adds `cost(op)` (and the per-page or per-byte part, read from the
/// operand) to an exported counter before every instruction.
struct NaiveCounter<'a> {
    schedule: &'a Schedule,
    globals: u32,
    /// Parameter count of each defined function, in body order.
    body_params: Vec<u32>,
    next_body: usize,
}

impl Reencode for NaiveCounter<'_> {
    type Error = std::convert::Infallible;

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error> {
        self.globals = section.count();
        utils::parse_global_section(&mut RoundtripReencoder, globals, section)?;
        globals.global(
            GlobalType {
                val_type: ValType::I64,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i64_const(0),
        );
        Ok(())
    }

    /// The VM caps every memory at the schedule's `max_memory_pages`; a
    /// grow past it fails there, so it must fail here too (and wasmi must
    /// not allocate gigabytes a contract can never have).
    fn parse_memory_section(
        &mut self,
        memories: &mut wasm_encoder::MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error> {
        let limit = u64::from(self.schedule.max_memory_pages);
        for memory in section {
            let memory = memory?;
            memories.memory(wasm_encoder::MemoryType {
                minimum: memory.initial,
                maximum: Some(memory.maximum.unwrap_or(limit).min(limit)),
                memory64: memory.memory64,
                shared: memory.shared,
                page_size_log2: memory.page_size_log2,
            });
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error> {
        utils::parse_export_section(&mut RoundtripReencoder, exports, section)?;
        exports.export(COUNTER_EXPORT, ExportKind::Global, self.globals);
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error> {
        let mut locals = Vec::new();
        let mut count = 0;
        for local in func.get_locals_reader()? {
            let (n, ty) = local?;
            count += n;
            locals.push((n, RoundtripReencoder.val_type(ty)?));
        }
        // A scratch local, after parameters and all other locals, to hold
        // the operand of a dynamically priced instruction.
        locals.push((1, ValType::I32));
        let scratch = self.body_params[self.next_body] + count;
        self.next_body += 1;
        let mut function = Function::new(locals);
        let counter = self.globals;
        let costs = &self.schedule.instructions;
        let dynamic = &self.schedule.dynamic;
        for op in func.get_operators_reader()? {
            let op = op?;
            let cost = costs
                .cost(&op)
                .expect("generated modules stay in the subset");
            let per_unit = match op {
                Operator::MemoryGrow { .. } => Some(dynamic.memory_grow_per_page),
                Operator::MemoryCopy { .. }
                | Operator::MemoryFill { .. }
                | Operator::MemoryInit { .. } => Some(dynamic.bulk_memory_per_byte),
                _ => None,
            };
            let mut sink = function.instructions();
            if let Some(rate) = per_unit {
                sink.local_tee(scratch)
                    .i64_extend_i32_u()
                    .i64_const(rate.cast_signed())
                    .i64_mul()
                    .global_get(counter)
                    .i64_add()
                    .global_set(counter)
                    .local_get(scratch);
            }
            sink.global_get(counter)
                .i64_const(cost.cast_signed())
                .i64_add()
                .global_set(counter);
            function.instruction(&RoundtripReencoder.instruction(op)?);
        }
        code.function(&function);
        Ok(())
    }
}

/// `wasm` with the naive counter added. The module must not import
/// functions (the scratch-local bookkeeping counts defined ones only), must
/// have a global section or none, and must stay in the accepted subset.
///
/// # Panics
///
/// On a module outside those assumptions.
pub fn instrument(wasm: &[u8], schedule: &Schedule) -> Vec<u8> {
    let mut types = Vec::new();
    let mut params = Vec::new();
    let mut has_globals = false;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.expect("a valid module") {
            wasmparser::Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let count = ty.expect("a function type").params().len();
                    types.push(u32::try_from(count).expect("few parameters"));
                }
            }
            wasmparser::Payload::ImportSection(reader) => {
                assert_eq!(reader.count(), 0, "the naive counter takes no imports");
            }
            wasmparser::Payload::FunctionSection(reader) => {
                for ty in reader {
                    params.push(types[ty.expect("a type index") as usize]);
                }
            }
            wasmparser::Payload::GlobalSection(_) => has_globals = true,
            _ => {}
        }
    }
    assert!(
        has_globals,
        "the counter is appended to the global section, which must exist"
    );
    let mut module = wasm_encoder::Module::new();
    NaiveCounter {
        schedule,
        globals: 0,
        body_params: params,
        next_body: 0,
    }
    .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
    .expect("re-encoding a valid module");
    module.finish()
}

/// How a naive run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Returned,
    /// wasm-smith's fuel ran out: an `unreachable` at the head of a block.
    FuelTrap,
}

/// Calls the `() -> ()` export `entry` of a naively counted module in wasmi
/// and returns how it ended and the count.
///
/// # Panics
///
/// On any other trap: the oracle runs terminating, trap-free modules
/// (wasm-smith's `disallow_traps` and `ensure_termination`), so anything
/// else is the generator's or wasmi's fault.
pub fn run(counted: &[u8], entry: &str) -> (End, u64) {
    let mut config = wasmi::Config::default();
    config
        .set_max_recursion_depth(1 << 20)
        .set_max_stack_height(256 << 20);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, counted).expect("the counted module is valid");
    let mut store = Store::new(&engine, ());
    let instance = Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .expect("instantiates without imports");
    let func = instance
        .get_typed_func::<(), ()>(&store, entry)
        .expect("the entry point is exported");
    let end = match func.call(&mut store, ()) {
        Ok(()) => End::Returned,
        Err(error) if error.as_trap_code() == Some(wasmi::TrapCode::UnreachableCodeReached) => {
            End::FuelTrap
        }
        Err(error) => panic!("a trap-free module trapped in wasmi: {error}"),
    };
    let count = match instance
        .get_global(&store, COUNTER_EXPORT)
        .expect("the counter is exported")
        .get(&store)
    {
        Val::I64(count) => count.cast_unsigned(),
        other => panic!("the counter holds {other:?}"),
    };
    (end, count)
}
