//! Shared helpers: a VM with in-memory state, and modules built from text.

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Outcome, Rejection, Status, TrapCode, Vm, VmConfig};

pub const ALICE: Address = Address([0xa1; 32]);
pub const CONTRACT: Address = Address([0xc0; 32]);
pub const GAS: u64 = 1_000_000_000;

pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|error| panic!("test wat does not parse: {error}"))
}

pub fn vm() -> Vm {
    Vm::new(VmConfig::default()).expect("the VM starts")
}

/// The host imports most test contracts use, with their signatures.
pub const IMPORTS: &str = r#"
  (import "cairn" "input_len" (func $input_len (result i32)))
  (import "cairn" "input_read" (func $input_read (param i32)))
  (import "cairn" "output_write" (func $output_write (param i32 i32)))
  (import "cairn" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i64)))
  (import "cairn" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "cairn" "storage_remove" (func $storage_remove (param i32 i32)))
  (import "cairn" "storage_range" (func $storage_range (param i32 i32 i32 i32 i32) (result i32)))
  (import "cairn" "storage_next" (func $storage_next (param i32 i32 i32 i32 i32) (result i64)))
  (import "cairn" "storage_close" (func $storage_close (param i32)))
  (import "cairn" "emit_event" (func $emit_event (param i32 i32 i32 i32)))
  (import "cairn" "caller" (func $caller (param i32)))
  (import "cairn" "self_address" (func $self_address (param i32)))
  (import "cairn" "block_height" (func $block_height (result i64)))
  (import "cairn" "block_time" (func $block_time (result i64)))
  (import "cairn" "gas_left" (func $gas_left (result i64)))
  (import "cairn" "attached_value" (func $attached_value (param i32)))
  (import "cairn" "self_balance" (func $self_balance (param i32)))
  (import "cairn" "balance" (func $balance (param i32 i32)))
  (import "cairn" "transfer" (func $transfer (param i32 i32) (result i32)))
  (import "cairn" "blake2b_256" (func $blake2b_256 (param i32 i32 i32)))
  (import "cairn" "sha256" (func $sha256 (param i32 i32 i32)))
  (import "cairn" "keccak256" (func $keccak256 (param i32 i32 i32)))
  (import "cairn" "ed25519_verify" (func $ed25519_verify (param i32 i32 i32 i32) (result i32)))
  (import "cairn" "secp256k1_recover" (func $secp256k1_recover (param i32 i32 i32 i32) (result i32)))
  (import "cairn" "secp256k1_verify" (func $secp256k1_verify (param i32 i32 i32 i32) (result i32)))
  (import "cairn" "call_contract" (func $call_contract (param i32 i32 i32 i32 i32 i64) (result i32)))
  (import "cairn" "call_contract_with_value" (func $call_contract_with_value (param i32 i32 i32 i32 i32 i64 i32) (result i32)))
  (import "cairn" "call_output_len" (func $call_output_len (result i32)))
  (import "cairn" "call_output_read" (func $call_output_read (param i32)))
  (import "cairn" "revert" (func $revert (param i32 i32)))
  (import "cairn" "abort" (func $abort (param i32 i32)))
"#;

/// A contract module: the host imports, one page of memory exported as
/// `memory`, and `body` (functions, data, globals).
pub fn contract(body: &str) -> Vec<u8> {
    wat(&format!(
        "(module {IMPORTS} (memory (export \"memory\") 1) {body})"
    ))
}

/// A VM and in-memory state that calls commit into, like a tiny chain.
pub struct Chain {
    pub vm: Vm,
    pub state: MemoryStorage,
    pub height: u64,
}

impl Chain {
    pub fn new() -> Self {
        Chain::with_vm(vm())
    }

    pub fn with_vm(vm: Vm) -> Self {
        Chain {
            vm,
            state: MemoryStorage::new(),
            height: 1,
        }
    }

    /// Prepares `wasm` (validation, metering, compile) and records it at
    /// `address`.
    pub fn deploy(&mut self, address: Address, wasm: &[u8]) {
        self.vm
            .prepare(wasm)
            .unwrap_or_else(|error| panic!("test contract does not prepare: {error}"));
        self.state.deploy(address, wasm);
    }

    pub fn call_with(
        &mut self,
        contract: Address,
        entry: &str,
        input: &[u8],
        gas_limit: u64,
        read_only: bool,
    ) -> Outcome {
        self.call_with_value(contract, entry, input, gas_limit, read_only, 0)
    }

    /// A call from [`ALICE`] with `value` attached.
    pub fn call_with_value(
        &mut self,
        contract: Address,
        entry: &str,
        input: &[u8],
        gas_limit: u64,
        read_only: bool,
        value: u128,
    ) -> Outcome {
        let call = Call {
            contract,
            caller: ALICE,
            entry,
            input,
            gas_limit,
            value,
            block: BlockInfo {
                height: self.height,
                time_ms: 1_700_000_000_000 + self.height,
            },
            read_only,
        };
        let outcome = self
            .vm
            .execute(&call, &self.state)
            .expect("the VM does not fail");
        self.state.commit_outcome(&outcome);
        self.height += 1;
        outcome
    }

    pub fn call(&mut self, contract: Address, entry: &str, input: &[u8]) -> Outcome {
        self.call_with(contract, entry, input, GAS, false)
    }
}

/// The gas every call of `wasm` pays for its instance before it runs.
pub fn instance_gas(wasm: &[u8]) -> u64 {
    vm().prepare(wasm)
        .unwrap_or_else(|error| panic!("test contract does not prepare: {error}"))
        .instantiation_gas
}

/// Deploys `wasm` on a fresh chain and calls `entry` once.
pub fn run(wasm: &[u8], entry: &str, input: &[u8], gas: u64) -> Outcome {
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, wasm);
    chain.call_with(CONTRACT, entry, input, gas, false)
}

/// Runs the call on two independent VMs (separate engines and caches) and
/// requires byte-identical outcomes: status, gas, output, events, writes.
pub fn run_twice(wasm: &[u8], entry: &str, input: &[u8], gas: u64) -> Outcome {
    let first = run(wasm, entry, input, gas);
    let second = run(wasm, entry, input, gas);
    assert_eq!(first, second, "two runs of the same call differ");
    first
}

pub fn trap(code: TrapCode) -> Status {
    Status::Trap(code)
}

/// The rejection of a module that must not validate as a contract.
pub fn rejection(wasm: &[u8]) -> Rejection {
    match cairn_vm::validate::validate_contract(wasm) {
        Ok(summary) => panic!("module was accepted: {summary:?}"),
        Err(rejection) => rejection,
    }
}

/// Unsigned LEB128, for hand-built binary modules.
pub fn leb128(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
