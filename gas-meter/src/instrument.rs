//! Second pass: re-encode the module section by section, rewriting bodies
//! and appending the meter's globals, helpers, thunks and exports.
//!
//! Everything is appended at the end of its index space, so no existing
//! index (function, global, type) moves and element segments, `call`s and
//! data stay as they were.

use std::collections::BTreeMap;

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ExportKind, ExportSection, Function, FunctionSection,
    GlobalSection, GlobalType, MemorySection, MemoryType, Module, SectionId, TypeSection, ValType,
};
use wasmparser::Parser;

use crate::analysis::ModuleInfo;
use crate::body::{BodyRewriter, Injected, check, enter_frame, leave_frame};
use crate::calls::CallPlan;
use crate::{
    Error, GAS_LEFT_EXPORT, STACK_HEIGHT_EXPORT, Schedule, TRAP_EXPORT, TRAP_OUT_OF_GAS,
    TRAP_STACK_OVERFLOW,
};

/// Number of helper functions appended before the export (and start)
/// thunks.
const HELPERS: u32 = 5;

/// Instruments `wasm` for `schedule`: gas charged per basic block as the
/// block starts and checked at loop headers, function entries and host
/// calls, per page and per byte for memory growth and bulk memory, a
/// deterministic stack-height limit, and the schedule's memory cap. Custom
/// sections are dropped.
///
/// The result exports three globals the host drives: [`GAS_LEFT_EXPORT`]
/// (set it to the gas limit, at most [`MAX_GAS_LEFT`](crate::MAX_GAS_LEFT),
/// before a call; what is left after, below zero if the call ran out), and
/// [`TRAP_EXPORT`] and [`STACK_HEIGHT_EXPORT`] (both start at zero).
///
/// The output is a pure function of the input bytes and the schedule.
///
/// # Errors
///
/// A module that is invalid, uses features outside
/// [`supported_features`](crate::supported_features), exports a name with
/// the reserved prefix, or declares a memory over the page limit.
pub fn instrument(wasm: &[u8], schedule: &Schedule) -> Result<Vec<u8>, Error> {
    check_schedule(schedule)?;
    let info = ModuleInfo::analyze(wasm, schedule)?;
    // Heights above the limit all overflow alike; capping keeps the
    // injected i32 arithmetic far from wrapping.
    let plan = CallPlan::new(&info, schedule.stack.max_height + 1);
    // Every function entered from outside, once even if it is both
    // exported and the start function.
    let mut entered: Vec<u32> = info
        .exported_funcs
        .iter()
        .chain(&info.start)
        .copied()
        .collect();
    entered.sort_unstable();
    entered.dedup();
    let types = u32::try_from(info.types.len()).expect("validator limits type count");
    let funcs = info.func_count();
    let mut instrumenter = Instrumenter {
        body: BodyRewriter {
            wasm,
            info: &info,
            plan: &plan,
            injected: Injected {
                gas_global: info.globals,
                stack_global: info.globals + 1,
                trap_global: info.globals + 2,
                out_of_gas_fn: funcs,
                stack_overflow_fn: funcs + 1,
                charge_fn: funcs + 2,
                charge_bytes_fn: funcs + 3,
                charge_pages_fn: funcs + 4,
                stack_limit: schedule.stack.max_height,
            },
            schedule,
        },
        void_type: types,
        charge_type: types + 1,
        dynamic_type: types + 2,
        thunks: entered.into_iter().zip(funcs + HELPERS..).collect(),
        emitted: Vec::new(),
    };
    let mut module = Module::new();
    instrumenter.parse_core_module(&mut module, Parser::new(0), wasm)?;
    Ok(module.finish())
}

fn check_schedule(schedule: &Schedule) -> Result<(), Error> {
    // Keeps `height + frame` far from wrapping in the injected i32 code.
    if schedule.stack.max_height >= 1 << 30 {
        return Err(Error::Schedule("stack.max_height must be below 2^30"));
    }
    // A count below 2^32 times a rate below 2^31 stays below 2^63.
    let dynamic = &schedule.dynamic;
    if dynamic.bulk_memory_per_byte >= 1 << 31 || dynamic.memory_grow_per_page >= 1 << 31 {
        return Err(Error::Schedule("dynamic costs must be below 2^31"));
    }
    if schedule.max_memory_pages > 65_536 {
        return Err(Error::Schedule("max_memory_pages is over the wasm32 limit"));
    }
    Ok(())
}

