//! `cargo cairn build`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::abi;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "contract";

/// What `cargo metadata` says about the crate to build.
struct Package {
    name: String,
    lib_name: String,
    manifest_path: PathBuf,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

fn package(manifest_path: &Path) -> Result<Package> {
    let manifest = manifest_path
        .canonicalize()
        .with_context(|| format!("{} not found", manifest_path.display()))?;
    let output = cargo_in(&manifest)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| {
            package["manifest_path"]
                .as_str()
                .is_some_and(|path| Path::new(path) == manifest)
        })
        .with_context(|| format!("{} is not a package manifest", manifest.display()))?;
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|target| {
            target["crate_types"]
                .as_array()
                .is_some_and(|types| types.iter().any(|kind| kind == "cdylib"))
        })
        .with_context(|| {
            "the crate has no cdylib library: add `[lib] crate-type = [\"cdylib\", \"rlib\"]` to its Cargo.toml"
        })?;
    let string = |value: &Value, what: &str| {
        value
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("cargo metadata lacks {what}"))
    };
    Ok(Package {
        name: string(&package["name"], "the package name")?,
        lib_name: string(&lib["name"], "the library name")?.replace('-', "_"),
        manifest_path: manifest,
        workspace_root: PathBuf::from(string(&metadata["workspace_root"], "the workspace root")?),
        target_directory: PathBuf::from(string(
            &metadata["target_directory"],
            "the target directory",
        )?),
    })
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Cargo run from the contract's directory, as if the author ran it there:
/// cargo reads its configuration (the contract's `.cargo/config.toml`, its
/// target directory) from the working directory, not from the manifest.
fn cargo_in(manifest: &Path) -> Command {
    let mut command = Command::new(cargo());
    if let Some(dir) = manifest.parent() {
        command.current_dir(dir);
    }
    command
}

fn ensure_target_installed() -> Result<()> {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        // No rustup: let cargo report what is missing.
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&output.stdout);
    if !installed.lines().any(|line| line.trim() == TARGET) {
        bail!(
            "the {TARGET} target is not installed; add it with\n\n    rustup target add {TARGET}\n\n(`make` does this for you)"
        );
    }
    Ok(())
}

/// A contract's stack: 64 KiB (one wasm page) instead of Rust's default
/// 1 MiB. A contract, with no recursion to speak of, uses a few KiB of it,
/// while every page of initial memory is one a call can touch, and is
/// priced as such (`InstantiationCosts::memory_page`); Stylus contracts are
/// built with 32 KiB for the same reason. The stack sits below the data, so
/// running out of it traps (`memory_out_of_bounds`) instead of overwriting
/// anything.
const STACK_BYTES: u32 = 64 * 1024;

/// Flags that make the build reproducible (paths that end up in the code,
/// panic locations, are rewritten to fixed ones) and set the stack size.
fn rustflags(package: &Package) -> String {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let mut flags = Vec::new();
    if let Some(cargo_home) = cargo_home {
        flags.push(format!(
            "--remap-path-prefix={}=/cargo",
            cargo_home.display()
        ));
    }
    flags.push(format!(
        "--remap-path-prefix={}=/build",
        package.workspace_root.display()
    ));
    flags.push(format!("-Clink-arg=-zstack-size={STACK_BYTES}"));
    flags.join("\x1f")
}

/// How the build treats the contract's `Cargo.lock`, which pins every
/// dependency that goes into the wasm: the file that makes the build
/// reproducible, committed beside the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// As `cargo build` does: cargo adds to the lock file (or creates it)
    /// what a changed Cargo.toml needs, and the build reports it.
    #[default]
    Update,
    /// As `cargo build --locked` does, for CI and for verifying a published
    /// build: a lock file that is missing or would change is an error.
    Locked,
}

/// What the build did to the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockChange {
    Unchanged,
    /// There was none; cargo wrote one.
    Created,
    /// Cargo changed it for added, removed or changed dependencies.
    Updated,
}

