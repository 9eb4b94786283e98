//! The full WebAssembly validation, run function by function so that it can
//! also bound what a single-pass compiler does per instruction.
//!
//! Single-pass compile time is linear in the code, except where the
//! compiler walks its model of the operand stack: every branch target of a
//! `br_table` and every branch releases the values above the target's
//! frame, and every call saves the live values first. A function that
//! keeps a deep stack and then branches or calls a lot costs the compiler
//! `height` units per instruction instead of one (measured: a 270 KB module
//! of deep stacks and wide `br_table`s took 15-24 s). Metering also turns
//! every call and every block end into several instructions, so those cost
//! the compiler far more than their bytes say. So validation tracks the
//! operand stack height wasmparser's validator computes anyway, limits it
//! per function ([`MAX_OPERAND_STACK_HEIGHT`]), and adds up the stack walks,
//! calls and block ends over the module against [`MAX_COMPILE_WORK`];
//! ordinary contracts stay far below both.

use wasmparser::{
    FuncValidatorAllocations, FunctionBody, Operator, OperatorsReader, Parser, ValidPayload,
    Validator, WasmModuleResources,
};

use super::Rejection;
use crate::limits::{
    COMPILE_WORK_PER_BLOCK_END, COMPILE_WORK_PER_CALL, MAX_COMPILE_WORK, MAX_OPERAND_STACK_HEIGHT,
};

/// Validates `wasm` completely (types, indices, stack discipline) with the
/// gas meter's features, and rejects it if its operand stack grows past
/// the limit or compiling it would take more work than the budget; returns
/// the module's compile work.
pub(super) fn validate_bounded(wasm: &[u8]) -> Result<u64, Rejection> {
    let features = cairn_gas_meter::supported_features();
    let mut validator = Validator::new_with_features(features);
    let mut parser = Parser::new(0);
    parser.set_features(features);
    let mut allocations = FuncValidatorAllocations::default();
    let mut work = CompileWork::default();
    for payload in parser.parse_all(wasm) {
        if let ValidPayload::Func(function, body) = validator.payload(&payload?)? {
            let mut function = function.into_validator(allocations);
            let index = function.index();
            validate_body(&mut function, &body, &mut work)
                .map_err(|error| error.in_function(index))?;
            allocations = function.into_allocations();
        }
    }
    Ok(work.total)
}

/// The compile work of the module so far.
#[derive(Debug, Default)]
struct CompileWork {
    total: u64,
}

impl CompileWork {
    fn add(&mut self, units: u64, offset: u64) -> Result<(), Rejection> {
        self.total = self.total.saturating_add(units);
        if self.total > MAX_COMPILE_WORK {
            return Err(
                Rejection::limit("MAX_COMPILE_WORK", MAX_COMPILE_WORK, self.total).at(offset),
            );
        }
        Ok(())
    }
}

fn validate_body<R: WasmModuleResources>(
    function: &mut wasmparser::FuncValidator<R>,
    body: &FunctionBody<'_>,
    work: &mut CompileWork,
) -> Result<(), Rejection> {
    let mut reader = body.get_binary_reader();
    function.read_locals(&mut reader)?;
    let mut operators = OperatorsReader::new(reader);
    while !operators.eof() {
        let (operator, offset) = operators.read_with_offset()?;
        // The height before the instruction: what the compiler holds when
        // it branches or calls (the instruction's own operands included).
        let height = function.operand_stack_height();
        function.op(offset, &operator)?;
        let after = function.operand_stack_height();
        if after > MAX_OPERAND_STACK_HEIGHT {
            return Err(Rejection::limit(
                "MAX_OPERAND_STACK_HEIGHT",
                MAX_OPERAND_STACK_HEIGHT,
                after,
            )
            .at(offset));
        }
        let units = fixed_work(&operator) + stack_walks(&operator) * u64::from(height);
        if units > 0 {
            work.add(units, offset)?;
        }
    }
    operators.finish()?;
    Ok(())
}

/// The compile work of `operator` that does not depend on the stack.
fn fixed_work(operator: &Operator<'_>) -> u64 {
    let call = matches!(
        operator,
        Operator::Call { .. } | Operator::CallIndirect { .. }
    );
    let block_end = matches!(
        operator,
        Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
            | Operator::Loop { .. }
            | Operator::Return
    );
    u64::from(call) * COMPILE_WORK_PER_CALL + u64::from(block_end) * COMPILE_WORK_PER_BLOCK_END
}

/// How many times compiling `operator` walks the operand stack: once per
/// branch target (and the default) of a `br_table`, once for any other
/// branch or call.
fn stack_walks(operator: &Operator<'_>) -> u64 {
    match operator {
        Operator::BrTable { targets } => u64::from(targets.len()) + 1,
        Operator::Br { .. }
        | Operator::BrIf { .. }
        | Operator::If { .. }
        | Operator::Else
        | Operator::Return
        | Operator::Call { .. }
        | Operator::CallIndirect { .. } => 1,
        _ => 0,
    }
}
