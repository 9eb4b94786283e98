//! The example contracts built at several opt-levels: bytes, gas and time
//! of their representative calls through the whole VM, in one process.
//!
//! `scripts/contract-opt-levels.sh <dir>` builds them into `<dir>/<level>/`;
//! then
//!
//! ```text
//! CAIRN_OPT_LEVELS_DIR=<dir> cargo bench --locked -p cairn-vm --bench contract_opt_levels
//! ```
//!
//! prints, for every level found there (`z` first: the baseline), the size
//! of each contract, the gas of its calls and their median times, with the
//! `hasher`'s kernels also run natively (built at the bench profile's
//! `opt-level = 3`). Without the variable it measures the committed
//! fixtures alone. docs/BENCHMARKS.md ("Contract opt-level") has a table.
//!
//! Every call is checked to succeed, and the hasher's results to equal the
//! native kernels': an optimiser that changed a result would show here.
//! Calls are not committed, so every run of one does the same work. Shared
//! machines drift, so the runs are interleaved (every round runs every call
//! at every level, the short ones 100 times) and the median of each is
//! taken; every sample is one call, so that few are cut by other processes.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, Call, Outcome, Status, Vm, VmConfig};
use parity_scale_codec::Encode;

mod common;
use common::{HASH_ROUNDS, SEED, SORT_COUNT, entry_call, hasher_calls};

const ROUNDS: usize = 101;

/// The contracts measured, as `<name>.wasm`.
const CONTRACTS: [&str; 5] = ["rust_contract", "counter", "token", "escrow", "hasher"];

const ALICE: Address = Address([0xa1; 32]);
const BOB: Address = Address([0xb0; 32]);
const SUPPLY: u128 = 1_000_000_000_000;

/// One build of every contract.
struct Level {
    name: String,
    wasm: Vec<Vec<u8>>,
}

/// The builds under `$CAIRN_OPT_LEVELS_DIR`, `z` first, or the committed
/// fixtures.
fn levels() -> Vec<Level> {
    let Some(dir) = std::env::var_os("CAIRN_OPT_LEVELS_DIR") else {
        let committed = [
            include_bytes!("../testdata/rust_contract.wasm").as_slice(),
            include_bytes!("../../contracts-sdk/testdata/counter.wasm"),
            include_bytes!("../../contracts-sdk/testdata/token.wasm"),
            include_bytes!("../../contracts-sdk/testdata/escrow.wasm"),
            include_bytes!("../../contracts-sdk/testdata/hasher.wasm"),
        ];
        return vec![Level {
            name: "committed".to_owned(),
            wasm: committed.iter().map(|wasm| wasm.to_vec()).collect(),
        }];
    };
    let dir = Path::new(&dir);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    // The size levels first, the smallest (the baseline) leading.
    names.sort_by_key(|name| match name.as_str() {
        "z" => (0, String::new()),
        "s" => (1, String::new()),
        other => (2, other.to_owned()),
    });
    assert!(!names.is_empty(), "no builds in {}", dir.display());
    names
        .into_iter()
        .map(|name| {
            let wasm = CONTRACTS
                .iter()
                .map(|contract| {
                    let path = dir.join(&name).join(format!("{contract}.wasm"));
                    std::fs::read(&path)
                        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
                })
                .collect();
            Level { name, wasm }
        })
        .collect()
}

/// A call of one level's contract: what it runs, and its gas.
struct Measured {
    contract: Address,
    entry: &'static str,
    input: Vec<u8>,
    gas: u64,
}

fn call<'a>(contract: Address, caller: Address, entry: &'a str, input: &'a [u8]) -> Call<'a> {
    Call {
        contract,
        caller,
        input,
        ..entry_call(entry, 10_000_000_000)
    }
}

fn execute(vm: &Vm, state: &MemoryStorage, call: &Call<'_>) -> Outcome {
    let outcome = vm.execute(call, state).expect("the VM does not fail");
    assert_eq!(outcome.status, Status::Ok, "{}: {outcome:?}", call.entry);
    outcome
}

/// Runs and commits a call that sets a contract up; its gas.
fn setup(vm: &Vm, state: &mut MemoryStorage, contract: Address, entry: &str, input: &[u8]) -> u64 {
    let outcome = execute(vm, state, &call(contract, ALICE, entry, input));
    state.commit_outcome(&outcome);
    outcome.gas_used
}

