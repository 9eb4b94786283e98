//! First pass: validate the module with the supported features and collect
//! what the rewrite needs (index spaces, signatures, frame costs, the calls
//! each body makes and what its blocks charge).

use wasmparser::{
    CompositeInnerType, ElementItems, ExternalKind, FuncType, FunctionBody, Operator, Parser,
    Payload, TypeRef, ValidPayload, Validator, WasmModuleResources,
};

use crate::body::{block_charges, ends_block, entry_cost};
use crate::{Error, RESERVED_EXPORT_PREFIX, Schedule, supported_features};

/// Pages of the largest 32-bit memory.
const WASM32_MAX_PAGES: u64 = 65_536;

/// Slots our injected code may push on top of a function's own operand
/// stack (two operands of a comparison or addition).
const INJECTED_STACK_SLOTS: u64 = 2;

/// A call a function body makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// `call` of a function index.
    Direct(u32),
    /// `call_indirect` of a type index.
    Indirect(u32),
}

/// What the call graph needs from one function body.
#[derive(Debug, Default)]
pub(crate) struct BodyFacts {
    /// Every call site, in order.
    pub sites: Vec<Site>,
    /// For each site, whether nothing that can trap runs between the start
    /// of the call's basic block and the call (see
    /// `calls::entries_charged_by_callers`).
    pub trap_free_leads: Vec<bool>,
    /// What the function's first block charges, its frame included.
    pub entry_charge: u64,
    /// The sum of all its block charges and its entry cost: what one pass
    /// through the body, running every block once, would charge.
    pub static_cost: u64,
}

/// What the rewrite needs to know about the original module.
#[derive(Debug)]
pub(crate) struct ModuleInfo {
    /// Function signatures by type index.
    pub types: Vec<FuncType>,
    /// Type index of every function, imported ones first.
    pub func_types: Vec<u32>,
    pub imported_funcs: u32,
    pub globals: u32,
    /// Stack-height cost of a frame of each function, imported ones first.
    pub frame_costs: Vec<u32>,
    /// Exported function indices, deduplicated and in ascending order; each
    /// gets a thunk.
    pub exported_funcs: Vec<u32>,
    /// The most pages the module's memory can grow to (its declared maximum
    /// lowered to the schedule's cap), or `None` without a memory.
    pub memory_max_pages: Option<u64>,
    /// Every function a `call_indirect` may reach: those named by any
    /// element segment, or all of them if the table is imported (and so
    /// filled by someone else). Deduplicated, ascending.
    pub table_funcs: Vec<u32>,
    /// The start function, if any.
    pub start: Option<u32>,
    /// Per defined function, in body order.
    pub bodies: Vec<BodyFacts>,
}

