//! The example contracts as a workload for the determinism property tests:
//! random sequences of deploys and calls on the compiled examples of
//! `contracts-sdk/testdata` (counter, token, escrow, hasher), with
//! arguments that mostly make sense (known accounts and contracts, small
//! amounts, existing deal ids) and sometimes do not (huge amounts, unknown
//! entry points, undecodable input, too little gas, writes in a query).
//!
//! A [`Chain`] is one VM over in-memory state. The tests run the same
//! [`Op`]s on chains whose VMs are built differently and compare every
//! [`Outcome`] and the final state; [`Chain::apply`] itself checks what
//! must hold of each outcome on its own ([`check_outcome`]) and that a
//! failed call or deploy leaves the state as it was.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Outcome, Schedule, Vm, VmConfig, blake2b_256};
use parity_scale_codec::Encode;
use proptest::prelude::*;

use crate::oracles::check_outcome;

/// The example contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Token,
    Escrow,
    Hasher,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Counter, Kind::Token, Kind::Escrow, Kind::Hasher];

    /// The committed build of the example (`make fixtures`).
    pub fn wasm(self) -> &'static [u8] {
        match self {
            Kind::Counter => include_bytes!("../../../contracts-sdk/testdata/counter.wasm"),
            Kind::Token => include_bytes!("../../../contracts-sdk/testdata/token.wasm"),
            Kind::Escrow => include_bytes!("../../../contracts-sdk/testdata/escrow.wasm"),
            Kind::Hasher => include_bytes!("../../../contracts-sdk/testdata/hasher.wasm"),
        }
    }

    /// Its entry points after `init`, as in its `.abi.json`.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Kind::Counter => &["increment", "get", "last_caller"],
            Kind::Token => &[
                "name",
                "symbol",
                "decimals",
                "total_supply",
                "balance_of",
                "allowance",
                "transfer",
                "approve",
                "transfer_from",
                "mint",
                "burn",
                "holders",
            ],
            Kind::Escrow => &["open", "release", "refund", "deal", "refused_deposits"],
            Kind::Hasher => &["hash_chain", "sort", "last"],
        }
    }
}

/// How much gas a call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gas {
    /// [`PLENTY`]: every call of the examples finishes within it.
    Plenty,
    /// A limit that may stop the call anywhere.
    Limit(u64),
}

/// The gas of [`Gas::Plenty`].
pub const PLENTY: u64 = 10_000_000_000;

/// One step of a workload. Indices (`contract`, `method`, `caller`) are
/// taken modulo what exists when the step runs, so every sequence means
/// something and shrinks well; `picks` are the raw material of the
/// arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Deploy {
        kind: Kind,
        deployer: u8,
        picks: [u64; 4],
    },
    Call {
        contract: u8,
        method: u8,
        caller: u8,
        picks: [u64; 4],
        gas: Gas,
        read_only: bool,
        /// Replaces the entry point's name or its input with something it
        /// does not expect.
        garble: Garble,
    },
    /// The next block, `ms` later.
    Advance { ms: u32 },
}

/// How a call is made wrong on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garble {
    Nothing,
    /// An entry point the contract does not have.
    MissingEntry,
    /// The input cut short by one byte (or one byte too many when empty).
    Input,
}

/// Accounts that sign calls.
pub const ACCOUNTS: u8 = 3;

/// The address of account `index`.
pub fn account(index: u8) -> Address {
    Address(blake2b_256(
        &[b"cairn-fuzz-account:".as_slice(), &[index]].concat(),
    ))
}

/// A call ready to run: everything but the gas limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    pub contract: Address,
    pub caller: Address,
    pub entry: String,
    pub input: Vec<u8>,
    pub read_only: bool,
    pub block: BlockInfo,
}

impl CallSpec {
    pub fn call(&self, gas_limit: u64) -> Call<'_> {
        Call {
            contract: self.contract,
            caller: self.caller,
            entry: &self.entry,
            input: &self.input,
            gas_limit,
            value: 0,
            block: self.block,
            read_only: self.read_only,
        }
    }
}

