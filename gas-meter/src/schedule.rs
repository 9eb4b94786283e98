//! The cost schedule: what every instruction, page, byte and host call costs,
//! and the execution limits that go with it.
//!
//! A schedule is consensus-critical: two nodes with different schedules
//! compute different gas and disagree on state. It is therefore versioned and
//! has a [stable hash](Schedule::hash) that the VM puts into every artifact
//! cache key, so a changed schedule can never run against code instrumented
//! for another one.
//!
//! # Units
//!
//! About 45 to 70 gas was one nanosecond of work on the reference machine
//! (the 2-core CI runner, quiet or loaded) for the host functions and the
//! per-call costs, whose prices were set from measured time; version 3 adds
//! what a call makes the node do outside its code (the instance, the first
//! touch of memory pages), calibrated with the shapes that had bought time
//! cheaply. Instructions are priced for the worst place they can be: in a
//! function too large for the instruction cache, as the large inlined
//! functions of optimised contracts are, single-pass's code runs at about
//! 0.15 to 0.2 ns per wasm instruction whatever the instruction does, so
//! since version 5 none that emits code costs less than 20 gas. Compact
//! loops that stay in the cache run two to three times faster than that;
//! they pay for the worst case, which is what bounds a block's execution
//! time. `docs/BENCHMARKS.md` has the tables, and `cargo bench -p cairn-vm
//! --bench pricing` and `--bench gas_calibration` repeat them.

use blake2::{Blake2b, Digest, digest::consts::U32};
use wasmparser::Operator;

/// Current schedule version; bump it with any change to a cost or limit,
/// or to how they are applied. Version 4: the same costs, charged with
/// fewer checks, and the stack-height limit applied to static heights (a
/// deep call chain outside recursion may now overflow on entry). Version 5:
/// no instruction that emits code costs less than
/// [`InstructionCosts::MIN_EMITTING`], the time single-pass's code takes
/// when it is too large for the instruction cache.
pub const SCHEDULE_VERSION: u32 = 5;

/// The complete cost table and execution limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Bumped on every change; part of the hash.
    pub version: u32,
    /// Static cost of each instruction, charged per basic block.
    pub instructions: InstructionCosts,
    /// Costs that depend on an operand known only at run time.
    pub dynamic: DynamicCosts,
    /// The deterministic stack-height limit.
    pub stack: StackLimits,
    /// Linear memory cap in 64 KiB pages; `memory.grow` beyond it fails.
    ///
    /// 512 pages (32 MiB), as CosmWasm: contracts are small state machines,
    /// and every page a node must be able to hold per concurrent call.
    pub max_memory_pages: u32,
    /// Costs of creating an instance, charged by the VM before it creates
    /// one. The gas meter does not charge them itself.
    pub instantiation: InstantiationCosts,
    /// Gas per unit of compile work (the units of the VM's
    /// `MAX_COMPILE_WORK`: what single-pass walks at branch targets and
    /// calls, and a weight per call and per block end), charged to a
    /// deploy after validation and before compiling. The per-byte deploy
    /// gas covers code that compiles at the ordinary rate; this covers the
    /// shapes that compile up to ten times slower per byte (calls, block
    /// ends): about 8 ns a unit at the budget here, so 600 at 65 gas/ns.
    pub compile_work_unit: u64,
    /// Costs of the VM's host functions. The gas meter does not charge them
    /// itself; they live here so that one versioned hash covers all costs.
    pub host: HostCosts,
}

