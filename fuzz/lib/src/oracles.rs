//! Oracles: one function per fuzz target. Each takes the fuzzer's bytes,
//! builds what it tests from them with a [generator](crate::generate), and
//! panics when a property does not hold. Inputs the generators cannot use
//! are simply not tested (they return early), never a failure.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};
use cairn_gas_meter::Schedule;
use cairn_vm::limits::{
    MAX_ABORT_MESSAGE_BYTES, MAX_EVENT_DATA_BYTES, MAX_EVENT_TOPIC_BYTES, MAX_EVENTS,
    MAX_KEY_BYTES, MAX_OUTPUT_BYTES, MAX_VALUE_BYTES,
};
use cairn_vm::testing::MemoryStorage;
use cairn_vm::validate::{host_import_rule, validate_contract, validate_module};
use cairn_vm::{Address, BlockInfo, Call, Outcome, Status, Storage, TrapCode, Vm, VmConfig};

use crate::generate::{self, Imports};
use crate::{naive, reference};

/// Where the oracles deploy the contract they call.
pub const CONTRACT: Address = Address([0xc0; 32]);
/// Who calls it.
pub const CALLER: Address = Address([0xa1; 32]);
/// A second copy of the contract, at the address a zeroed buffer names, so
/// that generated `call_contract`s reading an address from untouched memory
/// reach a contract.
pub const ZERO: Address = Address([0; 32]);

/// The most gas one generated call gets: enough for a few thousand host
/// calls, small enough that an endless loop stops within milliseconds.
pub const MAX_GAS: u64 = 50_000_000;

/// How much the meter may grow a module: every basic block gains a charge
/// of at most 35 bytes and every call about 40 bytes of stack accounting,
/// against at least one byte of original code each, plus the helpers and an
/// export thunk per exported function.
const METER_GROWTH: usize = 96;
const METER_FIXED_BYTES: usize = 64 * 1024;

/// One VM per process for each kind of target: a VM is cheap to share and
/// its artifact cache is bounded, so a long fuzzing run stays bounded too.
fn shared_vm() -> &'static Vm {
    static VM: OnceLock<Vm> = OnceLock::new();
    VM.get_or_init(|| vm_with(Schedule::default(), 2))
}

fn vm_with(schedule: Schedule, threads: usize) -> Vm {
    Vm::new(VmConfig {
        schedule,
        memory_cache_bytes: 32 << 20,
        cache_dir: None,
        compile_threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
    })
    .expect("the VM starts")
}

/// `validate`: any bytes go through validation and metering (which the VM
/// runs side by side) without a panic; what validation accepts the meter accepts,
/// the metered module is valid, no larger than a fixed multiple of the
/// original, and the same every time.
///
/// An odd first byte makes the rest the seed of a wasm-smith module with an
/// arbitrary configuration (every proposal, floats and all), so that the
/// rejection paths of every feature are reached; any other first byte (a
/// wasm module starts with 0) passes the bytes on unchanged.
pub fn validate(data: &[u8]) {
    let wasm = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => {
            match generate::any_module(&mut Unstructured::new(rest)) {
                Ok(wasm) => wasm,
                Err(_) => return,
            }
        }
        _ => data.to_vec(),
    };
    let as_contract = validate_contract(&wasm);
    let as_module = validate_module(&wasm, &|_, _, _| Ok(()));
    let with_host_rule = validate_module(&wasm, &host_import_rule);
    if as_contract.is_ok() {
        assert!(
            with_host_rule.is_ok(),
            "accepted as a contract but not as a module importing from the host: {:?}",
            with_host_rule.err()
        );
    }
    if with_host_rule.is_ok() {
        assert!(
            as_module.is_ok(),
            "accepted with the host's imports but not with any: {:?}",
            as_module.err()
        );
    }
    match as_module {
        Ok(_) => check_metering(&wasm),
        Err(rejection) => {
            // Rejections name what they reject; formatting one must not panic.
            drop(rejection.to_string());
            // The VM meters beside validation, so the meter sees what
            // validation refuses too: it may refuse it or not, never panic.
            drop(cairn_gas_meter::instrument(&wasm, &Schedule::default()));
        }
    }
}

fn check_metering(wasm: &[u8]) {
    let schedule = Schedule::default();
    let metered = cairn_gas_meter::instrument(wasm, &schedule)
        .unwrap_or_else(|error| panic!("validation accepted what the meter refuses: {error}"));
    let bound = METER_GROWTH * wasm.len() + METER_FIXED_BYTES;
    assert!(
        metered.len() <= bound,
        "metering grew {} bytes to {} (bound {bound})",
        wasm.len(),
        metered.len()
    );
    wasmparser::Validator::new_with_features(cairn_gas_meter::supported_features())
        .validate_all(&metered)
        .unwrap_or_else(|error| panic!("the metered module is invalid: {error}"));
    let again = cairn_gas_meter::instrument(wasm, &schedule).expect("metered once already");
    assert!(again == metered, "metering the same module twice differs");
}

