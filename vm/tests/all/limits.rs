//! Every static limit just under (accepted, and compiled) and just over
//! (rejected naming the limit); compile-time bombs rejected by a count
//! before anything is allocated for them; and the native stack always
//! outlasting the injected stack limit.

use cairn_vm::limits::*;
use cairn_vm::validate::Reason;
use cairn_vm::{Status, TrapCode};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, ElementSection, Elements,
    EntityType, ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType,
    ImportSection, MemorySection, MemoryType, Module, TableSection, TableType, TypeSection,
    ValType,
};

use crate::support::{IMPORTS, leb128 as leb, run_twice, trap, vm, wat};

/// The parts of a test module; `encode` puts them in section order.
#[derive(Default)]
struct Shape {
    types: TypeSection,
    imports: ImportSection,
    functions: FunctionSection,
    tables: TableSection,
    memories: MemorySection,
    globals: GlobalSection,
    exports: ExportSection,
    elements: ElementSection,
    code: CodeSection,
    data: DataSection,
    custom: Option<Vec<u8>>,
}

impl Shape {
    /// A contract skeleton: type 0 is `() -> ()`, one page exported as
    /// `memory`.
    fn contract() -> Self {
        let mut shape = Shape::default();
        shape.types.ty().function([], []);
        shape.memories.memory(memory(1, None));
        shape.exports.export("memory", ExportKind::Memory, 0);
        shape
    }

    /// Adds a `() -> ()` function with `locals` and `body` (without `end`).
    fn function(&mut self, locals: Vec<(u32, ValType)>, body: impl FnOnce(&mut Function)) -> u32 {
        let index = self.functions.len();
        self.functions.function(0);
        let mut function = Function::new(locals);
        body(&mut function);
        function.instructions().end();
        self.code.function(&function);
        index
    }

    fn encode(&self) -> Vec<u8> {
        let mut module = Module::new();
        module.section(&self.types);
        if !self.imports.is_empty() {
            module.section(&self.imports);
        }
        module.section(&self.functions);
        if !self.tables.is_empty() {
            module.section(&self.tables);
        }
        module.section(&self.memories);
        if !self.globals.is_empty() {
            module.section(&self.globals);
        }
        module.section(&self.exports);
        if !self.elements.is_empty() {
            module.section(&self.elements);
        }
        module.section(&self.code);
        if !self.data.is_empty() {
            module.section(&self.data);
        }
        if let Some(payload) = &self.custom {
            module.section(&CustomSection {
                name: "padding".into(),
                data: payload.into(),
            });
        }
        module.finish()
    }
}

fn memory(minimum: u64, maximum: Option<u64>) -> MemoryType {
    MemoryType {
        minimum,
        maximum,
        memory64: false,
        shared: false,
        page_size_log2: None,
    }
}

/// Builds the module at `limit` and at `limit + 1`: the first must be
/// accepted and compile, the second rejected naming `name`.
fn check_limit(name: &str, limit: usize, build: impl Fn(usize) -> Vec<u8>) {
    let vm = vm();
    let under = build(limit);
    if let Err(error) = vm.prepare(&under) {
        panic!("{name}: at the limit ({limit}) it must be accepted: {error}");
    }
    let over = build(limit + 1);
    let rejection = cairn_vm::validate::validate_contract(&over)
        .expect_err(&format!("{name}: one over the limit must be rejected"));
    match &rejection.reason {
        Reason::Limit { limit: named, .. } => assert_eq!(*named, name, "{rejection}"),
        _ => panic!("{name}: rejected for another reason: {rejection}"),
    }
    assert!(rejection.to_string().contains(name), "{rejection}");
}