struct Instrumenter<'a> {
    body: BodyRewriter<'a>,
    void_type: u32,
    charge_type: u32,
    dynamic_type: u32,
    /// Original exported (or start) function index -> its thunk.
    thunks: BTreeMap<u32, u32>,
    /// Sections we have written, to add the missing ones in the right place.
    emitted: Vec<SectionId>,
}

/// Sections the meter always adds to.
const OWN_SECTIONS: [SectionId; 5] = [
    SectionId::Type,
    SectionId::Function,
    SectionId::Global,
    SectionId::Export,
    SectionId::Code,
];

/// Position of a section in the binary format's order.
pub(crate) fn rank(id: SectionId) -> usize {
    const ORDER: [SectionId; 13] = [
        SectionId::Type,
        SectionId::Import,
        SectionId::Function,
        SectionId::Table,
        SectionId::Memory,
        SectionId::Tag,
        SectionId::Global,
        SectionId::Export,
        SectionId::Start,
        SectionId::Element,
        SectionId::DataCount,
        SectionId::Code,
        SectionId::Data,
    ];
    ORDER.iter().position(|&other| other == id).unwrap_or(0)
}

impl Instrumenter<'_> {
    fn injected(&self) -> Injected {
        self.body.injected
    }

    fn add_types(&self, types: &mut TypeSection) {
        types.ty().function([], []);
        types.ty().function([ValType::I64], []);
        types.ty().function([ValType::I32], [ValType::I32]);
    }

    fn add_functions(&self, functions: &mut FunctionSection) {
        functions.function(self.void_type); // out of gas
        functions.function(self.void_type); // stack overflow
        functions.function(self.charge_type);
        functions.function(self.dynamic_type); // per byte
        functions.function(self.dynamic_type); // per page
        for &func in self.thunks.keys() {
            functions.function(self.body.info.func_types[func as usize]);
        }
    }

    fn add_globals(&self, globals: &mut GlobalSection) {
        let mutable = |val_type| GlobalType {
            val_type,
            mutable: true,
            shared: false,
        };
        globals.global(mutable(ValType::I64), &ConstExpr::i64_const(0));
        globals.global(mutable(ValType::I32), &ConstExpr::i32_const(0));
        globals.global(mutable(ValType::I32), &ConstExpr::i32_const(0));
    }

    fn add_exports(&self, exports: &mut ExportSection) {
        let injected = self.injected();
        exports.export(GAS_LEFT_EXPORT, ExportKind::Global, injected.gas_global);
        exports.export(
            STACK_HEIGHT_EXPORT,
            ExportKind::Global,
            injected.stack_global,
        );
        exports.export(TRAP_EXPORT, ExportKind::Global, injected.trap_global);
    }

    fn add_code(&self, code: &mut CodeSection) {
        let injected = self.injected();
        let dynamic = &self.body.schedule.dynamic;
        for flag in [TRAP_OUT_OF_GAS, TRAP_STACK_OVERFLOW] {
            let mut function = Function::new([]);
            function
                .instructions()
                .i32_const(flag)
                .global_set(injected.trap_global)
                .unreachable()
                .end();
            code.function(&function);
        }

        let mut charge = Function::new([]);
        // Signed: the gas left may already be below zero here.
        charge
            .instructions()
            .global_get(injected.gas_global)
            .local_get(0)
            .i64_lt_s()
            .if_(BlockType::Empty)
            .call(injected.out_of_gas_fn)
            .end()
            .global_get(injected.gas_global)
            .local_get(0)
            .i64_sub()
            .global_set(injected.gas_global)
            .end();
        code.function(&charge);

        let mut charge_bytes = Function::new([]);
        charge_bytes
            .instructions()
            .local_get(0)
            .i64_extend_i32_u()
            .i64_const(dynamic.bulk_memory_per_byte.cast_signed())
            .i64_mul()
            .call(injected.charge_fn)
            .local_get(0)
            .end();
        code.function(&charge_bytes);
        code.function(&self.charge_pages());

        for &func in self.thunks.keys() {
            // The host enters the function from outside: a dynamic edge,
            // charged its static height.
            let cost = self.body.plan.height(func);
            let params = self.body.info.func_type(func).params().len();
            let mut function = Function::new([]);
            let mut sink = function.instructions();
            enter_frame(&mut sink, injected, cost);
            for param in 0..params {
                sink.local_get(u32::try_from(param).expect("params fit u32"));
            }
            sink.call(func);
            leave_frame(&mut sink, injected, cost);
            // Blocks charged since the last check may have taken the gas
            // below zero: such a call ends out of gas, never successfully.
            check(&mut sink, injected);
            sink.end();
            code.function(&function);
        }
    }

    /// The helper `memory.grow` calls with its operand: it charges per page
    /// only a grow that can succeed (the memory's size plus the pages asked
    /// for within its maximum); one past the maximum returns -1, and is not
    /// charged for pages it cannot have.
    fn charge_pages(&self) -> Function {
        let injected = self.injected();
        let rate = self.body.schedule.dynamic.memory_grow_per_page;
        let mut function = Function::new([]);
        let mut sink = function.instructions();
        // Without a memory there is no `memory.grow` to call this.
        if let Some(max_pages) = self.body.info.memory_max_pages {
            sink.local_get(0)
                .i64_extend_i32_u()
                .memory_size(0)
                .i64_extend_i32_u()
                .i64_add()
                .i64_const(max_pages.cast_signed())
                .i64_le_u()
                .if_(BlockType::Empty)
                .local_get(0)
                .i64_extend_i32_u()
                .i64_const(rate.cast_signed())
                .i64_mul()
                .call(injected.charge_fn)
                .end();
        }
        sink.local_get(0).end();
        function
    }

    fn emit_missing(&mut self, module: &mut Module, id: SectionId) {
        match id {
            SectionId::Type => {
                let mut section = TypeSection::new();
                self.add_types(&mut section);
                module.section(&section);
            }
            SectionId::Function => {
                let mut section = FunctionSection::new();
                self.add_functions(&mut section);
                module.section(&section);
            }
            SectionId::Global => {
                let mut section = GlobalSection::new();
                self.add_globals(&mut section);
                module.section(&section);
            }
            SectionId::Export => {
                let mut section = ExportSection::new();
                self.add_exports(&mut section);
                module.section(&section);
            }
            SectionId::Code => {
                let mut section = CodeSection::new();
                self.add_code(&mut section);
                module.section(&section);
            }
            _ => unreachable!("the meter adds only its own sections"),
        }
        self.emitted.push(id);
    }
}