/// `execute`: a contract-shaped module importing any host function, called
/// with arbitrary input, gas and mode, never panics and never fails the
/// node; its outcome is one of the defined ones
/// ([`check_outcome`]), and the same call on the same state gives the same
/// outcome again.
pub fn execute(data: &[u8]) {
    let _ = try_execute(&mut Unstructured::new(data));
}

fn try_execute(u: &mut Unstructured<'_>) -> Result<()> {
    let contract = generate::contract(u, Imports::All, false)?;
    let vm = shared_vm();
    prepare(vm, &contract.wasm);
    let mut state = MemoryStorage::new();
    state.deploy(CONTRACT, &contract.wasm);
    state.deploy(ZERO, &contract.wasm);
    seed_storage(u, &mut state, &[CONTRACT, ZERO])?;
    for _ in 0..u.int_in_range(1..=3)? {
        let entry = entry_name(u, &contract.entries)?;
        let input: Vec<u8> = u.arbitrary()?;
        let call = Call {
            contract: CONTRACT,
            caller: CALLER,
            entry: &entry,
            input: &input,
            gas_limit: gas_limit(u)?,
            value: 0,
            block: block(u)?,
            read_only: u.ratio(1, 4)?,
        };
        let outcome = execute_call(vm, &call, &state);
        check_outcome(&call, &outcome);
        let again = execute_call(vm, &call, &state);
        assert_eq!(outcome, again, "the same call on the same state differs");
        state.commit(&outcome.writes);
    }
    Ok(())
}

/// What every outcome of a top-level call must satisfy, whatever the code:
/// the gas within the limit (all of it when out of gas), nothing kept from
/// a failed call, output only where the ABI defines one, every limit of
/// docs/ABI.md respected, and the refusal codes of nested calls never the
/// status of a top-level one.
///
/// # Panics
///
/// When one does not hold.
pub fn check_outcome(call: &Call<'_>, outcome: &Outcome) {
    assert!(
        outcome.gas_used <= call.gas_limit,
        "used {} gas of {}",
        outcome.gas_used,
        call.gas_limit
    );
    match outcome.status {
        Status::OutOfGas => assert_eq!(outcome.gas_used, call.gas_limit, "out of gas"),
        Status::Trap(TrapCode::NoSuchEntry | TrapCode::NoSuchContract) => {
            assert_eq!(outcome.gas_used, 0, "{:?} without running", outcome.status);
        }
        Status::Trap(TrapCode::CallDepth | TrapCode::Reentrancy) => {
            panic!(
                "{:?} is a nested call's status, not a transaction's",
                outcome.status
            )
        }
        _ => {}
    }
    if !outcome.status.is_ok() {
        assert!(outcome.writes.is_empty(), "a failed call kept its writes");
        assert!(outcome.events.is_empty(), "a failed call kept its events");
    }
    match outcome.status {
        Status::Ok | Status::Trap(TrapCode::Reverted) => {
            assert!(
                outcome.output.len() <= MAX_OUTPUT_BYTES,
                "output over its limit"
            );
        }
        Status::Trap(TrapCode::Aborted) => {
            assert!(
                outcome.output.len() <= MAX_ABORT_MESSAGE_BYTES,
                "abort message over its limit"
            );
        }
        _ => assert!(
            outcome.output.is_empty(),
            "output from {:?}",
            outcome.status
        ),
    }
    if call.read_only {
        assert!(outcome.writes.is_empty(), "a query wrote");
        assert!(outcome.events.is_empty(), "a query emitted events");
    }
    assert!(outcome.events.len() <= MAX_EVENTS, "too many events");
    for event in &outcome.events {
        assert!(
            event.topic.len() <= MAX_EVENT_TOPIC_BYTES,
            "event topic over its limit"
        );
        assert!(
            event.data.len() <= MAX_EVENT_DATA_BYTES,
            "event data over its limit"
        );
    }
    for write in &outcome.writes {
        assert!(write.key.len() <= MAX_KEY_BYTES, "key over its limit");
        if let Some(value) = &write.value {
            assert!(value.len() <= MAX_VALUE_BYTES, "value over its limit");
        }
    }
    assert!(
        outcome
            .writes
            .windows(2)
            .all(|pair| (pair[0].contract, &pair[0].key) < (pair[1].contract, &pair[1].key)),
        "writes not sorted by contract and key, or a key written twice"
    );
}

