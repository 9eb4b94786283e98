//! Gas calibration: gas per nanosecond across workloads.
//!
//! `cargo bench -p cairn-vm --bench gas_calibration` runs every workload of
//! `workloads.wat`, loops of long straight-line bodies and the `hasher`
//! example's kernels through the whole VM (metered, in-memory storage) and
//! prints gas per nanosecond for each, relative to the median workload. A
//! good schedule keeps the lowest of them close to the rest: no kind of
//! work is much cheaper in gas than in time, which is what an attacker
//! would look for. (Compact loops sit above the rest: instructions are
//! priced for code too large for the instruction cache; see the schedule.)
//!
//! Shared machines drift by tens of percent within a minute, so the runs
//! are interleaved (every round runs every workload once) and the median
//! of each is taken; the cost of the same contract's cheapest call (the
//! instance and its teardown) is subtracted from each, so what remains is
//! the workload's own gas and time. docs/BENCHMARKS.md has the table.

use std::time::{Duration, Instant};

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, Call, Outcome, Status, Vm, VmConfig};

mod common;
use common::{CONTRACT, entry_call, hasher, hasher_calls};

const WORKLOADS: [&str; 20] = [
    "alu",
    "frame_locals",
    "frame_moves",
    "register_moves",
    "rotates",
    "tight_loop",
    "spin",
    "muldiv",
    "loads_stores",
    "calls",
    "indirect",
    "wide_frames",
    "many_params",
    "dispatch",
    "bulk",
    "host_call",
    "host_storage",
    "host_blake2b",
    "host_events",
    "host_cross_call",
];

const ROUNDS: usize = 25;

/// `spin` never returns; it runs until this much gas is used.
const SPIN_GAS: u64 = 300_000_000;

/// Where the `hasher` example is deployed: its optimised kernels are the
/// shape of real contract code (large inlined functions, dozens of locals)
/// that the hand-written workloads had missed.
const HASHER: Address = Address([0xa5; 32]);

const LONG: Address = Address([0x10; 32]);

/// Copies of the line in each long body, and how often the body runs.
const LONG_COPIES: usize = 1_000;
const LONG_ITERATIONS: usize = 2_000;

/// Loops whose body is one line repeated: straight-line code longer than
/// the instruction cache holds, as optimised contracts' large inlined
/// functions are. Single-pass keeps locals 0 to 3 in registers and the
/// rest in the frame.
const LONG_BODIES: [(&str, &str); 6] = [
    (
        "long_register_moves",
        "(local.set 1 (local.get 0)) (local.set 2 (local.get 3))",
    ),
    (
        "long_frame_moves",
        "(local.set 5 (local.get 4)) (local.set 7 (local.get 6))",
    ),
    (
        "long_frame_consts",
        "(local.set 5 (i64.const 7)) (local.set 6 (i64.const 9))",
    ),
    (
        "long_register_alu",
        "(local.set 0 (i64.add (local.get 0) (local.get 1)))",
    ),
    (
        "long_frame_alu",
        "(local.set 5 (i64.add (local.get 5) (local.get 6)))",
    ),
    (
        "long_frame_mix",
        "(local.set 5 (i64.rotr (i64.xor (local.get 5) (local.get 6)) (i64.const 24)))",
    ),
];

fn long_bodies() -> String {
    let mut wat = String::from("(module (memory (export \"memory\") 1) (func (export \"noop\"))");
    for (entry, line) in LONG_BODIES {
        let body = format!("{line} ").repeat(LONG_COPIES);
        wat.push_str(&format!(
            "(func (export \"{entry}\") (local i64 i64 i64 i64 i64 i64 i64 i64) (local $i i32) \
               (loop $l {body} \
                 (local.set $i (i32.add (local.get $i) (i32.const 1))) \
                 (br_if $l (i32.lt_u (local.get $i) (i32.const {LONG_ITERATIONS})))))"
        ));
    }
    wat.push(')');
    wat
}

/// One call measured, and the call whose gas and time are subtracted from
/// it (the same contract's cheapest: its instance and teardown).
struct Workload {
    name: &'static str,
    contract: Address,
    entry: &'static str,
    input: Vec<u8>,
    baseline: usize,
}

