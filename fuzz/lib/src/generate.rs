//! Generators: the wasm-smith configurations the targets draw modules from,
//! and the templates that give a generated module a contract's shape.
//!
//! A *contract-shaped* module is what `cairn_vm::validate::validate_contract`
//! accepts: integer-only code in the accepted subset, one memory exported as
//! `memory`, functions imported only from the host table with their exact
//! signatures (docs/ABI.md), and every exported function an entry point of
//! type `() -> ()`. wasm-smith gets the host table as `available_imports`
//! (it picks a subset) and a template of the exports as `exports` (it must
//! export exactly those), so the generated code calls the real host
//! functions with arbitrary arguments from arbitrary places.

use arbitrary::{Result, Unstructured};
use cairn_vm::host::abi::{HOST_FUNCTIONS, HOST_MODULE, HostFunction};
use wasm_encoder::{
    CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection, ImportSection,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};
use wasm_smith::{InstructionKind, InstructionKinds};

/// Which host functions a generated contract may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imports {
    /// None: pure computation (the gas oracle).
    None,
    /// The host functions the reference host re-implements
    /// ([`crate::reference::HOST_SUBSET`]), for the differential target.
    Reference,
    /// The whole host table, cross-contract calls included.
    All,
}

impl Imports {
    fn functions(self) -> Vec<&'static HostFunction> {
        match self {
            Imports::None => Vec::new(),
            Imports::Reference => HOST_FUNCTIONS
                .iter()
                .filter(|function| crate::reference::HOST_SUBSET.contains(&function.name))
                .collect(),
            Imports::All => HOST_FUNCTIONS.iter().collect(),
        }
    }
}

/// A generated contract: its code and its entry points.
#[derive(Debug, Clone)]
pub struct Contract {
    pub wasm: Vec<u8>,
    pub entries: Vec<String>,
}

/// Most entry points a generated contract has.
pub const MAX_ENTRIES: u32 = 4;

/// Fuel wasm-smith's `ensure_termination` gives a terminating module: every
/// function entry and loop iteration takes one, and at zero the module
/// executes `unreachable`.
pub const FUEL: u32 = 1_000;

/// The accepted subset, as a wasm-smith configuration: integer MVP with
/// sign extension, multi-value, bulk memory and mutable globals, one memory
/// and at most one table, no table or reference instructions.
pub fn integer_config() -> wasm_smith::Config {
    wasm_smith::Config {
        allow_floats: false,
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        memory64_enabled: false,
        exceptions_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        reference_types_enabled: false,
        saturating_float_to_int_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        custom_page_sizes_enabled: false,
        custom_descriptors_enabled: false,
        compact_imports_enabled: false,
        multi_value_enabled: true,
        sign_extension_ops_enabled: true,
        bulk_memory_enabled: true,
        allow_start_export: false,
        generate_custom_sections: false,
        allowed_instructions: InstructionKinds::new(&[
            InstructionKind::Numeric,
            InstructionKind::Parametric,
            InstructionKind::Variable,
            InstructionKind::Memory,
            InstructionKind::Control,
        ]),
        max_memories: 1,
        max_tables: 1,
        max_table_elements: 64,
        max_memory32_bytes: 16 * 65_536,
        max_funcs: 12,
        max_instructions: 200,
        max_globals: 8,
        max_data_segments: 8,
        max_element_segments: 4,
        max_elements: 32,
        max_imports: HOST_FUNCTIONS.len(),
        ..wasm_smith::Config::default()
    }
}

