//! Rewriting one function body: a gas charge at the head of every basic
//! block, a check of the gas left where [`CallPlan`] and the loops say,
//! stack-height accounting around dynamic calls, and per-operand charges
//! before `memory.grow` and the bulk-memory instructions.
//!
//! A block's charge is subtracted without a check: the counter is a signed
//! `i64` and may go below zero, for at most one stretch of code with no
//! loop in it (see `calls.rs` for why that stretch is bounded and the
//! counter never wraps). The check — below zero traps, out of gas — runs at
//! every loop header, on entry to the functions the plan names, before
//! every call that may reach the host, and on return from every export
//! thunk. So a call whose charges add up to more than its gas still ends
//! out of gas, having done at most one such stretch more than it paid for,
//! and a call that ends normally paid for everything it ran.

use wasm_encoder::{BlockType, Function, InstructionSink};
use wasmparser::{FunctionBody, Operator, ValType};

use crate::analysis::ModuleInfo;
use crate::calls::{CallPlan, SitePlan};
use crate::schedule::InstructionCosts;
use crate::{Error, Schedule};

/// Indices of everything the meter adds to a module.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Injected {
    pub gas_global: u32,
    pub stack_global: u32,
    pub trap_global: u32,
    pub out_of_gas_fn: u32,
    pub stack_overflow_fn: u32,
    pub charge_fn: u32,
    pub charge_bytes_fn: u32,
    pub charge_pages_fn: u32,
    pub stack_limit: u32,
}

/// Whether `op` ends a basic block: what follows it is either a branch
/// target, reached only when a branch is not taken, or reached only when a
/// callee returns. Ending blocks at calls too means a callee that traps or
/// runs out of gas never leaves its caller charged for code that did not run.
pub(crate) fn ends_block(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
            | Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::Return
            | Operator::Unreachable
    )
}

/// The cost to charge before each operator (zero where no block starts or
/// the block is free), indexed like `ops`.
pub(crate) fn block_charges(
    ops: &[(Operator<'_>, u64)],
    costs: &InstructionCosts,
) -> Result<Vec<u64>, Error> {
    let mut charges = vec![0; ops.len()];
    let mut block_start = 0;
    let mut block_cost: u64 = 0;
    for (index, (op, offset)) in ops.iter().enumerate() {
        let cost = costs
            .cost(op)
            .ok_or_else(|| Error::unsupported(format_args!("instruction {op:?}"), *offset))?;
        // Saturating: a block too expensive for u64 can never be paid, which
        // is the right outcome and the same everywhere.
        block_cost = block_cost.saturating_add(cost);
        if ends_block(op) {
            charges[block_start] = with_overhead(block_cost, costs);
            block_start = index + 1;
            block_cost = 0;
        }
    }
    if block_start < ops.len() {
        charges[block_start] = with_overhead(block_cost, costs);
    }
    Ok(charges)
}

/// What entering a function of `params` parameters and `declared` locals
/// costs on top of its instructions (see [`InstructionCosts::frame_local`]).
pub(crate) fn entry_cost(params: u64, declared: u64, costs: &InstructionCosts) -> u64 {
    params
        .saturating_mul(costs.frame_param)
        .saturating_add(declared.saturating_mul(costs.frame_local))
}

/// A block with something to pay for also pays for its own charge; one of
/// only free instructions (`end`, `nop`) gets no charge at all.
fn with_overhead(block_cost: u64, costs: &InstructionCosts) -> u64 {
    if block_cost == 0 {
        0
    } else {
        block_cost.saturating_add(costs.block)
    }
}

pub(crate) struct BodyRewriter<'a> {
    pub wasm: &'a [u8],
    pub info: &'a ModuleInfo,
    pub plan: &'a CallPlan,
    pub injected: Injected,
    pub schedule: &'a Schedule,
}

impl BodyRewriter<'_> {
    /// Rewrites the body of function `function` (an index that counts
    /// imported functions first).
    pub(crate) fn rewrite(
        &self,
        function_index: u32,
        body: &FunctionBody<'_>,
    ) -> Result<Function, Error> {
        let mut locals = Vec::new();
        let mut declared: u64 = 0;
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, ty) = reader.read()?;
            declared += u64::from(count);
            locals.push((count, encode_val_type(ty, offset)?));
        }
        let params = self
            .info
            .func_types
            .get(function_index as usize)
            .map_or(0, |&ty| self.info.params_of(ty));
        let mut reader = body.get_operators_reader()?;
        let mut ops = Vec::new();
        while !reader.eof() {
            let (op, offset) = reader.read_with_offset()?;
            ops.push((op, offset));
        }
        reader.finish()?;
        let body_end = reader.original_position();

        let costs = &self.schedule.instructions;
        let mut charges = block_charges(&ops, costs)?;
        // The frame is paid with the first block, before anything runs,
        // unless every caller pays the first block at its call site.
        let entry = entry_cost(params, declared, costs);
        if let Some(first) = charges.first_mut() {
            *first = if self.plan.entry_charged_by_callers(function_index) {
                0
            } else {
                first.saturating_add(entry)
            };
        }
        let mut block_start = 0;
        for (index, (op, _)) in ops.iter().enumerate() {
            if let Operator::Call {
                function_index: callee,
            } = *op
                && self.plan.entry_charged_by_callers(callee)
            {
                charges[block_start] =
                    charges[block_start].saturating_add(self.info.entry_charge(callee));
            }
            if ends_block(op) {
                block_start = index + 1;
            }
        }
        let mut function = Function::new(locals);
        let every_block = self.plan.checks_every_block(function_index);
        let entry_check = self.plan.checks_entry(function_index);
        for (index, (op, start)) in ops.iter().enumerate() {
            let end = ops.get(index + 1).map_or(body_end, |(_, next)| *next);
            // Every cycle of a function's control flow goes through a loop
            // header: checking there bounds how long a body runs unchecked.
            let loop_header = index > 0 && matches!(ops[index - 1].0, Operator::Loop { .. });
            let check = loop_header || (index == 0 && entry_check);
            let sink = &mut function.instructions();
            if every_block {
                if charges[index] > 0 {
                    self.charge_checked(sink, charges[index]);
                } else if check {
                    self.check(sink);
                }
            } else {
                if charges[index] > 0 {
                    self.subtract(sink, charges[index]);
                }
                if check {
                    self.check(sink);
                }
            }
            let original = &self.wasm[offset_to_index(*start)..offset_to_index(end)];
            match op {
                Operator::Call {
                    function_index: callee,
                } => {
                    let site = self.plan.direct(function_index, *callee);
                    self.call(&mut function, site, original);
                }
                Operator::CallIndirect { type_index, .. } => {
                    let ty = &self.info.types[*type_index as usize];
                    let site = self.plan.indirect(function_index, ty);
                    self.call(&mut function, site, original);
                }
                Operator::MemoryGrow { .. } => {
                    function.instructions().call(self.injected.charge_pages_fn);
                    function.raw(original.iter().copied());
                }
                Operator::MemoryCopy { .. }
                | Operator::MemoryFill { .. }
                | Operator::MemoryInit { .. } => {
                    function.instructions().call(self.injected.charge_bytes_fn);
                    function.raw(original.iter().copied());
                }
                _ => {
                    function.raw(original.iter().copied());
                }
            }
        }
        Ok(function)
    }

    /// A call (`original`, its bytes) with what its site needs around it.
    fn call(&self, function: &mut Function, site: SitePlan, original: &[u8]) {
        if site.may_call_host {
            self.check(&mut function.instructions());
        }
        if let Some(cost) = site.charge {
            self.enter_frame(&mut function.instructions(), cost);
        }
        function.raw(original.iter().copied());
        if let Some(cost) = site.charge {
            self.leave_frame(&mut function.instructions(), cost);
        }
    }

    /// Subtracts `cost` from the gas left, unchecked.
    fn subtract(&self, sink: &mut InstructionSink<'_>, cost: u64) {
        let gas = self.injected.gas_global;
        // A function with a charge anywhere near this large checks before
        // every block instead (`calls::MAX_UNCHECKED_STRETCH`); clamping
        // only keeps the constant in range.
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        sink.global_get(gas)
            .i64_const(cost)
            .i64_sub()
            .global_set(gas);
    }

    /// Traps out of gas if the gas left is below zero.
    fn check(&self, sink: &mut InstructionSink<'_>) {
        check(sink, self.injected);
    }

    /// Checks the gas left covers `cost`, trapping if not, then subtracts
    /// it: for functions whose blocks are too costly to run unchecked.
    fn charge_checked(&self, sink: &mut InstructionSink<'_>, cost: u64) {
        let Injected {
            gas_global,
            out_of_gas_fn,
            ..
        } = self.injected;
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        sink.global_get(gas_global)
            .i64_const(cost)
            .i64_lt_s()
            .if_(BlockType::Empty)
            .call(out_of_gas_fn)
            .end()
            .global_get(gas_global)
            .i64_const(cost)
            .i64_sub()
            .global_set(gas_global);
    }

    pub(crate) fn enter_frame(&self, sink: &mut InstructionSink<'_>, cost: u32) {
        enter_frame(sink, self.injected, cost);
    }

    pub(crate) fn leave_frame(&self, sink: &mut InstructionSink<'_>, cost: u32) {
        leave_frame(sink, self.injected, cost);
    }
}