/// Static per-instruction costs, grouped by what the machine does.
///
/// Structural instructions (`block`, `loop`, `end`, `else`, `nop`) cost
/// nothing: they generate no code in a single-pass compiler. Every loop
/// iteration still pays, since going round a loop takes a branch. Every
/// other instruction costs at least [`InstructionCosts::MIN_EMITTING`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionCosts {
    /// Every basic block that runs and has instructions to pay for, on top
    /// of them: the subtraction the meter runs at its head (and the check
    /// at a loop header) takes about as long as a few instructions, and
    /// without this the cheapest way to spend time would be a loop of a
    /// single branch.
    pub block: u64,
    /// `i32.const`, `i64.const`.
    pub constant: u64,
    /// `local.get`, `local.set`, `local.tee`.
    pub local: u64,
    /// `global.get`, `global.set`.
    pub global: u64,
    /// `drop`, `select`.
    pub parametric: u64,
    /// Add, subtract, bitwise, shifts, rotates, comparisons, `eqz`, `clz`,
    /// `ctz`, `popcnt`, width conversions and sign extension.
    pub simple: u64,
    /// `i32.mul`, `i64.mul`.
    pub mul: u64,
    /// Integer division and remainder (tens of cycles on x86-64).
    pub div: u64,
    /// Any load (bounds check + memory access).
    pub load: u64,
    /// Any store.
    pub store: u64,
    /// `br`, `br_if`, `if`, `return`.
    pub branch: u64,
    /// `br_table` (a bounds check and an indirect jump).
    pub br_table: u64,
    /// Direct `call` (frame setup and the metering of the callee's frame).
    pub call: u64,
    /// `call_indirect` (table bounds and signature checks on top of a call).
    pub call_indirect: u64,
    /// `unreachable`.
    pub unreachable: u64,
    /// `memory.size`.
    pub memory_size: u64,
    /// `memory.grow`, before the per-page part.
    pub memory_grow: u64,
    /// `memory.copy`, `memory.fill`, `memory.init`, before the per-byte part.
    pub bulk_memory: u64,
    /// `data.drop`.
    pub data_drop: u64,
    /// Entering a function, per parameter: the caller moves each into the
    /// callee's frame. Charged with the callee's first block, so every way
    /// in (a call, an indirect call, the host entering an export) pays it.
    pub frame_param: u64,
    /// Entering a function, per declared local: single-pass compilers give
    /// every local a stack slot and zero it on entry, so a call to a
    /// function of thousands of locals is mostly that zeroing.
    pub frame_local: u64,
}

/// Costs charged at run time from an instruction's operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicCosts {
    /// Per 64 KiB page `memory.grow` adds, charged before it grows (and not
    /// for a grow past the memory's maximum, which returns -1). A grown page
    /// is one more page the contract can touch; see
    /// [`InstantiationCosts::memory_page`], which prices the same work.
    pub memory_grow_per_page: u64,
    /// Per byte moved by `memory.copy`, `memory.fill` and `memory.init`,
    /// charged before the copy (and so also when it then traps).
    pub bulk_memory_per_byte: u64,
}

/// Costs of creating an instance of a module, charged by the VM before it
/// creates one: at every call and every cross-contract call, in proportion
/// to what validation counted in the module ([`InstanceShape`]). The engine
/// allocates and fills all of it at instantiation, however little of it the
/// call then uses; limits bound each count, these price it.
///
/// The fixed part of an instance (the engine's store, the memory's address
/// space, the teardown) is not here: a transaction's base gas pays it at the
/// top level and [`HostCosts::call_contract`] for a nested call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstantiationCosts {
    /// Per imported host function: a function object and its signature,
    /// bound for every instance.
    pub import: u64,
    /// Per function, imported or defined: the engine builds a function
    /// reference for each.
    pub function: u64,
    /// Per global: allocated and initialised.
    pub global: u64,
    /// Per export: an entry of the instance's export map (and, for an
    /// exported function, the meter's thunk).
    pub export: u64,
    /// Per entry of the table: allocated and cleared.
    pub table_entry: u64,
    /// Per element segment: its offset read and its range checked.
    pub element_segment: u64,
    /// Per table entry an element segment writes.
    pub element_entry: u64,
    /// Per data segment.
    pub data_segment: u64,
    /// Per byte of data segments, copied into memory (or kept for
    /// `memory.init`).
    pub data_byte: u64,
    /// Per 64 KiB page of initial memory. The engine maps it untouched; the
    /// first touch of a page is what costs (the kernel faults in and zeroes
    /// its sixteen host pages, and unmaps them after the call: 40 to 60 µs
    /// here, docs/BENCHMARKS.md), while a page never touched costs next to
    /// nothing. Which pages a call will touch is not known before it runs,
    /// so every page the contract can reach is charged as touched, as
    /// Arbitrum Stylus charges for the pages it allocates: the initial ones
    /// here, grown ones by `memory.grow`
    /// ([`DynamicCosts::memory_grow_per_page`], the same price). A contract
    /// pays for the memory it declares, which is why `cargo cairn build`
    /// links a 64 KiB stack.
    pub memory_page: u64,
}

