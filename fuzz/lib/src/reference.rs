//! The reference engine of the differential target: wasmi, an interpreter
//! sharing no code with wasmer, running the same metered module, with an
//! independent implementation of most of the host ABI written from
//! docs/ABI.md.
//!
//! # What it implements, and why that subset
//!
//! [`HOST_SUBSET`] is every host function except those of cross-contract
//! calls (`call_contract`, `call_contract_with_value`, `call_output_len`,
//! `call_output_read`) and of native value (`attached_value`,
//! `self_balance`, `balance`, `transfer`): input and output, the storage
//! functions including range iteration, events, the environment, hashing,
//! `revert` and `abort`. Cross-contract calls would need a second VM inside
//! the reference (nested instances, gas forwarding, overlay layers per
//! frame), and value needs the chain's balances; they are covered instead
//! by the `execute` target, which runs the whole table, by the property
//! tests on the example contracts (the escrow calls the token and holds
//! value), which compare differently cached VMs and check gas
//! monotonicity, and by the node's supply invariant (`node_supply`).
//!
//! Gas is engine-independent by construction: the instance is paid for
//! first ([`instantiation_gas`], counted here from the module), then the
//! code pays through the injected meter's global, which the reference sets
//! and reads exactly as the VM does, and the host functions charge the schedule's
//! [`HostCosts`](cairn_gas_meter::HostCosts) into the same global, in the
//! order docs/ABI.md gives (limits checked before the charge, the charge
//! before any memory is touched, a value's own cost once its length is
//! known). Traps of either engine are mapped to Cairn's [`TrapCode`] before
//! they are compared.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use cairn_gas_meter::{
    GAS_LEFT_EXPORT, HostCosts, InstanceShape, InstantiationCosts, MAX_GAS_LEFT, TRAP_EXPORT,
    TRAP_OUT_OF_GAS, TRAP_STACK_OVERFLOW,
};
use cairn_vm::limits::{
    MAX_ABORT_MESSAGE_BYTES, MAX_EVENT_DATA_BYTES, MAX_EVENT_TOPIC_BYTES, MAX_EVENTS,
    MAX_ITERATORS, MAX_KEY_BYTES, MAX_MEMORY_PAGES, MAX_OUTPUT_BYTES, MAX_VALUE_BYTES,
};
use cairn_vm::{Address, BlockInfo, Call, Event, Outcome, Status, StorageWrite, TrapCode};
use wasmi::{Caller, Engine, Extern, Global, Linker, Memory, Module, Store, Val};

/// The host functions the reference implements: every one but those of
/// cross-contract calls and of native value.
pub const HOST_SUBSET: &[&str] = &[
    "input_len",
    "input_read",
    "output_write",
    "storage_get",
    "storage_set",
    "storage_remove",
    "storage_range",
    "storage_next",
    "storage_close",
    "emit_event",
    "caller",
    "self_address",
    "block_height",
    "block_time",
    "gas_left",
    "blake2b_256",
    "revert",
    "abort",
];