#[test]
fn code_size() {
    check_limit("MAX_CODE_BYTES", MAX_CODE_BYTES, |total| {
        let mut shape = Shape::contract();
        shape.function(vec![], |_| {});
        shape.exports.export("f", ExportKind::Func, 0);
        // Grow a custom section until the module is exactly `total` bytes
        // (its length prefix grows too, so adjust twice).
        let base = shape.encode().len();
        let mut padding = total.saturating_sub(base + 16);
        for _ in 0..3 {
            shape.custom = Some(vec![0; padding]);
            let length = shape.encode().len();
            padding = (padding + total).saturating_sub(length);
        }
        shape.custom = Some(vec![0; padding]);
        let wasm = shape.encode();
        assert_eq!(wasm.len(), total);
        wasm
    });
}

#[test]
fn types() {
    check_limit("MAX_TYPES", MAX_TYPES as usize, |count| {
        let mut shape = Shape::contract();
        for _ in 1..count {
            shape.types.ty().function([ValType::I32], []);
        }
        shape.encode()
    });
}

#[test]
fn functions() {
    check_limit("MAX_FUNCTIONS", MAX_FUNCTIONS as usize, |count| {
        let mut shape = Shape::contract();
        // Imports count too: one host function plus defined ones.
        shape.types.ty().function([], [ValType::I32]);
        shape
            .imports
            .import("cairn", "input_len", EntityType::Function(1));
        for _ in 1..count {
            shape.functions.function(0);
            let mut function = Function::new([]);
            function.instructions().end();
            shape.code.function(&function);
        }
        shape.encode()
    });
}

#[test]
fn params_and_results() {
    check_limit(
        "MAX_FUNCTION_PARAMS",
        MAX_FUNCTION_PARAMS as usize,
        |count| {
            let mut shape = Shape::contract();
            shape.types.ty().function(vec![ValType::I64; count], []);
            shape.encode()
        },
    );
    check_limit(
        "MAX_FUNCTION_RESULTS",
        MAX_FUNCTION_RESULTS as usize,
        |count| {
            let mut shape = Shape::contract();
            shape.types.ty().function([], vec![ValType::I32; count]);
            shape.encode()
        },
    );
}

#[test]
fn locals_per_function_and_in_total() {
    check_limit(
        "MAX_LOCALS_PER_FUNCTION",
        MAX_LOCALS_PER_FUNCTION as usize,
        |count| {
            let mut shape = Shape::contract();
            // Parameters count: a two-parameter type and the rest as locals.
            shape.types.ty().function([ValType::I32, ValType::I64], []);
            shape.functions.function(1);
            let mut function = Function::new([(u32::try_from(count - 2).unwrap(), ValType::I64)]);
            function.instructions().end();
            shape.code.function(&function);
            shape.encode()
        },
    );
    check_limit("MAX_TOTAL_LOCALS", MAX_TOTAL_LOCALS as usize, |count| {
        let mut shape = Shape::contract();
        let per_function = MAX_LOCALS_PER_FUNCTION as usize;
        let mut left = count;
        while left > 0 {
            let here = left.min(per_function);
            shape.function(vec![(u32::try_from(here).unwrap(), ValType::I32)], |_| {});
            left -= here;
        }
        shape.encode()
    });
}

#[test]
fn nesting_depth() {
    check_limit("MAX_NESTING_DEPTH", MAX_NESTING_DEPTH as usize, |depth| {
        let mut shape = Shape::contract();
        shape.function(vec![], |function| {
            let mut sink = function.instructions();
            for level in 0..depth {
                if level % 3 == 0 {
                    sink.loop_(BlockType::Empty);
                } else {
                    sink.block(BlockType::Empty);
                }
            }
            for _ in 0..depth {
                sink.end();
            }
        });
        shape.encode()
    });
}

#[test]
fn br_table_targets() {
    check_limit(
        "MAX_BR_TABLE_TARGETS",
        MAX_BR_TABLE_TARGETS as usize,
        |count| {
            let mut shape = Shape::contract();
            shape.function(vec![], |function| {
                let targets = vec![0; count];
                function
                    .instructions()
                    .block(BlockType::Empty)
                    .i32_const(0)
                    .br_table(targets, 0)
                    .end();
            });
            shape.encode()
        },
    );
}