fn run(vm: &Vm, state: &MemoryStorage, workload: &Workload) -> (Outcome, Duration) {
    let gas_limit = if workload.entry == "spin" {
        SPIN_GAS
    } else {
        u64::MAX / 2
    };
    let call = Call {
        contract: workload.contract,
        input: &workload.input,
        ..entry_call(workload.entry, gas_limit)
    };
    let start = Instant::now();
    let outcome = vm.execute(&call, state).expect("the VM does not fail");
    (outcome, start.elapsed())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this
    // as a test, which it is not.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let vm = Vm::new(VmConfig::default()).expect("the VM starts");
    let wasm = wat::parse_str(include_str!("workloads.wat")).expect("workloads parse");
    vm.prepare(&wasm).expect("workloads prepare");
    let mut state = MemoryStorage::new();
    state.deploy(CONTRACT, &wasm);
    // `host_cross_call` calls the same code at a second address.
    state.deploy(Address([0xc1; 32]), &wasm);
    state.deploy(HASHER, &hasher());
    let long = wat::parse_str(long_bodies()).expect("long bodies parse");
    vm.prepare(&long).expect("long bodies prepare");
    state.deploy(LONG, &long);

    let workload = |name, contract, entry, input, baseline| Workload {
        name,
        contract,
        entry,
        input,
        baseline,
    };
    let mut workloads = vec![workload("noop", CONTRACT, "noop", Vec::new(), 0)];
    for entry in WORKLOADS {
        workloads.push(workload(entry, CONTRACT, entry, Vec::new(), 0));
    }
    let long_baseline = workloads.len();
    workloads.push(workload(
        "long noop",
        LONG,
        "noop",
        Vec::new(),
        long_baseline,
    ));
    for (entry, _) in LONG_BODIES {
        workloads.push(workload(entry, LONG, entry, Vec::new(), long_baseline));
    }
    let hasher_baseline = workloads.len();
    workloads.push(workload(
        "hasher last",
        HASHER,
        "last",
        Vec::new(),
        hasher_baseline,
    ));
    for call in hasher_calls() {
        workloads.push(workload(
            call.name,
            HASHER,
            call.entry,
            call.input,
            hasher_baseline,
        ));
    }

    let mut gas = Vec::new();
    for workload in &workloads {
        let (outcome, _) = run(&vm, &state, workload);
        let expected = if workload.entry == "spin" {
            Status::OutOfGas
        } else {
            Status::Ok
        };
        assert_eq!(outcome.status, expected, "{}", workload.name);
        gas.push(outcome.gas_used);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); workloads.len()];
    for _ in 0..ROUNDS {
        for (index, workload) in workloads.iter().enumerate() {
            times[index].push(run(&vm, &state, workload).1);
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();

    println!(
        "call overhead (noop): {} gas, {:.1} µs",
        gas[0],
        medians[0].as_secs_f64() * 1e6
    );
    println!();
    println!("| workload | gas per run | time per run | gas/ns | vs median |");
    println!("|---|---:|---:|---:|---:|");
    let measured: Vec<(&Workload, u64, Duration)> = workloads
        .iter()
        .enumerate()
        .filter(|(index, workload)| workload.baseline != *index)
        .map(|(index, workload)| {
            let base = workload.baseline;
            let net_gas = gas[index] - gas[base];
            let net_time = medians[index].saturating_sub(medians[base]);
            (workload, net_gas, net_time)
        })
        .collect();
    let rates: Vec<f64> = measured
        .iter()
        .map(|(_, net_gas, net_time)| *net_gas as f64 / net_time.as_nanos().max(1) as f64)
        .collect();
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    let median_rate = sorted[sorted.len() / 2];
    for ((workload, net_gas, net_time), rate) in measured.iter().zip(&rates) {
        println!(
            "| {} | {net_gas} | {:.3} ms | {rate:.1} | {:.2} |",
            workload.name,
            net_time.as_secs_f64() * 1e3,
            rate / median_rate
        );
    }
    let (min, max) = rates.iter().fold((f64::MAX, 0f64), |(min, max), rate| {
        (min.min(*rate), max.max(*rate))
    });
    println!();
    println!(
        "spread: {min:.1} to {max:.1} gas/ns ({:.2}x); medians of {ROUNDS} interleaved rounds",
        max / min
    );
}