impl ModuleInfo {
    pub(crate) fn analyze(wasm: &[u8], schedule: &Schedule) -> Result<Self, Error> {
        let mut validator = Validator::new_with_features(supported_features());
        let mut info = ModuleInfo {
            types: Vec::new(),
            func_types: Vec::new(),
            imported_funcs: 0,
            globals: 0,
            frame_costs: Vec::new(),
            exported_funcs: Vec::new(),
            memory_max_pages: None,
            table_funcs: Vec::new(),
            start: None,
            bodies: Vec::new(),
        };
        let mut imported_table = false;
        let stack = &schedule.stack;
        // A frame costing more than the whole limit always overflows; capping
        // here keeps the injected i32 arithmetic far from wrapping.
        let cap = u64::from(stack.max_height) + 1;

        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload?;
            match &payload {
                Payload::TypeSection(reader) => {
                    for group in reader.clone().into_iter_with_offsets() {
                        let (offset, group) = group?;
                        for sub in group.types() {
                            match &sub.composite_type.inner {
                                CompositeInnerType::Func(ty) => info.types.push(ty.clone()),
                                _ => return Err(Error::unsupported("non-function type", offset)),
                            }
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.clone().into_imports() {
                        match import?.ty {
                            TypeRef::Func(ty) | TypeRef::FuncExact(ty) => {
                                info.func_types.push(ty);
                                info.imported_funcs += 1;
                                let params = info.params_of(ty);
                                info.frame_costs
                                    .push(clamp(u64::from(stack.host_frame) + params, cap));
                            }
                            TypeRef::Global(_) => info.globals += 1,
                            TypeRef::Table(_) => imported_table = true,
                            // The meter does not cap an imported memory.
                            TypeRef::Memory(memory) => {
                                info.memory_max_pages =
                                    Some(memory.maximum.unwrap_or(WASM32_MAX_PAGES));
                            }
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader.clone() {
                        info.func_types.push(ty?);
                    }
                }
                Payload::GlobalSection(reader) => info.globals += reader.count(),
                Payload::StartSection { func, .. } => info.start = Some(*func),
                Payload::ElementSection(reader) => {
                    for element in reader.clone() {
                        match element?.items {
                            ElementItems::Functions(funcs) => {
                                for func in funcs {
                                    info.table_funcs.push(func?);
                                }
                            }
                            ElementItems::Expressions(_, exprs) => {
                                for expr in exprs {
                                    for op in expr?.get_operators_reader() {
                                        if let Operator::RefFunc { function_index } = op? {
                                            info.table_funcs.push(function_index);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader.clone() {
                        let limit = u64::from(schedule.max_memory_pages);
                        info.memory_max_pages =
                            Some(memory?.maximum.map_or(limit, |max| max.min(limit)));
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader.clone().into_iter_with_offsets() {
                        let (offset, export) = export?;
                        if export.name.starts_with(RESERVED_EXPORT_PREFIX) {
                            return Err(Error::ReservedExport {
                                name: export.name.to_owned(),
                                offset,
                            });
                        }
                        if export.kind == ExternalKind::Func {
                            info.exported_funcs.push(export.index);
                        }
                    }
                }
                _ => {}
            }
            if let ValidPayload::Func(to_validate, body) = validator.payload(&payload)? {
                let mut func = to_validate.into_validator(Default::default());
                let (max_height, ops) = validate_body(&mut func, &body)?;
                let ty = func
                    .resources()
                    .type_index_of_function(func.index())
                    .unwrap_or_default();
                // len_locals counts parameters too.
                let slots = u64::from(func.len_locals())
                    + max_height
                    + INJECTED_STACK_SLOTS
                    + u64::from(stack.frame_overhead);
                debug_assert_eq!(info.func_types.get(func.index() as usize), Some(&ty));
                info.frame_costs.push(clamp(slots, cap));
                info.bodies
                    .push(body_facts(&info, ty, &body, &ops, schedule)?);
            }
        }
        info.exported_funcs.sort_unstable();
        info.exported_funcs.dedup();
        if imported_table {
            info.table_funcs = (0..info.func_count()).collect();
        }
        info.table_funcs.sort_unstable();
        info.table_funcs.dedup();
        Ok(info)
    }

    pub(crate) fn params_of(&self, ty: u32) -> u64 {
        self.types
            .get(ty as usize)
            .map_or(0, |ty| ty.params().len() as u64)
    }

    pub(crate) fn func_type(&self, func: u32) -> &FuncType {
        // Both indices were checked by the validator.
        &self.types[self.func_types[func as usize] as usize]
    }

    /// What defined function `func`'s first block charges, frame included.
    pub(crate) fn entry_charge(&self, func: u32) -> u64 {
        func.checked_sub(self.imported_funcs)
            .and_then(|body| self.bodies.get(body as usize))
            .map_or(0, |facts| facts.entry_charge)
    }

    pub(crate) fn func_count(&self) -> u32 {
        u32::try_from(self.func_types.len()).expect("validator limits function count")
    }
}

/// The calls `body` (of type `ty`) makes and what one pass through it
/// charges.
fn body_facts(
    info: &ModuleInfo,
    ty: u32,
    body: &FunctionBody<'_>,
    ops: &[(Operator<'_>, u64)],
    schedule: &Schedule,
) -> Result<BodyFacts, Error> {
    let costs = &schedule.instructions;
    let mut declared: u64 = 0;
    for local in body.get_locals_reader()? {
        declared += u64::from(local?.0);
    }
    let charges = block_charges(ops, costs)?;
    let entry = entry_cost(info.params_of(ty), declared, costs);
    let static_cost = charges
        .iter()
        .fold(entry, |sum, &charge| sum.saturating_add(charge));
    let entry_charge = charges
        .first()
        .map_or(entry, |&first| first.saturating_add(entry));
    let mut sites = Vec::new();
    let mut trap_free_leads = Vec::new();
    let mut trap_free = true;
    for (op, _) in ops {
        match *op {
            Operator::Call { function_index } => sites.push(Site::Direct(function_index)),
            Operator::CallIndirect { type_index, .. } => sites.push(Site::Indirect(type_index)),
            _ => {}
        }
        if trap_free_leads.len() < sites.len() {
            trap_free_leads.push(trap_free);
        }
        trap_free = if ends_block(op) {
            true
        } else {
            trap_free && cannot_trap(op)
        };
    }
    Ok(BodyFacts {
        sites,
        trap_free_leads,
        entry_charge,
        static_cost,
    })
}

/// Whether `op` can never trap nor reach the host: plain data movement and
/// integer arithmetic without division. Anything else counts as able to.
fn cannot_trap(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::Nop
            | O::Block { .. }
            | O::Drop
            | O::Select
            | O::LocalGet { .. }
            | O::LocalSet { .. }
            | O::LocalTee { .. }
            | O::GlobalGet { .. }
            | O::GlobalSet { .. }
            | O::MemorySize { .. }
            | O::I32Const { .. }
            | O::I64Const { .. }
            | O::I32Eqz
            | O::I32Eq
            | O::I32Ne
            | O::I32LtS
            | O::I32LtU
            | O::I32GtS
            | O::I32GtU
            | O::I32LeS
            | O::I32LeU
            | O::I32GeS
            | O::I32GeU
            | O::I64Eqz
            | O::I64Eq
            | O::I64Ne
            | O::I64LtS
            | O::I64LtU
            | O::I64GtS
            | O::I64GtU
            | O::I64LeS
            | O::I64LeU
            | O::I64GeS
            | O::I64GeU
            | O::I32Clz
            | O::I32Ctz
            | O::I32Popcnt
            | O::I32Add
            | O::I32Sub
            | O::I32Mul
            | O::I32And
            | O::I32Or
            | O::I32Xor
            | O::I32Shl
            | O::I32ShrS
            | O::I32ShrU
            | O::I32Rotl
            | O::I32Rotr
            | O::I64Clz
            | O::I64Ctz
            | O::I64Popcnt
            | O::I64Add
            | O::I64Sub
            | O::I64Mul
            | O::I64And
            | O::I64Or
            | O::I64Xor
            | O::I64Shl
            | O::I64ShrS
            | O::I64ShrU
            | O::I64Rotl
            | O::I64Rotr
            | O::I32WrapI64
            | O::I64ExtendI32S
            | O::I64ExtendI32U
            | O::I32Extend8S
            | O::I32Extend16S
            | O::I64Extend8S
            | O::I64Extend16S
            | O::I64Extend32S
    )
}

/// Validates a body operator by operator and returns the highest operand
/// stack it reaches, and its operators with their offsets.
fn validate_body<'a, R: WasmModuleResources>(
    func: &mut wasmparser::FuncValidator<R>,
    body: &FunctionBody<'a>,
) -> Result<(u64, Vec<(Operator<'a>, u64)>), Error> {
    let mut locals = body.get_locals_reader()?;
    for _ in 0..locals.get_count() {
        let offset = locals.original_position();
        let (count, ty) = locals.read()?;
        func.define_locals(offset, count, ty)?;
    }
    let mut reader = body.get_operators_reader()?;
    let mut max = 0;
    let mut ops = Vec::new();
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        func.op(offset, &op)?;
        max = max.max(func.operand_stack_height());
        ops.push((op, offset));
    }
    reader.finish()?;
    Ok((u64::from(max), ops))
}

fn clamp(slots: u64, cap: u64) -> u32 {
    u32::try_from(slots.min(cap)).unwrap_or(u32::MAX)
}
