//! `cargo cairn new`: a new contract crate, ready to build and test.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The SDK crates of the checkout this tool was built from.
fn checkout_crate(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

/// How long the first `cargo test` of a new contract takes, measured on a
/// 2-core machine (contracts-sdk/README.md): it compiles the VM the test
/// runs the contract on (1,490 s of CPU; 40 min with the cores shared with
/// other builds), unless the shared target directory holds it (7.5 s).
const FIRST_TEST_FROM_NOTHING: &str = "25 min of CPU (40 min measured on 2 busy cores)";
const FIRST_TEST_VM_BUILT: &str = "10 s";

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[features]
# Build as a dependency of another contract: no entry points, only the
# typed client.
library = []

[dependencies]
cairn-sdk = { path = {sdk} }
parity-scale-codec = { version = "3.7", default-features = false, features = ["derive"] }

[dev-dependencies]
cairn-sdk-testing = { path = {testing} }

# The Cairn workspace's test profile: dependencies optimised (the VM that
# `cargo test` runs the contract on is slow unoptimised) and without debug
# info. The same settings let `cargo test` reuse the VM already compiled in
# the shared target directory (.cargo/config.toml) instead of building it
# again for this crate.
[profile.dev]
debug = "line-tables-only"

[profile.dev.package."*"]
opt-level = 2
debug = false

# How `cargo cairn build` compiles the contract: optimised for speed, which
# for Cairn's examples also gave the smallest code, and reproducible.
[profile.contract]
inherits = "release"
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
debug = false
strip = true

# A contract is its own workspace.
[workspace]
"#;

const LIB_RS: &str = r#"//! {name}: a counter to start from.

#![no_std]

use cairn_sdk::prelude::*;

#[contract]
pub struct {Type} {
    count: Value<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Event, Encode, Decode)]
pub struct Incremented {
    pub by: Address,
    pub count: u64,
}

#[contract]
impl {Type} {
    #[init]
    pub fn init(&mut self, start: u64) {
        self.count.set(&start);
    }

    pub fn increment(&mut self) -> u64 {
        let count = self.count.get_or_default() + 1;
        self.count.set(&count);
        emit(&Incremented { by: caller(), count });
        count
    }

    pub fn get(&self) -> u64 {
        self.count.get_or_default()
    }
}
"#;

const TEST_RS: &str = r#"//! The contract, compiled for the VM and run in it.

use cairn_sdk_testing::{Contract, TestChain};
use {crate_name}::Incremented;

#[test]
fn increments_on_the_vm() {
    let code = Contract::build(env!("CARGO_MANIFEST_DIR"));
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let contract = chain.deploy(alice, &code, (41u64,)).address;

    let receipt = chain.call(alice, contract, "increment", ());
    assert_eq!(receipt.value::<u64>(), 42);
    assert_eq!(receipt.events::<Incremented>(), [Incremented { by: alice, count: 42 }]);
    println!("increment used {} gas", receipt.gas_used);
    assert_eq!(chain.query(contract, "get", ()).value::<u64>(), 42);
}
"#;

/// Where the new crate builds. Cargo's default, `./target`, would compile
/// wasmer and the rest of the VM again for every contract; the Cairn
/// checkout's target directory (`CARGO_TARGET_DIR`, by default
/// `~/.cache/cairn/target` as in its Makefile) may hold them already (from
/// the SDK's own tests), and every later contract shares what the first
/// one built.
fn shared_target_dir() -> Option<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        // Cargo reads a relative CARGO_TARGET_DIR from the working directory.
        Some(dir) if !dir.is_empty() => std::path::absolute(PathBuf::from(dir)).ok(),
        _ => std::env::var_os("HOME").map(|home| {
            PathBuf::from(home)
                .join(".cache")
                .join("cairn")
                .join("target")
        }),
    }
}

/// The cargo configuration that points the crate at `target_dir`.
fn cargo_config(target_dir: &Path) -> Option<String> {
    Some(format!(
        "# Build in the target directory shared with the Cairn checkout and other\n\
         # contracts: the first `cargo test` then reuses the VM (wasmer) compiled\n\
         # there instead of building it again in ./target. This path is this\n\
         # machine's (.gitignore keeps the file out of git); delete the file to\n\
         # build in ./target. `cargo clean` here cleans the shared directory.\n\
         [build]\n\
         target-dir = {}\n",
        toml_string(target_dir.to_str()?)
    ))
}

/// The toolchain file of the Cairn checkout the SDK is in, reduced to its
/// channel: the same compiler gives the same wasm bytes and can reuse what
/// the checkout compiled.
fn toolchain_file(cairn_root: &Path) -> Option<String> {
    let pinned = std::fs::read_to_string(cairn_root.join("rust-toolchain.toml")).ok()?;
    let channel = pinned.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "channel").then(|| value.trim().trim_matches('"').to_owned())
    })?;
    Some(format!(
        "# The toolchain the Cairn SDK is built and tested with: the same compiler\n\
         # gives the same wasm bytes on every machine.\n\
         [toolchain]\n\
         channel = {}\n\
         targets = [\"wasm32-unknown-unknown\"]\n",
        toml_string(&channel)
    ))
}

