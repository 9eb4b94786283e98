//! First pass: validate the module with the supported features and collect
//! what the rewrite needs (index spaces, signatures, frame costs).

use std::collections::BTreeMap;

use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, FunctionBody, Parser, Payload, TypeRef,
    ValidPayload, Validator, WasmModuleResources,
};

use crate::{Error, RESERVED_EXPORT_PREFIX, Schedule, supported_features};

/// Pages of the largest 32-bit memory.
const WASM32_MAX_PAGES: u64 = 65_536;

/// Slots our injected code may push on top of a function's own operand
/// stack (two operands of a comparison or addition).
const INJECTED_STACK_SLOTS: u64 = 2;

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
        };
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
                let max_height = max_operand_stack_height(&mut func, &body)?;
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
            }
        }
        info.exported_funcs.sort_unstable();
        info.exported_funcs.dedup();
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

    pub(crate) fn func_count(&self) -> u32 {
        u32::try_from(self.func_types.len()).expect("validator limits function count")
    }

    /// For each distinct signature, the most expensive frame among the
    /// functions that have it: what a `call_indirect` of that type may enter.
    pub(crate) fn indirect_costs(&self) -> BTreeMap<&FuncType, u32> {
        let mut costs = BTreeMap::new();
        for (func, &cost) in self.frame_costs.iter().enumerate() {
            let ty = &self.types[self.func_types[func] as usize];
            let entry = costs.entry(ty).or_insert(0);
            *entry = cost.max(*entry);
        }
        costs
    }
}

/// Validates a body operator by operator and returns the highest operand
/// stack it reaches.
fn max_operand_stack_height<R: WasmModuleResources>(
    func: &mut wasmparser::FuncValidator<R>,
    body: &FunctionBody<'_>,
) -> Result<u64, Error> {
    let mut locals = body.get_locals_reader()?;
    for _ in 0..locals.get_count() {
        let offset = locals.original_position();
        let (count, ty) = locals.read()?;
        func.define_locals(offset, count, ty)?;
    }
    let mut reader = body.get_operators_reader()?;
    let mut max = 0;
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        func.op(offset, &op)?;
        max = max.max(func.operand_stack_height());
    }
    reader.finish()?;
    Ok(u64::from(max))
}

fn clamp(slots: u64, cap: u64) -> u32 {
    u32::try_from(slots.min(cap)).unwrap_or(u32::MAX)
}