/// One contract's storage: key to value.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Runs `call` on `metered` (the output of [`cairn_gas_meter::instrument`]
/// for the contract's code) in wasmi, against `state` as the contract's
/// storage, and returns the outcome the VM should have returned.
///
/// # Panics
///
/// If the module does not instantiate, or wasmi fails in a way no contract
/// can cause (its own stack limits, which are set far above the meter's):
/// the harness is wrong, not the VM.
pub fn run(
    metered: &[u8],
    call: &Call<'_>,
    state: &State,
    costs: &HostCosts,
    instantiation_gas: u64,
) -> Outcome {
    let mut config = wasmi::Config::default();
    // The injected stack-height limit must trip first, as in the VM.
    config
        .set_max_recursion_depth(1 << 20)
        .set_max_stack_height(256 << 20);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, metered).expect("a metered contract is valid wasm");
    let mut store = Store::new(
        &engine,
        Host {
            contract: call.contract,
            caller: call.caller,
            block: call.block,
            input: call.input.to_vec(),
            read_only: call.read_only,
            costs: costs.clone(),
            state: state.clone(),
            overlay: BTreeMap::new(),
            events: Vec::new(),
            output: Vec::new(),
            iterators: Vec::new(),
        },
    );
    let instance = linker(&engine)
        .instantiate_and_start(&mut store, &module)
        .expect("a validated contract instantiates");
    let failed = |status| Outcome {
        status,
        gas_used: 0,
        output: Vec::new(),
        events: Vec::new(),
        writes: Vec::new(),
        balances: Vec::new(),
    };
    let Ok(entry) = instance.get_typed_func::<(), ()>(&store, call.entry) else {
        return failed(Status::Trap(TrapCode::NoSuchEntry));
    };
    // The instance is paid for before the call runs, or not at all.
    let Some(gas_left) = call.gas_limit.checked_sub(instantiation_gas) else {
        return Outcome {
            gas_used: call.gas_limit,
            ..failed(Status::OutOfGas)
        };
    };
    let gas = instance
        .get_global(&store, GAS_LEFT_EXPORT)
        .expect("the meter exports its gas global");
    // The meter's counter is a signed i64; the VM hands over at most
    // `MAX_GAS_LEFT` of the gas.
    let gas_start = gas_left.min(MAX_GAS_LEFT);
    gas.set(&mut store, Val::I64(gas_start.cast_signed()))
        .expect("the gas global is a mutable i64");

    let status = match entry.call(&mut store, ()) {
        Ok(()) => Status::Ok,
        Err(error) => {
            let flag = instance
                .get_global(&store, TRAP_EXPORT)
                .and_then(|global| global.get(&store).i32())
                .expect("the meter exports its trap flag");
            classify(&error, flag)
        }
    };
    let left = gas.get(&store).i64().expect("gas is an i64");
    // Below zero, a block's charge was not covered (docs/ABI.md): out of
    // gas, whatever trap followed it.
    let status = if left < 0 { Status::OutOfGas } else { status };
    let gas_used = match status {
        Status::OutOfGas => call.gas_limit,
        _ => (call.gas_limit - gas_left) + (gas_start - left.cast_unsigned()),
    };
    let host = store.into_data();
    let output = match status {
        Status::Ok | Status::Trap(TrapCode::Reverted | TrapCode::Aborted) => host.output,
        _ => Vec::new(),
    };
    let (events, writes) = if status.is_ok() {
        let writes = host
            .overlay
            .into_iter()
            .map(|(key, value)| StorageWrite {
                contract: call.contract,
                key,
                value,
            })
            .collect();
        (host.events, writes)
    } else {
        (Vec::new(), Vec::new())
    };
    // The subset moves no value: balances never change.
    Outcome {
        status,
        gas_used,
        output,
        events,
        writes,
        balances: Vec::new(),
    }
}

/// What an instance of `wasm` costs, counted here from the module itself
/// (not by the VM's validation): every import, function, global, export,
/// table entry, element segment and entry it writes, data segment and
/// byte, and page of initial memory, at the schedule's rates.
///
/// # Panics
///
/// On a module that does not parse: the oracles count accepted contracts.
pub fn instantiation_gas(wasm: &[u8], costs: &InstantiationCosts) -> u64 {
    use wasmparser::{ElementItems, Parser, Payload};
    let mut shape = InstanceShape::default();
    let count = |n: u32| u64::from(n);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("an accepted contract parses") {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    import.expect("an accepted contract parses");
                    shape.imports += 1;
                    shape.functions += 1;
                }
            }
            Payload::FunctionSection(reader) => shape.functions += count(reader.count()),
            Payload::GlobalSection(reader) => shape.globals += count(reader.count()),
            Payload::ExportSection(reader) => shape.exports += count(reader.count()),
            Payload::TableSection(reader) => {
                for table in reader {
                    shape.table_entries += table.expect("an accepted table").ty.initial;
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    shape.memory_pages += memory.expect("an accepted memory").initial;
                }
            }
            Payload::ElementSection(reader) => {
                for element in reader {
                    shape.element_segments += 1;
                    shape.element_entries +=
                        count(match element.expect("an accepted segment").items {
                            ElementItems::Functions(functions) => functions.count(),
                            ElementItems::Expressions(_, expressions) => expressions.count(),
                        });
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    shape.data_segments += 1;
                    shape.data_bytes += data.expect("an accepted segment").data.len() as u64;
                }
            }
            _ => {}
        }
    }
    costs.cost(&shape)
}