const GITIGNORE: &str =
    "/target\n# Machine-local: where this machine's shared build cache is.\n/.cargo/config.toml\n";

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn type_name(crate_name: &str) -> String {
    crate_name
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut characters = part.chars();
            characters
                .next()
                .map(|first| first.to_uppercase().chain(characters).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

pub fn run(name: &str, sdk_path: Option<PathBuf>) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if !valid {
        bail!("`{name}` is not a crate name: use letters, digits, - and _, starting with a letter");
    }
    let dir = Path::new(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = sdk_path.unwrap_or_else(|| checkout_crate("sdk"));
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("cairn-sdk not found at {}", sdk.display()))?;
    let testing = sdk
        .join("..")
        .join("testing")
        .canonicalize()
        .unwrap_or_else(|_| checkout_crate("testing"));
    let path_string = |path: &Path| {
        path.to_str()
            .map(toml_string)
            .with_context(|| format!("{} is not a UTF-8 path", path.display()))
    };
    let (sdk_string, testing_string) = (path_string(&sdk)?, path_string(&testing)?);
    let fill = |template: &str| {
        template
            .replace("{name}", name)
            .replace("{crate_name}", &name.replace('-', "_"))
            .replace("{Type}", &type_name(name))
            .replace("{sdk}", &sdk_string)
            .replace("{testing}", &testing_string)
    };
    // The checkout the SDK is in: the workspace whose lock file pins it.
    let cairn_root = sdk.ancestors().find(|dir| dir.join("Cargo.lock").is_file());

    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join("tests"))?;
    std::fs::write(dir.join("Cargo.toml"), fill(CARGO_TOML))?;
    std::fs::write(dir.join("src/lib.rs"), fill(LIB_RS))?;
    std::fs::write(dir.join("tests/vm.rs"), fill(TEST_RS))?;
    std::fs::write(dir.join(".gitignore"), GITIGNORE)?;
    if let Some(root) = cairn_root {
        // Start from the versions the SDK is tested with (they are also the
        // ones compiled in the shared target directory); cargo drops what
        // the contract does not use on its first build.
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))
            .context("copying the Cairn checkout's Cargo.lock")?;
        if let Some(toolchain) = toolchain_file(root) {
            std::fs::write(dir.join("rust-toolchain.toml"), toolchain)?;
        }
    }
    let target_dir = shared_target_dir();
    let config = target_dir.as_deref().and_then(cargo_config);
    if let Some(config) = &config {
        std::fs::create_dir_all(dir.join(".cargo"))?;
        std::fs::write(dir.join(".cargo/config.toml"), config)?;
    }
    let out_dir = match (&target_dir, &config) {
        (Some(target_dir), Some(_)) => target_dir.join("cairn"),
        _ => Path::new("target").join("cairn"),
    };

    println!("Created {name}/. Next:");
    println!("  cd {name}");
    println!(
        "  cargo cairn build   # compile for the VM: {}",
        out_dir.join(format!("{name}.wasm")).display()
    );
    println!("  cargo test          # build it and run it in the VM");
    if let (Some(target_dir), Some(_)) = (&target_dir, &config) {
        println!(
            "\nIt builds in {} (.cargo/config.toml),\n\
             shared with the Cairn checkout and other contracts.",
            target_dir.display()
        );
    }
    println!(
        "The first `cargo test` compiles the VM the contract runs on: about\n\
         {FIRST_TEST_FROM_NOTHING}. With the VM already built in that\n\
         directory, by another contract or by the SDK's tests (`cargo test -p\n\
         cargo-cairn -p cairn-sdk-testing` in the checkout), about {FIRST_TEST_VM_BUILT}."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_come_from_crate_names() {
        assert_eq!(type_name("my-token"), "MyToken");
        assert_eq!(type_name("counter"), "Counter");
        assert_eq!(type_name("big_vault_2"), "BigVault2");
    }

    /// The `key = value` lines of one `[header]` section of a Cargo.toml.
    fn section<'a>(toml: &'a str, header: &str) -> Vec<&'a str> {
        toml.lines()
            .skip_while(|line| line.trim() != header)
            .skip(1)
            .map(str::trim)
            .take_while(|line| !line.starts_with('['))
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    }

    #[test]
    fn the_scaffold_builds_its_tests_with_the_workspace_profile() {
        // Dependencies compiled with other settings are other artifacts:
        // with any difference, the new crate's `cargo test` would compile
        // wasmer again instead of reusing the checkout's.
        let workspace = include_str!("../../../Cargo.toml");
        for header in ["[profile.dev]", "[profile.dev.package.\"*\"]"] {
            let expected = section(workspace, header);
            assert!(!expected.is_empty(), "{header} not in the workspace");
            assert_eq!(section(CARGO_TOML, header), expected, "{header}");
        }
        let contract = section(workspace, "[profile.contract]");
        for setting in section(CARGO_TOML, "[profile.contract]") {
            assert!(contract.contains(&setting), "{setting}");
        }
    }

    #[test]
    fn paths_are_written_as_toml_strings() {
        assert_eq!(toml_string("/home/a/target"), "\"/home/a/target\"");
        assert_eq!(toml_string(r#"C:\x\"y""#), r#""C:\\x\\\"y\"""#);
        assert_eq!(toml_string("a\nb"), "\"a\\u000Ab\"");
        let config = cargo_config(Path::new("/srv/cairn target")).unwrap();
        assert!(config.contains("[build]\ntarget-dir = \"/srv/cairn target\"\n"));
    }

    #[test]
    fn the_toolchain_is_the_checkouts() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let toolchain = toolchain_file(&root).unwrap();
        let channel = toolchain
            .lines()
            .find(|line| line.starts_with("channel = \"1."))
            .unwrap();
        assert!(
            include_str!("../../../rust-toolchain.toml").contains(channel),
            "{toolchain}"
        );
        assert!(toolchain.contains("wasm32-unknown-unknown"));
        assert_eq!(toolchain_file(&root.join("no-such-dir")), None);
    }
}