/// A contract-shaped module: integer code that imports any of `imports`
/// and exports `memory` and one to [`MAX_ENTRIES`] entry points.
///
/// With `terminating`, the code cannot trap except through wasm-smith's fuel
/// (an `unreachable` at the head of a block) and finishes within [`FUEL`]
/// calls and loop iterations; otherwise it may trap anywhere and loop
/// forever, and only gas stops it.
///
/// The result is what the VM must accept ([`make_acceptable`] removes the
/// few things wasm-smith generates that are valid wasm but not contracts).
pub fn contract(u: &mut Unstructured<'_>, imports: Imports, terminating: bool) -> Result<Contract> {
    let entries = u.int_in_range(1..=MAX_ENTRIES)?;
    let entries: Vec<String> = (0..entries).map(|entry| format!("e{entry}")).collect();
    let memory = MemoryType {
        minimum: u.int_in_range(0..=3)?,
        maximum: if u.arbitrary()? {
            Some(u.int_in_range(3..=16)?)
        } else {
            None
        },
        memory64: false,
        shared: false,
        page_size_log2: None,
    };
    let mut config = integer_config();
    config.exports = Some(exports_template(&entries, memory));
    // wasm-smith adds the template's memory on top of the ones it
    // generates itself, whatever `max_memories` says: let it generate none.
    config.max_memories = 0;
    let functions = imports.functions();
    if functions.is_empty() {
        // Without `available_imports` wasm-smith makes up imports of its own.
        config.max_imports = 0;
    } else {
        config.available_imports = Some(imports_template(&functions));
    }
    config.disallow_traps = terminating;
    let mut module = wasm_smith::Module::new(config, u)?;
    if terminating {
        module
            .ensure_termination(FUEL)
            .map_err(|_| arbitrary::Error::IncorrectFormat)?;
    }
    let wasm = module.to_bytes();
    // wasm-smith gives multi-value function types up to 20 results, a
    // number it does not let us configure; contracts may have at most
    // `MAX_FUNCTION_RESULTS`. Such a module is not a contract: skip it.
    if too_many_results(&wasm) {
        return Err(arbitrary::Error::IncorrectFormat);
    }
    Ok(Contract {
        wasm: make_acceptable(&wasm),
        entries,
    })
}

/// Whether a function type of `wasm` has more results than a contract may.
fn too_many_results(wasm: &[u8]) -> bool {
    let limit = cairn_vm::limits::MAX_FUNCTION_RESULTS as usize;
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .any(|payload| match payload {
            Ok(wasmparser::Payload::TypeSection(reader)) => reader
                .into_iter_err_on_gc_types()
                .any(|ty| ty.is_ok_and(|ty| ty.results().len() > limit)),
            _ => false,
        })
}

/// Any module wasm-smith can make, with a configuration that is itself
/// arbitrary (swarm testing): every proposal, floats, SIMD, GC and all.
pub fn any_module(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut config: wasm_smith::Config = u.arbitrary()?;
    // Components are another binary format; invalid functions would be
    // caught by wasmparser long before anything of Cairn's runs.
    config.allow_invalid_funcs = false;
    Ok(wasm_smith::Module::new(config, u)?.to_bytes())
}

/// A module that declares exactly `functions` as imports from the host.
fn imports_template(functions: &[&HostFunction]) -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    for (index, function) in (0u32..).zip(functions) {
        types.ty().function(
            function.params.iter().map(|ty| val_type(*ty)),
            function.results.iter().map(|ty| val_type(*ty)),
        );
        imports.import(HOST_MODULE, function.name, EntityType::Function(index));
    }
    let mut module = Module::new();
    module.section(&types).section(&imports);
    module.finish()
}