/// `differential`: a contract-shaped module importing only the host
/// functions of [`reference::HOST_SUBSET`], run on the VM (wasmer
/// single-pass) and on the reference (wasmi) for a few calls against the
/// same storage: the same status, gas, output, events and writes, trap for
/// trap, and the same storage at the end.
pub fn differential(data: &[u8]) {
    let _ = try_differential(&mut Unstructured::new(data));
}

fn try_differential(u: &mut Unstructured<'_>) -> Result<()> {
    let contract = generate::contract(u, Imports::Reference, false)?;
    let vm = shared_vm();
    prepare(vm, &contract.wasm);
    let metered = cairn_gas_meter::instrument(&contract.wasm, vm.schedule())
        .expect("an accepted contract meters");
    let instance = reference::instantiation_gas(&contract.wasm, &vm.schedule().instantiation);
    let mut vm_state = MemoryStorage::new();
    vm_state.deploy(CONTRACT, &contract.wasm);
    seed_storage(u, &mut vm_state, &[CONTRACT])?;
    let mut reference_state: reference::State = vm_state.entries(&CONTRACT).into_iter().collect();
    for _ in 0..u.int_in_range(1..=3)? {
        let entry = entry_name(u, &contract.entries)?;
        let input: Vec<u8> = u.arbitrary()?;
        let call = Call {
            contract: CONTRACT,
            caller: CALLER,
            entry: &entry,
            input: &input,
            gas_limit: gas_limit(u)?,
            value: 0,
            block: block(u)?,
            read_only: u.ratio(1, 4)?,
        };
        let on_vm = execute_call(vm, &call, &vm_state);
        let on_reference = reference::run(
            &metered,
            &call,
            &reference_state,
            &vm.schedule().host,
            instance,
        );
        assert_eq!(
            on_vm, on_reference,
            "the VM (left) and the reference (right) differ on {call:?}"
        );
        vm_state.commit(&on_vm.writes);
        for write in on_reference.writes {
            match write.value {
                Some(value) => reference_state.insert(write.key, value),
                None => reference_state.remove(&write.key),
            };
        }
    }
    let final_vm: reference::State = vm_state.entries(&CONTRACT).into_iter().collect();
    assert_eq!(final_vm, reference_state, "final storage differs");
    Ok(())
}

/// The schedule of the gas oracle: the default one without the per-block
/// overhead, which a per-instruction count cannot see. The instance's
/// charge is added to the count ([`reference::instantiation_gas`]).
pub fn gas_oracle_schedule() -> Schedule {
    let mut schedule = Schedule::default();
    schedule.instructions.block = 0;
    schedule
}

/// `gas_oracle`: on a terminating, trap-free contract without imports, the
/// gas the VM reports for each entry point equals the naive
/// per-instruction count of the same schedule ([`naive`]), and the two
/// end the same way. Runs that hit the stack-height limit are skipped: the
/// naive module's frames are not metered.
pub fn gas_oracle(data: &[u8]) {
    let _ = try_gas_oracle(&mut Unstructured::new(data));
}

fn try_gas_oracle(u: &mut Unstructured<'_>) -> Result<()> {
    let contract = generate::contract(u, Imports::None, true)?;
    check_gas_against_schedule(&contract.wasm, &contract.entries);
    Ok(())
}

/// The body of [`gas_oracle`], for a given contract: each `() -> ()` entry
/// point is called on the VM and counted by [`naive`] under
/// [`gas_oracle_schedule`]. The contract must import nothing, have a global
/// section, and end every call by returning or through wasm-smith's fuel
/// (`unreachable`).
///
/// # Panics
///
/// When the VM's gas or ending differs from the count's.
pub fn check_gas_against_schedule(wasm: &[u8], entries: &[String]) {
    static VM: OnceLock<Vm> = OnceLock::new();
    let vm = VM.get_or_init(|| vm_with(gas_oracle_schedule(), 2));
    prepare(vm, wasm);
    let counted = naive::instrument(wasm, vm.schedule());
    let instance = reference::instantiation_gas(wasm, &vm.schedule().instantiation);
    let mut state = MemoryStorage::new();
    state.deploy(CONTRACT, wasm);
    for entry in entries {
        let call = Call {
            contract: CONTRACT,
            caller: CALLER,
            entry,
            input: &[],
            gas_limit: 1 << 50,
            value: 0,
            block: BlockInfo::default(),
            read_only: false,
        };
        let outcome = execute_call(vm, &call, &state);
        let (end, count) = naive::run(&counted, entry);
        let count = count.saturating_add(instance);
        if outcome.status == Status::Trap(TrapCode::StackOverflow) {
            continue;
        }
        // Grown pages and copied bytes can add up past any limit.
        if count > call.gas_limit {
            assert_eq!(
                outcome.status,
                Status::OutOfGas,
                "`{entry}`: the schedule adds up to {count}, over the limit, but the VM did not run out"
            );
            assert_eq!(
                outcome.gas_used, call.gas_limit,
                "`{entry}`: running out of gas charges the whole limit"
            );
            continue;
        }
        match (outcome.status, end) {
            (Status::Ok, naive::End::Returned)
            | (Status::Trap(TrapCode::Unreachable), naive::End::FuelTrap) => {}
            (status, end) => panic!("`{entry}` ended {status:?} on the VM but {end:?} counted"),
        }
        assert_eq!(
            outcome.gas_used, count,
            "`{entry}`: the VM charged {} but the schedule adds up to {count}",
            outcome.gas_used
        );
    }
}