/// Maps how wasmi stopped to Cairn's status: a host function's stop, the
/// meter's flag, or the engine's own trap.
fn classify(error: &wasmi::Error, meter_flag: i32) -> Status {
    if let Some(stop) = error.downcast_ref::<Stop>() {
        return match stop {
            Stop::Trap(code) => Status::Trap(*code),
            Stop::OutOfGas => Status::OutOfGas,
        };
    }
    match meter_flag {
        TRAP_OUT_OF_GAS => return Status::OutOfGas,
        TRAP_STACK_OVERFLOW => return Status::Trap(TrapCode::StackOverflow),
        _ => {}
    }
    use wasmi::TrapCode as Wasmi;
    let code = match error.as_trap_code() {
        Some(Wasmi::UnreachableCodeReached) => TrapCode::Unreachable,
        Some(Wasmi::MemoryOutOfBounds) => TrapCode::MemoryOutOfBounds,
        Some(Wasmi::TableOutOfBounds | Wasmi::IndirectCallToNull) => TrapCode::IndirectCallToNull,
        Some(Wasmi::IntegerDivisionByZero) => TrapCode::IntegerDivideByZero,
        Some(Wasmi::IntegerOverflow) => TrapCode::IntegerOverflow,
        Some(Wasmi::BadSignature) => TrapCode::BadSignature,
        other => panic!("wasmi stopped in a way no contract can cause: {other:?}: {error}"),
    };
    Status::Trap(code)
}

/// How a host function ends the call.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Trap(TrapCode),
    OutOfGas,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Trap(code) => write!(f, "trap {code}"),
            Stop::OutOfGas => f.write_str("out of gas"),
        }
    }
}

impl wasmi::errors::HostError for Stop {}

fn trap(code: TrapCode) -> wasmi::Error {
    wasmi::Error::host(Stop::Trap(code))
}

/// An open range iterator: what is left of the range, and an entry that
/// did not fit the guest's buffers.
#[derive(Debug)]
struct Iter {
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    descending: bool,
    pending: Option<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl Iter {
    fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(start) => key >= start.as_slice(),
            Bound::Excluded(start) => key > start.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(end) => key <= end.as_slice(),
            Bound::Excluded(end) => key < end.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }

    fn advance_past(&mut self, key: Vec<u8>) {
        if self.descending {
            self.end = Bound::Excluded(key);
        } else {
            self.start = Bound::Excluded(key);
        }
    }
}

/// The state of one call.
struct Host {
    contract: Address,
    caller: Address,
    block: BlockInfo,
    input: Vec<u8>,
    read_only: bool,
    costs: HostCosts,
    state: State,
    /// The call's writes; `None` is a removal.
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    events: Vec<Event>,
    output: Vec<u8>,
    iterators: Vec<Option<Iter>>,
}

impl Host {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.overlay.get(key) {
            Some(written) => written.clone(),
            None => self.state.get(key).cloned(),
        }
    }

    /// The nearest key in the iterator's range, among the stored keys and
    /// the call's own writes and removals, with what the call made of it.
    fn nearest(&self, iter: &Iter) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        let stored = self.state.keys().filter(|key| iter.contains(key));
        let written = self.overlay.keys().filter(|key| iter.contains(key));
        let key = if iter.descending {
            stored.chain(written).max()
        } else {
            stored.chain(written).min()
        }?
        .clone();
        let value = self.get(&key);
        Some((key, value))
    }
}

type Ctx<'a> = Caller<'a, Host>;
type HostResult<T> = Result<T, wasmi::Error>;

fn gas_global(ctx: &Ctx<'_>) -> Global {
    ctx.get_export(GAS_LEFT_EXPORT)
        .and_then(Extern::into_global)
        .expect("the meter exports its gas global")
}

fn gas_left(ctx: &Ctx<'_>) -> u64 {
    let left = gas_global(ctx).get(ctx).i64().expect("gas is an i64");
    // The meter checks before every host call: a host function never runs
    // on gas the contract did not have.
    u64::try_from(left).expect("the meter entered the host with gas below zero")
}

/// Takes `amount` from the gas left, or stops the call out of gas.
fn charge(ctx: &mut Ctx<'_>, amount: u64) -> HostResult<()> {
    let left = gas_left(ctx);
    let Some(rest) = left.checked_sub(amount) else {
        return Err(wasmi::Error::host(Stop::OutOfGas));
    };
    gas_global(ctx)
        .set(ctx, Val::I64(rest.cast_signed()))
        .expect("the gas global is a mutable i64");
    Ok(())
}

fn per_byte(rate: u64, bytes: usize) -> u64 {
    rate.saturating_mul(bytes as u64)
}

/// A guest length read as unsigned and checked against `limit`.
fn length(length: i32, limit: usize) -> HostResult<usize> {
    let length = length.cast_unsigned() as usize;
    if length > limit {
        return Err(trap(TrapCode::HostLimit));
    }
    Ok(length)
}