/// Traps out of gas if the gas left is below zero.
pub(crate) fn check(sink: &mut InstructionSink<'_>, injected: Injected) {
    sink.global_get(injected.gas_global)
        .i64_const(0)
        .i64_lt_s()
        .if_(BlockType::Empty)
        .call(injected.out_of_gas_fn)
        .end();
}

/// Adds a frame's cost to the stack height and traps if over the limit.
pub(crate) fn enter_frame(sink: &mut InstructionSink<'_>, injected: Injected, cost: u32) {
    let Injected {
        stack_global,
        stack_overflow_fn,
        stack_limit,
        ..
    } = injected;
    sink.global_get(stack_global)
        .i32_const(cost.cast_signed())
        .i32_add()
        .global_set(stack_global)
        .global_get(stack_global)
        .i32_const(stack_limit.cast_signed())
        .i32_gt_u()
        .if_(BlockType::Empty)
        .call(stack_overflow_fn)
        .end();
}

/// Gives a frame's cost back after the call returned.
pub(crate) fn leave_frame(sink: &mut InstructionSink<'_>, injected: Injected, cost: u32) {
    sink.global_get(injected.stack_global)
        .i32_const(cost.cast_signed())
        .i32_sub()
        .global_set(injected.stack_global);
}

pub(crate) fn encode_val_type(ty: ValType, offset: u64) -> Result<wasm_encoder::ValType, Error> {
    match ty {
        ValType::I32 => Ok(wasm_encoder::ValType::I32),
        ValType::I64 => Ok(wasm_encoder::ValType::I64),
        other => Err(Error::unsupported(
            format_args!("value type {other}"),
            offset,
        )),
    }
}

/// Offsets come from parsing `wasm` itself, so they index into it.
fn offset_to_index(offset: u64) -> usize {
    usize::try_from(offset).expect("an offset into an in-memory module fits usize")
}
