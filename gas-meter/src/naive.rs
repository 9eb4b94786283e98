//! A reference count of the schedule for oracles: a deliberately naive
//! instrumentation that adds each instruction's cost to an exported counter
//! right before that instruction, with no basic blocks at all.
//!
//! It shares nothing with [`instrument`](crate::instrument) but the
//! [`Schedule`]. On a run that does not stop in the middle of a basic block,
//! block metering must charge exactly this total: an if/else charged on one
//! side only, a loop charged once instead of per iteration, a missed branch
//! target or a wrong per-page or per-byte charge would all show up as a
//! difference. `gas-meter/tests/gas_oracle.rs` compares the two on wasmi,
//! and the `gas_oracle` fuzz target compares this count with the gas the VM
//! reports.
//!
//! What the count leaves out, so an oracle must zero or skip it: the
//! schedule's per-block overhead (it has no per-instruction equivalent) and
//! the host functions' own charges.
//!
//! The stack-height limit is modelled too, by a second, naive
//! implementation of its rule (the `stack` module): the counted module
//! keeps the height the rule charges in [`HEIGHT_EXPORT`], stops at the
//! first call that takes it over the limit (recording the count then in
//! [`OVERFLOW_EXPORT`]), and also keeps the height of the frames really on
//! the stack, flagging in [`UNSOUND_EXPORT`] any moment it is above the
//! charged height: the rule promises that never happens.

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{ConstExpr, ExportKind, Function, GlobalType, Module, SectionId, ValType};
use wasmparser::Operator;

use crate::instrument::rank;
use crate::{Error, Schedule};

mod stack;

use stack::StackModel;

/// Export name of the `i64` global holding the count.
pub const COUNTER_EXPORT: &str = "naive_count";
/// Export name of the `i64` global holding the stack height the rule
/// charges. It starts at zero: set it to the entered export's static height
/// ([`static_heights`]) before a call, as the meter's export thunk charges.
pub const HEIGHT_EXPORT: &str = "naive_height";
/// Export name of the `i64` global that is -1 until a call takes the
/// charged height over the limit, and then holds the count at that call
/// (which then traps with `unreachable`).
pub const OVERFLOW_EXPORT: &str = "naive_overflow";
/// Export name of the `i64` global set to 1 if a frame is ever entered with
/// the frames on the stack costing more than the charged height.
pub const UNSOUND_EXPORT: &str = "naive_unsound";

/// The static height of every function (imported ones first) by the
/// stack-height rule: what entering it from the host charges.
///
/// # Errors
///
/// A module that is invalid or uses features outside
/// [`supported_features`](crate::supported_features).
pub fn static_heights(wasm: &[u8], schedule: &Schedule) -> Result<Vec<u64>, Error> {
    Ok(StackModel::new(wasm, schedule)?.heights().to_vec())
}

/// `wasm` with the naive counter added: an exported `i64` global
/// ([`COUNTER_EXPORT`]) starting at zero that every instruction adds its cost
/// to (and `memory.copy`, `memory.fill` and `memory.init` their per-byte
/// part, and `memory.grow` that can succeed its per-page part, read from
/// the operand) before it runs.
/// Every memory gets the schedule's page limit as its maximum, as the meter
/// gives it, so a `memory.grow` past the limit fails in both.
///
/// # Errors
///
/// A module that is invalid or uses features outside
/// [`supported_features`](crate::supported_features), or an instruction the
/// schedule has no cost for.
pub fn instrument(wasm: &[u8], schedule: &Schedule) -> Result<Vec<u8>, Error> {
    wasmparser::Validator::new_with_features(crate::supported_features()).validate_all(wasm)?;
    let mut types = Vec::new();
    let mut body_params = Vec::new();
    let mut imported_globals = 0;
    let mut memory_max_pages = None;
    let limit = u64::from(schedule.max_memory_pages);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload? {
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import?.ty {
                        wasmparser::TypeRef::Global(_) => imported_globals += 1,
                        wasmparser::TypeRef::Memory(memory) => {
                            memory_max_pages = Some(memory.maximum.unwrap_or(1 << 16));
                        }
                        _ => {}
                    }
                }
            }
            wasmparser::Payload::MemorySection(reader) => {
                for memory in reader {
                    memory_max_pages = Some(memory?.maximum.map_or(limit, |max| max.min(limit)));
                }
            }
            wasmparser::Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty?.params().len());
                }
            }
            wasmparser::Payload::FunctionSection(reader) => {
                for ty in reader.into_iter_with_offsets() {
                    let (offset, ty) = ty?;
                    let params = types.get(ty as usize).ok_or_else(|| Error::Invalid {
                        message: format!("unknown type {ty}"),
                        offset,
                    })?;
                    body_params.push(*params);
                }
            }
            _ => {}
        }
    }
    let stack = StackModel::new(wasm, schedule)?;
    let mut module = Module::new();
    NaiveCounter {
        stack,
        schedule,
        imported_globals,
        memory_max_pages,
        counter: None,
        exported: false,
        body_params,
        next_body: 0,
    }
    .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)?;
    Ok(module.finish())
}