impl Reencode for Instrumenter<'_> {
    type Error = Error;

    fn start_section(&mut self, start: u32) -> Result<u32, ReencodeError<Error>> {
        // The start function is entered from outside too.
        Ok(self.thunks[&start])
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReencodeError<Error>> {
        for id in OWN_SECTIONS {
            let due = before.is_none_or(|next| rank(id) < rank(next));
            if due && !self.emitted.contains(&id) {
                self.emit_missing(module, id);
            }
        }
        if let Some(next) = before
            && OWN_SECTIONS.contains(&next)
        {
            self.emitted.push(next);
        }
        Ok(())
    }

    fn parse_type_section(
        &mut self,
        types: &mut TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        utils::parse_type_section(self, types, section)?;
        self.add_types(types);
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        utils::parse_function_section(self, functions, section)?;
        self.add_functions(functions);
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        utils::parse_global_section(self, globals, section)?;
        self.add_globals(globals);
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        for export in section {
            let export = export?;
            let kind = self.export_kind(export.kind)?;
            let index = match export.kind {
                wasmparser::ExternalKind::Func => self.thunks[&export.index],
                _ => self.external_index(export.kind, export.index)?,
            };
            exports.export(export.name, kind, index);
        }
        self.add_exports(exports);
        Ok(())
    }

    fn parse_memory_section(
        &mut self,
        memories: &mut MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        let limit = self.body.schedule.max_memory_pages;
        for memory in section.into_iter_with_offsets() {
            let (offset, memory) = memory?;
            if memory.memory64 || memory.shared || memory.page_size_log2.is_some() {
                return Err(ReencodeError::UserError(Error::unsupported(
                    "memory64, shared or custom-page-size memory",
                    offset,
                )));
            }
            if memory.initial > u64::from(limit) {
                return Err(ReencodeError::UserError(Error::MemoryTooLarge {
                    initial: memory.initial,
                    limit,
                }));
            }
            let maximum = memory
                .maximum
                .map_or(u64::from(limit), |max| max.min(u64::from(limit)));
            memories.memory(MemoryType {
                minimum: memory.initial,
                maximum: Some(maximum),
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        for (index, body) in section.into_iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let function = self
                .body
                .rewrite(self.body.info.imported_funcs.saturating_add(index), &body?)
                .map_err(ReencodeError::UserError)?;
            code.function(&function);
        }
        self.add_code(code);
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        _module: &mut Module,
        _section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), ReencodeError<Error>> {
        // Names and producers are not needed to run, and would only grow the
        // artifact; nothing downstream may depend on them.
        Ok(())
    }
}
