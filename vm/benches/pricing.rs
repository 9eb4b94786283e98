//! Pricing: gas per nanosecond of every shape that made a call dear in time
//! and cheap in gas (instantiation at the limits, first touch of memory,
//! wide frames, cross-contract calls), next to the calibration's workloads.
//!
//! `cargo bench -p cairn-vm --bench pricing` times each call through the
//! whole VM with criterion (`pricing/<name>`, cached artifact, in-memory
//! storage), then prints two tables:
//!
//! - per call: the gas charged and the median time, both less those of the
//!   cheapest call (`baseline`: an empty entry point of a one-page contract;
//!   a call's base is paid by the transaction's base gas, or by
//!   `call_contract` for a nested one), the gas per nanosecond that leaves,
//!   and its ratio to the median of the calibration's workloads. The goal:
//!   every row within 2x of it, none beyond 3x, over two runs (a row
//!   charged for memory it never touches is far above it by design).
//! - per unit of instantiation: what one table entry, segment, import,
//!   global, export, function or page adds to a call's time, and the gas
//!   that is at the median rate of the calibration's workloads (how
//!   `InstantiationCosts` was set).
//!
//! Shared machines drift by tens of percent within minutes; the ratios, all
//! measured in one process, move much less. Without `--bench` (as `cargo
//! test --all-targets` runs it) every call runs once and must end as
//! expected, which keeps the shapes valid.

#[path = "../tests/pricing_shapes/mod.rs"]
mod pricing_shapes;

mod common;

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Outcome, Status, Vm, VmConfig};
use criterion::Criterion;

use common::{CONTRACT, workloads};
use pricing_shapes::{PAGE, PricedShape};

/// The calibration's workloads (`workloads.wat`), as `gas_calibration`
/// runs them.
const WORKLOADS: [&str; 18] = [
    "alu",
    "tight_loop",
    "spin",
    "muldiv",
    "loads_stores",
    "scattered_bytes",
    "calls",
    "recursion",
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

/// `spin` never returns; it runs until this much gas is used.
const SPIN_GAS: u64 = 300_000_000;

/// One call of the table.
struct Row {
    name: String,
    /// `workload` or `shape`.
    kind: &'static str,
    contract: Address,
    entry: String,
    gas_limit: u64,
    gas: u64,
    /// Nanoseconds per call, one per criterion sample.
    samples: Rc<RefCell<Vec<f64>>>,
    /// Nanoseconds per baseline call, timed alternately with this row's
    /// calls in the same samples: what is subtracted from them.
    baseline_samples: Rc<RefCell<Vec<f64>>>,
}

impl Row {
    fn call(&self) -> Call<'_> {
        Call {
            contract: self.contract,
            caller: Address([1; 32]),
            entry: &self.entry,
            input: &[],
            gas_limit: self.gas_limit,
            value: 0,
            block: BlockInfo::default(),
            read_only: false,
        }
    }

    fn median_nanos(&self) -> Option<f64> {
        let samples = self.samples.borrow().clone();
        (!samples.is_empty()).then(|| median(samples))
    }

    /// What the row's call adds to the baseline call timed beside it.
    fn net_nanos(&self) -> Option<f64> {
        let baseline = self.baseline_samples.borrow().clone();
        if baseline.is_empty() {
            return None;
        }
        Some(self.median_nanos()? - median(baseline))
    }
}

fn execute(vm: &Vm, state: &MemoryStorage, call: &Call<'_>) -> Outcome {
    vm.execute(call, state).expect("the VM does not fail")
}