impl LockChange {
    fn between(before: Option<&[u8]>, after: Option<&[u8]>) -> Self {
        match (before, after) {
            (None, Some(_)) => LockChange::Created,
            (Some(before), Some(after)) if before != after => LockChange::Updated,
            _ => LockChange::Unchanged,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            LockChange::Unchanged => "unchanged",
            LockChange::Created => "created",
            LockChange::Updated => "updated",
        }
    }
}

/// In [`LockMode::Locked`], checks before building that the lock file
/// covers the manifest, so that a stale lock is reported as such rather
/// than as a failed build. `cargo update --workspace --locked` resolves as
/// the build does, keeping every locked version, and fails exactly when
/// the lock would have to change.
fn ensure_lock_is_current(manifest: &Path, lock_file: &Path) -> Result<()> {
    if !lock_file.exists() {
        bail!(
            "--locked needs the contract's lock file, and there is none at {}; \
             run `cargo cairn build` without --locked to create it, then commit it",
            lock_file.display()
        );
    }
    let check = |offline: bool| {
        let mut command = cargo_in(manifest);
        command
            .args(["update", "--workspace", "--locked", "--manifest-path"])
            .arg(manifest);
        if offline {
            command.arg("--offline");
        }
        command.output().context("running cargo update --locked")
    };
    let stale = |output: &std::process::Output| {
        String::from_utf8_lossy(&output.stderr).contains("because --locked was passed")
    };
    // A current lock needs no registry, as `cargo build --locked` needs
    // none; only a failure is worth asking the registry about (offline,
    // cargo cannot resolve a dependency it has not cached).
    let mut output = check(true)?;
    if !output.status.success() && !stale(&output) {
        output = check(false)?;
    }
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Cargo's hints are about its own flags (use --offline instead, pass
    // --verbose), not about what to do here.
    let cargo_says: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with("help:") && !line.starts_with("note:"))
        .collect();
    let cargo_says = cargo_says.join("\n");
    if stale(&output) {
        bail!(
            "{} is out of date: the contract's Cargo.toml needs dependencies it does not pin, \
             and --locked forbids changing it.\n\
             Run `cargo cairn build` without --locked to update it, check what cargo added \
             and commit it: the lock file pins what goes into the wasm.\n\n\
             cargo says:\n{}",
            lock_file.display(),
            cargo_says
        );
    }
    bail!(
        "cargo could not resolve the contract's dependencies:\n{}",
        stderr.trim_end()
    )
}

/// A contract built for the VM.
#[derive(Debug, Clone)]
pub struct Built {
    /// The deployable code: validated, custom sections stripped.
    pub code: Vec<u8>,
    /// The ABI: contract name, methods, events, code hash.
    pub abi: Value,
    pub wasm_path: PathBuf,
    pub abi_path: PathBuf,
    /// What the VM's validation saw.
    pub summary: cairn_vm::validate::ModuleSummary,
    /// The contract's `Cargo.lock` (its workspace's), and what the build
    /// did to it.
    pub lock_file: PathBuf,
    pub lock_change: LockChange,
}