struct NaiveCounter<'a> {
    stack: StackModel,
    schedule: &'a Schedule,
    /// Imported globals come first in the global index space.
    imported_globals: u32,
    /// What the memory may grow to, as the meter caps it.
    memory_max_pages: Option<u64>,
    /// Index of the counter global, once the global section is written.
    counter: Option<u32>,
    exported: bool,
    /// Parameter count of each defined function, in body order.
    body_params: Vec<usize>,
    next_body: usize,
}

impl NaiveCounter<'_> {
    /// The counter, then the charged height, the real height, the overflow
    /// and the unsound flag, in that order.
    fn add_counter(&mut self, globals: &mut wasm_encoder::GlobalSection) {
        self.counter = Some(self.imported_globals + globals.len());
        for initial in [0, 0, 0, -1, 0] {
            globals.global(
                GlobalType {
                    val_type: ValType::I64,
                    mutable: true,
                    shared: false,
                },
                &ConstExpr::i64_const(initial),
            );
        }
    }

    fn add_export(&mut self, exports: &mut wasm_encoder::ExportSection) {
        let counter = self.counter.expect("the global section comes first");
        exports.export(COUNTER_EXPORT, ExportKind::Global, counter);
        exports.export(HEIGHT_EXPORT, ExportKind::Global, counter + 1);
        exports.export(OVERFLOW_EXPORT, ExportKind::Global, counter + 3);
        exports.export(UNSOUND_EXPORT, ExportKind::Global, counter + 4);
        self.exported = true;
    }
}