/// What instantiating a module makes the engine do, counted by validation
/// from the module as uploaded; priced by [`InstantiationCosts::cost`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceShape {
    pub imports: u64,
    /// Imported and defined.
    pub functions: u64,
    pub globals: u64,
    pub exports: u64,
    /// The table's initial size.
    pub table_entries: u64,
    pub element_segments: u64,
    /// Table entries all element segments write together.
    pub element_entries: u64,
    pub data_segments: u64,
    pub data_bytes: u64,
    /// Initial memory.
    pub memory_pages: u64,
}

impl InstantiationCosts {
    /// The gas an instance of a module of this shape costs (saturating: a
    /// sum too large for `u64` can never be paid, the same everywhere).
    pub fn cost(&self, shape: &InstanceShape) -> u64 {
        let InstantiationCosts {
            import,
            function,
            global,
            export,
            table_entry,
            element_segment,
            element_entry,
            data_segment,
            data_byte,
            memory_page,
        } = self;
        [
            (shape.imports, import),
            (shape.functions, function),
            (shape.globals, global),
            (shape.exports, export),
            (shape.table_entries, table_entry),
            (shape.element_segments, element_segment),
            (shape.element_entries, element_entry),
            (shape.data_segments, data_segment),
            (shape.data_bytes, data_byte),
            (shape.memory_pages, memory_page),
        ]
        .into_iter()
        .fold(0u64, |sum, (count, rate)| {
            sum.saturating_add(count.saturating_mul(*rate))
        })
    }
}

/// The injected stack-height limit.
///
/// Height is counted in value slots: a called function's frame costs its
/// parameters, its locals, the maximum height of its operand stack and a
/// fixed overhead for the return address and saved registers. A function's
/// static height is its frame, plus the largest static height of the
/// functions it calls unless it is recursive; the static heights charged
/// for the frames the host enters and those a recursive function calls may
/// not add up to more than `max_height`. That sum is never
/// below the frames really on the stack, and the VM sizes the native stack
/// so that this limit always trips first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackLimits {
    /// Maximum sum of static heights charged on the wasm call stack.
    pub max_height: u32,
    /// Added to every frame.
    pub frame_overhead: u32,
    /// The frame cost of a call to an imported (host) function.
    pub host_frame: u32,
}

