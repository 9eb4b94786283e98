//! Validation: the first thing that happens to uploaded code.
//!
//! A pipeline of small checks, one per section, each against a named limit
//! in [`crate::limits`], walking the module once with bounded work per byte:
//! counts are checked against their limits before anything is allocated for
//! them. It names the first rejected feature or limit it meets and where.
//! Only then does the full WebAssembly validation (wasmparser, with exactly
//! the features the gas meter supports) run, so that every module that gets
//! past here can be metered and compiled.

mod compile_work;
mod operators;
mod rejection;

use wasmparser::{
    CompositeInnerType, ConstExpr, DataKind, ElementItems, ElementKind, ExternalKind, FuncType,
    FunctionBody, Operator, Parser, Payload, RecGroup, TableInit, TypeRef,
};

pub use rejection::{Feature, LIMITS, Reason, Rejection, UNLISTED_LIMIT_CODE, rejection_codes};

use cairn_gas_meter::InstanceShape;

use crate::host::abi::{self, HOST_MODULE};
use crate::limits::*;
use operators::{operator_feature, operator_name, val_type_feature};

const PAGE_BYTES: u64 = 64 * 1024;

/// What validation learned about an accepted module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSummary {
    /// Exported functions of type `() -> ()`: what a transaction may call.
    pub entry_points: Vec<String>,
    /// Every export name.
    pub exports: Vec<String>,
    /// `module.name` of every imported function.
    pub imports: Vec<String>,
    /// Functions, imported and defined.
    pub functions: u32,
    /// Initial linear memory in pages, if the module has a memory.
    pub memory_pages: Option<u64>,
    /// What instantiating the module makes the engine do: every call pays
    /// for it before its instance is created (`InstantiationCosts`).
    pub instance: InstanceShape,
    /// What compiling the module walks, in the units of
    /// [`MAX_COMPILE_WORK`](crate::limits::MAX_COMPILE_WORK): a deploy pays
    /// `Schedule::compile_work_unit` for each before it is compiled.
    pub compile_work: u64,
}

/// Decides whether an imported function may be imported.
pub type ImportRule<'a> = &'a dyn Fn(&str, &str, &FuncType) -> Result<(), String>;

/// Validates a contract: the accepted subset and limits, imports only from
/// the host table (docs/ABI.md), its memory exported as `memory`, and every
/// exported function an entry point of type `() -> ()`.
pub fn validate_contract(wasm: &[u8]) -> Result<ModuleSummary, Rejection> {
    let summary = Checker::new(&host_import_rule, true).run(wasm)?;
    Ok(summary)
}

/// Validates any module against the accepted subset and limits, with the
/// caller deciding which function imports are allowed. This is what the
/// spec-test runner uses; contracts go through [`validate_contract`].
pub fn validate_module(wasm: &[u8], imports: ImportRule<'_>) -> Result<ModuleSummary, Rejection> {
    Checker::new(imports, false).run(wasm)
}

/// The import rule of contracts: functions of the host table
/// (docs/ABI.md) with their exact signatures.
pub fn host_import_rule(module: &str, name: &str, ty: &FuncType) -> Result<(), String> {
    if module != HOST_MODULE {
        return Err(format!(
            "contracts import only from the `{HOST_MODULE}` host module (see docs/ABI.md)"
        ));
    }
    let Some(host) = abi::find(name) else {
        return Err(format!(
            "`{name}` is not a host function (see docs/ABI.md for the host table)"
        ));
    };
    if !host.matches(ty) {
        return Err(format!(
            "declared as {}, but the host function is {}",
            abi::signature_text(ty.params(), ty.results()),
            host.signature(),
        ));
    }
    Ok(())
}

struct Checker<'a> {
    imports: ImportRule<'a>,
    contract: bool,
    types: Vec<FuncType>,
    /// Type index of every function, imported first.
    func_types: Vec<u32>,
    imported_funcs: u32,
    tables: u32,
    table_initial: u64,
    memories: u32,
    memory_initial: Option<u64>,
    globals: u32,
    total_locals: u64,
    element_entries: u64,
    next_body: u32,
    memory_exported: bool,
    /// The first broken contract rule. Reported only if nothing more
    /// fundamental (a rejected feature, a limit, invalid wasm) is found, so
    /// a module with floats is told about floats, not about its exports.
    contract_error: Option<Rejection>,
    summary: ModuleSummary,
}

