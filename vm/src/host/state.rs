//! The state of one transaction's call tree, and how host functions reach it.
//!
//! wasmer keeps host data in a `FunctionEnv`, which must be `Send + 'static`;
//! the transaction state borrows the embedder's storage for the duration of
//! one `Vm::execute`. [`TxPtr`] bridges the two with the one `unsafe` this
//! crate needs outside the engine boundary.

#![allow(unsafe_code)]

use std::ptr::NonNull;

use crate::storage::{Overlay, StateView};
use crate::types::{Address, BlockInfo, Event};

/// Everything a call tree shares: the embedder's state (read-only), the
/// overlay layers of pending writes, the events so far and the contracts on
/// the call stack.
pub(crate) struct TxState<'a> {
    pub state: &'a dyn StateView,
    pub overlay: Overlay,
    pub events: Vec<Event>,
    pub call_stack: Vec<Address>,
    pub block: BlockInfo,
}

/// A pointer to the [`TxState`] of the running `Vm::execute`.
///
/// Soundness rests on three facts the execution code keeps:
/// - `Vm::execute` creates the `TxState` on its stack and every wasmer
///   `Store` (and so every `HostEnv` holding a `TxPtr`) inside its call
///   tree, and drops them all before it returns: the pointer never outlives
///   the state.
/// - wasm and host functions run on the thread that called `execute`
///   (wasmer switches stacks, not threads), so no two threads ever use it.
/// - every access goes through [`TxPtr::with`], whose borrow ends when the
///   closure returns; `call_contract` ends its borrow before starting the
///   nested call, so no two `&mut TxState` ever exist at once.
pub(crate) struct TxPtr(NonNull<TxState<'static>>);

// SAFETY: see the type's documentation: it is only dereferenced on the thread
// that created it, while the pointee is alive.
unsafe impl Send for TxPtr {}

impl TxPtr {
    pub(crate) fn new(tx: &mut TxState<'_>) -> Self {
        TxPtr(NonNull::from(tx).cast())
    }

    /// Runs `f` with exclusive access to the transaction state.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut TxState<'_>) -> R) -> R {
        // SAFETY: see the type's documentation: the pointee is alive, only
        // this thread uses it, and no other borrow of it is live while `f`
        // runs.
        let tx = unsafe { &mut *self.0.as_ptr() };
        f(tx)
    }

    pub(crate) fn copy(&self) -> Self {
        TxPtr(self.0)
    }
}
