//! `cargo cairn new`: a new contract crate, ready to build and test.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The SDK crates of the checkout this tool was built from.
fn checkout_crate(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

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
cairn-sdk = { path = "{sdk}" }
parity-scale-codec = { version = "3.7", default-features = false, features = ["derive"] }

[dev-dependencies]
cairn-sdk-testing = { path = "{testing}" }

# How `cargo cairn build` compiles the contract: small, and reproducible.
[profile.contract]
inherits = "release"
opt-level = "z"
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
    let fill = |template: &str| {
        template
            .replace("{name}", name)
            .replace("{crate_name}", &name.replace('-', "_"))
            .replace("{Type}", &type_name(name))
            .replace("{sdk}", &sdk.display().to_string())
            .replace("{testing}", &testing.display().to_string())
    };
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join("tests"))?;
    std::fs::write(dir.join("Cargo.toml"), fill(CARGO_TOML))?;
    std::fs::write(dir.join("src/lib.rs"), fill(LIB_RS))?;
    std::fs::write(dir.join("tests/vm.rs"), fill(TEST_RS))?;
    println!("Created {name}/. Next:");
    println!("  cd {name}");
    println!("  cargo cairn build   # compile for the VM: target/cairn/{name}.wasm and .abi.json");
    println!("  cargo test          # build it and run it in the VM");
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
}
