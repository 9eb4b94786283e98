//! Generators and oracles for Cairn's fuzz targets and determinism tests.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` are one line each: they
//! hand libFuzzer's bytes to an oracle here. The same oracles run every
//! target's committed seed corpus (`fuzz/corpus/<target>/`) under plain
//! `cargo test` on stable (`tests/corpus.rs`), so a crash the fuzzer finds
//! becomes a regression test by copying its input into the corpus.
//!
//! | target | oracle | property |
//! |---|---|---|
//! | `validate` | [`oracles::validate`] | any bytes through validation and metering: no panic; what is accepted meters, into a valid module of bounded size, the same every time |
//! | `execute` | [`oracles::execute`] | generated contracts importing the whole host table, with arbitrary input, gas and mode: no panic, no node failure, an outcome that obeys [`oracles::check_outcome`], the same twice |
//! | `differential` | [`oracles::differential`] | the same metered contract on wasmer single-pass (the VM) and on wasmi ([`reference`]): same status, gas, output, events, writes and final storage |
//! | `gas_oracle` | [`oracles::gas_oracle`] | the VM's gas equals a naive per-instruction count of the schedule ([`naive`]) |
//! | `compile_deterministic` | [`oracles::compile_deterministic`] | two compilations give byte-identical artifacts |
//! | `node_transaction` | [`node::transaction`] | a transaction from gossip or RPC: one encoding, a hash of its bytes, blame only for invalid ones, any edit of a valid one refused |
//! | `node_block` | [`node::block`] | a proposed block: refused as malformed or invalid (never a local failure) or accepted, the same way twice |
//! | `node_consensus` | [`node::consensus_messages`] | consensus, sync and stream messages: what decodes round-trips; stream reassembly stays bounded |
//! | `node_rpc` | [`node::rpc_request`] | a JSON-RPC request: always a response, never a node error |
//! | `node_supply` | [`node::supply`] | a block of transfers, deposits into and payouts from a contract, refusals: built and verified alike, and the native token conserved (what balances lose is what they gain plus the fees burned) |
//!
//! Modules come from [`generate`]: wasm-smith configured for the accepted
//! subset, with the host table as the imports it may choose from and a
//! contract's exports (`memory` and `() -> ()` entry points) as the exports
//! it must have. The differential target restricts the imports to what the
//! reference host re-implements; [`reference`] explains that choice.
//!
//! The property tests (`tests/`) drive [`cairn_vm::Vm`] directly on the
//! example contracts ([`workload`]): `determinism.rs` runs random sequences
//! of deploys and calls on three VMs with different artifact caches and
//! compiler thread counts and requires the same outcome for every step and
//! the same final state; `gas.rs` checks that gas is monotone (exactly the
//! gas used, or more, gives the same outcome; any less runs out) and that a
//! failed call leaves the state unchanged. `corpus.rs` runs the seeds.

pub mod generate;
pub mod naive;
pub mod node;
pub mod oracles;
pub mod reference;
pub mod workload;