#[test]
fn exports_and_their_names() {
    check_limit("MAX_EXPORTS", MAX_EXPORTS as usize, |count| {
        let mut shape = Shape::contract();
        let function = shape.function(vec![], |_| {});
        for index in 1..count {
            shape
                .exports
                .export(&format!("entry_{index}"), ExportKind::Func, function);
        }
        shape.encode()
    });
    check_limit("MAX_EXPORT_NAME_BYTES", MAX_EXPORT_NAME_BYTES, |length| {
        let mut shape = Shape::contract();
        let function = shape.function(vec![], |_| {});
        shape
            .exports
            .export(&"e".repeat(length), ExportKind::Func, function);
        shape.encode()
    });
}

#[test]
fn globals() {
    check_limit("MAX_GLOBALS", MAX_GLOBALS as usize, |count| {
        let mut shape = Shape::contract();
        for _ in 0..count {
            shape.globals.global(
                GlobalType {
                    val_type: ValType::I64,
                    mutable: true,
                    shared: false,
                },
                &ConstExpr::i64_const(0),
            );
        }
        shape.encode()
    });
}

#[test]
fn data_and_element_segments_and_table_size() {
    check_limit("MAX_DATA_SEGMENTS", MAX_DATA_SEGMENTS as usize, |count| {
        let mut shape = Shape::contract();
        for index in 0..count {
            shape.data.active(
                0,
                &ConstExpr::i32_const(i32::try_from(index).unwrap()),
                [1u8],
            );
        }
        shape.encode()
    });
    let with_table = |size: u64| {
        let mut shape = Shape::contract();
        shape.tables.table(TableType {
            element_type: wasm_encoder::RefType::FUNCREF,
            minimum: size,
            maximum: None,
            table64: false,
            shared: false,
        });
        shape.function(vec![], |_| {});
        shape
    };
    check_limit(
        "MAX_ELEMENT_SEGMENTS",
        MAX_ELEMENT_SEGMENTS as usize,
        |count| {
            let mut shape = with_table(u64::try_from(count).unwrap());
            for index in 0..count {
                shape.elements.active(
                    None,
                    &ConstExpr::i32_const(i32::try_from(index).unwrap()),
                    Elements::Functions([0u32][..].into()),
                );
            }
            shape.encode()
        },
    );
    check_limit("MAX_TABLE_ELEMENTS", MAX_TABLE_ELEMENTS as usize, |size| {
        with_table(u64::try_from(size).unwrap()).encode()
    });
    // The maximum too: engines reserve for it, and a table maximum of 2^32-1
    // once passed validation and then failed to instantiate.
    check_limit("MAX_TABLE_ELEMENTS", MAX_TABLE_ELEMENTS as usize, |size| {
        let mut shape = with_table(0);
        shape.tables = TableSection::new();
        shape.tables.table(TableType {
            element_type: wasm_encoder::RefType::FUNCREF,
            minimum: 0,
            maximum: Some(u64::try_from(size).unwrap()),
            table64: false,
            shared: false,
        });
        shape.encode()
    });
}

#[test]
fn element_entries_over_all_segments() {
    // Overlapping segments, each within the table: only their sum is over.
    let table = MAX_TABLE_ELEMENTS as usize;
    check_limit(
        "MAX_ELEMENT_ENTRIES",
        MAX_ELEMENT_ENTRIES as usize,
        |total| {
            let mut shape = Shape::contract();
            shape.tables.table(TableType {
                element_type: wasm_encoder::RefType::FUNCREF,
                minimum: u64::try_from(table).unwrap(),
                maximum: None,
                table64: false,
                shared: false,
            });
            shape.function(vec![], |_| {});
            let mut left = total;
            while left > 0 {
                let count = left.min(table / 2);
                shape.elements.active(
                    None,
                    &ConstExpr::i32_const(0),
                    Elements::Functions(vec![0u32; count].into()),
                );
                left -= count;
            }
            shape.encode()
        },
    );
}