/// `compile_deterministic`: compiling a contract twice, on VMs with
/// different compiler thread counts, gives byte-identical artifacts (or the
/// same rejection), and metering it twice gives the same module.
///
/// The first byte chooses the input as for [`validate`]: odd makes the rest
/// the seed of a generated contract, anything else is the contract itself.
pub fn compile_deterministic(data: &[u8]) {
    static ONE: OnceLock<Vm> = OnceLock::new();
    static TWO: OnceLock<Vm> = OnceLock::new();
    let wasm = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => {
            match generate::contract(&mut Unstructured::new(rest), Imports::All, false) {
                Ok(contract) => contract.wasm,
                Err(_) => return,
            }
        }
        _ => data.to_vec(),
    };
    if validate_contract(&wasm).is_err() {
        return;
    }
    let one = ONE.get_or_init(|| vm_with(Schedule::default(), 1));
    let two = TWO.get_or_init(|| vm_with(Schedule::default(), 2));
    let first = one.artifact_bytes(&wasm).map_err(|error| error.to_string());
    let second = two.artifact_bytes(&wasm).map_err(|error| error.to_string());
    assert!(
        first.is_ok(),
        "an accepted contract does not compile: {first:?}"
    );
    assert!(
        first == second,
        "two compilations differ ({} and {} bytes)",
        first.as_ref().map_or(0, Vec::len),
        second.as_ref().map_or(0, Vec::len)
    );
    let metered = cairn_gas_meter::instrument(&wasm, one.schedule()).expect("accepted");
    assert!(
        metered == cairn_gas_meter::instrument(&wasm, two.schedule()).expect("accepted"),
        "metering twice differs"
    );
}

/// Prepares generated code, which must be accepted: the generators make
/// only contracts.
fn prepare(vm: &Vm, wasm: &[u8]) {
    if let Err(error) = vm.prepare(wasm) {
        panic!("a generated contract was not prepared: {error}");
    }
}

/// Executes a call; the VM failing (not the contract) is a bug here: the
/// state is in memory and cannot fail.
fn execute_call(vm: &Vm, call: &Call<'_>, state: &MemoryStorage) -> Outcome {
    vm.execute(call, state)
        .unwrap_or_else(|error| panic!("the VM failed on {call:?}: {error}"))
}

/// Mostly an entry point of the contract, sometimes a name it does not
/// export.
fn entry_name(u: &mut Unstructured<'_>, entries: &[String]) -> Result<String> {
    if u.ratio(1, 16)? {
        return Ok("missing".to_owned());
    }
    Ok(u.choose(entries)?.clone())
}

/// Gas limits of every magnitude, from nothing to [`MAX_GAS`]: small ones
/// stop code at arbitrary points.
fn gas_limit(u: &mut Unstructured<'_>) -> Result<u64> {
    let magnitude = u.int_in_range(0..=7)?;
    let max = (10u64.pow(magnitude) * 5).min(MAX_GAS);
    u.int_in_range(0..=max)
}

fn block(u: &mut Unstructured<'_>) -> Result<BlockInfo> {
    Ok(BlockInfo {
        height: u.arbitrary()?,
        time_ms: u.arbitrary()?,
    })
}

/// A few entries under short keys (mostly zero bytes and small numbers,
/// which is what generated code tends to read) in each contract's storage.
fn seed_storage(
    u: &mut Unstructured<'_>,
    state: &mut MemoryStorage,
    contracts: &[Address],
) -> Result<()> {
    for contract in contracts {
        let mut entries = BTreeMap::new();
        for _ in 0..u.int_in_range(0..=4)? {
            let key_len = u.int_in_range(0..=4)?;
            let key = u.bytes(key_len)?.to_vec();
            let value_len = u.int_in_range(0..=16)?;
            entries.insert(key, u.bytes(value_len)?.to_vec());
        }
        for (key, value) in entries {
            state
                .set(contract, &key, &value)
                .expect("memory storage does not fail");
        }
    }
    Ok(())
}
