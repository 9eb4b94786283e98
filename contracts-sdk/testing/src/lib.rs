//! Test Cairn contracts on the real VM.
//!
//! Load a contract's *compiled* wasm into Cairn's VM with in-memory state,
//! deploy it, call it as any account, and read what a chain would record:
//! status, the real gas of every call, output, events and storage. Several
//! contracts can be deployed side by side and call each other.
//!
//! ```no_run
//! use cairn_sdk_testing::{Contract, TestChain};
//!
//! let code = Contract::build(env!("CARGO_MANIFEST_DIR"));
//! let mut chain = TestChain::new();
//! let alice = chain.account("alice");
//! let counter = chain.deploy(alice, &code, (100u64,)).address;
//! let receipt = chain.call(alice, counter, "increment", (1u64,));
//! assert_eq!(receipt.value::<u64>(), 1);
//! println!("increment cost {} gas", receipt.gas_used);
//! ```

use std::fmt;
use std::path::Path;

use cairn_sdk::Address;
use cairn_vm::testing::MemoryStorage;
use cairn_vm::{BlockInfo, Call, Status, TrapCode, Vm, VmConfig};
use parity_scale_codec::{Decode, Encode};

pub use cairn_vm::{Event as RawEvent, Status as CallStatus};

/// Compiled contracts.
#[derive(Debug)]
pub struct Contract;

impl Contract {
    /// Builds the contract crate in `manifest_dir` for the VM, as
    /// `cargo cairn build` does, and returns the deployable code. The
    /// build is cached by cargo, so only the first test pays for it.
    pub fn build(manifest_dir: impl AsRef<Path>) -> Vec<u8> {
        let manifest = manifest_dir.as_ref().join("Cargo.toml");
        match cargo_cairn::build(&manifest, None, cargo_cairn::LockMode::Update) {
            Ok(built) => built.code,
            Err(error) => panic!(
                "building {} for the VM failed: {error:#}",
                manifest.display()
            ),
        }
    }
}

fn vm_address(address: Address) -> cairn_vm::Address {
    cairn_vm::Address(address.0)
}

/// A chain of one: Cairn's VM over in-memory state.
pub struct TestChain {
    vm: Vm,
    state: MemoryStorage,
    block: BlockInfo,
    gas_limit: u64,
    deployed: u64,
}

impl fmt::Debug for TestChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestChain")
            .field("block", &self.block)
            .field("gas_limit", &self.gas_limit)
            .field("deployed", &self.deployed)
            .finish_non_exhaustive()
    }
}

impl Default for TestChain {
    fn default() -> Self {
        Self::new()
    }
}

impl TestChain {
    /// An empty chain at height 1, with the default schedule and a gas
    /// limit of 10^10 per call.
    pub fn new() -> Self {
        TestChain {
            vm: Vm::new(VmConfig::default()).expect("the VM starts"),
            state: MemoryStorage::new(),
            block: BlockInfo {
                height: 1,
                time_ms: 1_700_000_000_000,
            },
            gas_limit: 10_000_000_000,
            deployed: 0,
        }
    }

    /// Sets the gas limit of every following call.
    pub fn set_gas_limit(&mut self, gas_limit: u64) {
        self.gas_limit = gas_limit;
    }

    /// A deterministic account address for a name.
    pub fn account(&self, name: &str) -> Address {
        Address(cairn_vm::blake2b_256(
            format!("cairn-test-account:{name}").as_bytes(),
        ))
    }

    /// The current block.
    pub fn block(&self) -> BlockInfo {
        self.block
    }

    /// Moves `blocks` blocks and `milliseconds` forward.
    pub fn advance(&mut self, blocks: u64, milliseconds: u64) {
        self.block.height += blocks;
        self.block.time_ms += milliseconds;
    }