/// The calls measured, by the names the tables give them.
const CALLS: [&str; 6] = [
    "rust_contract apply",
    "counter increment",
    "token transfer",
    "escrow open (+ token transfer_from)",
    "hasher hash_chain",
    "hasher sort",
];

/// What deploying one level's contracts cost, and its calls to measure.
struct Deployed {
    /// Per contract of [`CONTRACTS`]: the gas a deploy pays to compile it,
    /// and every call for its instance.
    compile: Vec<u64>,
    instance: Vec<u64>,
    /// The `init` gas of counter, token, escrow and hasher.
    inits: Vec<u64>,
    calls: Vec<Measured>,
}

/// Deploys level `index`'s contracts (each at its own addresses) and sets
/// them up.
fn deploy(vm: &Vm, state: &mut MemoryStorage, index: u8, level: &Level) -> Deployed {
    let address = |contract: u8| {
        let mut address = [0; 32];
        address[..2].copy_from_slice(&[index, contract]);
        Address(address)
    };
    let [rust_contract, counter, token, escrow, hasher] = [0, 1, 2, 3, 4].map(address);
    let (mut compile, mut instance) = (Vec::new(), Vec::new());
    for (contract, wasm) in [rust_contract, counter, token, escrow, hasher]
        .into_iter()
        .zip(&level.wasm)
    {
        let prepared = vm.prepare(wasm).expect("the VM accepts the contract");
        compile.push(vm.compile_gas(&prepared.summary));
        instance.push(prepared.instantiation_gas);
        state.deploy(contract, wasm);
    }
    let inits = vec![
        setup(vm, state, counter, "init", &u64::MAX.encode()),
        setup(
            vm,
            state,
            token,
            "init",
            &("Cairn".to_owned(), "CRN".to_owned(), 6u8, SUPPLY).encode(),
        ),
        setup(vm, state, escrow, "init", &token.0.encode()),
        setup(vm, state, hasher, "init", &[]),
    ];
    // Bob and the escrow hold tokens already: the measured calls update
    // balances rather than create them.
    setup(vm, state, token, "transfer", &(BOB.0, 1_000u128).encode());
    setup(vm, state, token, "approve", &(escrow.0, SUPPLY).encode());
    setup(vm, state, escrow, "open", &(BOB.0, 1u128, 0u64).encode());

    let mut apply = vec![0u8, 5];
    apply.extend_from_slice(b"alice");
    let mut hasher_inputs = hasher_calls().into_iter().map(|call| call.input);
    let (hash_chain, sort) = (hasher_inputs.next(), hasher_inputs.next());
    let calls = [
        (rust_contract, "apply", apply),
        (counter, "increment", 1u64.encode()),
        (token, "transfer", (BOB.0, 1u128).encode()),
        (escrow, "open", (BOB.0, 1u128, 0u64).encode()),
        (
            hasher,
            "hash_chain",
            hash_chain.expect("hash_chain's input"),
        ),
        (hasher, "sort", sort.expect("sort's input")),
    ];
    let calls = calls
        .into_iter()
        .map(|(contract, entry, input)| {
            let outcome = execute(vm, state, &call(contract, ALICE, entry, &input));
            match entry {
                "hash_chain" => assert_eq!(
                    outcome.output,
                    hasher::kernel::hash_chain([3; 32], HASH_ROUNDS).encode(),
                    "{}: the wasm and native hash chains differ",
                    level.name
                ),
                "sort" => assert_eq!(
                    outcome.output,
                    hasher::kernel::sort(SORT_COUNT, SEED).encode(),
                    "{}: the wasm and native sorts differ",
                    level.name
                ),
                _ => {}
            }
            Measured {
                contract,
                entry,
                input,
                gas: outcome.gas_used,
            }
        })
        .collect();
    Deployed {
        compile,
        instance,
        inits,
        calls,
    }
}

