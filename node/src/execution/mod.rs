//! Execution: the state transition of a block, with no locks, no mempool
//! and no consensus.
//!
//! [`Executor::execute_block`] runs a block's transactions through the VM
//! against a [`StateSnapshot`](crate::state::StateSnapshot) with the
//! block's own [`Changes`](crate::state::Changes) on top, and returns the
//! receipts, the changes and the new state root as a [`BlockExecution`]; a
//! proposer builds with it ([`Mode::Build`]) and every validator re-executes
//! with it ([`Mode::Verify`]), so both compute the same roots.
//! [`check_transaction`] is the stateless admission check that the mempool
//! and every execution apply; [`genesis_state`] is the state at height 0.
//! An executor given [`VerifiedSignatures`] verifies each signature once:
//! what the mempool admitted is not verified again, and a block's other
//! transactions are verified across the cores before it runs.
//!
//! Fees: a transaction's largest fee (`gas_limit × gas_price`) is taken
//! from its sender before it runs and the unused part given back after;
//! of the fee for the gas used, the block's base fee is burned and the
//! rest goes to the block's proposer. The base fee of the next block
//! follows how much gas this one used (EIP-1559's rule,
//! [`ChainParams::next_base_fee`](crate::genesis::ChainParams::next_base_fee));
//! it and the token's supply are in the chain record under the state root.

mod admission;
mod block;
mod genesis;
mod signatures;
mod transaction;

pub use admission::{check_transaction, check_unsigned};
pub use block::{BlockExecution, ExecError, Executor, Mode, NextBlock};
pub use genesis::genesis_state;
pub use signatures::{REMEMBERED_SIGNATURES, VerifiedSignatures};