/// Costs of host functions, charged by the VM before it does the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCosts {
    /// Every host call, before anything else.
    pub base: u64,
    /// Per byte copied between guest memory and the host (input, output,
    /// keys, values, addresses, event payloads, abort messages).
    pub per_byte: u64,
    /// A storage read (a point lookup in the state store).
    pub storage_read: u64,
    /// Per byte of key and value read.
    pub storage_read_per_byte: u64,
    /// A storage write or removal (an overlay insert, later a batch write).
    pub storage_write: u64,
    /// Per byte of key and value written: state is kept by every node forever.
    pub storage_write_per_byte: u64,
    /// Opening a range iterator.
    pub storage_range: u64,
    /// Each step of a range iterator (a seek in the state store), on top of
    /// `storage_read_per_byte` for the entry returned.
    pub storage_next: u64,
    /// Emitting an event.
    pub event: u64,
    /// Per byte of event topic and data.
    pub event_per_byte: u64,
    /// A blake2b-256 hash.
    pub blake2b: u64,
    /// Per byte hashed.
    pub blake2b_per_byte: u64,
    /// A SHA-256 hash.
    pub sha256: u64,
    /// Per byte hashed.
    pub sha256_per_byte: u64,
    /// A Keccak-256 hash.
    pub keccak256: u64,
    /// Per byte hashed.
    pub keccak256_per_byte: u64,
    /// An ed25519 signature check (two scalar multiplications).
    pub ed25519_verify: u64,
    /// Per byte of the signed message (hashed with SHA-512).
    pub ed25519_verify_per_byte: u64,
    /// Recovering a secp256k1 public key from a signature of a 32-byte hash.
    pub secp256k1_recover: u64,
    /// A secp256k1 signature check of a 32-byte hash.
    pub secp256k1_verify: u64,
    /// A cross-contract call: the fixed part of a new instance (a store, the
    /// memory's address space, the teardown) and the frame around it. The
    /// callee then pays its own instance ([`InstantiationCosts`]) and its
    /// code out of the gas it was given.
    pub call_contract: u64,
    /// Reading an account's balance (a point lookup of its record).
    pub balance: u64,
    /// Moving native value: two balances read, and two account records
    /// written with the block (`transfer`, and a call with value).
    pub transfer: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            version: SCHEDULE_VERSION,
            instructions: InstructionCosts {
                block: 30,
                constant: InstructionCosts::MIN_EMITTING,
                local: InstructionCosts::MIN_EMITTING,
                global: InstructionCosts::MIN_EMITTING,
                parametric: InstructionCosts::MIN_EMITTING,
                simple: InstructionCosts::MIN_EMITTING,
                mul: 30,
                div: 320,
                load: 30,
                store: 30,
                branch: 45,
                br_table: 160,
                call: 250,
                call_indirect: 900,
                unreachable: InstructionCosts::MIN_EMITTING,
                memory_size: InstructionCosts::MIN_EMITTING,
                memory_grow: 1_000,
                bulk_memory: 100,
                data_drop: 50,
                frame_param: 20,
                frame_local: 8,
            },
            dynamic: DynamicCosts {
                memory_grow_per_page: 3_000_000,
                bulk_memory_per_byte: 1,
            },
            stack: StackLimits {
                max_height: 32 * 1024,
                frame_overhead: 8,
                host_frame: 256,
            },
            max_memory_pages: 512,
            compile_work_unit: 600,
            instantiation: InstantiationCosts {
                import: 60_000,
                function: 300,
                global: 1_500,
                export: 14_000,
                table_entry: 100,
                element_segment: 1_500,
                element_entry: 100,
                data_segment: 2_000,
                data_byte: 2,
                memory_page: 3_000_000,
            },
            host: HostCosts {
                base: 6_000,
                per_byte: 2,
                storage_read: 25_000,
                storage_read_per_byte: 5,
                storage_write: 25_000,
                storage_write_per_byte: 50,
                storage_range: 25_000,
                storage_next: 15_000,
                event: 40_000,
                event_per_byte: 20,
                blake2b: 5_000,
                blake2b_per_byte: 120,
                // Measured time x 65 gas/ns, rounded up (docs/BENCHMARKS.md,
                // "Crypto host functions").
                sha256: 5_000,
                sha256_per_byte: 45,
                keccak256: 22_000,
                keccak256_per_byte: 180,
                ed25519_verify: 3_100_000,
                ed25519_verify_per_byte: 125,
                secp256k1_recover: 11_800_000,
                secp256k1_verify: 5_900_000,
                call_contract: 1_000_000,
                // Priced against storage_get (a balance is one account
                // record read) and, for a transfer, two account records
                // written at commit priced as storage_set's are; the
                // `value` group of node/benches/storage.rs measures both
                // against the storage calls.
                balance: 25_000,
                transfer: 75_000,
            },
        }
    }
}

