//! Generators of the module shapes that cost a single-pass compiler the
//! most per byte of code, each filling the code-size limit. The compile
//! bounds test (`tests/all/compile_bounds.rs`) requires every shape to be
//! rejected with a named limit or to compile; the `compile_bounds` benchmark
//! measures their compile time per byte. Shared by both with `#[path]`.

#![allow(dead_code, unreachable_pub)]

use cairn_vm::limits::{COMPILE_WORK_PER_BLOCK_END, COMPILE_WORK_PER_CALL, MAX_COMPILE_WORK};
use wasm_encoder::{
    BlockType, CodeSection, ExportKind, ExportSection, Function, FunctionSection, MemorySection,
    MemoryType, Module, TypeSection, ValType,
};

/// Builds a function body of `n` items of a budget-sized shape.
type Items = fn(u64) -> Function;

/// A worst shape, with the sizes that make it expensive.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// `height` values on the operand stack, then a `br_table` of `targets`
    /// targets: single-pass reconciles the value stack per target.
    StackBrTable { height: u32, targets: u32 },
    /// `height` values on the operand stack across each of many `call`s:
    /// each call spills the live values.
    StackCalls { height: u32 },
    /// Functions of `locals` `i64` locals each (zeroed on entry).
    Locals { locals: u32 },
    /// `depth` nested blocks, each exited by a `br_if` to the outermost.
    Blocks { depth: u32 },
    /// The plain baseline: straight-line arithmetic on a local.
    Arithmetic,
    /// As many calls at an empty stack as the compile-work budget allows.
    CallsAtBudget,
    /// As many `br_if`s (block ends) as the compile-work budget allows.
    BlockEndsAtBudget,
}

impl Shape {
    /// The shapes at the sizes the accepted subset allows at most, and a
    /// step beyond for the stack height.
    pub fn worst() -> Vec<(&'static str, Shape)> {
        vec![
            ("arithmetic", Shape::Arithmetic),
            (
                "stack_br_table",
                Shape::StackBrTable {
                    height: 1_000,
                    targets: 4_096,
                },
            ),
            (
                "shallow_br_table",
                Shape::StackBrTable {
                    height: 16,
                    targets: 4_096,
                },
            ),
            ("stack_calls", Shape::StackCalls { height: 1_000 }),
            ("shallow_calls", Shape::StackCalls { height: 16 }),
            ("locals", Shape::Locals { locals: 4_000 }),
            ("blocks", Shape::Blocks { depth: 250 }),
            ("calls_at_budget", Shape::CallsAtBudget),
            ("block_ends_at_budget", Shape::BlockEndsAtBudget),
        ]
    }

    /// A contract of this shape of about `bytes` bytes of code: type 0 is
    /// `() -> ()`, one page of memory exported as `memory`, and function 0
    /// (exported as `run`) a no-op the calls target.
    pub fn module(self, bytes: usize) -> Vec<u8> {
        self.module_of_functions(bytes, 64 * 1024)
    }

    /// Like [`Shape::module`], with function bodies of about
    /// `function_bytes` bytes.
    pub fn module_of_functions(self, bytes: usize, function_bytes: usize) -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut functions = FunctionSection::new();
        let mut code = CodeSection::new();
        let mut exports = ExportSection::new();
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        exports.export("memory", ExportKind::Memory, 0);
        exports.export("run", ExportKind::Func, 0);

        let mut noop = Function::new([]);
        noop.instructions().end();
        functions.function(0);
        code.function(&noop);

        if let Some((per_item, body)) = self.at_budget() {
            // One function per 64 Ki items, each ending once (a block end).
            let functions_guess = 64;
            let budget = MAX_COMPILE_WORK - functions_guess * COMPILE_WORK_PER_BLOCK_END;
            let mut left = budget / per_item;
            while left > 0 {
                let items = left.min(64 * 1024);
                left -= items;
                functions.function(0);
                code.function(&body(items));
            }
        } else {
            // Functions of about `function_bytes` each until the module is full.
            let mut written = 0;
            while written < bytes {
                let body = self.function((bytes - written).min(function_bytes));
                written += body.byte_len().max(1);
                functions.function(0);
                code.function(&body);
            }
        }