/// A module that exports `memory` of type `memory` and an entry point of
/// type `() -> ()` under each of `entries`.
fn exports_template(entries: &[String], memory: MemoryType) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    let mut memories = MemorySection::new();
    memories.memory(memory);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    let mut code = CodeSection::new();
    for (index, entry) in (0u32..).zip(entries) {
        functions.function(0);
        exports.export(entry, ExportKind::Func, index);
        let mut body = Function::new([]);
        body.instructions().end();
        code.function(&body);
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

fn val_type(ty: wasmparser::ValType) -> ValType {
    match ty {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        other => unreachable!("the host table is integer-only, not {other}"),
    }
}

/// Removes what wasm-smith generates but contracts may not have, changing
/// nothing that runs: passive and declared element segments (contracts have
/// no table instructions that could use them), and element and data
/// segments that do not fit their table or memory (which would trap at
/// instantiation, and which validation rejects). An out-of-range data
/// segment becomes an empty one at offset 0 rather than disappearing, so
/// the indices of `memory.init` and `data.drop` stay the same.
pub fn make_acceptable(wasm: &[u8]) -> Vec<u8> {
    use wasmparser::{DataKind, ElementItems, ElementKind, Payload};

    let mut table_size = 0u64;
    let mut memory_bytes = 0u64;
    let mut module = Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        // wasm-smith output always parses; anything else is left to the
        // oracle, which then sees the module unchanged.
        let Ok(payload) = payload else {
            return wasm.to_vec();
        };
        match payload {
            Payload::TableSection(reader) => {
                for table in reader.clone().into_iter().flatten() {
                    table_size = table.ty.initial;
                }
                raw_section(&mut module, wasm, &Payload::TableSection(reader));
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone().into_iter().flatten() {
                    memory_bytes = memory.initial * 65_536;
                }
                raw_section(&mut module, wasm, &Payload::MemorySection(reader));
            }
            Payload::ElementSection(reader) => {
                let mut elements = wasm_encoder::ElementSection::new();
                for element in reader.into_iter().flatten() {
                    let ElementKind::Active { offset_expr, .. } = &element.kind else {
                        continue;
                    };
                    let ElementItems::Functions(functions) = &element.items else {
                        continue;
                    };
                    let functions: Vec<u32> = functions.clone().into_iter().flatten().collect();
                    let Some(offset) = const_offset(offset_expr) else {
                        continue;
                    };
                    if u64::from(offset) + functions.len() as u64 > table_size {
                        continue;
                    }
                    elements.active(
                        None,
                        &wasm_encoder::ConstExpr::i32_const(offset.cast_signed()),
                        wasm_encoder::Elements::Functions(functions.into()),
                    );
                }
                module.section(&elements);
            }
            Payload::DataSection(reader) => {
                let mut data = wasm_encoder::DataSection::new();
                for segment in reader.into_iter().flatten() {
                    match &segment.kind {
                        DataKind::Passive => {
                            data.passive(segment.data.iter().copied());
                        }
                        DataKind::Active { offset_expr, .. } => {
                            let offset = const_offset(offset_expr).filter(|&offset| {
                                u64::from(offset) + segment.data.len() as u64 <= memory_bytes
                            });
                            let (offset, bytes) = match offset {
                                Some(offset) => (offset, segment.data),
                                None => (0, &[][..]),
                            };
                            data.active(
                                0,
                                &wasm_encoder::ConstExpr::i32_const(offset.cast_signed()),
                                bytes.iter().copied(),
                            );
                        }
                    }
                }
                module.section(&data);
            }
            other => raw_section(&mut module, wasm, &other),
        }
    }
    module.finish()
}

/// Copies a section as it is.
fn raw_section(module: &mut Module, wasm: &[u8], payload: &wasmparser::Payload<'_>) {
    if let Some((id, range)) = payload.as_section() {
        let range = usize::try_from(range.start).unwrap_or(usize::MAX)
            ..usize::try_from(range.end).unwrap_or(usize::MAX);
        module.section(&wasm_encoder::RawSection {
            id,
            data: &wasm[range],
        });
    }
}

/// The value of an `i32.const` offset, as the unsigned address it is.
fn const_offset(expr: &wasmparser::ConstExpr<'_>) -> Option<u32> {
    let mut reader = expr.get_operators_reader();
    match reader.read().ok()? {
        wasmparser::Operator::I32Const { value } => Some(value.cast_unsigned()),
        _ => None,
    }
}