fn main() {
    let bench = std::env::args().any(|arg| arg == "--bench");
    let vm = Vm::new(VmConfig::default()).expect("the VM starts");
    let mut state = MemoryStorage::new();
    let workloads = workloads();
    vm.prepare(&workloads).expect("workloads prepare");
    state.deploy(CONTRACT, &workloads);
    // `host_cross_call` calls the same code at a second address.
    state.deploy(Address([0xc1; 32]), &workloads);

    let mut rows = Vec::new();
    let mut add = |name: String, kind, contract, entry: &str, gas_limit| {
        rows.push(Row {
            name,
            kind,
            contract,
            entry: entry.to_owned(),
            gas_limit,
            gas: 0,
            samples: Rc::default(),
            baseline_samples: Rc::default(),
        });
    };
    let shapes: Vec<PricedShape> = std::iter::once(pricing_shapes::baseline())
        .chain(pricing_shapes::all())
        .collect();
    for (index, shape) in shapes.iter().enumerate() {
        let contract = Address([u8::try_from(index).expect("few shapes") + 0x10; 32]);
        vm.prepare(&shape.wasm)
            .unwrap_or_else(|error| panic!("{} does not prepare: {error}", shape.name));
        state.deploy(contract, &shape.wasm);
        add(
            shape.name.to_owned(),
            "shape",
            contract,
            shape.entry,
            u64::MAX / 2,
        );
    }
    for workload in WORKLOADS {
        let gas_limit = if workload == "spin" {
            SPIN_GAS
        } else {
            u64::MAX / 2
        };
        add(
            workload.to_owned(),
            "workload",
            CONTRACT,
            workload,
            gas_limit,
        );
    }

    for row in &mut rows {
        let outcome = execute(&vm, &state, &row.call());
        let expected = if row.name == "spin" {
            Status::OutOfGas
        } else {
            Status::Ok
        };
        assert_eq!(outcome.status, expected, "{}", row.name);
        row.gas = outcome.gas_used;
    }
    // `cargo bench` passes `--bench`; under `cargo test` the check above is
    // the whole run.
    if !bench {
        return;
    }

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group("pricing");
        // Shapes come first, the baseline first of all.
        let baseline = rows[0].call();
        for row in &rows[1..] {
            let call = row.call();
            let (samples, baseline_samples) =
                (Rc::clone(&row.samples), Rc::clone(&row.baseline_samples));
            group.bench_function(&row.name, |bencher| {
                bencher.iter_custom(|iterations| {
                    // The baseline alternates with the call, so that drift
                    // on a shared machine moves both alike.
                    let (mut total, mut baseline_total) = (Duration::ZERO, Duration::ZERO);
                    for _ in 0..iterations {
                        let start = Instant::now();
                        black_box(execute(&vm, &state, black_box(&baseline)));
                        baseline_total += start.elapsed();
                        let start = Instant::now();
                        black_box(execute(&vm, &state, black_box(&call)));
                        total += start.elapsed();
                    }
                    let per_call = |total: Duration| total.as_secs_f64() * 1e9 / iterations as f64;
                    samples.borrow_mut().push(per_call(total));
                    baseline_samples.borrow_mut().push(per_call(baseline_total));
                    total
                });
            });
        }
        group.finish();
    }
    criterion.final_summary();
    report(&rows);
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn report(rows: &[Row]) {
    let find = |name: &str| rows.iter().find(|row| row.name == name);
    let baseline = &rows[0];
    let base_nanos = median(
        rows.iter()
            .flat_map(|row| row.baseline_samples.borrow().clone())
            .collect(),
    );
    println!();
    println!(
        "baseline call: {} gas, {:.1} µs (timed beside every row and subtracted from it)",
        baseline.gas,
        base_nanos / 1e3
    );
    // Gas and nanoseconds a row adds to the baseline call.
    let net = |row: &Row| -> Option<(u64, f64)> {
        let nanos = row.net_nanos()?;
        Some((row.gas.saturating_sub(baseline.gas), nanos.max(1.0)))
    };
    let rated: Vec<(&Row, u64, f64, f64)> = rows
        .iter()
        .filter(|row| row.name != "baseline")
        .filter_map(|row| {
            let (gas, nanos) = net(row)?;
            Some((row, gas, nanos, gas as f64 / nanos))
        })
        .collect();
    // The reference is the calibration's workloads: shapes the schedule
    // did not price (before it did) or prices for memory never touched
    // would drag a median over every row far from the rate of ordinary
    // work.
    let workload_median = median(
        rated
            .iter()
            .filter(|(row, ..)| row.kind == "workload")
            .map(|(_, _, _, rate)| *rate)
            .collect(),
    );
    println!();
    println!("| call | kind | gas | time | gas/ns | vs the workloads' median |");
    println!("|---|---|---:|---:|---:|---:|");
    for (row, gas, nanos, rate) in &rated {
        println!(
            "| {} | {} | {gas} | {} | {rate:.1} | {} |",
            row.name,
            row.kind,
            time(*nanos),
            ratio(rate / workload_median)
        );
    }
    let ratios: Vec<(&str, f64)> = rated
        .iter()
        .map(|(row, .., rate)| (row.name.as_str(), rate / workload_median))
        .collect();
    let beyond = |bound: f64| -> Vec<&str> {
        ratios
            .iter()
            .filter(|(_, r)| *r > bound || *r < 1.0 / bound)
            .map(|(name, _)| *name)
            .collect()
    };
    println!();
    println!(
        "workloads' median {workload_median:.1} gas/ns; {} of {} rows within 2x of it; \
         beyond 2x: {:?}; beyond 3x: {:?}",
        ratios.len() - beyond(2.0).len(),
        ratios.len(),
        beyond(2.0),
        beyond(3.0)
    );

    // What one unit of instantiation adds, from differences of shapes.
    let nanos = |name: &str| find(name).and_then(Row::median_nanos);
    let pages = f64::from(cairn_vm::limits::MAX_MEMORY_PAGES);
    let touch_per_page = nanos("stride_untouched")
        .zip(nanos("max_memory"))
        .map(|(touched, untouched)| (touched - untouched) / pages);
    let units: [(&str, &str, Option<f64>, f64); 10] = [
        (
            "table entry (one segment)",
            "table_entries",
            nanos("table_entries").map(|t| t - base_nanos),
            f64::from(cairn_vm::limits::MAX_ELEMENT_ENTRIES),
        ),
        (
            "element segment",
            "element_segments - table_entries",
            nanos("element_segments")
                .zip(nanos("table_entries"))
                .map(|(a, b)| a - b),
            f64::from(cairn_vm::limits::MAX_ELEMENT_SEGMENTS),
        ),
        (
            "data segment (16 bytes)",
            "data_segments - a host page touched each",
            nanos("data_segments")
                .zip(touch_per_page)
                .map(|(t, touch)| {
                    let host_pages = f64::from(PAGE / pricing_shapes::OS_PAGE);
                    t - base_nanos
                        - f64::from(cairn_vm::limits::MAX_DATA_SEGMENTS) * touch / host_pages
                }),
            f64::from(cairn_vm::limits::MAX_DATA_SEGMENTS),
        ),
        (
            "data byte",
            "data_bytes - 16 touched pages",
            nanos("data_bytes")
                .zip(touch_per_page)
                .map(|(t, touch)| t - base_nanos - 15.0 * touch),
            f64::from(16 * PAGE),
        ),
        (
            "host import",
            "host_imports",
            nanos("host_imports").map(|t| t - base_nanos),
            cairn_vm::host::abi::HOST_FUNCTIONS.len() as f64,
        ),
        (
            "global",
            "globals",
            nanos("globals").map(|t| t - base_nanos),
            f64::from(cairn_vm::limits::MAX_GLOBALS),
        ),
        (
            "export (and its thunk)",
            "exports",
            nanos("exports").map(|t| t - base_nanos),
            f64::from(cairn_vm::limits::MAX_EXPORTS - 2),
        ),
        (
            "function",
            "functions",
            nanos("functions").map(|t| t - base_nanos),
            f64::from(cairn_vm::limits::MAX_FUNCTIONS - 1),
        ),
        (
            "initial page, untouched",
            "max_memory",
            nanos("max_memory").map(|t| t - base_nanos),
            pages - 1.0,
        ),
        (
            "first touch of a page",
            "stride_untouched - max_memory",
            touch_per_page.map(|touch| touch * pages),
            pages,
        ),
    ];
    println!();
    println!("| unit | from | per unit | gas at {workload_median:.1} gas/ns |");
    println!("|---|---|---:|---:|");
    for (unit, from, total, count) in units {
        let Some(total) = total else { continue };
        let per_unit = total / count;
        println!(
            "| {unit} | {from} | {} | {:.0} |",
            time(per_unit),
            per_unit * workload_median
        );
    }
}

/// A ratio, or `>1000` for a call charged for work it never did (memory
/// it did not touch, in less time than the baseline's noise).
fn ratio(ratio: f64) -> String {
    if ratio > 1000.0 {
        ">1000".to_owned()
    } else {
        format!("{ratio:.2}")
    }
}

fn time(nanos: f64) -> String {
    if nanos.abs() >= 1e6 {
        format!("{:.3} ms", nanos / 1e6)
    } else if nanos.abs() >= 1e3 {
        format!("{:.1} µs", nanos / 1e3)
    } else {
        format!("{nanos:.1} ns")
    }
}