fn memory(ctx: &Ctx<'_>) -> Memory {
    ctx.get_export("memory")
        .and_then(Extern::into_memory)
        .expect("a contract exports its memory")
}

/// `[pointer, pointer + length)` of guest memory, if it is inside memory.
fn guest_range(ctx: &Ctx<'_>, pointer: i32, length: usize) -> HostResult<std::ops::Range<usize>> {
    let start = pointer.cast_unsigned() as usize;
    let size = memory(ctx).data(ctx).len();
    match start.checked_add(length) {
        Some(end) if end <= size => Ok(start..end),
        _ => Err(trap(TrapCode::HostMemoryAccess)),
    }
}

fn read(ctx: &Ctx<'_>, pointer: i32, length: usize) -> HostResult<Vec<u8>> {
    let range = guest_range(ctx, pointer, length)?;
    Ok(memory(ctx).data(ctx)[range].to_vec())
}

fn write(ctx: &mut Ctx<'_>, pointer: i32, bytes: &[u8]) -> HostResult<()> {
    let range = guest_range(ctx, pointer, bytes.len())?;
    memory(ctx).data_mut(ctx)[range].copy_from_slice(bytes);
    Ok(())
}

fn writable(ctx: &Ctx<'_>) -> HostResult<()> {
    if ctx.data().read_only {
        return Err(trap(TrapCode::ReadOnly));
    }
    Ok(())
}

fn costs(ctx: &Ctx<'_>) -> HostCosts {
    ctx.data().costs.clone()
}

fn len_i32(length: usize) -> i32 {
    i32::try_from(length).expect("lengths are bounded by limits far below 2^31")
}

fn linker(engine: &Engine) -> Linker<Host> {
    let mut linker = Linker::new(engine);
    let module = cairn_vm::host::abi::HOST_MODULE;
    macro_rules! define {
        ($($name:ident),* $(,)?) => {
            $( linker.func_wrap(module, stringify!($name), $name).expect("each name once"); )*
        };
    }
    linker
        .func_wrap(module, "gas_left", gas_left_fn)
        .expect("each name once");
    define!(
        input_len,
        input_read,
        output_write,
        storage_get,
        storage_set,
        storage_remove,
        storage_range,
        storage_next,
        storage_close,
        emit_event,
        caller,
        self_address,
        block_height,
        block_time,
        blake2b_256,
        revert,
        abort,
    );
    linker
}

fn input_len(mut ctx: Ctx<'_>) -> HostResult<i32> {
    let base = costs(&ctx).base;
    charge(&mut ctx, base)?;
    Ok(len_i32(ctx.data().input.len()))
}

fn input_read(mut ctx: Ctx<'_>, pointer: i32) -> HostResult<()> {
    let costs = costs(&ctx);
    let input = ctx.data().input.clone();
    charge(&mut ctx, costs.base + per_byte(costs.per_byte, input.len()))?;
    write(&mut ctx, pointer, &input)
}

fn output_write(mut ctx: Ctx<'_>, pointer: i32, len: i32) -> HostResult<()> {
    let len = length(len, MAX_OUTPUT_BYTES)?;
    let costs = costs(&ctx);
    charge(&mut ctx, costs.base + per_byte(costs.per_byte, len))?;
    let output = read(&ctx, pointer, len)?;
    ctx.data_mut().output = output;
    Ok(())
}

fn storage_get(
    mut ctx: Ctx<'_>,
    key_pointer: i32,
    key_len: i32,
    value_pointer: i32,
    capacity: i32,
) -> HostResult<i64> {
    let key_len = length(key_len, MAX_KEY_BYTES)?;
    let costs = costs(&ctx);
    charge(
        &mut ctx,
        costs.base + costs.storage_read + per_byte(costs.storage_read_per_byte, key_len),
    )?;
    let key = read(&ctx, key_pointer, key_len)?;
    let Some(value) = ctx.data().get(&key) else {
        return Ok(-1);
    };
    charge(&mut ctx, per_byte(costs.storage_read_per_byte, value.len()))?;
    if value.len() <= capacity.cast_unsigned() as usize {
        write(&mut ctx, value_pointer, &value)?;
    }
    Ok(i64::from(len_i32(value.len())))
}