impl<'a> Checker<'a> {
    fn new(imports: ImportRule<'a>, contract: bool) -> Self {
        Checker {
            imports,
            contract,
            types: Vec::new(),
            func_types: Vec::new(),
            imported_funcs: 0,
            tables: 0,
            table_initial: 0,
            memories: 0,
            memory_initial: None,
            globals: 0,
            total_locals: 0,
            element_entries: 0,
            next_body: 0,
            memory_exported: false,
            contract_error: None,
            summary: ModuleSummary {
                entry_points: Vec::new(),
                exports: Vec::new(),
                imports: Vec::new(),
                functions: 0,
                memory_pages: None,
                instance: InstanceShape::default(),
                compile_work: 0,
            },
        }
    }

    fn run(mut self, wasm: &[u8]) -> Result<ModuleSummary, Rejection> {
        if wasm.len() > MAX_CODE_BYTES {
            return Err(Rejection::limit(
                "MAX_CODE_BYTES",
                MAX_CODE_BYTES,
                wasm.len(),
            ));
        }
        for payload in Parser::new(0).parse_all(wasm) {
            self.payload(payload?)?;
        }
        // Everything named above passed; the full validation catches what is
        // not a feature or limit question (type errors, bad indices) and
        // bounds what compiling the code walks of the operand stack.
        self.summary.compile_work = compile_work::validate_bounded(wasm)?;
        if let Some(error) = self.contract_error {
            return Err(error);
        }
        if self.contract && (self.memories == 0 || !self.memory_exported) {
            return Err(Rejection::contract(
                "a contract must define its linear memory and export it as `memory`",
            ));
        }
        self.summary.functions = u32::try_from(self.func_types.len()).unwrap_or(u32::MAX);
        self.summary.memory_pages = self.memory_initial;
        let instance = &mut self.summary.instance;
        instance.imports = self.summary.imports.len() as u64;
        instance.functions = self.func_types.len() as u64;
        instance.globals = u64::from(self.globals);
        instance.exports = self.summary.exports.len() as u64;
        instance.table_entries = self.table_initial;
        instance.element_entries = self.element_entries;
        instance.memory_pages = self.memory_initial.unwrap_or(0);
        Ok(self.summary)
    }