/// The time of one run of `work`.
fn time(work: impl FnOnce()) -> Duration {
    let start = Instant::now();
    work();
    start.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn show(time: Duration) -> String {
    let micros = time.as_secs_f64() * 1e6;
    if micros >= 1_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{micros:.1} µs")
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this
    // as a test, which it is not.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let levels = levels();
    let vm = Vm::new(VmConfig::default()).expect("the VM starts");
    let mut state = MemoryStorage::new();
    let deployed: Vec<Deployed> = levels
        .iter()
        .enumerate()
        .map(|(index, level)| {
            let index = u8::try_from(index + 1).expect("a few levels");
            deploy(&vm, &mut state, index, level)
        })
        .collect();

    // Every sample is one call, so that few of them are cut by another
    // process on a busy machine; short calls are sampled more.
    let samples = |entry: &str| {
        if entry == "hash_chain" || entry == "sort" {
            1
        } else {
            100
        }
    };
    let mut native: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut times: Vec<Vec<Vec<Duration>>> = vec![vec![Vec::new(); CALLS.len()]; levels.len()];
    for _ in 0..ROUNDS {
        native[0].push(time(|| {
            black_box(hasher::kernel::hash_chain(black_box([3; 32]), HASH_ROUNDS));
        }));
        native[1].push(time(|| {
            black_box(hasher::kernel::sort(black_box(SORT_COUNT), SEED));
        }));
        for (level, deployed) in deployed.iter().enumerate() {
            for (index, measured) in deployed.calls.iter().enumerate() {
                let request = call(measured.contract, ALICE, measured.entry, &measured.input);
                for _ in 0..samples(measured.entry) {
                    times[level][index].push(time(|| {
                        black_box(vm.execute(&request, &state).expect("the VM does not fail"));
                    }));
                }
            }
        }
    }
    let native = native.map(median);
    let medians: Vec<Vec<Duration>> = times
        .into_iter()
        .map(|calls| calls.into_iter().map(median).collect())
        .collect();

    let header = |first: &str| {
        print!("| {first} |");
        for level in &levels {
            print!(" {} |", level.name);
        }
        println!();
        print!("|---|");
        for _ in &levels {
            print!("---:|");
        }
        println!();
    };
    let baseline = &levels[0].name;

    // A row of `value` at each level, and its ratio to the baseline's.
    let row = |name: &str, value: &dyn Fn(usize) -> u64| {
        print!("| {name} |");
        for level in 0..levels.len() {
            let ratio = value(level) as f64 / value(0) as f64;
            print!(" {} ({ratio:.2}) |", value(level));
        }
        println!();
    };
    println!("bytes, and the gas a deploy pays to compile the code (vs {baseline}):");
    println!();
    header("contract");
    for (index, contract) in CONTRACTS.iter().enumerate() {
        row(&format!("{contract} bytes"), &|level| {
            u64::try_from(levels[level].wasm[index].len()).expect("a small module")
        });
    }
    for (index, contract) in CONTRACTS.iter().enumerate() {
        row(&format!("{contract} compile gas"), &|level| {
            deployed[level].compile[index]
        });
    }
    println!();
    println!("gas of each call (vs {baseline}), of which every call pays for its instance:");
    println!();
    header("call");
    for (index, contract) in CONTRACTS.iter().enumerate() {
        row(&format!("{contract} instance"), &|level| {
            deployed[level].instance[index]
        });
    }
    let init_names = ["counter init", "token init", "escrow init", "hasher init"];
    for (index, name) in init_names.iter().enumerate() {
        row(name, &|level| deployed[level].inits[index]);
    }
    for (index, name) in CALLS.iter().enumerate() {
        row(name, &|level| deployed[level].calls[index].gas);
    }
    println!();
    println!(
        "median time (vs {baseline}; the hasher's also vs native: hash_chain {}, sort {}):",
        show(native[0]),
        show(native[1])
    );
    println!();
    header("call");
    for (index, name) in CALLS.iter().enumerate() {
        print!("| {name} |");
        let base = medians[0][index];
        for level in &medians {
            let time = level[index];
            print!(
                " {} ({:.2}",
                show(time),
                time.as_secs_f64() / base.as_secs_f64()
            );
            let native = match *name {
                "hasher hash_chain" => Some(native[0]),
                "hasher sort" => Some(native[1]),
                _ => None,
            };
            if let Some(native) = native {
                print!("; {:.1}x native", time.as_secs_f64() / native.as_secs_f64());
            }
            print!(") |");
        }
        println!();
    }
    println!();
    println!("medians of {ROUNDS} interleaved rounds, single calls (short ones 100 times a round)");
}
