//! `cairn-vm`: check and run contracts with Cairn's VM from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Outcome, PrepareError, Status, Vm, VmConfig};
use clap::{Parser, Subcommand};
use serde_json::json;

/// Gas for one call when `--gas` is not given: 10^10, about a quarter of a
/// second of work on the 2-core reference machine (docs/BENCHMARKS.md), so
/// an infinite loop stops well within a second; far more than any example
/// contract's call needs.
const DEFAULT_GAS: u64 = 10_000_000_000;

#[derive(Parser)]
#[command(
    name = "cairn-vm",
    version,
    about = "Check and run WebAssembly contracts in Cairn's deterministic VM",
    long_about = "Check and run WebAssembly contracts in Cairn's deterministic VM.\n\n\
        Both commands take a .wasm binary or a .wat text file and print one JSON line, \
        so scripts and tests can read the result.\n\n\
        Examples:\n  \
        cairn-vm check contract.wasm\n  \
        cairn-vm run counter.wat --entry increment --repeat 3\n  \
        cairn-vm run echo.wasm --entry echo --input 68656c6c6f --gas 10000000"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a module against Cairn's accepted subset and limits.
    ///
    /// Prints {"status":"accepted", ...} with the module's entry points, or
    /// {"status":"rejected","error":"..."} naming the rejected feature or
    /// limit and where it is. Exits 0 either way.
    Check {
        /// A .wasm or .wat file.
        file: PathBuf,
    },
    /// Deploy a module into empty in-memory storage and call an entry point.
    ///
    /// Validates, meters, compiles and calls the exported `() -> ()` function
    /// ENTRY, then prints one JSON line per call: status (ok, trap,
    /// out_of_gas or rejected), gas_used, output (hex), error (the fixed trap
    /// code when not ok), events and storage writes. Exits 0 whenever the VM
    /// reached an outcome; non-zero only for usage or I/O errors.
    Run {
        /// A .wasm or .wat file.
        file: PathBuf,
        /// The exported function to call.
        #[arg(long)]
        entry: String,
        /// Gas limit per call.
        #[arg(long, default_value_t = DEFAULT_GAS)]
        gas: u64,
        /// Call input as hex (what the contract reads with `input_read`).
        #[arg(long, default_value = "")]
        input: String,
        /// Call the entry this many times against the same storage, each
        /// call seeing the writes of the ones before.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Run as a read-only query (writes and events trap).
        #[arg(long)]
        read_only: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cairn-vm: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Check { file } => {
            let wasm = read_module(&file)?;
            let line = match cairn_vm::validate::validate_contract(&wasm) {
                Ok(summary) => json!({
                    "status": "accepted",
                    "entry_points": summary.entry_points,
                    "imports": summary.imports,
                    "functions": summary.functions,
                    "memory_pages": summary.memory_pages,
                    "bytes": wasm.len(),
                }),
                Err(rejection) => json!({"status": "rejected", "error": rejection.to_string()}),
            };
            println!("{line}");
            Ok(())
        }
        Command::Run {
            file,
            entry,
            gas,
            input,
            repeat,
            read_only,
        } => {
            let wasm = read_module(&file)?;
            let input =
                hex::decode(input.trim_start_matches("0x")).context("--input is not hex")?;
            let vm = Vm::new(VmConfig::default()).context("starting the VM")?;
            match vm.prepare(&wasm) {
                Ok(_) => {}
                Err(PrepareError::Rejected(rejection)) => {
                    println!(
                        "{}",
                        json!({"status": "rejected", "gas_used": 0, "output": "", "error": rejection.to_string()})
                    );
                    return Ok(());
                }
                Err(PrepareError::Vm(error)) => bail!("the VM failed: {error}"),
            }
            let contract = Address([0xc0; 32]);
            let mut storage = MemoryStorage::new();
            storage.deploy(contract, &wasm);
            for height in 1..=u64::from(repeat.max(1)) {
                let call = Call {
                    contract,
                    caller: Address([0xa1; 32]),
                    entry: &entry,
                    input: &input,
                    gas_limit: gas,
                    value: 0,
                    block: BlockInfo {
                        height,
                        time_ms: 1_700_000_000_000 + height * 1_000,
                    },
                    read_only,
                };
                let outcome = vm.execute(&call, &storage).context("the VM failed")?;
                println!("{}", outcome_json(&outcome));
                storage.commit(&outcome.writes);
            }
            Ok(())
        }
    }
}

fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let mut line = json!({
        "status": outcome.status.kind(),
        "gas_used": outcome.gas_used,
        "output": hex::encode(&outcome.output),
    });
    match outcome.status {
        Status::Ok => {}
        Status::OutOfGas => line["error"] = json!("out_of_gas"),
        Status::Trap(code) => {
            line["error"] = json!(code.name());
            line["code"] = json!(code.code());
        }
    }
    if !outcome.events.is_empty() {
        line["events"] = outcome
            .events
            .iter()
            .map(|event| json!({"topic": hex::encode(&event.topic), "data": hex::encode(&event.data)}))
            .collect();
    }
    if !outcome.writes.is_empty() {
        line["writes"] = outcome
            .writes
            .iter()
            .map(|write| {
                json!({
                    "key": hex::encode(&write.key),
                    "value": write.value.as_ref().map(hex::encode),
                })
            })
            .collect();
    }
    line
}

/// Reads a .wasm file, or a .wat file (anything that is not wasm binary is
/// parsed as text).
fn read_module(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    if path.extension().is_some_and(|ext| ext == "wasm") {
        // A .wasm file that is not wasm: let validation explain.
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes)
        .map(|wasm| wasm.into_owned())
        .with_context(|| format!("{} is neither a wasm binary nor valid wat", path.display()))
}
