//! Compile time per byte of the worst module shapes.
//!
//! `cargo bench -p cairn-vm --bench compile_bounds` builds each shape of
//! `tests/shapes` at the code-size limit and times the whole deploy
//! pipeline (validate, meter, single-pass compile) on it, interleaved over
//! rounds with the median kept, and prints milliseconds, nanoseconds per
//! byte and the ratio to straight-line arithmetic of the same size. A shape
//! that validation rejects is timed too (rejecting must be cheap) and
//! printed with the limit that rejected it. docs/BENCHMARKS.md has the table.
//! `CAIRN_SHAPE_FUNCTION_BYTES` sets the size of each generated function
//! (64 KiB by default), to tell per-function costs from per-byte ones.

#[path = "../tests/shapes/mod.rs"]
mod shapes;

use std::time::{Duration, Instant};

use cairn_vm::limits::MAX_CODE_BYTES;
use cairn_vm::{PrepareError, Vm, VmConfig};

use shapes::Shape;

const ROUNDS: usize = 5;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this
    // as a test, which it is not. A filter selects shapes by name.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let vm = Vm::new(VmConfig::default()).expect("a VM");
    let size = MAX_CODE_BYTES - 64 * 1024;
    let shapes: Vec<(&str, Vec<u8>)> = Shape::worst()
        .into_iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|filter| name.contains(filter)))
        .map(|(name, shape)| {
            let function_bytes = std::env::var("CAIRN_SHAPE_FUNCTION_BYTES")
                .ok()
                .and_then(|bytes| bytes.parse().ok())
                .unwrap_or(64 * 1024);
            (name, shape.module_of_functions(size, function_bytes))
        })
        .collect();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); shapes.len()];
    let mut outcomes = vec![String::new(); shapes.len()];
    for _ in 0..ROUNDS {
        for (index, (_, wasm)) in shapes.iter().enumerate() {
            let start = Instant::now();
            let result = vm.artifact_bytes(wasm);
            times[index].push(start.elapsed());
            outcomes[index] = match result {
                Ok(_) => "compiled".to_owned(),
                Err(PrepareError::Rejected(rejection)) => format!("rejected: {rejection}"),
                Err(error) => format!("failed: {error}"),
            };
        }
    }
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|runs| {
            runs.sort_unstable();
            runs[runs.len() / 2]
        })
        .collect();
    let baseline = shapes
        .iter()
        .position(|(name, _)| *name == "arithmetic")
        .map(|index| medians[index].as_secs_f64() / shapes[index].1.len() as f64);
    println!(
        "{:<18} {:>9} {:>10} {:>8} {:>7}  outcome",
        "shape", "bytes", "ms", "ns/byte", "ratio"
    );
    for (index, (name, wasm)) in shapes.iter().enumerate() {
        let per_byte = medians[index].as_secs_f64() / wasm.len() as f64;
        let ratio = baseline.map_or("-".to_owned(), |base| format!("{:.2}x", per_byte / base));
        let mut outcome = outcomes[index].clone();
        outcome.truncate(100);
        println!(
            "{:<18} {:>9} {:>10.1} {:>8.1} {:>7}  {}",
            name,
            wasm.len(),
            medians[index].as_secs_f64() * 1e3,
            per_byte * 1e9,
            ratio,
            outcome
        );
    }
}