    fn payload(&mut self, payload: Payload<'_>) -> Result<(), Rejection> {
        match payload {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                range,
                ..
            } => Err(Rejection::feature(Feature::ComponentModel, "a component").at(range.start)),
            Payload::TypeSection(reader) => {
                check_count("MAX_TYPES", MAX_TYPES, reader.count(), reader.range().start)?;
                for group in reader.into_iter_with_offsets() {
                    let (offset, group) = group?;
                    self.rec_group(group).map_err(|error| error.at(offset))?;
                }
                Ok(())
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports_with_offsets() {
                    let (offset, import) = import?;
                    self.import(import).map_err(|error| error.at(offset))?;
                }
                Ok(())
            }
            Payload::FunctionSection(reader) => {
                let total = u64::from(self.imported_funcs) + u64::from(reader.count());
                check_count("MAX_FUNCTIONS", MAX_FUNCTIONS, total, reader.range().start)?;
                for ty in reader {
                    self.func_types.push(ty?);
                }
                Ok(())
            }
            Payload::TableSection(reader) => {
                for table in reader.into_iter_with_offsets() {
                    let (offset, table) = table?;
                    self.table(table).map_err(|error| error.at(offset))?;
                }
                Ok(())
            }
            Payload::MemorySection(reader) => {
                for memory in reader.into_iter_with_offsets() {
                    let (offset, memory) = memory?;
                    self.memory(memory).map_err(|error| error.at(offset))?;
                }
                Ok(())
            }
            Payload::TagSection(reader) => {
                Err(Rejection::feature(Feature::Exceptions, "a tag section")
                    .at(reader.range().start))
            }
            Payload::GlobalSection(reader) => {
                let total = u64::from(self.globals) + u64::from(reader.count());
                check_count("MAX_GLOBALS", MAX_GLOBALS, total, reader.range().start)?;
                for global in reader.into_iter_with_offsets() {
                    let (offset, global) = global?;
                    if let Some(feature) = val_type_feature(global.ty.content_type) {
                        let what = format!("a global of type {}", global.ty.content_type);
                        return Err(Rejection::feature(feature, what).at(offset));
                    }
                    if global.ty.shared {
                        return Err(
                            Rejection::feature(Feature::Threads, "a shared global").at(offset)
                        );
                    }
                    const_value(&global.init_expr, "a global initialiser")?;
                    self.globals += 1;
                }
                Ok(())
            }
            Payload::ExportSection(reader) => {
                check_count(
                    "MAX_EXPORTS",
                    MAX_EXPORTS,
                    reader.count(),
                    reader.range().start,
                )?;
                for export in reader.into_iter_with_offsets() {
                    let (offset, export) = export?;
                    if let Err(error) = self.export(export) {
                        let error = error.at(offset);
                        match error.reason {
                            Reason::Contract(_) => {
                                self.contract_error.get_or_insert(error);
                            }
                            _ => return Err(error),
                        }
                    }
                }
                Ok(())
            }
            Payload::StartSection { func, range } => Err(Rejection::feature(
                Feature::StartFunction,
                format!("function {func} would run at instantiation, outside any metered call"),
            )
            .at(range.start)),
            Payload::ElementSection(reader) => {
                let count = reader.count();
                check_count(
                    "MAX_ELEMENT_SEGMENTS",
                    MAX_ELEMENT_SEGMENTS,
                    count,
                    reader.range().start,
                )?;
                for element in reader.into_iter_with_offsets() {
                    let (offset, element) = element?;
                    self.element(element).map_err(|error| error.at(offset))?;
                    self.summary.instance.element_segments += 1;
                }
                Ok(())
            }
            Payload::DataSection(reader) => {
                check_count(
                    "MAX_DATA_SEGMENTS",
                    MAX_DATA_SEGMENTS,
                    reader.count(),
                    reader.range().start,
                )?;
                for data in reader.into_iter_with_offsets() {
                    let (offset, data) = data?;
                    let bytes = data.data.len() as u64;
                    self.data(data).map_err(|error| error.at(offset))?;
                    let instance = &mut self.summary.instance;
                    instance.data_segments += 1;
                    instance.data_bytes += bytes;
                }
                Ok(())
            }
            Payload::CodeSectionEntry(body) => {
                let function = self.imported_funcs + self.next_body;
                self.next_body += 1;
                self.body(function, &body)
                    .map_err(|error| error.in_function(function))
            }
            Payload::UnknownSection { id, range, .. } => Err(Rejection::new(Reason::Invalid(
                format!("unknown section id {id}"),
            ))
            .at(range.start)),
            _ => Ok(()),
        }
    }

    fn rec_group(&mut self, group: RecGroup) -> Result<(), Rejection> {
        if group.is_explicit_rec_group() {
            return Err(Rejection::feature(Feature::Gc, "a recursive type group"));
        }
        for sub_type in group.into_types() {
            if !sub_type.is_final || !sub_type.supertype_idxs.is_empty() {
                return Err(Rejection::feature(Feature::Gc, "a subtype declaration"));
            }
            if sub_type.composite_type.shared {
                return Err(Rejection::feature(Feature::Threads, "a shared type"));
            }
            match sub_type.composite_type.inner {
                CompositeInnerType::Func(ty) => {
                    check_signature(&ty)?;
                    self.types.push(ty);
                }
                CompositeInnerType::Cont(_) => {
                    return Err(Rejection::feature(
                        Feature::StackSwitching,
                        "a continuation type",
                    ));
                }
                _ => return Err(Rejection::feature(Feature::Gc, "a struct or array type")),
            }
        }
        Ok(())
    }

    fn import(&mut self, import: wasmparser::Import<'_>) -> Result<(), Rejection> {
        let refuse = |why: &str| {
            Rejection::new(Reason::Import {
                module: import.module.to_owned(),
                name: import.name.to_owned(),
                why: why.to_owned(),
            })
        };
        match import.ty {
            TypeRef::Func(index) => {
                let ty = self
                    .types
                    .get(index as usize)
                    .ok_or_else(|| refuse("refers to a type that does not exist"))?;
                (self.imports)(import.module, import.name, ty).map_err(|why| refuse(&why))?;
                let qualified = format!("{}.{}", import.module, import.name);
                // Every import is bound at each instantiation, for free: a
                // contract needs each host function once.
                if self.contract && self.summary.imports.contains(&qualified) {
                    return Err(refuse("is imported twice; import each host function once"));
                }
                check_count(
                    "MAX_FUNCTIONS",
                    MAX_FUNCTIONS,
                    self.func_types.len() + 1,
                    0u64,
                )?;
                self.func_types.push(index);
                self.imported_funcs += 1;
                self.summary.imports.push(qualified);
                Ok(())
            }
            TypeRef::FuncExact(_) => {
                Err(Rejection::feature(Feature::Gc, "an exact function import"))
            }
            TypeRef::Tag(_) => Err(Rejection::feature(Feature::Exceptions, "an imported tag")),
            TypeRef::Memory(_) => Err(refuse(
                "only host functions can be imported; a contract defines its own memory",
            )),
            TypeRef::Table(_) => Err(refuse("only host functions can be imported, not tables")),
            TypeRef::Global(_) => Err(refuse("only host functions can be imported, not globals")),
        }
    }

    fn table(&mut self, table: wasmparser::Table<'_>) -> Result<(), Rejection> {
        self.tables += 1;
        if self.tables > 1 {
            return Err(Rejection::feature(Feature::MultiTable, "a second table"));
        }
        let ty = table.ty;
        if ty.table64 {
            return Err(Rejection::feature(Feature::Memory64, "a 64-bit table"));
        }
        if ty.shared {
            return Err(Rejection::feature(Feature::Threads, "a shared table"));
        }
        if ty.element_type != wasmparser::RefType::FUNCREF {
            let what = format!("a table of {}", ty.element_type);
            return Err(Rejection::feature(Feature::ReferenceTypes, what));
        }
        if let TableInit::Expr(_) = table.init {
            return Err(Rejection::feature(
                Feature::ReferenceTypes,
                "a table initialiser expression",
            ));
        }
        // Tables cannot grow in the accepted subset, but engines still size
        // them by their maximum: a huge one would fail at instantiation.
        for size in [Some(ty.initial), ty.maximum].into_iter().flatten() {
            if size > u64::from(MAX_TABLE_ELEMENTS) {
                return Err(Rejection::limit(
                    "MAX_TABLE_ELEMENTS",
                    MAX_TABLE_ELEMENTS,
                    size,
                ));
            }
        }
        self.table_initial = ty.initial;
        Ok(())
    }

    fn memory(&mut self, memory: wasmparser::MemoryType) -> Result<(), Rejection> {
        self.memories += 1;
        if self.memories > 1 {
            return Err(Rejection::feature(Feature::MultiMemory, "a second memory"));
        }
        if memory.memory64 {
            return Err(Rejection::feature(Feature::Memory64, "a 64-bit memory"));
        }
        if memory.shared {
            return Err(Rejection::feature(Feature::Threads, "a shared memory"));
        }
        if memory.page_size_log2.is_some() {
            return Err(Rejection::feature(
                Feature::CustomPageSizes,
                "a custom page size",
            ));
        }
        // Only the initial size is limited here: a larger declared maximum
        // is lowered to the cap by the meter, and growing past the cap
        // fails (returns -1) as wasm allows any grow to.
        let max = u64::from(MAX_MEMORY_PAGES);
        if memory.initial > max {
            return Err(Rejection::limit("MAX_MEMORY_PAGES", max, memory.initial));
        }
        self.memory_initial = Some(memory.initial);
        Ok(())
    }

    fn export(&mut self, export: wasmparser::Export<'_>) -> Result<(), Rejection> {
        if export.name.len() > MAX_EXPORT_NAME_BYTES {
            return Err(Rejection::limit(
                "MAX_EXPORT_NAME_BYTES",
                MAX_EXPORT_NAME_BYTES,
                export.name.len(),
            ));
        }
        if export
            .name
            .starts_with(cairn_gas_meter::RESERVED_EXPORT_PREFIX)
        {
            return Err(Rejection::contract(format!(
                "export name `{}` uses the reserved prefix `{}`",
                export.name,
                cairn_gas_meter::RESERVED_EXPORT_PREFIX
            )));
        }
        match export.kind {
            ExternalKind::Func | ExternalKind::FuncExact => {
                let ty = self
                    .func_types
                    .get(export.index as usize)
                    .and_then(|&ty| self.types.get(ty as usize));
                let is_entry =
                    ty.is_some_and(|ty| ty.params().is_empty() && ty.results().is_empty());
                if is_entry {
                    self.summary.entry_points.push(export.name.to_owned());
                } else if self.contract {
                    let signature = ty.map_or_else(
                        || "an unknown type".to_owned(),
                        |ty| abi::signature_text(ty.params(), ty.results()),
                    );
                    return Err(Rejection::contract(format!(
                        "exported function `{}` has type {signature}; entry points take and \
                         return nothing (input and output go through host calls)",
                        export.name
                    )));
                }
            }
            ExternalKind::Memory => {
                if export.name == "memory" {
                    self.memory_exported = true;
                }
            }
            ExternalKind::Tag => {
                return Err(Rejection::feature(Feature::Exceptions, "an exported tag"));
            }
            ExternalKind::Table | ExternalKind::Global => {}
        }
        self.summary.exports.push(export.name.to_owned());
        Ok(())
    }

    fn element(&mut self, element: wasmparser::Element<'_>) -> Result<(), Rejection> {
        let offset = match element.kind {
            ElementKind::Active {
                table_index,
                offset_expr,
            } => {
                if table_index.unwrap_or(0) != 0 {
                    return Err(Rejection::feature(
                        Feature::MultiTable,
                        "an element segment for table 1+",
                    ));
                }
                const_value(&offset_expr, "an element segment offset")?
            }
            ElementKind::Passive | ElementKind::Declared => {
                return Err(Rejection::feature(
                    Feature::TableInstructions,
                    "a passive or declared element segment",
                ));
            }
        };
        let count = match element.items {
            ElementItems::Functions(reader) => reader.count(),
            // rustc emits the function-index form; the expression form
            // (flags 4-7) belongs to reference types.
            ElementItems::Expressions(..) => {
                return Err(Rejection::feature(
                    Feature::ReferenceTypes,
                    "an element segment in expression form",
                ));
            }
        };
        // Segments are copied into the table at every instantiation, and may
        // overlap: bound the entries they write in all, not only each one.
        self.element_entries += u64::from(count);
        if self.element_entries > u64::from(MAX_ELEMENT_ENTRIES) {
            return Err(Rejection::limit(
                "MAX_ELEMENT_ENTRIES",
                MAX_ELEMENT_ENTRIES,
                self.element_entries,
            ));
        }
        let end = offset.cast_unsigned() & 0xffff_ffff;
        if end + u64::from(count) > self.table_initial {
            return Err(Rejection::contract(format!(
                "element segment [{end}, {}) does not fit the table of {} entries",
                end + u64::from(count),
                self.table_initial
            )));
        }
        Ok(())
    }

    fn data(&mut self, data: wasmparser::Data<'_>) -> Result<(), Rejection> {
        if let DataKind::Active {
            memory_index,
            offset_expr,
        } = data.kind
        {
            if memory_index != 0 {
                return Err(Rejection::feature(
                    Feature::MultiMemory,
                    "a data segment for memory 1+",
                ));
            }
            let start =
                const_value(&offset_expr, "a data segment offset")?.cast_unsigned() & 0xffff_ffff;
            let end = start + data.data.len() as u64;
            let memory_bytes = self.memory_initial.unwrap_or(0) * PAGE_BYTES;
            if end > memory_bytes {
                return Err(Rejection::contract(format!(
                    "data segment [{start:#x}, {end:#x}) does not fit the initial memory of {memory_bytes:#x} bytes"
                )));
            }
        }
        Ok(())
    }

    fn body(&mut self, function: u32, body: &FunctionBody<'_>) -> Result<(), Rejection> {
        let params = self
            .func_types
            .get(function as usize)
            .and_then(|&ty| self.types.get(ty as usize))
            .map_or(0, |ty| ty.params().len() as u64);
        let mut locals = params;
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, ty) = reader.read()?;
            if let Some(feature) = val_type_feature(ty) {
                return Err(Rejection::feature(feature, format!("a local of type {ty}")).at(offset));
            }
            locals += u64::from(count);
            if locals > u64::from(MAX_LOCALS_PER_FUNCTION) {
                return Err(Rejection::limit(
                    "MAX_LOCALS_PER_FUNCTION",
                    MAX_LOCALS_PER_FUNCTION,
                    locals,
                )
                .at(offset));
            }
        }
        self.total_locals += locals;
        if self.total_locals > u64::from(MAX_TOTAL_LOCALS) {
            return Err(Rejection::limit(
                "MAX_TOTAL_LOCALS",
                MAX_TOTAL_LOCALS,
                self.total_locals,
            ));
        }

        let mut depth: u32 = 0;
        let mut reader = body.get_operators_reader()?;
        while !reader.eof() {
            let (op, offset) = reader.read_with_offset()?;
            let at = |error: Rejection| error.at(offset);
            if let Some(feature) = operator_feature(&op) {
                let what = format!("instruction {}", operator_name(&op));
                return Err(at(Rejection::feature(feature, what)));
            }
            match &op {
                Operator::Block { blockty }
                | Operator::Loop { blockty }
                | Operator::If { blockty } => {
                    if let wasmparser::BlockType::Type(ty) = blockty
                        && let Some(feature) = val_type_feature(*ty)
                    {
                        return Err(at(Rejection::feature(
                            feature,
                            format!("a block of type {ty}"),
                        )));
                    }
                    depth += 1;
                    if depth > MAX_NESTING_DEPTH {
                        return Err(at(Rejection::limit(
                            "MAX_NESTING_DEPTH",
                            MAX_NESTING_DEPTH,
                            depth,
                        )));
                    }
                }
                Operator::End => depth = depth.saturating_sub(1),
                Operator::BrTable { targets } => {
                    let count = targets.len();
                    if count > MAX_BR_TABLE_TARGETS {
                        return Err(at(Rejection::limit(
                            "MAX_BR_TABLE_TARGETS",
                            MAX_BR_TABLE_TARGETS,
                            count,
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn check_count(
    limit: &'static str,
    max: u32,
    found: impl TryInto<u64>,
    offset: impl TryInto<u64>,
) -> Result<(), Rejection> {
    let found = found.try_into().unwrap_or(u64::MAX);
    if found > u64::from(max) {
        return Err(Rejection::limit(limit, max, found).at(offset));
    }
    Ok(())
}

fn check_signature(ty: &FuncType) -> Result<(), Rejection> {
    for &val_type in ty.params().iter().chain(ty.results()) {
        if let Some(feature) = val_type_feature(val_type) {
            let what = format!("a function type using {val_type}");
            return Err(Rejection::feature(feature, what));
        }
    }
    check_count(
        "MAX_FUNCTION_PARAMS",
        MAX_FUNCTION_PARAMS,
        ty.params().len(),
        0u64,
    )?;
    check_count(
        "MAX_FUNCTION_RESULTS",
        MAX_FUNCTION_RESULTS,
        ty.results().len(),
        0u64,
    )
}

/// The value of a constant expression that is a single `i32.const` or
/// `i64.const`; anything else is a rejected feature.
fn const_value(expr: &ConstExpr<'_>, what: &str) -> Result<i64, Rejection> {
    let mut reader = expr.get_operators_reader();
    let (op, offset) = reader.read_with_offset()?;
    let value = match op {
        Operator::I32Const { value } => i64::from(value),
        Operator::I64Const { value } => value,
        other => {
            // `global.get` and arithmetic are extended-const; `f32.const`,
            // `ref.func` and the like name their own feature.
            let feature = operator_feature(&other).unwrap_or(Feature::ExtendedConst);
            let text = format!("{what} using {}", operator_name(&other));
            return Err(Rejection::feature(feature, text).at(offset));
        }
    };
    let (end, offset) = reader.read_with_offset()?;
    if !matches!(end, Operator::End) {
        let text = format!("{what} using more than one instruction");
        return Err(Rejection::feature(Feature::ExtendedConst, text).at(offset));
    }
    Ok(value)
}
