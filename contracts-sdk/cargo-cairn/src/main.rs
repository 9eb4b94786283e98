//! `cargo cairn`: build Cairn contracts for the VM, and start new ones.
//!
//! `cargo cairn build` compiles the contract crate in the current directory
//! for `wasm32-unknown-unknown` with the `contract` profile (small, no
//! unwinding, reproducible), extracts the ABI the SDK's macros embedded,
//! strips every custom section, checks the result with the VM's own
//! validation and writes `<name>.wasm` and `<name>.abi.json`. As `cargo
//! build` does, it lets cargo add new dependencies to the lock file (and
//! says so); `--locked` makes a stale lock file an error instead.
//!
//! `cargo cairn new <name>` creates a contract crate to start from.

use std::path::PathBuf;

use cargo_cairn::{LockMode, scaffold};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo cairn",
    bin_name = "cargo cairn",
    version,
    about = "Build Cairn contracts for the VM, and start new ones",
    long_about = "Build Cairn contracts for the VM, and start new ones.\n\n\
        Examples:\n  \
        cargo cairn new my-token\n  \
        cd my-token && cargo cairn build\n  \
        cargo cairn build --locked   # in CI: fail if Cargo.lock is not current\n  \
        cargo cairn build --manifest-path contracts-sdk/examples/token/Cargo.toml --out-dir testdata"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the contract for the VM: <out-dir>/<name>.wasm and <name>.abi.json.
    ///
    /// Compiles for wasm32-unknown-unknown with the `contract` profile, with
    /// paths remapped so the same source gives the same bytes on any
    /// machine; strips custom sections; checks the result with the VM's
    /// validation; prints its size, code hash, entry points and events.
    Build {
        /// The contract crate's Cargo.toml (default: the one in the current
        /// directory).
        #[arg(long)]
        manifest_path: Option<PathBuf>,
        /// Where to write the .wasm and .abi.json (default: target/cairn).
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Require the lock file to pin every dependency already, as
        /// `cargo build --locked` does: fail instead of updating it. For CI
        /// and for verifying a published build. Without it, cargo adds what a
        /// changed Cargo.toml needs to Cargo.lock and the build says so;
        /// commit the lock file, it is what makes the build reproducible.
        #[arg(long)]
        locked: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a new contract crate from the counter template.
    New {
        /// The crate's name (a directory of that name is created).
        name: String,
        /// The cairn-sdk crate to depend on (default: this checkout's).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // As a cargo subcommand the first argument is the subcommand's name.
    let args = std::env::args()
        .enumerate()
        .filter_map(|(index, arg)| (index != 1 || arg != "cairn").then_some(arg));
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Build {
            manifest_path,
            out_dir,
            locked,
            json,
        } => {
            let lock = if locked {
                LockMode::Locked
            } else {
                LockMode::Update
            };
            cargo_cairn::run(manifest_path, out_dir, lock, json)
        }
        Command::New { name, sdk_path } => scaffold::run(&name, sdk_path),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