impl Reencode for NaiveCounter<'_> {
    type Error = Error;

    /// Writes the global and export sections a module without them needs
    /// for the counter.
    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReencodeError<Error>> {
        let due = |id| before.is_none_or(|next| rank(id) < rank(next));
        if self.counter.is_none() && due(SectionId::Global) {
            let mut globals = wasm_encoder::GlobalSection::new();
            self.add_counter(&mut globals);
            module.section(&globals);
        }
        if !self.exported && due(SectionId::Export) {
            let mut exports = wasm_encoder::ExportSection::new();
            self.add_export(&mut exports);
            module.section(&exports);
        }
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        utils::parse_global_section(self, globals, section)?;
        self.add_counter(globals);
        Ok(())
    }

    fn parse_memory_section(
        &mut self,
        memories: &mut wasm_encoder::MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
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
    ) -> Result<(), ReencodeError<Error>> {
        utils::parse_export_section(self, exports, section)?;
        self.add_export(exports);
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        let mut locals = Vec::new();
        let mut declared = 0;
        for local in func.get_locals_reader()? {
            let (n, ty) = local?;
            declared += n;
            locals.push((n, self.val_type(ty)?));
        }
        // A scratch local, after parameters and all other locals, to hold
        // the operand of a dynamically priced instruction; then one for the
        // real height below this frame.
        locals.push((1, ValType::I32));
        locals.push((1, ValType::I64));
        let params = self.body_params.get(self.next_body).copied();
        let params = params.ok_or_else(|| {
            ReencodeError::UserError(Error::Invalid {
                message: "more function bodies than functions".to_owned(),
                offset: func.range().start,
            })
        })?;
        let scratch = u32::try_from(params)
            .unwrap_or(u32::MAX)
            .saturating_add(declared);
        let saved_real = scratch.saturating_add(1);
        let func_index = u32::try_from(self.next_body)
            .unwrap_or(u32::MAX)
            .saturating_add(self.stack.imported());
        self.next_body += 1;
        let counter = self.counter.expect("the global section comes first");
        let (height, real, overflow, unsound) =
            (counter + 1, counter + 2, counter + 3, counter + 4);
        let limit = i64::from(self.schedule.stack.max_height);
        let frame = self.stack.frame(func_index).cast_signed();
        // Flags the moment the real frames, with `extra` on top, cost more
        // than the charged height.
        let check_sound = |sink: &mut wasm_encoder::InstructionSink<'_>, extra: i64| {
            sink.global_get(real)
                .i64_const(extra)
                .i64_add()
                .global_get(height)
                .i64_gt_s()
                .if_(wasm_encoder::BlockType::Empty)
                .i64_const(1)
                .global_set(unsound)
                .end();
        };
        let costs = &self.schedule.instructions;
        let dynamic = &self.schedule.dynamic;
        let mut function = Function::new(locals);
        // This frame is now on the real stack.
        let mut sink = function.instructions();
        sink.global_get(real)
            .local_tee(saved_real)
            .i64_const(frame)
            .i64_add()
            .global_set(real);
        check_sound(&mut sink, 0);
        // Entering the function: its parameters and declared locals.
        let entry = (params as u64)
            .saturating_mul(costs.frame_param)
            .saturating_add(u64::from(declared).saturating_mul(costs.frame_local));
        if entry > 0 {
            function
                .instructions()
                .global_get(counter)
                .i64_const(entry.cast_signed())
                .i64_add()
                .global_set(counter);
        }
        for op in func.get_operators_reader()?.into_iter_with_offsets() {
            let (op, offset) = op?;
            let cost = costs.cost(&op).ok_or_else(|| {
                ReencodeError::UserError(Error::unsupported(format!("{op:?}"), offset))
            })?;
            let mut sink = function.instructions();
            match op {
                // Pages are counted only when the grow can succeed.
                Operator::MemoryGrow { .. } => {
                    let max = self.memory_max_pages.unwrap_or(0).cast_signed();
                    sink.local_tee(scratch)
                        .i64_extend_i32_u()
                        .memory_size(0)
                        .i64_extend_i32_u()
                        .i64_add()
                        .i64_const(max)
                        .i64_le_u()
                        .if_(wasm_encoder::BlockType::Empty)
                        .local_get(scratch)
                        .i64_extend_i32_u()
                        .i64_const(dynamic.memory_grow_per_page.cast_signed())
                        .i64_mul()
                        .global_get(counter)
                        .i64_add()
                        .global_set(counter)
                        .end()
                        .local_get(scratch);
                }
                Operator::MemoryCopy { .. }
                | Operator::MemoryFill { .. }
                | Operator::MemoryInit { .. } => {
                    sink.local_tee(scratch)
                        .i64_extend_i32_u()
                        .i64_const(dynamic.bulk_memory_per_byte.cast_signed())
                        .i64_mul()
                        .global_get(counter)
                        .i64_add()
                        .global_set(counter)
                        .local_get(scratch);
                }
                _ => {}
            }
            sink.global_get(counter)
                .i64_const(cost.cast_signed())
                .i64_add()
                .global_set(counter);
            let site = match op {
                Operator::Call { function_index } => {
                    Some(self.stack.direct(func_index, function_index))
                }
                Operator::CallIndirect { type_index, .. } => {
                    Some(self.stack.indirect(func_index, type_index))
                }
                _ => None,
            };
            let Some(site) = site else {
                function.instruction(&self.instruction(op)?);
                continue;
            };
            if let Some(host) = site.host_frame {
                check_sound(&mut sink, host.cast_signed());
            }
            if let Some(charge) = site.charge {
                sink.global_get(height)
                    .i64_const(charge.cast_signed())
                    .i64_add()
                    .global_set(height)
                    .global_get(height)
                    .i64_const(limit)
                    .i64_gt_s()
                    .if_(wasm_encoder::BlockType::Empty)
                    .global_get(counter)
                    .global_set(overflow)
                    .unreachable()
                    .end();
            }
            function.instruction(&self.instruction(op)?);
            let mut sink = function.instructions();
            if let Some(charge) = site.charge {
                sink.global_get(height)
                    .i64_const(charge.cast_signed())
                    .i64_sub()
                    .global_set(height);
            }
            // However the callee left, its frames are gone.
            sink.local_get(saved_real)
                .i64_const(frame)
                .i64_add()
                .global_set(real);
        }
        code.function(&function);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the `() -> ()` export `entry` of a counted module in wasmi and
    /// returns the count.
    fn count(counted: &[u8], entry: &str) -> u64 {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, counted).unwrap();
        let mut store = wasmi::Store::new(&engine, ());
        let mut linker = wasmi::Linker::<()>::new(&engine);
        let imported = wasmi::Global::new(&mut store, wasmi::Val::I32(7), wasmi::Mutability::Const);
        linker.define("env", "g", imported).unwrap();
        let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
        let func = instance.get_typed_func::<(), ()>(&store, entry).unwrap();
        func.call(&mut store, ()).unwrap();
        match instance
            .get_global(&store, COUNTER_EXPORT)
            .unwrap()
            .get(&store)
        {
            wasmi::Val::I64(count) => count.cast_unsigned(),
            other => panic!("the counter holds {other:?}"),
        }
    }

    #[test]
    fn every_instruction_that_runs_adds_its_cost() {
        let schedule = Schedule::default();
        let costs = &schedule.instructions;
        // Neither a global nor, until this one, an export section: the
        // counter's sections are written for it.
        let wasm = wat::parse_str(
            r#"(module (func (export "f") (local i32)
                 (local.set 0 (i32.const 3))
                 (loop (br_if 0 (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))))"#,
        )
        .unwrap();
        let counted = instrument(&wasm, &schedule).unwrap();
        // Entering `f` pays for its one local.
        let setup = costs.frame_local + costs.constant + costs.local;
        let iteration = 2 * costs.local + costs.constant + costs.simple + costs.branch;
        assert_eq!(count(&counted, "f"), setup + 3 * iteration);
    }

    #[test]
    fn the_counter_goes_after_imported_and_defined_globals() {
        let wasm = wat::parse_str(
            r#"(module
                 (import "env" "g" (global i32))
                 (global (mut i32) (i32.const 0))
                 (func (export "f") (global.set 1 (global.get 0))))"#,
        )
        .unwrap();
        let schedule = Schedule::default();
        let counted = instrument(&wasm, &schedule).unwrap();
        assert_eq!(count(&counted, "f"), 2 * schedule.instructions.global);
    }

    #[test]
    fn modules_without_exports_get_the_counter_exported() {
        let counted = instrument(
            &wat::parse_str("(module (func))").unwrap(),
            &Schedule::default(),
        );
        let exports: Vec<String> = wasmparser::Parser::new(0)
            .parse_all(&counted.unwrap())
            .filter_map(|payload| match payload.unwrap() {
                wasmparser::Payload::ExportSection(reader) => Some(reader),
                _ => None,
            })
            .flat_map(|reader| reader.into_iter().map(|e| e.unwrap().name.to_owned()))
            .collect();
        assert_eq!(
            exports,
            [
                COUNTER_EXPORT,
                HEIGHT_EXPORT,
                OVERFLOW_EXPORT,
                UNSOUND_EXPORT
            ]
        );
    }

    #[test]
    fn modules_outside_the_subset_are_an_error_not_a_panic() {
        let wasm = wat::parse_str("(module (func (drop (f32.const 1))))").unwrap();
        assert!(matches!(
            instrument(&wasm, &Schedule::default()),
            Err(Error::Invalid { message, .. }) if message.contains("floating-point")
        ));
        assert!(matches!(
            instrument(b"\0asm\x01\0\0\0\x01", &Schedule::default()),
            Err(Error::Invalid { .. })
        ));
    }
}
