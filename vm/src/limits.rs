//! Static limits checked at upload, and run-time limits of host calls.
//!
//! Each is a named constant with the reason beside it. They bound the time
//! and memory that validation, instrumentation and single-pass compilation
//! can take (all linear in these numbers), and they are consensus-critical:
//! changing one changes which code is accepted, so it needs a coordinated
//! upgrade like a schedule change.

/// Largest accepted module. CosmWasm accepts 3 MiB and NEAR 4 MiB; Cairn's
/// example contracts are 10–60 KiB, and compile time is linear in this.
pub const MAX_CODE_BYTES: usize = 2 * 1024 * 1024;

/// Types in the type section. `rustc` emits one per distinct signature
/// (tens); thousands would only exist to slow the compiler down.
pub const MAX_TYPES: u32 = 1_000;

/// Functions, imported and defined. As CosmWasm: a large Rust contract has
/// about a thousand; wasmer's per-function overhead makes more a bomb.
pub const MAX_FUNCTIONS: u32 = 10_000;

/// Parameters of one function type. Bounds the "one huge signature reused
/// by every function" bomb: each call site and frame is linear in it.
pub const MAX_FUNCTION_PARAMS: u32 = 64;

/// Results of one function or block type (multi-value).
pub const MAX_FUNCTION_RESULTS: u32 = 8;

/// Locals of one function, parameters included. Single-pass compilers give
/// every local a stack slot and zero it on entry, so a function with tens of
/// thousands of locals costs a lot per call while doing nothing.
pub const MAX_LOCALS_PER_FUNCTION: u32 = 4_096;

/// Locals over all functions, parameters included: bounds compile memory.
pub const MAX_TOTAL_LOCALS: u32 = 256 * 1024;

/// Nesting of `block`, `loop` and `if`. Deep nesting costs compilers stack
/// and quadratic bookkeeping; generated Rust code stays below a hundred.
pub const MAX_NESTING_DEPTH: u32 = 256;

/// Targets of one `br_table` (big `match`es compile to these).
pub const MAX_BR_TABLE_TARGETS: u32 = 4_096;

/// Exports: one per entry point plus `memory` and the linker's globals.
pub const MAX_EXPORTS: u32 = 256;

/// Bytes of an export name.
pub const MAX_EXPORT_NAME_BYTES: usize = 128;

/// Globals (`rustc` emits a stack pointer and a few markers).
pub const MAX_GLOBALS: u32 = 256;

/// Data segments.
pub const MAX_DATA_SEGMENTS: u32 = 1_024;

/// Element segments.
pub const MAX_ELEMENT_SEGMENTS: u32 = 1_024;

/// Table entries all element segments together write. Segments are copied
/// at every instantiation and may overlap, so the table's size alone does
/// not bound the copying: 1,024 segments filling a 10,000-entry table took
/// 9 ms of every call. `rustc` emits one segment for the whole table.
pub const MAX_ELEMENT_ENTRIES: u32 = MAX_TABLE_ELEMENTS;

/// Values on the operand stack at any point of a function. Single-pass
/// compilers walk their model of this stack at every branch and call, so
/// it multiplies the compile time of those instructions; `rustc` output
/// stays below a few dozen.
pub const MAX_OPERAND_STACK_HEIGHT: u32 = 1_024;

/// Single-pass work over the whole module beyond one unit an instruction
/// (`validate::compile_work`): the operand-stack values walked at each
/// branch target and call, plus [`COMPILE_WORK_PER_CALL`] a call and
/// [`COMPILE_WORK_PER_BLOCK_END`] an instruction that ends a metered block.
/// With the code size it bounds compile time by construction: a module
/// spending all 64 Mi units on its dearest instruction compiles in under
/// 0.7 s here (docs/BENCHMARKS.md, "Compile bounds").
pub const MAX_COMPILE_WORK: u64 = 64 * 1024 * 1024;

/// Compile work of a `call` or `call_indirect` on top of the stack it
/// walks: metered, each becomes a block charge and the stack-height
/// accounting around the call, about 4 µs of single-pass time (measured:
/// 930,000 calls at a height of 16 took 3.8-7.7 s). 512 units keeps 64 Mi
/// at about 125,000 calls; a 60 KB contract has a few thousand.
pub const COMPILE_WORK_PER_CALL: u64 = 512;

/// Compile work of an instruction that ends a metered block (`br`,
/// `br_if`, `br_table`, `if`, `else`, `end`, `loop`, `return`): each gets a
/// gas check, about 1.9 µs of single-pass time (measured: 520,000
/// `br_if`s took 0.97 s). 192 units keeps 64 Mi at about 350,000.
pub const COMPILE_WORK_PER_BLOCK_END: u64 = 192;

/// Entries of the function table, initial and maximum (`rustc` puts every
/// function whose address is taken there: trait objects, function
/// pointers). Tables cannot grow in the accepted subset, but engines reserve
/// for the maximum, so it is limited too.
pub const MAX_TABLE_ELEMENTS: u32 = 10_000;

/// Initial linear memory in 64 KiB pages (32 MiB). The same number caps
/// `memory.grow` at run time through the schedule, which lowers any larger
/// declared maximum to it.
pub const MAX_MEMORY_PAGES: u32 = 512;

/// Bytes one hashing or signature-checking host call reads (`blake2b_256`,
/// `sha256`, `keccak256`, the message of `ed25519_verify`): the memory cap.
/// These read guest memory the contract already has and charge per byte,
/// so the cap is the only bound they need.
pub const MAX_HASHED_BYTES: usize = (MAX_MEMORY_PAGES as usize) * 65_536;

/// Bytes of a call's input.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// Bytes of a call's output (return value, revert data).
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// Bytes of a storage key. Keys are a contract-chosen prefix and a SCALE
/// encoded key; NEAR allows 2 KiB too.
pub const MAX_KEY_BYTES: usize = 2 * 1024;

/// Bytes of a storage value, as CosmWasm.
pub const MAX_VALUE_BYTES: usize = 128 * 1024;

/// Events one transaction (the whole call tree) may emit.
pub const MAX_EVENTS: usize = 256;

/// Bytes of an event topic (its name).
pub const MAX_EVENT_TOPIC_BYTES: usize = 128;

/// Bytes of an event's data.
pub const MAX_EVENT_DATA_BYTES: usize = 16 * 1024;

/// Bytes of an abort message kept in the outcome; longer ones are cut.
pub const MAX_ABORT_MESSAGE_BYTES: usize = 1024;

/// Storage iterators one call may have open.
pub const MAX_ITERATORS: usize = 16;

/// Depth of nested cross-contract calls (the top-level call is depth 0).
/// Every level holds an instance, its memory and a native stack.
pub const MAX_CALL_DEPTH: usize = 8;