        let mut module = Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&memories)
            .section(&exports)
            .section(&code);
        module.finish()
    }

    /// For the shapes sized by the compile-work budget: the work of one
    /// item and a body of `n` items.
    fn at_budget(self) -> Option<(u64, Items)> {
        fn calls(n: u64) -> Function {
            let mut function = Function::new([]);
            let mut sink = function.instructions();
            for _ in 0..n {
                sink.call(0);
            }
            sink.end();
            function
        }
        fn br_ifs(n: u64) -> Function {
            let mut function = Function::new([(1, ValType::I32)]);
            let mut sink = function.instructions();
            sink.block(BlockType::Empty);
            for _ in 0..n {
                // The height at the br_if is 1 (its condition).
                sink.local_get(0).br_if(0);
            }
            sink.end().end();
            function
        }
        match self {
            Shape::CallsAtBudget => Some((COMPILE_WORK_PER_CALL, calls)),
            Shape::BlockEndsAtBudget => Some((COMPILE_WORK_PER_BLOCK_END + 1, br_ifs)),
            _ => None,
        }
    }

    /// One function body of about `bytes` bytes.
    fn function(self, bytes: usize) -> Function {
        match self {
            // Built whole by `module_of_functions` from `at_budget`.
            Shape::CallsAtBudget | Shape::BlockEndsAtBudget => {
                let mut function = Function::new([]);
                function.instructions().end();
                function
            }
            Shape::Arithmetic => {
                let mut function = Function::new([(1, ValType::I64)]);
                let mut sink = function.instructions();
                // 9 bytes a round.
                for _ in 0..bytes / 9 {
                    sink.local_get(0).i64_const(3).i64_add().local_set(0);
                }
                sink.end();
                function
            }
            Shape::StackBrTable { height, targets } => {
                let mut function = Function::new([(1, ValType::I32)]);
                let unit = 2 * height as usize + targets as usize + 12;
                let mut sink = function.instructions();
                for _ in 0..(bytes / unit).max(1) {
                    sink.block(BlockType::Empty).block(BlockType::Empty);
                    for value in 0..height {
                        sink.i32_const((value % 64).cast_signed());
                    }
                    let labels: Vec<u32> = (0..targets).map(|target| target % 2).collect();
                    sink.local_get(0).br_table(labels, 1);
                    sink.end().end();
                }
                sink.end();
                function
            }
            Shape::StackCalls { height } => {
                let mut function = Function::new([]);
                let mut sink = function.instructions();
                // A block of `height` values, calls at that height, then drops.
                let calls = 256usize;
                let unit = 2 * height as usize + 2 * calls + height as usize;
                for _ in 0..(bytes / unit).max(1) {
                    for value in 0..height {
                        sink.i32_const((value % 64).cast_signed());
                    }
                    for _ in 0..calls {
                        sink.call(0);
                    }
                    for _ in 0..height {
                        sink.drop();
                    }
                }
                sink.end();
                function
            }
            Shape::Locals { locals } => {
                // As many locals as allowed, then arithmetic to fill the body
                // (so the total-locals limit, not the function count, ends
                // the module).
                let mut function = Function::new([(locals, ValType::I64)]);
                let mut sink = function.instructions();
                for round in 0..u32::try_from(bytes / 12).unwrap_or(u32::MAX) {
                    let local = round.wrapping_mul(7) % locals;
                    sink.local_get(local)
                        .i64_const(3)
                        .i64_add()
                        .local_set(local);
                }
                sink.end();
                function
            }
            Shape::Blocks { depth } => {
                let mut function = Function::new([(1, ValType::I32)]);
                let unit = 6 * depth as usize;
                let mut sink = function.instructions();
                for _ in 0..(bytes / unit).max(1) {
                    for _ in 0..depth {
                        sink.block(BlockType::Empty);
                    }
                    for level in 0..depth {
                        sink.local_get(0).br_if(depth - 1 - level).end();
                    }
                }
                sink.end();
                function
            }
        }
    }
}
