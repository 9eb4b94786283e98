use crate::storage::StorageError;
use crate::validate::Rejection;

/// A failure that is the node's fault, not the contract's: the engine, the
/// state store or the cache broke. It is never recorded as a call's result;
/// the node stops processing the block (docs/DESIGN.md, rule 7).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VmError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The engine could not be set up, or failed in a way that is not a
    /// trap of the contract (out of memory while instantiating, a link error
    /// between the host table and an accepted module).
    #[error("engine: {0}")]
    Engine(String),
    /// Code the state says is deployed is missing or no longer accepted.
    #[error("deployed code {0} is missing from the code store")]
    MissingCode(crate::CodeHash),
    /// The native stack overflowed before the injected stack limit tripped:
    /// the native stack is too small for the schedule's limit.
    #[error("native stack overflow before the injected stack limit")]
    NativeStackOverflow,
    /// A trap the VM cannot attribute to the contract.
    #[error("unexpected trap: {0}")]
    UnexpectedTrap(String),
    /// Reading or writing the on-disk artifact cache failed.
    #[error("artifact cache: {0}")]
    Cache(String),
}

/// Why code could not be prepared (validated, metered and compiled).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The code is not acceptable: the uploader's fault, a deterministic
    /// answer every node gives.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// The node failed; the code was not judged.
    #[error(transparent)]
    Vm(#[from] VmError),
}