/// Builds the contract crate of `manifest_path` for the VM and writes
/// `<name>.wasm` and `<name>.abi.json` to `out_dir` (default
/// `<target>/cairn`).
pub fn build(manifest_path: &Path, out_dir: Option<PathBuf>, lock: LockMode) -> Result<Built> {
    let package = package(manifest_path)?;
    ensure_target_installed()?;
    let lock_file = package.workspace_root.join("Cargo.lock");
    if lock == LockMode::Locked {
        ensure_lock_is_current(&package.manifest_path, &lock_file)?;
    }
    let lock_before = std::fs::read(&lock_file).ok();

    // A target directory of its own: the remapping flags differ from a
    // normal build's, and sharing one would rebuild everything each time.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| package.target_directory.clone())
        .join("cairn-contracts");
    let mut command = cargo_in(&package.manifest_path);
    command
        .args([
            "build",
            "--lib",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "--manifest-path",
        ])
        .arg(&package.manifest_path)
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags(&package))
        .env_remove("RUSTFLAGS");
    if lock == LockMode::Locked {
        command.arg("--locked");
    }
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let lock_change = LockChange::between(
        lock_before.as_deref(),
        std::fs::read(&lock_file).ok().as_deref(),
    );

    let built = target_dir
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{}.wasm", package.lib_name));
    let wasm = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    let abi = abi::extract(&wasm)?;
    let code = abi::strip_custom_sections(&wasm)?;
    let summary = match cairn_vm::validate::validate_contract(&code) {
        Ok(summary) => summary,
        Err(rejection) => bail!("the VM rejects the built contract: {rejection}"),
    };

    let out_dir = out_dir.unwrap_or_else(|| package.target_directory.join("cairn"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let wasm_path = out_dir.join(format!("{}.wasm", package.name));
    let abi_path = out_dir.join(format!("{}.abi.json", package.name));
    let code_hash = cairn_vm::CodeHash::of(&code);
    let mut abi = abi;
    abi["code_hash"] = json!(code_hash.to_string());
    std::fs::write(&wasm_path, &code)
        .with_context(|| format!("writing {}", wasm_path.display()))?;
    std::fs::write(&abi_path, format!("{:#}\n", abi))
        .with_context(|| format!("writing {}", abi_path.display()))?;

    Ok(Built {
        code,
        abi,
        wasm_path,
        abi_path,
        summary,
        lock_file,
        lock_change,
    })
}

/// `cargo cairn build`: builds and prints what was built.
pub fn run(
    manifest_path: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    lock: LockMode,
    json_output: bool,
) -> Result<()> {
    let manifest_path = manifest_path.unwrap_or_else(|| PathBuf::from("Cargo.toml"));
    let built = build(&manifest_path, out_dir, lock)?;
    // On stderr, so that it reaches the author also with --json.
    match built.lock_change {
        LockChange::Unchanged => {}
        change => eprintln!(
            "note: cargo {} {} for the contract's dependencies; commit it: it pins what \
             goes into the wasm (`cargo cairn build --locked` checks that it is current)",
            change.as_str(),
            built.lock_file.display()
        ),
    }
    if json_output {
        println!(
            "{}",
            json!({
                "contract": built.abi["contract"],
                "wasm": built.wasm_path,
                "abi": built.abi_path,
                "bytes": built.code.len(),
                "code_hash": built.abi["code_hash"],
                "entry_points": built.summary.entry_points,
                "imports": built.summary.imports,
                "lock_file": built.lock_file,
                "lock_file_change": built.lock_change.as_str(),
            })
        );
    } else {
        print_summary(&built);
    }
    Ok(())
}

fn print_summary(built: &Built) {
    let Built {
        code,
        abi,
        wasm_path,
        abi_path,
        summary,
        ..
    } = built;
    let bytes = code.len();
    println!(
        "Built {} ({} bytes, accepted by the VM)",
        abi["contract"].as_str().unwrap_or("?"),
        bytes
    );
    println!("  code hash  {}", abi["code_hash"].as_str().unwrap_or("?"));
    println!("  wasm       {}", wasm_path.display());
    println!("  abi        {}", abi_path.display());
    println!("  imports    {}", summary.imports.join(", "));
    println!("  entry points:");
    for method in abi["methods"].as_array().into_iter().flatten() {
        let args: Vec<String> = method["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|arg| {
                format!(
                    "{}: {}",
                    arg["name"].as_str().unwrap_or("?"),
                    arg["type"].as_str().unwrap_or("?")
                )
            })
            .collect();
        let returns = match (method["returns"].as_str(), method["error"].as_str()) {
            (Some(ok), Some(error)) => format!(" -> Result<{ok}, {error}>"),
            (Some(value), None) => format!(" -> {value}"),
            _ => String::new(),
        };
        let kind = if method["mutates"] == true {
            "call "
        } else {
            "query"
        };
        println!(
            "    {kind} {}({}){returns}",
            method["name"].as_str().unwrap_or("?"),
            args.join(", ")
        );
    }
    let events: Vec<&str> = abi["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|event| event["event"].as_str())
        .collect();
    if !events.is_empty() {
        println!("  events     {}", events.join(", "));
    }
}