fn storage_set(
    mut ctx: Ctx<'_>,
    key_pointer: i32,
    key_len: i32,
    value_pointer: i32,
    value_len: i32,
) -> HostResult<()> {
    writable(&ctx)?;
    let key_len = length(key_len, MAX_KEY_BYTES)?;
    let value_len = length(value_len, MAX_VALUE_BYTES)?;
    let costs = costs(&ctx);
    charge(
        &mut ctx,
        costs.base
            + costs.storage_write
            + per_byte(costs.storage_write_per_byte, key_len + value_len),
    )?;
    let key = read(&ctx, key_pointer, key_len)?;
    let value = read(&ctx, value_pointer, value_len)?;
    ctx.data_mut().overlay.insert(key, Some(value));
    Ok(())
}

fn storage_remove(mut ctx: Ctx<'_>, key_pointer: i32, key_len: i32) -> HostResult<()> {
    writable(&ctx)?;
    let key_len = length(key_len, MAX_KEY_BYTES)?;
    let costs = costs(&ctx);
    charge(
        &mut ctx,
        costs.base + costs.storage_write + per_byte(costs.storage_write_per_byte, key_len),
    )?;
    let key = read(&ctx, key_pointer, key_len)?;
    ctx.data_mut().overlay.insert(key, None);
    Ok(())
}

const DESCENDING: i32 = 1;
const NO_START: i32 = 2;
const NO_END: i32 = 4;

fn storage_range(
    mut ctx: Ctx<'_>,
    start_pointer: i32,
    start_len: i32,
    end_pointer: i32,
    end_len: i32,
    flags: i32,
) -> HostResult<i32> {
    if flags & !(DESCENDING | NO_START | NO_END) != 0 {
        return Err(trap(TrapCode::HostArgument));
    }
    let has_start = flags & NO_START == 0;
    let has_end = flags & NO_END == 0;
    let start_len = if has_start {
        length(start_len, MAX_KEY_BYTES)?
    } else {
        0
    };
    let end_len = if has_end {
        length(end_len, MAX_KEY_BYTES)?
    } else {
        0
    };
    let costs = costs(&ctx);
    charge(
        &mut ctx,
        costs.base + costs.storage_range + per_byte(costs.per_byte, start_len + end_len),
    )?;
    let start = if has_start {
        Bound::Included(read(&ctx, start_pointer, start_len)?)
    } else {
        Bound::Unbounded
    };
    let end = if has_end {
        Bound::Excluded(read(&ctx, end_pointer, end_len)?)
    } else {
        Bound::Unbounded
    };
    let iter = Iter {
        start,
        end,
        descending: flags & DESCENDING != 0,
        pending: None,
        done: false,
    };
    let iterators = &mut ctx.data_mut().iterators;
    let handle = match iterators.iter().position(Option::is_none) {
        Some(free) => free,
        None if iterators.len() < MAX_ITERATORS => {
            iterators.push(None);
            iterators.len() - 1
        }
        None => return Err(trap(TrapCode::HostLimit)),
    };
    iterators[handle] = Some(iter);
    Ok(len_i32(handle))
}

fn storage_next(
    mut ctx: Ctx<'_>,
    handle: i32,
    key_pointer: i32,
    key_capacity: i32,
    value_pointer: i32,
    value_capacity: i32,
) -> HostResult<i64> {
    let costs = costs(&ctx);
    charge(&mut ctx, costs.base + costs.storage_next)?;
    let index = usize::try_from(handle).map_err(|_| trap(TrapCode::HostArgument))?;
    let mut iter = ctx
        .data_mut()
        .iterators
        .get_mut(index)
        .and_then(Option::take)
        .ok_or_else(|| trap(TrapCode::HostArgument))?;
    let entry = if let Some(pending) = iter.pending.take() {
        Some(pending)
    } else if iter.done {
        None
    } else {
        loop {
            match ctx.data().nearest(&iter) {
                None => break None,
                Some((key, Some(value))) => break Some((key, value)),
                // A key this call removed: stepping over it is a seek too.
                Some((key, None)) => {
                    charge(&mut ctx, costs.storage_next)?;
                    iter.advance_past(key);
                }
            }
        }
    };
    let Some((key, value)) = entry else {
        iter.done = true;
        ctx.data_mut().iterators[index] = Some(iter);
        return Ok(-1);
    };
    charge(
        &mut ctx,
        per_byte(costs.storage_read_per_byte, key.len() + value.len()),
    )?;
    let packed = (i64::from(len_i32(key.len())) << 32) | i64::from(len_i32(value.len()));
    if key.len() <= key_capacity.cast_unsigned() as usize
        && value.len() <= value_capacity.cast_unsigned() as usize
    {
        write(&mut ctx, key_pointer, &key)?;
        write(&mut ctx, value_pointer, &value)?;
        iter.advance_past(key);
    } else {
        iter.pending = Some((key, value));
    }
    ctx.data_mut().iterators[index] = Some(iter);
    Ok(packed)
}