/// A contract whose one function pushes `height` values and drops them.
fn operand_stack(height: usize) -> Vec<u8> {
    let mut shape = Shape::contract();
    shape.function(vec![], |function| {
        let mut sink = function.instructions();
        for _ in 0..height {
            sink.i32_const(7);
        }
        for _ in 0..height {
            sink.drop();
        }
    });
    shape.encode()
}

#[test]
fn operand_stack_height() {
    check_limit(
        "MAX_OPERAND_STACK_HEIGHT",
        MAX_OPERAND_STACK_HEIGHT as usize,
        operand_stack,
    );
}

/// A contract of `calls` calls at an empty stack in one function, and the
/// empty function they call: its compile work is one unit of
/// `COMPILE_WORK_PER_CALL` a call and two block ends (the functions' `end`s).
fn calls(calls: u64) -> Vec<u8> {
    let mut shape = Shape::contract();
    shape.function(vec![], |_| {});
    shape.function(vec![], |function| {
        let mut sink = function.instructions();
        for _ in 0..calls {
            sink.call(0);
        }
    });
    shape.encode()
}

#[test]
fn compile_work_over_the_module() {
    let fixed = 2 * COMPILE_WORK_PER_BLOCK_END;
    let most = (MAX_COMPILE_WORK - fixed) / COMPILE_WORK_PER_CALL;
    let vm = vm();
    if let Err(error) = vm.prepare(&calls(most)) {
        panic!("{most} calls are within MAX_COMPILE_WORK and must compile: {error}");
    }
    assert_bomb("one call more", "MAX_COMPILE_WORK", &calls(most + 1));
}

#[test]
fn a_wide_br_table_on_a_deep_stack_counts_every_target() {
    // One br_table of every target at a stack of 1,000 values walks
    // 1,000 x 4,097 values; enough of them in one module go over the
    // budget though each is within every per-instruction limit.
    let per_table = 1_000 * (u64::from(MAX_BR_TABLE_TARGETS) + 1);
    let tables = MAX_COMPILE_WORK / per_table + 1;
    let mut shape = Shape::contract();
    shape.function(vec![(1, ValType::I32)], |function| {
        let mut sink = function.instructions();
        for _ in 0..tables {
            sink.block(BlockType::Empty).block(BlockType::Empty);
            for _ in 0..999 {
                sink.i32_const(1);
            }
            let labels = vec![0u32; MAX_BR_TABLE_TARGETS as usize];
            sink.local_get(0).br_table(labels, 1).end().end();
        }
    });
    assert_bomb("deep br_tables", "MAX_COMPILE_WORK", &shape.encode());
}

#[test]
fn each_host_function_is_imported_once() {
    let twice = r#"(module
        (import "cairn" "gas_left" (func (result i64)))
        (import "cairn" "gas_left" (func (result i64)))
        (memory (export "memory") 1))"#;
    let rejection = cairn_vm::validate::validate_contract(&wat(twice)).expect_err("a duplicate");
    match &rejection.reason {
        Reason::Import { name, why, .. } => {
            assert_eq!(name, "gas_left");
            assert!(why.contains("imported twice"), "{rejection}");
        }
        _ => panic!("rejected for another reason: {rejection}"),
    }
}

#[test]
fn memory_pages() {
    let pages = MAX_MEMORY_PAGES as usize;
    check_limit("MAX_MEMORY_PAGES", pages, |initial| {
        let mut shape = Shape::contract();
        shape.memories = MemorySection::new();
        shape.memories.memory(memory(initial as u64, None));
        shape.encode()
    });
}

#[test]
fn a_larger_declared_memory_maximum_is_lowered_to_the_cap() {
    let wasm = wat(&format!(
        r#"(module {IMPORTS} (memory (export "memory") 1 65536)
           (func (export "grow")
             (i32.store (i32.const 0) (memory.grow (i32.const 511)))
             (i32.store (i32.const 4) (memory.grow (i32.const 1)))
             (call $output_write (i32.const 0) (i32.const 8))))"#
    ));
    let outcome = run_twice(&wasm, "grow", &[], u64::MAX / 2);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(
        outcome.output[..4],
        1i32.to_le_bytes(),
        "grew from 1 to 512 pages"
    );
    assert_eq!(
        outcome.output[4..],
        (-1i32).to_le_bytes(),
        "513 is over the cap"
    );
}