impl InstructionCosts {
    /// The least an instruction that emits code costs. A function larger
    /// than the instruction cache (the hasher example's blake2b compression
    /// at O3: 3,567 instructions inlined into one body) runs at about 0.2 ns
    /// per instruction, whatever each does, because the processor waits on
    /// fetching single-pass's code: a copy between two locals in the frame
    /// or a 64-bit constant stored to one is as slow there as an addition
    /// (`gas_calibration`'s `long_*` workloads, docs/BENCHMARKS.md).
    pub const MIN_EMITTING: u64 = 20;

    /// The static cost of one instruction, or `None` for an instruction
    /// outside the accepted subset. The VM rejects those at validation with
    /// a named feature; the meter refuses them too rather than letting
    /// unpriced work through.
    pub fn cost(&self, op: &Operator<'_>) -> Option<u64> {
        use Operator::*;
        Some(match op {
            Block { .. } | Loop { .. } | End | Else | Nop => 0,
            If { .. } | Br { .. } | BrIf { .. } | Return => self.branch,
            BrTable { .. } => self.br_table,
            Unreachable => self.unreachable,
            Call { .. } => self.call,
            CallIndirect { .. } => self.call_indirect,
            Drop | Select | TypedSelect { .. } => self.parametric,
            LocalGet { .. } | LocalSet { .. } | LocalTee { .. } => self.local,
            GlobalGet { .. } | GlobalSet { .. } => self.global,
            I32Const { .. } | I64Const { .. } => self.constant,
            I32Load { .. }
            | I64Load { .. }
            | I32Load8S { .. }
            | I32Load8U { .. }
            | I32Load16S { .. }
            | I32Load16U { .. }
            | I64Load8S { .. }
            | I64Load8U { .. }
            | I64Load16S { .. }
            | I64Load16U { .. }
            | I64Load32S { .. }
            | I64Load32U { .. } => self.load,
            I32Store { .. }
            | I64Store { .. }
            | I32Store8 { .. }
            | I32Store16 { .. }
            | I64Store8 { .. }
            | I64Store16 { .. }
            | I64Store32 { .. } => self.store,
            MemorySize { .. } => self.memory_size,
            MemoryGrow { .. } => self.memory_grow,
            MemoryCopy { .. } | MemoryFill { .. } | MemoryInit { .. } => self.bulk_memory,
            DataDrop { .. } => self.data_drop,
            I32Mul | I64Mul => self.mul,
            I32DivS | I32DivU | I32RemS | I32RemU | I64DivS | I64DivU | I64RemS | I64RemU => {
                self.div
            }
            I32Eqz | I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU
            | I32GeS | I32GeU | I64Eqz | I64Eq | I64Ne | I64LtS | I64LtU | I64GtS | I64GtU
            | I64LeS | I64LeU | I64GeS | I64GeU | I32Clz | I32Ctz | I32Popcnt | I32Add | I32Sub
            | I32And | I32Or | I32Xor | I32Shl | I32ShrS | I32ShrU | I32Rotl | I32Rotr | I64Clz
            | I64Ctz | I64Popcnt | I64Add | I64Sub | I64And | I64Or | I64Xor | I64Shl | I64ShrS
            | I64ShrU | I64Rotl | I64Rotr | I32WrapI64 | I64ExtendI32S | I64ExtendI32U
            | I32Extend8S | I32Extend16S | I64Extend8S | I64Extend16S | I64Extend32S => self.simple,
            _ => return None,
        })
    }
}

impl Schedule {
    /// A stable 32-byte hash of every cost and limit (blake2b-256 over a
    /// fixed little-endian encoding). Equal schedules hash equally on every
    /// platform and build; any change gives a different hash.
    pub fn hash(&self) -> [u8; 32] {
        let mut hasher = Blake2b::<U32>::new();
        hasher.update(b"cairn-schedule");
        for value in self.encode_fields() {
            hasher.update(value.to_le_bytes());
        }
        hasher.finalize().into()
    }

