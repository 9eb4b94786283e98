//! The stack-height rule, worked out the slow, obvious way, for oracles: it
//! shares no code with `calls.rs`.
//!
//! The rule: a call is *dynamic* when its caller can reach itself again
//! by calls (for `call_indirect`, to any function of its signature in the
//! table); a function's static height `S(f)` is its frame plus the largest
//! `S` among its callees over calls that are not dynamic; the host entering
//! an export and every dynamic call add `S` of what they enter (for
//! `call_indirect`, the largest among the table's functions of its
//! signature).

use wasmparser::{FuncType, Operator, Parser, Payload, TypeRef, ValidPayload, Validator};

use crate::{Error, Schedule};

/// Operand slots the meter's own code may push, which the schedule counts
/// in every frame of a defined function.
const METER_SLOTS: u64 = 2;

/// A call site's callees.
enum Callees {
    Direct(u32),
    Indirect(u32),
}

pub(crate) struct StackModel {
    types: Vec<FuncType>,
    func_types: Vec<u32>,
    imported: u32,
    table: Vec<u32>,
    /// Frame cost of every function, imported ones first.
    frames: Vec<u64>,
    /// `reaches[a][b]`: `b` can be reached from `a` by one call or more.
    reaches: Vec<Vec<bool>>,
    /// `S` of every function.
    heights: Vec<u64>,
}

/// What a call site does to the heights.
pub(crate) struct SiteModel {
    /// Added to the charged height around the call, if it is dynamic.
    pub charge: Option<u64>,
    /// The most a host function it may call needs on the real stack.
    pub host_frame: Option<u64>,
}

impl StackModel {
    pub(crate) fn new(wasm: &[u8], schedule: &Schedule) -> Result<Self, Error> {
        let mut model = StackModel {
            types: Vec::new(),
            func_types: Vec::new(),
            imported: 0,
            table: Vec::new(),
            frames: Vec::new(),
            reaches: Vec::new(),
            heights: Vec::new(),
        };
        let mut imported_table = false;
        let mut sites: Vec<Vec<Callees>> = Vec::new();
        let mut validator = Validator::new_with_features(crate::supported_features());
        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload?;
            match &payload {
                Payload::TypeSection(reader) => {
                    for ty in reader.clone().into_iter_err_on_gc_types() {
                        model.types.push(ty?);
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.clone().into_imports() {
                        match import?.ty {
                            TypeRef::Func(ty) | TypeRef::FuncExact(ty) => {
                                model.func_types.push(ty);
                                model.imported += 1;
                                let params = model.types[ty as usize].params().len() as u64;
                                model
                                    .frames
                                    .push(u64::from(schedule.stack.host_frame) + params);
                                sites.push(Vec::new());
                            }
                            TypeRef::Table(_) => imported_table = true,
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader.clone() {
                        model.func_types.push(ty?);
                    }
                }
                Payload::ElementSection(reader) => {
                    for element in reader.clone() {
                        match element?.items {
                            wasmparser::ElementItems::Functions(funcs) => {
                                for func in funcs {
                                    model.table.push(func?);
                                }
                            }
                            wasmparser::ElementItems::Expressions(_, exprs) => {
                                for expr in exprs {
                                    for op in expr?.get_operators_reader() {
                                        if let Operator::RefFunc { function_index } = op? {
                                            model.table.push(function_index);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
            if let ValidPayload::Func(to_validate, body) = validator.payload(&payload)? {
                let mut func = to_validate.into_validator(Default::default());
                let mut locals = body.get_locals_reader()?;
                for _ in 0..locals.get_count() {
                    let offset = locals.original_position();
                    let (count, ty) = locals.read()?;
                    func.define_locals(offset, count, ty)?;
                }
                let mut deepest = 0;
                let mut calls = Vec::new();
                for op in body.get_operators_reader()?.into_iter_with_offsets() {
                    let (op, offset) = op?;
                    func.op(offset, &op)?;
                    deepest = deepest.max(func.operand_stack_height());
                    match op {
                        Operator::Call { function_index } => {
                            calls.push(Callees::Direct(function_index));
                        }
                        Operator::CallIndirect { type_index, .. } => {
                            calls.push(Callees::Indirect(type_index));
                        }
                        _ => {}
                    }
                }
                model.frames.push(
                    u64::from(func.len_locals())
                        + u64::from(deepest)
                        + METER_SLOTS
                        + u64::from(schedule.stack.frame_overhead),
                );
                sites.push(calls);
            }
        }
        if imported_table {
            model.table = (0..u32::try_from(model.func_types.len()).unwrap_or(u32::MAX)).collect();
        }

        // Who calls whom, indirect calls to every table entry that fits.
        let count = model.func_types.len();
        let callees: Vec<Vec<u32>> = sites
            .iter()
            .map(|calls| calls.iter().flat_map(|call| model.callees(call)).collect())
            .collect();
        model.reaches = (0..count)
            .map(|start| {
                let mut seen = vec![false; count];
                let mut todo: Vec<u32> = callees[start].clone();
                while let Some(func) = todo.pop() {
                    if !std::mem::replace(&mut seen[func as usize], true) {
                        todo.extend(&callees[func as usize]);
                    }
                }
                seen
            })
            .collect();

        // Static calls form no cycle, so `count` rounds settle every `S`.
        model.heights = model.frames.clone();
        for _ in 0..count {
            for (caller, calls) in sites.iter().enumerate() {
                // A recursive function's calls are all dynamic.
                if model.is_dynamic(caller) {
                    continue;
                }
                let deepest = calls
                    .iter()
                    .flat_map(|call| model.callees(call))
                    .map(|callee| model.heights[callee as usize])
                    .max()
                    .unwrap_or(0);
                model.heights[caller] = model.frames[caller] + deepest;
            }
        }
        Ok(model)
    }

    fn callees(&self, call: &Callees) -> Vec<u32> {
        match *call {
            Callees::Direct(func) => vec![func],
            Callees::Indirect(ty) => self
                .table
                .iter()
                .copied()
                .filter(|&func| {
                    self.types[self.func_types[func as usize] as usize] == self.types[ty as usize]
                })
                .collect(),
        }
    }

    /// Whether `caller`'s calls are dynamic: whether it can call itself
    /// again.
    fn is_dynamic(&self, caller: usize) -> bool {
        self.reaches[caller][caller]
    }

    /// How many functions are imported (they come first).
    pub(crate) fn imported(&self) -> u32 {
        self.imported
    }

    /// `S` of every function, imported ones first.
    pub(crate) fn heights(&self) -> &[u64] {
        &self.heights
    }

    /// The frame cost of `func`.
    pub(crate) fn frame(&self, func: u32) -> u64 {
        self.frames[func as usize]
    }

    pub(crate) fn direct(&self, caller: u32, callee: u32) -> SiteModel {
        self.site(caller, &Callees::Direct(callee))
    }

    pub(crate) fn indirect(&self, caller: u32, ty: u32) -> SiteModel {
        self.site(caller, &Callees::Indirect(ty))
    }

    fn site(&self, caller: u32, call: &Callees) -> SiteModel {
        let callees = self.callees(call);
        let dynamic = self.is_dynamic(caller as usize);
        SiteModel {
            charge: dynamic.then(|| {
                callees
                    .iter()
                    .map(|&callee| self.heights[callee as usize])
                    .max()
                    .unwrap_or(0)
            }),
            host_frame: callees
                .iter()
                .filter(|&&callee| callee < self.imported)
                .map(|&callee| self.frames[callee as usize])
                .max(),
        }
    }
}