/// One VM over in-memory state, with the contracts deployed so far.
#[derive(Debug, Clone)]
pub struct Chain {
    pub vm: Vm,
    pub state: MemoryStorage,
    pub contracts: Vec<(Kind, Address)>,
    pub block: BlockInfo,
    deploys: u64,
}

impl Chain {
    pub fn new(vm: Vm) -> Self {
        Chain {
            vm,
            state: MemoryStorage::new(),
            contracts: Vec::new(),
            block: BlockInfo {
                height: 1,
                time_ms: 1_700_000_000_000,
            },
            deploys: 0,
        }
    }

    /// A chain with one of each example deployed (the escrow on the
    /// token) and some tokens handed out and approved for the escrow.
    ///
    /// # Panics
    ///
    /// If any of those steps fails.
    pub fn with_examples(vm: Vm) -> Self {
        let mut chain = Chain::new(vm);
        for (kind, picks) in [
            // A limit of 1,000; a supply of 1,000,000; the token above.
            (Kind::Counter, [999, 0, 0, 0]),
            (Kind::Token, [1_000_000, 0, 0, 0]),
            (Kind::Escrow, [0, 1, 0, 0]),
            (Kind::Hasher, [0, 0, 0, 0]),
        ] {
            let op = Op::Deploy {
                kind,
                deployer: 0,
                picks,
            };
            let outcome = chain.apply(&op).expect("a deploy has an outcome");
            assert!(outcome.status.is_ok(), "deploying {kind:?}: {outcome:?}");
        }
        let token = chain.contracts[1].1;
        let escrow = chain.contracts[2].1;
        for (caller, method, input) in [
            (0, "transfer", (account(1).0, 5_000u128).encode()),
            (0, "transfer", (account(2).0, 5_000u128).encode()),
            (0, "approve", (escrow.0, 2_000u128).encode()),
            (1, "approve", (escrow.0, 2_000u128).encode()),
        ] {
            let spec = CallSpec {
                contract: token,
                caller: account(caller),
                entry: method.to_owned(),
                input,
                read_only: false,
                block: chain.block,
            };
            let outcome = chain.run(&spec, PLENTY);
            assert!(outcome.status.is_ok(), "token {method}: {outcome:?}");
        }
        chain
    }

    /// Runs one step and returns the outcome of its call (a deploy's is
    /// that of `init`), after checking it with [`check_outcome`] and, for a
    /// failed one, that nothing changed.
    ///
    /// # Panics
    ///
    /// When the VM fails (not the contract), or a check does not hold.
    pub fn apply(&mut self, op: &Op) -> Option<Outcome> {
        match *op {
            Op::Deploy {
                kind,
                deployer,
                picks,
            } => Some(self.deploy(kind, account(deployer % ACCOUNTS), picks)),
            Op::Call { gas, .. } => {
                let spec = self.spec(op)?;
                let limit = match gas {
                    Gas::Plenty => PLENTY,
                    Gas::Limit(limit) => limit,
                };
                Some(self.run(&spec, limit))
            }
            Op::Advance { ms } => {
                self.block.height += 1;
                self.block.time_ms += u64::from(ms);
                None
            }
        }
    }

