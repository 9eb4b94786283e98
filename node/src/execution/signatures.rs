//! Signatures checked once: the hashes of transactions whose signature this
//! node has verified, so that a block built from the mempool, or a proposal
//! of transactions that reached this node by gossip, does not verify them
//! again.
//!
//! A transaction's hash covers its whole signed encoding, signature
//! included: two transactions with one hash are the same bytes, and the
//! same bytes verify the same way. Remembering a hash is therefore exactly
//! as good as verifying again, and a block's validity does not depend on
//! what this node happens to remember.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::thread;

use crate::types::{Hash, SignedTransaction};

/// How many hashes are remembered: well above a full mempool (20,000 by
/// default) plus a block, at 32 bytes and some overhead each (a few MB).
pub const REMEMBERED_SIGNATURES: usize = 65_536;

/// Fewer unverified transactions than this are verified on the executing
/// thread: starting threads would cost more than it saves.
const PARALLEL_FROM: usize = 32;

/// Hashes of transactions whose signatures verified, the oldest forgotten
/// first once [`REMEMBERED_SIGNATURES`] are held.
#[derive(Debug)]
pub struct VerifiedSignatures {
    capacity: usize,
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    hashes: HashSet<Hash>,
    order: VecDeque<Hash>,
}

impl Default for VerifiedSignatures {
    fn default() -> Self {
        Self::with_capacity(REMEMBERED_SIGNATURES)
    }
}

impl VerifiedSignatures {
    pub fn with_capacity(capacity: usize) -> Self {
        VerifiedSignatures {
            capacity: capacity.max(1),
            inner: Mutex::new(Remembered::default()),
        }
    }

    /// Whether the transaction with `hash` has a signature that verified.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.lock().hashes.contains(hash)
    }

    /// Remembers that the transaction with `hash` verified.
    pub fn insert(&self, hash: Hash) {
        let mut remembered = self.lock();
        if !remembered.hashes.insert(hash) {
            return;
        }
        remembered.order.push_back(hash);
        while remembered.order.len() > self.capacity {
            if let Some(oldest) = remembered.order.pop_front() {
                remembered.hashes.remove(&oldest);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Verifies, across the machine's cores, the signatures of those of
    /// `transactions` (with their `hashes`) not remembered yet, and
    /// remembers the ones that verify. Those that do not are left for the
    /// executor, which refuses them at their place in the block.
    pub fn verify_unknown(&self, transactions: &[&SignedTransaction], hashes: &[Hash]) {
        let unknown: Vec<(&SignedTransaction, Hash)> = {
            let remembered = self.lock();
            transactions
                .iter()
                .zip(hashes)
                .filter(|(_, hash)| !remembered.hashes.contains(*hash))
                .map(|(tx, hash)| (*tx, *hash))
                .collect()
        };
        let threads = thread::available_parallelism().map_or(1, usize::from);
        if unknown.len() < PARALLEL_FROM || threads == 1 {
            for (tx, hash) in unknown {
                if tx.verify_signature().is_ok() {
                    self.insert(hash);
                }
            }
            return;
        }
        let chunk = unknown.len().div_ceil(threads);
        let verified: Vec<Hash> = thread::scope(|scope| {
            let workers: Vec<_> = unknown
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .filter(|(tx, _)| tx.verify_signature().is_ok())
                            .map(|(_, hash)| *hash)
                            .collect::<Vec<Hash>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                // A worker only verifies; it cannot panic but through a
                // bug, and then its transactions are verified again below.
                .flat_map(|worker| worker.join().unwrap_or_default())
                .collect()
        });
        for hash in verified {
            self.insert(hash);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        // Every critical section leaves the set and the queue consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{self, user};

    fn transfers(count: u64) -> Vec<SignedTransaction> {
        (0..count)
            .map(|nonce| test_utils::transfer(&user(1), nonce, test_utils::address(&user(2)), 1))
            .collect()
    }

    #[test]
    fn the_oldest_hashes_are_forgotten_beyond_the_capacity() {
        let remembered = VerifiedSignatures::with_capacity(3);
        for byte in 0..5u8 {
            remembered.insert([byte; 32]);
        }
        remembered.insert([4; 32]);
        assert_eq!(remembered.len(), 3);
        assert!(!remembered.contains(&[0; 32]));
        assert!(!remembered.contains(&[1; 32]));
        assert!((2..5u8).all(|byte| remembered.contains(&[byte; 32])));
    }

    #[test]
    fn only_signatures_that_verify_are_remembered_in_parallel_or_not() {
        for count in [PARALLEL_FROM as u64 / 2, 4 * PARALLEL_FROM as u64] {
            let mut transactions = transfers(count);
            // Every third transaction's signature is broken.
            for tx in transactions.iter_mut().step_by(3) {
                tx.signature[0] ^= 1;
            }
            let hashes: Vec<Hash> = transactions.iter().map(SignedTransaction::hash).collect();
            let remembered = VerifiedSignatures::default();
            let refs: Vec<&SignedTransaction> = transactions.iter().collect();
            remembered.verify_unknown(&refs, &hashes);
            for (index, hash) in hashes.iter().enumerate() {
                assert_eq!(
                    remembered.contains(hash),
                    index % 3 != 0,
                    "transaction {index} of {count}"
                );
            }
        }
    }
}
