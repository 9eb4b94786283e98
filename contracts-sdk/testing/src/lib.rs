//! Test Cairn contracts on the real VM.
//!
//! Load a contract's *compiled* wasm into Cairn's VM with in-memory state,
//! deploy it, call it as any account, and read what a chain would record:
//! status, the real gas of every call, output, events, storage and native
//! balances. Several contracts can be deployed side by side and call each
//! other.
//!
//! Accounts hold the native token ([`TestChain::account`] funds them) and
//! pay for their calls as on a node: the caller must cover `gas_limit ×
//! gas_price + value`, is charged `gas_used × gas_price` whatever the
//! outcome, and keeps its value when the call fails.
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
//! assert_eq!(receipt.fee, u128::from(receipt.gas_used) * u128::from(chain.gas_price()));
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

/// What [`TestChain::account`] gives a new account: plenty for any test's
/// fees.
pub const ACCOUNT_BALANCE: u128 = 1_000_000_000_000_000_000_000_000;

/// A chain of one: Cairn's VM over in-memory state.
pub struct TestChain {
    vm: Vm,
    state: MemoryStorage,
    block: BlockInfo,
    gas_limit: u64,
    gas_price: u64,
    fees: u128,
    deployed: u64,
}

impl fmt::Debug for TestChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestChain")
            .field("block", &self.block)
            .field("gas_limit", &self.gas_limit)
            .field("gas_price", &self.gas_price)
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
    /// An empty chain at height 1, with the default schedule, a gas limit
    /// of 10^10 per call and a gas price of 1 (a chain's lowest base fee).
    pub fn new() -> Self {
        TestChain {
            vm: Vm::new(VmConfig::default()).expect("the VM starts"),
            state: MemoryStorage::new(),
            block: BlockInfo {
                height: 1,
                time_ms: 1_700_000_000_000,
            },
            gas_limit: 10_000_000_000,
            gas_price: 1,
            fees: 0,
            deployed: 0,
        }
    }

    /// Sets the gas limit of every following call.
    pub fn set_gas_limit(&mut self, gas_limit: u64) {
        self.gas_limit = gas_limit;
    }

    /// Sets the gas price every following call pays (0: free).
    pub fn set_gas_price(&mut self, gas_price: u64) {
        self.gas_price = gas_price;
    }

    pub fn gas_price(&self) -> u64 {
        self.gas_price
    }

    /// Every fee charged so far.
    pub fn fees_paid(&self) -> u128 {
        self.fees
    }

    /// A deterministic account address for a name, funded with
    /// [`ACCOUNT_BALANCE`] the first time it is asked for.
    pub fn account(&mut self, name: &str) -> Address {
        let address = Address(cairn_vm::blake2b_256(
            format!("cairn-test-account:{name}").as_bytes(),
        ));
        if !self.funded(address) {
            self.fund(address, ACCOUNT_BALANCE);
        }
        address
    }

    fn funded(&self, account: Address) -> bool {
        self.balance(account) > 0
    }

    /// Gives `account` `amount` more of the native token (as a genesis
    /// allocation would).
    pub fn fund(&mut self, account: Address, amount: u128) {
        let balance = self.balance(account).saturating_add(amount);
        self.state.set_balance(vm_address(account), balance);
    }

    /// What `account` (an account or a contract) holds.
    pub fn balance(&self, account: Address) -> u128 {
        self.state.balance_of(&vm_address(account))
    }

    /// Moves `amount` from `from` to `to` as a transfer transaction does,
    /// its fee paid by `from`; `Err` (nothing changed) if `from` cannot
    /// cover both.
    pub fn transfer(&mut self, from: Address, to: Address, amount: u128) -> Result<(), Refused> {
        // A transfer uses its intrinsic gas only; the VM runs nothing.
        let fee = u128::from(self.gas_price) * u128::from(TRANSFER_GAS);
        let needed = fee.saturating_add(amount);
        let held = self.balance(from);
        if held < needed {
            return Err(Refused {
                account: from,
                holds: held,
                needs: needed,
            });
        }
        self.state.set_balance(vm_address(from), held - needed);
        self.fund(to, amount);
        self.fees += fee;
        Ok(())
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
        self.deploy_with_value(deployer, code, args, 0)
    }

    /// Deploys `code` with `value` moved to the new contract (its `init`
    /// must be `#[payable]` to take it).
    pub fn deploy_with_value(
        &mut self,
        deployer: Address,
        code: &[u8],
        args: impl Encode,
        value: u128,
    ) -> Deployed {
        match self.try_deploy(deployer, code, args, value) {
            Ok(deployed) => deployed,
            Err(error) => panic!("deploy failed: {error}"),
        }
    }

    /// Deploys `code` with `value`, or says why it could not be.
    pub fn try_deploy(
        &mut self,
        deployer: Address,
        code: &[u8],
        args: impl Encode,
        value: u128,
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
        let receipt = self
            .execute(deployer, address, "init", &args.encode(), value)
            .map_err(DeployError::Refused)?;
        if !receipt.is_ok() {
            // The fee stays paid; the contract is not there.
            let fee_paid = self.balance(deployer);
            self.state = before;
            self.state.set_balance(vm_address(deployer), fee_paid);
            return Err(DeployError::Init(Box::new(receipt)));
        }
        Ok(Deployed {
            address,
            code_hash: prepared.code_hash.0,
            init: receipt,
        })
    }

    /// Calls `method` of `contract` as `caller` with SCALE-encoded `args`
    /// (a tuple of the method's arguments). A successful call's writes are
    /// committed. Panics if `caller` cannot pay for it.
    pub fn call(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        args: impl Encode,
    ) -> Receipt {
        self.call_with_value(caller, contract, method, args, 0)
    }

    /// [`TestChain::call`] with `value` of the native token attached: it
    /// moves to the contract if the call succeeds.
    pub fn call_with_value(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        args: impl Encode,
        value: u128,
    ) -> Receipt {
        self.try_call(caller, contract, method, &args.encode(), value)
            .unwrap_or_else(|refused| panic!("{method} refused: {refused}"))
    }

    /// Calls `method` with raw input bytes.
    pub fn call_raw(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        input: &[u8],
    ) -> Receipt {
        self.try_call(caller, contract, method, input, 0)
            .unwrap_or_else(|refused| panic!("{method} refused: {refused}"))
    }

    /// A call with raw input and value, refused (nothing charged) if the
    /// caller cannot cover `gas_limit × gas_price + value`, as a node
    /// refuses such a transaction.
    pub fn try_call(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        input: &[u8],
        value: u128,
    ) -> Result<Receipt, Refused> {
        self.execute(caller, contract, method, input, value)
    }

    /// A read-only query: nothing is committed or charged, and writes,
    /// events or transfers trap.
    pub fn query(&self, contract: Address, method: &str, args: impl Encode) -> Receipt {
        self.run(Address::ZERO, contract, method, &args.encode(), 0, true)
            .0
    }

    /// Charges the largest fee, runs the call, commits it if it succeeded
    /// and gives back the fee for the gas it did not use.
    fn execute(
        &mut self,
        caller: Address,
        contract: Address,
        method: &str,
        input: &[u8],
        value: u128,
    ) -> Result<Receipt, Refused> {
        let price = u128::from(self.gas_price);
        let max_fee = price * u128::from(self.gas_limit);
        let held = self.balance(caller);
        let needed = max_fee.saturating_add(value);
        if held < needed {
            return Err(Refused {
                account: caller,
                holds: held,
                needs: needed,
            });
        }
        self.state.set_balance(vm_address(caller), held - max_fee);
        let (mut receipt, outcome) = self.run(caller, contract, method, input, value, false);
        if let Some(outcome) = outcome {
            self.state.commit_outcome(&outcome);
        }
        let fee = price * u128::from(receipt.gas_used);
        let refund = max_fee - fee;
        self.fund(caller, refund);
        self.fees += fee;
        receipt.fee = fee;
        Ok(receipt)
    }

    /// Runs a call without committing it: its receipt, and the outcome to
    /// apply if it succeeded.
    fn run(
        &self,
        caller: Address,
        contract: Address,
        method: &str,
        input: &[u8],
        value: u128,
        read_only: bool,
    ) -> (Receipt, Option<cairn_vm::Outcome>) {
        let call = Call {
            contract: vm_address(contract),
            caller: vm_address(caller),
            entry: method,
            input,
            gas_limit: self.gas_limit,
            value,
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
            fee: 0,
            value: if outcome.status.is_ok() { value } else { 0 },
            output: outcome.output.clone(),
            events: outcome.events.clone(),
            writes: outcome.writes.len(),
        };
        let ok = outcome.status.is_ok();
        (receipt, ok.then_some(outcome))
    }
}

/// About the gas a transfer transaction uses on a node with the default
/// chain parameters: its intrinsic cost, the base and some 256 bytes.
pub const TRANSFER_GAS: u64 = 3_000_000 + 2_000 * 256;

/// A call or transfer the caller cannot pay for: like a node, the chain
/// refuses it and charges nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub account: Address,
    pub holds: u128,
    /// `gas_limit × gas_price + value`.
    pub needs: u128,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} holds {} of the native token but the call may cost {}",
            self.account, self.holds, self.needs
        )
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
    /// The deployer cannot pay for it.
    Refused(Refused),
    /// `init` failed; nothing was deployed (the fee was paid).
    Init(Box<Receipt>),
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployError::Rejected(reason) => write!(f, "the VM rejects the code: {reason}"),
            DeployError::Refused(refused) => write!(f, "refused: {refused}"),
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
    /// What the caller paid: `gas_used × gas_price`, also when it failed
    /// (the VM's gas; a node adds the transaction's intrinsic gas).
    pub fee: u128,
    /// Native value the call moved to the contract (0 if it failed).
    pub value: u128,
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