fn storage_close(mut ctx: Ctx<'_>, handle: i32) -> HostResult<()> {
    let base = costs(&ctx).base;
    charge(&mut ctx, base)?;
    let slot = usize::try_from(handle)
        .ok()
        .and_then(|index| ctx.data_mut().iterators.get_mut(index))
        .filter(|slot| slot.is_some())
        .ok_or_else(|| trap(TrapCode::HostArgument))?;
    *slot = None;
    Ok(())
}

fn emit_event(
    mut ctx: Ctx<'_>,
    topic_pointer: i32,
    topic_len: i32,
    data_pointer: i32,
    data_len: i32,
) -> HostResult<()> {
    writable(&ctx)?;
    let topic_len = length(topic_len, MAX_EVENT_TOPIC_BYTES)?;
    let data_len = length(data_len, MAX_EVENT_DATA_BYTES)?;
    let costs = costs(&ctx);
    charge(
        &mut ctx,
        costs.base + costs.event + per_byte(costs.event_per_byte, topic_len + data_len),
    )?;
    if ctx.data().events.len() >= MAX_EVENTS {
        return Err(trap(TrapCode::HostLimit));
    }
    let topic = read(&ctx, topic_pointer, topic_len)?;
    let data = read(&ctx, data_pointer, data_len)?;
    let contract = ctx.data().contract;
    ctx.data_mut().events.push(Event {
        contract,
        topic,
        data,
    });
    Ok(())
}

fn write_address(mut ctx: Ctx<'_>, pointer: i32, address: Address) -> HostResult<()> {
    let costs = costs(&ctx);
    charge(&mut ctx, costs.base + per_byte(costs.per_byte, 32))?;
    write(&mut ctx, pointer, &address.0)
}

fn caller(ctx: Ctx<'_>, pointer: i32) -> HostResult<()> {
    let address = ctx.data().caller;
    write_address(ctx, pointer, address)
}

fn self_address(ctx: Ctx<'_>, pointer: i32) -> HostResult<()> {
    let address = ctx.data().contract;
    write_address(ctx, pointer, address)
}

fn block_height(mut ctx: Ctx<'_>) -> HostResult<i64> {
    let base = costs(&ctx).base;
    charge(&mut ctx, base)?;
    Ok(ctx.data().block.height.cast_signed())
}

fn block_time(mut ctx: Ctx<'_>) -> HostResult<i64> {
    let base = costs(&ctx).base;
    charge(&mut ctx, base)?;
    Ok(ctx.data().block.time_ms.cast_signed())
}

/// `gas_left`: what is left after its own charge, at most `i64::MAX`.
fn gas_left_fn(mut ctx: Ctx<'_>) -> HostResult<i64> {
    let base = costs(&ctx).base;
    charge(&mut ctx, base)?;
    Ok(i64::try_from(gas_left(&ctx)).unwrap_or(i64::MAX))
}

fn blake2b_256(mut ctx: Ctx<'_>, pointer: i32, len: i32, out: i32) -> HostResult<()> {
    let len = length(len, MAX_MEMORY_PAGES as usize * 65_536)?;
    let costs = costs(&ctx);
    charge(
        &mut ctx,
        costs.base + costs.blake2b + per_byte(costs.blake2b_per_byte, len),
    )?;
    let data = read(&ctx, pointer, len)?;
    write(&mut ctx, out, &cairn_vm::blake2b_256(&data))
}

fn revert(mut ctx: Ctx<'_>, pointer: i32, len: i32) -> HostResult<()> {
    let len = length(len, MAX_OUTPUT_BYTES)?;
    let costs = costs(&ctx);
    charge(&mut ctx, costs.base + per_byte(costs.per_byte, len))?;
    let data = read(&ctx, pointer, len)?;
    ctx.data_mut().output = data;
    Err(trap(TrapCode::Reverted))
}

fn abort(mut ctx: Ctx<'_>, pointer: i32, len: i32) -> HostResult<()> {
    let len = (len.cast_unsigned() as usize).min(MAX_ABORT_MESSAGE_BYTES);
    let costs = costs(&ctx);
    charge(&mut ctx, costs.base + per_byte(costs.per_byte, len))?;
    let message = read(&ctx, pointer, len)?;
    ctx.data_mut().output = message;
    Err(trap(TrapCode::Aborted))
}