    fn deploy(&mut self, kind: Kind, deployer: Address, picks: [u64; 4]) -> Outcome {
        let wasm = kind.wasm();
        if let Err(error) = self.vm.prepare(wasm) {
            panic!("the VM refused the {kind:?} example: {error}");
        }
        self.deploys += 1;
        let address = Address(blake2b_256(
            &[
                b"cairn-fuzz-contract:".as_slice(),
                &self.deploys.to_le_bytes(),
            ]
            .concat(),
        ));
        let input = match kind {
            Kind::Counter => (picks[0] % 1_000 + 1).encode(),
            Kind::Token => (
                "Fuzz".to_owned(),
                "FZ".to_owned(),
                u8::try_from(picks[1] % 19).unwrap_or(0),
                amount(picks[0]),
            )
                .encode(),
            Kind::Escrow => {
                // Mostly the newest token; sometimes any address.
                let token = self
                    .contracts
                    .iter()
                    .rev()
                    .find(|(kind, _)| *kind == Kind::Token)
                    .map(|(_, address)| *address)
                    .filter(|_| !picks[1].is_multiple_of(4))
                    .unwrap_or_else(|| self.address(picks[0]));
                token.0.encode()
            }
            Kind::Hasher => Vec::new(),
        };
        let mut with_code = self.state.clone();
        with_code.deploy(address, wasm);
        let spec = CallSpec {
            contract: address,
            caller: deployer,
            entry: "init".to_owned(),
            input,
            read_only: false,
            block: self.block,
        };
        let outcome = execute(&self.vm, &spec, PLENTY, &with_code);
        if outcome.status.is_ok() {
            with_code.commit(&outcome.writes);
            self.state = with_code;
            self.contracts.push((kind, address));
        }
        outcome
    }

    /// Runs `spec` with `gas_limit` and commits what it wrote; panics if a
    /// failed call changed anything or [`check_outcome`] does not hold.
    pub fn run(&mut self, spec: &CallSpec, gas_limit: u64) -> Outcome {
        let outcome = execute(&self.vm, spec, gas_limit, &self.state);
        let before = (!outcome.status.is_ok()).then(|| self.state.clone());
        self.state.commit(&outcome.writes);
        if let Some(before) = before {
            assert!(
                before == self.state,
                "the failed call {spec:?} changed the state"
            );
        }
        outcome
    }

    /// The call `op` makes on this chain, if it is a call.
    pub fn spec(&self, op: &Op) -> Option<CallSpec> {
        let Op::Call {
            contract,
            method,
            caller,
            picks,
            read_only,
            garble,
            ..
        } = *op
        else {
            return None;
        };
        // With nothing deployed, the call goes to an empty address.
        let (kind, address) = if self.contracts.is_empty() {
            (Kind::Counter, self.address(picks[0]))
        } else {
            self.contracts[usize::from(contract) % self.contracts.len()]
        };
        let methods = kind.methods();
        let entry = methods[usize::from(method) % methods.len()];
        let mut input = self.arguments(kind, entry, picks);
        let entry = match garble {
            Garble::MissingEntry => "missing".to_owned(),
            Garble::Input => {
                if input.pop().is_none() {
                    input.push(0xff);
                }
                entry.to_owned()
            }
            Garble::Nothing => entry.to_owned(),
        };
        Some(CallSpec {
            contract: address,
            caller: account(caller % ACCOUNTS),
            entry,
            input,
            read_only,
            block: self.block,
        })
    }

    /// An address from `pick`: mostly an account or a deployed contract,
    /// sometimes the zero address or an unknown one.
    fn address(&self, pick: u64) -> Address {
        let known = u64::from(ACCOUNTS) + self.contracts.len() as u64;
        let index = pick % (known + 2);
        if index < u64::from(ACCOUNTS) {
            account(u8::try_from(index).unwrap_or(0))
        } else if let Some((_, address)) = usize::try_from(index - u64::from(ACCOUNTS))
            .ok()
            .and_then(|index| self.contracts.get(index))
        {
            *address
        } else if index == known {
            Address([0; 32])
        } else {
            Address(blake2b_256(&pick.to_le_bytes()))
        }
    }