    /// The VM, to inspect its cache or schedule.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// Every storage entry of `contract`, in key order.
    pub fn storage(&self, contract: Address) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state.entries(&vm_address(contract))
    }

    /// Deploys `code` as `deployer`, running its `init` entry point with
    /// `args`; panics (with the reason) if the VM rejects the code or
    /// `init` fails.
    pub fn deploy(&mut self, deployer: Address, code: &[u8], args: impl Encode) -> Deployed {
        match self.try_deploy(deployer, code, args) {
            Ok(deployed) => deployed,
            Err(error) => panic!("deploy failed: {error}"),
        }
    }

    /// Deploys `code`, or says why it could not be.
    pub fn try_deploy(
        &mut self,
        deployer: Address,
        code: &[u8],
        args: impl Encode,
    ) -> Result<Deployed, DeployError> {
        let prepared = self
            .vm
            .prepare(code)
            .map_err(|error| DeployError::Rejected(error.to_string()))?;
        self.deployed += 1;
        let mut seed = b"cairn-test-contract:".to_vec();
        seed.extend_from_slice(&deployer.0);
        seed.extend_from_slice(&self.deployed.to_le_bytes());
        let address = Address(cairn_vm::blake2b_256(&seed));
        let before = self.state.clone();
        self.state.deploy(vm_address(address), code);
        let receipt = self.execute(deployer, address, "init", &args.encode(), false);
        if !receipt.is_ok() {
            self.state = before;
            return Err(DeployError::Init(receipt));
        }
        Ok(Deployed {
            address,
            code_hash: prepared.code_hash.0,
            init: receipt,
        })
    }

    /// Calls `method` of `contract` as `caller` with SCALE-encoded `args`
    /// (a tuple of the method's arguments). A successful call's writes are
    /// committed.
    pub fn call(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        args: impl Encode,
    ) -> Receipt {
        self.execute(caller, contract, method, &args.encode(), false)
    }

    /// Calls `method` with raw input bytes.
    pub fn call_raw(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        input: &[u8],
    ) -> Receipt {
        self.execute(caller, contract, method, input, false)
    }

    /// A read-only query: nothing is committed, and writes or events trap.
    pub fn query(&self, contract: Address, method: &str, args: impl Encode) -> Receipt {
        self.run(Address::ZERO, contract, method, &args.encode(), true)
            .0
    }

    fn execute(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        input: &[u8],
        read_only: bool,
    ) -> Receipt {
        let (receipt, writes) = self.run(caller, contract, method, input, read_only);
        self.state.commit(&writes);
        receipt
    }

    /// Runs a call without committing it: its receipt and its writes.
    fn run(
        &self,
        caller: Address,
        contract: Address,
        method: &str,
        input: &[u8],
        read_only: bool,
    ) -> (Receipt, Vec<cairn_vm::StorageWrite>) {
        let call = Call {
            contract: vm_address(contract),
            caller: vm_address(caller),
            entry: method,
            input,
            gas_limit: self.gas_limit,
            value: 0,
            block: self.block,
            read_only,
        };
        let outcome = self
            .vm
            .execute(&call, &self.state)
            .unwrap_or_else(|error| panic!("the VM failed (not the contract): {error}"));
        let receipt = Receipt {
            method: method.to_owned(),
            status: outcome.status,
            gas_used: outcome.gas_used,
            output: outcome.output,
            events: outcome.events,
            writes: outcome.writes.len(),
        };
        (receipt, outcome.writes)
    }
}

/// A deployed contract.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub address: Address,
    pub code_hash: [u8; 32],
    /// The receipt of its `init` call.
    pub init: Receipt,
}

/// Why a deploy failed.
#[derive(Debug, Clone)]
pub enum DeployError {
    /// The VM does not accept the code.
    Rejected(String),
    /// `init` failed; nothing was deployed.
    Init(Receipt),
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployError::Rejected(reason) => write!(f, "the VM rejects the code: {reason}"),
            DeployError::Init(receipt) => write!(f, "init failed: {receipt}"),
        }
    }
}

/// What a call did.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub method: String,
    pub status: Status,
    /// The real gas the call used, as a node would charge it.
    pub gas_used: u64,
    /// The return value, revert data or abort message.
    pub output: Vec<u8>,
    pub events: Vec<RawEvent>,
    /// How many storage entries the call wrote or removed.
    pub writes: usize,
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:?}, {} gas",
            self.method, self.status, self.gas_used
        )?;
        if self.status == Status::Trap(TrapCode::Aborted) {
            write!(f, ", aborted: {}", String::from_utf8_lossy(&self.output))?;
        }
        Ok(())
    }
}

impl Receipt {
    pub fn is_ok(&self) -> bool {
        self.status.is_ok()
    }

    /// The decoded return value; panics unless the call succeeded.
    pub fn value<T: Decode>(&self) -> T {
        assert!(
            self.is_ok(),
            "expected {} to succeed, but {self}",
            self.method
        );
        decode(&self.output).unwrap_or_else(|| {
            panic!(
                "{}'s output does not decode as the expected type",
                self.method
            )
        })
    }

    /// The decoded error the contract reverted with; panics unless it
    /// reverted.
    pub fn error<E: Decode>(&self) -> E {
        assert_eq!(
            self.status,
            Status::Trap(TrapCode::Reverted),
            "expected {} to revert, but {self}",
            self.method
        );
        decode(&self.output).unwrap_or_else(|| {
            panic!(
                "{}'s revert data does not decode as the expected error",
                self.method
            )
        })
    }

    /// The message of an abort (a panic); panics unless the call aborted.
    pub fn abort_message(&self) -> String {
        assert_eq!(
            self.status,
            Status::Trap(TrapCode::Aborted),
            "expected {} to abort, but {self}",
            self.method
        );
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// The events of type `E`, decoded, in emission order.
    pub fn events<E: cairn_sdk::Event + Decode>(&self) -> Vec<E> {
        self.events
            .iter()
            .filter(|event| event.topic == E::TOPIC.as_bytes())
            .map(|event| {
                decode(&event.data)
                    .unwrap_or_else(|| panic!("a {} event does not decode", E::TOPIC))
            })
            .collect()
    }

    /// The events of type `E` emitted by `contract`.
    pub fn events_from<E: cairn_sdk::Event + Decode>(&self, contract: Address) -> Vec<E> {
        self.events
            .iter()
            .filter(|event| event.contract.0 == contract.0 && event.topic == E::TOPIC.as_bytes())
            .map(|event| {
                decode(&event.data)
                    .unwrap_or_else(|| panic!("a {} event does not decode", E::TOPIC))
            })
            .collect()
    }
}

fn decode<T: Decode>(bytes: &[u8]) -> Option<T> {
    let mut input = bytes;
    let value = T::decode(&mut input).ok()?;
    input.is_empty().then_some(value)
}
