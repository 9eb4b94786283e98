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
//! and every execution apply.

mod admission;
mod block;
mod transaction;

pub use admission::check_transaction;
pub use block::{BlockExecution, ExecError, Executor, Mode, NextBlock};