    /// Every field, in a fixed order. The destructuring has no `..`, so a
    /// new field does not compile until it is added here (and so to the hash).
    fn encode_fields(&self) -> Vec<u64> {
        let Schedule {
            version,
            instructions,
            dynamic,
            stack,
            max_memory_pages,
            instantiation,
            compile_work_unit,
            host,
        } = self;
        let InstructionCosts {
            block,
            constant,
            local,
            global,
            parametric,
            simple,
            mul,
            div,
            load,
            store,
            branch,
            br_table,
            call,
            call_indirect,
            unreachable,
            memory_size,
            memory_grow,
            bulk_memory,
            data_drop,
            frame_param,
            frame_local,
        } = instructions;
        let DynamicCosts {
            memory_grow_per_page,
            bulk_memory_per_byte,
        } = dynamic;
        let StackLimits {
            max_height,
            frame_overhead,
            host_frame,
        } = stack;
        let InstantiationCosts {
            import,
            function,
            global: instance_global,
            export,
            table_entry,
            element_segment,
            element_entry,
            data_segment,
            data_byte,
            memory_page,
        } = instantiation;
        let HostCosts {
            base,
            per_byte,
            storage_read,
            storage_read_per_byte,
            storage_write,
            storage_write_per_byte,
            storage_range,
            storage_next,
            event,
            event_per_byte,
            blake2b,
            blake2b_per_byte,
            sha256,
            sha256_per_byte,
            keccak256,
            keccak256_per_byte,
            ed25519_verify,
            ed25519_verify_per_byte,
            secp256k1_recover,
            secp256k1_verify,
            call_contract,
            balance,
            transfer,
        } = host;
        vec![
            u64::from(*version),
            *block,
            *constant,
            *local,
            *global,
            *parametric,
            *simple,
            *mul,
            *div,
            *load,
            *store,
            *branch,
            *br_table,
            *call,
            *call_indirect,
            *unreachable,
            *memory_size,
            *memory_grow,
            *bulk_memory,
            *data_drop,
            *frame_param,
            *frame_local,
            *memory_grow_per_page,
            *bulk_memory_per_byte,
            u64::from(*max_height),
            u64::from(*frame_overhead),
            u64::from(*host_frame),
            u64::from(*max_memory_pages),
            *import,
            *function,
            *instance_global,
            *export,
            *table_entry,
            *element_segment,
            *element_entry,
            *data_segment,
            *data_byte,
            *memory_page,
            *compile_work_unit,
            *base,
            *per_byte,
            *storage_read,
            *storage_read_per_byte,
            *storage_write,
            *storage_write_per_byte,
            *storage_range,
            *storage_next,
            *event,
            *event_per_byte,
            *blake2b,
            *blake2b_per_byte,
            *call_contract,
            *sha256,
            *sha256_per_byte,
            *keccak256,
            *keccak256_per_byte,
            *ed25519_verify,
            *ed25519_verify_per_byte,
            *secp256k1_recover,
            *secp256k1_verify,
            *balance,
            *transfer,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_across_runs_and_builds() {
        // Pinned: if this changes, the schedule changed, and SCHEDULE_VERSION
        // must be bumped with it.
        assert_eq!(
            hex(&Schedule::default().hash()),
            "283a4c98a3aa279d4e78a6f25b6d39114fc7c82d71a1e0e539b9203b613097a8",
            "default schedule hash moved: bump SCHEDULE_VERSION and re-pin"
        );
    }

    #[test]
    fn changes_in_each_part_change_the_hash() {
        let base = Schedule::default();
        let mut other = base.clone();
        other.dynamic.bulk_memory_per_byte += 1;
        assert_ne!(base.hash(), other.hash());
        let mut other = base.clone();
        other.stack.max_height -= 1;
        assert_ne!(base.hash(), other.hash());
        let mut other = base.clone();
        other.host.call_contract += 1;
        assert_ne!(base.hash(), other.hash());
        let mut other = base.clone();
        other.instantiation.memory_page += 1;
        assert_ne!(base.hash(), other.hash());
    }

    #[test]
    fn instantiation_costs_each_count_at_its_rate() {
        let costs = Schedule::default().instantiation;
        let shape = InstanceShape {
            imports: 1,
            functions: 2,
            globals: 3,
            exports: 4,
            table_entries: 5,
            element_segments: 6,
            element_entries: 7,
            data_segments: 8,
            data_bytes: 9,
            memory_pages: 10,
        };
        assert_eq!(
            costs.cost(&shape),
            costs.import
                + 2 * costs.function
                + 3 * costs.global
                + 4 * costs.export
                + 5 * costs.table_entry
                + 6 * costs.element_segment
                + 7 * costs.element_entry
                + 8 * costs.data_segment
                + 9 * costs.data_byte
                + 10 * costs.memory_page
        );
        assert_eq!(costs.cost(&InstanceShape::default()), 0);
        let huge = InstanceShape {
            memory_pages: u64::MAX,
            ..shape
        };
        assert_eq!(costs.cost(&huge), u64::MAX);
    }

    #[test]
    fn costs_of_representative_instructions() {
        let costs = Schedule::default().instructions;
        let cost = |op: Operator<'_>| costs.cost(&op);
        assert_eq!(cost(Operator::I32Add), Some(20));
        assert_eq!(cost(Operator::LocalGet { local_index: 0 }), Some(20));
        assert_eq!(cost(Operator::I64Const { value: 7 }), Some(20));
        assert_eq!(cost(Operator::I64Mul), Some(30));
        assert_eq!(cost(Operator::I64DivU), Some(320));
        assert_eq!(cost(Operator::Nop), Some(0));
        assert_eq!(cost(Operator::End), Some(0));
        assert_eq!(cost(Operator::Br { relative_depth: 0 }), Some(45));
        assert_eq!(cost(Operator::Call { function_index: 0 }), Some(250));
        assert_eq!(cost(Operator::F32Add), None);
        assert_eq!(cost(Operator::RefIsNull), None);
    }

    /// The floor holds for every instruction that emits code, whatever
    /// its group.
    #[test]
    fn no_instruction_that_emits_code_is_below_the_floor() {
        let wat = r#"(module (memory 1) (global $g (mut i32) (i32.const 0))
            (func $f (param i32) (result i32) (local i64)
              i32.const 1 i32.const 2 i32.add drop
              i64.const 1 i64.const 2 i64.rotr local.set 1
              local.get 0 local.tee 0 global.set $g global.get $g
              i32.const 0 select i32.eqz i32.popcnt i32.clz i32.extend8_s
              i64.extend_i32_u i32.wrap_i64 memory.size i32.add
              i32.load i32.const 0 i32.store8 offset=0 local.get 0
              i32.const 3 i32.mul i32.const 3 i32.rem_u
              if (result i32) i32.const 1 else i32.const 2 end
              drop unreachable))"#;
        let wasm = wat::parse_str(wat).unwrap();
        let costs = Schedule::default().instructions;
        let mut seen = 0;
        for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
            if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut reader = body.get_operators_reader().unwrap();
                while !reader.eof() {
                    let op = reader.read().unwrap();
                    let structural = matches!(
                        op,
                        Operator::Block { .. }
                            | Operator::Loop { .. }
                            | Operator::End
                            | Operator::Else
                            | Operator::Nop
                    );
                    let cost = costs.cost(&op).unwrap();
                    if !structural {
                        assert!(cost >= InstructionCosts::MIN_EMITTING, "{op:?}: {cost}");
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 30, "{seen}");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