/// Rejected by `limit`, from a module whose section header declares far
/// more than it contains, so nothing the size of the claim is allocated.
fn assert_bomb(name: &str, limit: &str, wasm: &[u8]) {
    let rejection = cairn_vm::validate::validate_contract(wasm).expect_err(name);
    match &rejection.reason {
        Reason::Limit { limit: named, .. } => assert_eq!(*named, limit, "{name}: {rejection}"),
        _ => panic!("{name}: {rejection}"),
    }
}

/// `\0asm` version 1 followed by raw sections.
fn raw_module(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    for (id, body) in sections {
        wasm.push(*id);
        leb(body.len() as u64, &mut wasm);
        wasm.extend_from_slice(body);
    }
    wasm
}

#[test]
fn compile_time_bombs_are_rejected_by_a_count() {
    // Section headers claiming billions of entries with no bytes behind.
    let mut huge = Vec::new();
    leb(u64::from(u32::MAX), &mut huge);
    assert_bomb(
        "4 billion types",
        "MAX_TYPES",
        &raw_module(&[(1, huge.clone())]),
    );
    let mut types = Vec::new();
    leb(1, &mut types);
    types.extend_from_slice(&[0x60, 0, 0]);
    assert_bomb(
        "4 billion functions",
        "MAX_FUNCTIONS",
        &raw_module(&[(1, types.clone()), (3, huge.clone())]),
    );
    assert_bomb(
        "4 billion exports",
        "MAX_EXPORTS",
        &raw_module(&[(7, huge.clone())]),
    );
    assert_bomb(
        "4 billion globals",
        "MAX_GLOBALS",
        &raw_module(&[(6, huge.clone())]),
    );
    assert_bomb(
        "4 billion data segments",
        "MAX_DATA_SEGMENTS",
        &raw_module(&[(11, huge.clone())]),
    );
    assert_bomb(
        "4 billion element segments",
        "MAX_ELEMENT_SEGMENTS",
        &raw_module(&[(9, huge)]),
    );

    // One function declaring 4 billion locals in a single entry.
    let mut body = Vec::new();
    leb(1, &mut body);
    leb(u64::from(u32::MAX), &mut body);
    body.extend_from_slice(&[0x7e, 0x0b]);
    let mut code = Vec::new();
    leb(1, &mut code);
    leb(body.len() as u64, &mut code);
    code.extend_from_slice(&body);
    let mut functions = Vec::new();
    leb(1, &mut functions);
    leb(0, &mut functions);
    assert_bomb(
        "4 billion locals",
        "MAX_LOCALS_PER_FUNCTION",
        &raw_module(&[(1, types.clone()), (3, functions), (10, code)]),
    );

    // One huge signature (a thousand parameters) that every function reuses.
    let mut signature = Vec::new();
    leb(1, &mut signature);
    signature.push(0x60);
    leb(1_000, &mut signature);
    signature.extend(std::iter::repeat_n(0x7f, 1_000));
    signature.push(0);
    assert_bomb(
        "a 1000-parameter signature",
        "MAX_FUNCTION_PARAMS",
        &raw_module(&[(1, signature)]),
    );

    // 100,000 nested blocks and a br_table of a million targets.
    let deep = wat(&format!(
        "(module (memory (export \"memory\") 1) (func {} {}))",
        "(block ".repeat(100_000),
        ")".repeat(100_000)
    ));
    assert_bomb("100,000 nested blocks", "MAX_NESTING_DEPTH", &deep);
    let mut shape = Shape::contract();
    shape.function(vec![], |function| {
        function
            .instructions()
            .block(BlockType::Empty)
            .i32_const(0)
            .br_table(vec![0; 1_000_000], 0)
            .end();
    });
    assert_bomb(
        "a million br_table targets",
        "MAX_BR_TABLE_TARGETS",
        &shape.encode(),
    );

    // Three megabytes of data.
    let mut shape = Shape::contract();
    shape.data.passive(vec![0u8; 3 * 1024 * 1024]);
    assert_bomb("3 MiB of data", "MAX_CODE_BYTES", &shape.encode());
}

