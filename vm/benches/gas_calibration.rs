//! Gas calibration: gas per nanosecond across workloads.
//!
//! `cargo bench -p cairn-vm --bench gas_calibration` runs every workload of
//! `workloads.wat` through the whole VM (metered, in-memory storage) and
//! prints gas per nanosecond for each, relative to the `alu` workload. A good
//! schedule makes that number roughly flat: no kind of work is much cheaper
//! in gas than in time, which is what an attacker would look for.
//!
//! Shared machines drift by tens of percent within a minute, so the runs
//! are interleaved (every round runs every workload once) and the median
//! of each is taken; the cost of a call that does nothing (`noop`: the
//! instance and its teardown) is subtracted from each, so what remains is
//! the workload's own gas and time. docs/BENCHMARKS.md has the table.

use std::time::{Duration, Instant};

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, Outcome, Status, Vm, VmConfig};

mod common;
use common::{CONTRACT, entry_call};

const WORKLOADS: [&str; 16] = [
    "alu",
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

fn call(vm: &Vm, state: &MemoryStorage, entry: &str) -> (Outcome, Duration) {
    let gas_limit = if entry == "spin" {
        SPIN_GAS
    } else {
        u64::MAX / 2
    };
    let call = entry_call(entry, gas_limit);
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

    let entries: Vec<&str> = std::iter::once("noop").chain(WORKLOADS).collect();
    let mut gas = Vec::new();
    for entry in &entries {
        let (outcome, _) = call(&vm, &state, entry);
        let expected = if *entry == "spin" {
            Status::OutOfGas
        } else {
            Status::Ok
        };
        assert_eq!(outcome.status, expected, "{entry}");
        gas.push(outcome.gas_used);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); entries.len()];
    for _ in 0..ROUNDS {
        for (index, entry) in entries.iter().enumerate() {
            times[index].push(call(&vm, &state, entry).1);
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    let (noop_gas, noop_time) = (gas[0], medians[0]);

    println!(
        "call overhead (noop): {noop_gas} gas, {:.1} µs",
        noop_time.as_secs_f64() * 1e6
    );
    println!();
    println!("| workload | gas per run | time per run | gas/ns | vs alu |");
    println!("|---|---:|---:|---:|---:|");
    let rates: Vec<f64> = (1..entries.len())
        .map(|index| {
            let net_gas = (gas[index] - noop_gas) as f64;
            let net_nanos = medians[index].saturating_sub(noop_time).as_nanos().max(1) as f64;
            net_gas / net_nanos
        })
        .collect();
    let alu = rates[0];
    for (index, rate) in rates.iter().enumerate() {
        let entry = entries[index + 1];
        let time = medians[index + 1].saturating_sub(noop_time);
        println!(
            "| {entry} | {} | {:.3} ms | {rate:.1} | {:.2} |",
            gas[index + 1] - noop_gas,
            time.as_secs_f64() * 1e3,
            rate / alu
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