    fn arguments(&self, kind: Kind, entry: &str, picks: [u64; 4]) -> Vec<u8> {
        let [a, b, c, d] = picks;
        match (kind, entry) {
            (Kind::Counter, "increment") => (a % 7).encode(),
            (Kind::Token, "balance_of") | (Kind::Escrow, "refused_deposits") => {
                self.address(a).0.encode()
            }
            (Kind::Token, "allowance") => (self.address(a).0, self.address(b).0).encode(),
            (Kind::Token, "transfer" | "approve" | "mint") => {
                (self.address(a).0, amount(b)).encode()
            }
            (Kind::Token, "transfer_from") => {
                (self.address(a).0, self.address(b).0, amount(c)).encode()
            }
            (Kind::Token, "burn") => amount(a).encode(),
            (Kind::Token, "holders") => {
                let after = b.is_multiple_of(2).then(|| self.address(a).0);
                (after, u32::try_from(c % 8).unwrap_or(0)).encode()
            }
            (Kind::Escrow, "open") => {
                // Deadlines around the chain's time, so refunds are
                // sometimes late and sometimes not.
                let deadline = self.block.time_ms + d % 20_000;
                (self.address(a).0, amount(b) % 3_000, deadline).encode()
            }
            (Kind::Escrow, "release" | "refund" | "deal") => (a % 4).encode(),
            (Kind::Hasher, "hash_chain") => {
                let seed = blake2b_256(&a.to_le_bytes());
                (seed, u32::try_from(b % 40).unwrap_or(0)).encode()
            }
            (Kind::Hasher, "sort") => (u32::try_from(a % 64).unwrap_or(0), b).encode(),
            _ => Vec::new(),
        }
    }
}

/// Amounts: mostly small, sometimes at the edge of `u128`.
fn amount(pick: u64) -> u128 {
    match pick % 16 {
        0 => u128::MAX - u128::from(pick % 3),
        1 => u128::from(pick),
        _ => u128::from(pick % 3_000),
    }
}

/// Executes `spec` with `gas_limit` on `state` and checks the outcome.
///
/// # Panics
///
/// When the VM fails or [`check_outcome`] does not hold.
pub fn execute(vm: &Vm, spec: &CallSpec, gas_limit: u64, state: &MemoryStorage) -> Outcome {
    let call = spec.call(gas_limit);
    let outcome = vm
        .execute(&call, state)
        .unwrap_or_else(|error| panic!("the VM failed on {call:?}: {error}"));
    check_outcome(&call, &outcome);
    outcome
}

/// A VM with the default schedule and the given cache configuration.
///
/// # Panics
///
/// If the VM does not start (an unusable cache directory).
pub fn vm(memory_cache_bytes: u64, cache_dir: Option<PathBuf>, threads: usize) -> Vm {
    Vm::new(VmConfig {
        schedule: Schedule::default(),
        memory_cache_bytes,
        cache_dir,
        compile_threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
    })
    .expect("the VM starts")
}

/// Gas limits for [`Op::Call`]: mostly plenty, otherwise anywhere from
/// nothing to a few cross-contract calls' worth.
pub fn gas() -> impl Strategy<Value = Gas> {
    prop_oneof![
        6 => Just(Gas::Plenty),
        1 => (0u64..20_000).prop_map(Gas::Limit),
        1 => (0u64..2_000_000).prop_map(Gas::Limit),
        1 => (0u64..20_000_000).prop_map(Gas::Limit),
    ]
}

fn garble() -> impl Strategy<Value = Garble> {
    prop_oneof![
        14 => Just(Garble::Nothing),
        1 => Just(Garble::MissingEntry),
        1 => Just(Garble::Input),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

/// A call of the workload (see [`Op::Call`]).
pub fn call_op() -> impl Strategy<Value = Op> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<[u64; 4]>(),
        gas(),
        prop::bool::weighted(0.1),
        garble(),
    )
        .prop_map(
            |(contract, method, caller, picks, gas, read_only, garble)| Op::Call {
                contract,
                method,
                caller,
                picks,
                gas,
                read_only,
                garble,
            },
        )
}

/// Any step: mostly calls, some deploys, some time passing.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => call_op(),
        1 => (kind(), any::<u8>(), any::<[u64; 4]>()).prop_map(|(kind, deployer, picks)| {
            Op::Deploy { kind, deployer, picks }
        }),
        1 => (0u32..30_000).prop_map(|ms| Op::Advance { ms }),
    ]
}