/// Recursion that never ends, with a frame of `locals` i64 locals and
/// `operands` values pushed before each call.
fn recursion(locals: usize, operands: usize) -> Vec<u8> {
    let locals = if locals > 0 {
        format!("(local {})", "i64 ".repeat(locals))
    } else {
        String::new()
    };
    let pushes = "i64.const 7 ".repeat(operands);
    let drops = "drop ".repeat(operands);
    wat(&format!(
        r#"(module {IMPORTS} (memory (export "memory") 1)
           (type $t (func))
           (table 1 funcref) (elem (i32.const 0) $indirect)
           (func $direct {locals} {pushes} call $direct {drops})
           (func $indirect {locals} {pushes} (call_indirect (type $t) (i32.const 0)) {drops})
           (func $host {locals} (drop (call $gas_left)) call $host)
           (func (export "direct") call $direct)
           (func (export "indirect") call $indirect)
           (func (export "host") call $host))"#
    ))
}

#[test]
fn the_injected_stack_limit_trips_before_the_native_stack_overflows() {
    // The worst frames the limits allow: empty ones (most native overhead
    // per slot), the most locals a function may have, deep operand stacks;
    // through direct and indirect calls and with host calls on top. A
    // native overflow would be a VmError, and `run` would panic on it.
    for (locals, operands) in [
        (0, 0),
        (MAX_LOCALS_PER_FUNCTION as usize - 1, 0),
        (0, 500),
        (64, 64),
    ] {
        let wasm = recursion(locals, operands);
        for entry in ["direct", "indirect", "host"] {
            let outcome = run_twice(&wasm, entry, &[], u64::MAX / 2);
            assert_eq!(
                outcome.status,
                trap(TrapCode::StackOverflow),
                "{entry} with {locals} locals and {operands} operands"
            );
        }
    }
}

#[test]
fn each_nested_contract_call_has_its_own_stack_budget() {
    // Every contract in a chain of nested calls first recurses 2,000 frames
    // deep (most of its stack budget), and calls the next one from the
    // bottom. Each frame has its own budget and native stack, so the chain
    // completes.
    let wasm = wat(&format!(
        r#"(module {IMPORTS} (memory (export "memory") 1)
           (data (i32.const 0) "go")
           (func $next (local $n i32)
             (local.set $n (call $input_len))
             (call $input_read (i32.const 1024))
             (if (i32.eqz (local.get $n)) (then return))
             (i32.store8 (i32.const 4096)
               (call $call_contract (i32.const 1024) (i32.const 0) (i32.const 2)
                                    (i32.const 1056) (i32.sub (local.get $n) (i32.const 32)) (i64.const -1)))
             (call $call_output_read (i32.const 4097))
             (call $output_write (i32.const 4096) (i32.add (i32.const 1) (call $call_output_len))))
           (func $down (param $depth i32)
             (if (local.get $depth)
               (then (call $down (i32.sub (local.get $depth) (i32.const 1))))
               (else (call $next))))
           (func (export "go") (call $down (i32.const 2000))))"#
    ));
    let mut chain = crate::support::Chain::new();
    let count = MAX_CALL_DEPTH + 1;
    let addresses: Vec<cairn_vm::Address> = (1..=count)
        .map(|index| {
            let address = cairn_vm::Address([u8::try_from(index).unwrap(); 32]);
            chain.deploy(address, &wasm);
            address
        })
        .collect();
    let input: Vec<u8> = addresses[1..].iter().flat_map(|a| a.0).collect();
    let outcome = chain.call_with(addresses[0], "go", &input, u64::MAX / 2, false);
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(
        outcome.output,
        vec![0; MAX_CALL_DEPTH],
        "every nested call succeeded"
    );
}
