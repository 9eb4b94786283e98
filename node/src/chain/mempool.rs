//! Transactions waiting for a block: validated on admission, ordered per
//! sender by nonce, bounded in count and bytes.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use crate::limits::MAX_NONCE_GAP;
use crate::types::{Address, Hash, SignedTransaction, TxError};

#[derive(Debug, Clone, Copy)]
pub struct MempoolLimits {
    pub max_transactions: usize,
    pub max_bytes: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_transactions: 20_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
struct Pending {
    tx: Arc<SignedTransaction>,
    hash: Hash,
    bytes: usize,
    /// Arrival order: blocks take senders' transactions first come, first
    /// served.
    arrival: u64,
}

#[derive(Debug, Default)]
struct SenderQueue {
    /// The nonce the sender's next committed transaction must carry.
    next_nonce: u64,
    by_nonce: BTreeMap<u64, Pending>,
}

impl SenderQueue {
    /// Whether the queue's first transaction can go into the next block.
    fn is_executable(&self) -> bool {
        self.by_nonce
            .first_key_value()
            .is_some_and(|(nonce, _)| *nonce == self.next_nonce)
    }
}

#[derive(Debug, Default)]
pub struct Mempool {
    limits: MempoolLimits,
    senders: HashMap<Address, SenderQueue>,
    by_hash: HashMap<Hash, (Address, u64)>,
    bytes: usize,
    arrivals: u64,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Self {
        Mempool {
            limits,
            ..Mempool::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Whether some transaction could go into the next block.
    pub fn has_executable(&self) -> bool {
        self.senders.values().any(SenderQueue::is_executable)
    }

    /// The next nonce the sender should use, counting its pending
    /// transactions that follow on without a gap.
    pub fn pending_nonce(&self, sender: &Address, committed_nonce: u64) -> u64 {
        let mut nonce = committed_nonce;
        if let Some(queue) = self.senders.get(sender) {
            while queue.by_nonce.contains_key(&nonce) {
                nonce += 1;
            }
        }
        nonce
    }

    /// Admits a transaction whose signature and gas are already checked;
    /// `committed_nonce` is the sender's nonce in the committed state.
    pub fn insert(
        &mut self,
        tx: SignedTransaction,
        bytes: usize,
        committed_nonce: u64,
    ) -> Result<Hash, TxError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(TxError::Duplicate);
        }
        let nonce = tx.tx.nonce;
        if nonce < committed_nonce {
            return Err(TxError::NonceUsed {
                expected: committed_nonce,
                found: nonce,
            });
        }
        if nonce >= committed_nonce.saturating_add(MAX_NONCE_GAP) {
            return Err(TxError::NonceTooFarAhead {
                expected: committed_nonce,
                found: nonce,
            });
        }
        let sender = tx.tx.sender;
        if self
            .senders
            .get(&sender)
            .is_some_and(|queue| queue.by_nonce.contains_key(&nonce))
        {
            // First seen wins: replacing would let a peer swap a pending
            // transaction under the feet of its sender.
            return Err(TxError::Duplicate);
        }
        if self.len() >= self.limits.max_transactions
            || self.bytes.saturating_add(bytes) > self.limits.max_bytes
        {
            return Err(TxError::MempoolFull);
        }
        self.arrivals += 1;
        let queue = self.senders.entry(sender).or_default();
        // Committed nonces only grow; never let a late caller move it back.
        queue.next_nonce = queue.next_nonce.max(committed_nonce);
        queue.by_nonce.insert(
            nonce,
            Pending {
                tx: Arc::new(tx),
                hash,
                bytes,
                arrival: self.arrivals,
            },
        );
        self.by_hash.insert(hash, (sender, nonce));
        self.bytes += bytes;
        Ok(hash)
    }

    /// Transactions for a block, in an order that executes: each sender's
    /// in nonce order from its next nonce, senders interleaved by arrival,
    /// until the gas (counted by gas limits), byte or count budget is spent.
    pub fn select(
        &self,
        gas_budget: u64,
        byte_budget: usize,
        count_budget: usize,
    ) -> Vec<Arc<SignedTransaction>> {
        // Min-heap on arrival of each sender's next executable transaction.
        let mut heads = BinaryHeap::new();
        for (sender, queue) in &self.senders {
            if let Some(pending) = queue.by_nonce.get(&queue.next_nonce) {
                heads.push(std::cmp::Reverse((
                    pending.arrival,
                    *sender,
                    queue.next_nonce,
                )));
            }
        }
        let (mut gas, mut bytes) = (0u64, 0usize);
        let mut selected = Vec::new();
        while let Some(std::cmp::Reverse((_, sender, nonce))) = heads.pop() {
            if selected.len() >= count_budget {
                break;
            }
            let queue = &self.senders[&sender];
            let pending = &queue.by_nonce[&nonce];
            let gas_after = gas.saturating_add(pending.tx.tx.gas_limit);
            let bytes_after = bytes.saturating_add(pending.bytes);
            if gas_after > gas_budget || bytes_after > byte_budget {
                // This sender's later nonces cannot go without this one.
                continue;
            }
            gas = gas_after;
            bytes = bytes_after;
            selected.push(Arc::clone(&pending.tx));
            if let Some(next) = queue.by_nonce.get(&(nonce + 1)) {
                heads.push(std::cmp::Reverse((next.arrival, sender, nonce + 1)));
            }
        }
        selected
    }

    /// Removes one transaction (one that cannot be executed here); the
    /// sender's later nonces stay, waiting for this nonce again. Returns
    /// whether it was there.
    pub fn remove(&mut self, hash: &Hash) -> bool {
        let Some((sender, nonce)) = self.by_hash.remove(hash) else {
            return false;
        };
        if let Some(queue) = self.senders.get_mut(&sender) {
            if let Some(pending) = queue.by_nonce.remove(&nonce) {
                self.bytes -= pending.bytes;
            }
            if queue.by_nonce.is_empty() {
                self.senders.remove(&sender);
            }
        }
        true
    }

    /// After a commit: the senders' new committed nonces; their
    /// transactions below them are done (included, or replaced by another
    /// with the same nonce) and leave.
    pub fn update_nonces(&mut self, committed: impl IntoIterator<Item = (Address, u64)>) {
        for (sender, next_nonce) in committed {
            let Some(queue) = self.senders.get_mut(&sender) else {
                continue;
            };
            queue.next_nonce = next_nonce;
            let keep = queue.by_nonce.split_off(&next_nonce);
            for (_, pending) in std::mem::replace(&mut queue.by_nonce, keep) {
                self.by_hash.remove(&pending.hash);
                self.bytes -= pending.bytes;
            }
            if queue.by_nonce.is_empty() {
                self.senders.remove(&sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::types::{Action, Transaction};

    fn tx(seed: u8, nonce: u64, gas_limit: u64) -> SignedTransaction {
        let key = PrivateKey::from([seed; 32]);
        Transaction {
            chain_id: "test".into(),
            sender: Address(*key.public_key().as_bytes()),
            nonce,
            gas_limit,
            action: Action::Call {
                contract: Address([0; 32]),
                method: "m".into(),
                input: vec![],
            },
        }
        .sign(&key)
    }

    fn sender(seed: u8) -> Address {
        Address(*PrivateKey::from([seed; 32]).public_key().as_bytes())
    }

    #[test]
    fn selection_follows_nonces_and_interleaves_senders_by_arrival() {
        let mut pool = Mempool::default();
        pool.insert(tx(1, 1, 10), 100, 0).unwrap();
        assert!(!pool.has_executable(), "nonce 1 waits for nonce 0");
        pool.insert(tx(2, 0, 10), 100, 0).unwrap();
        pool.insert(tx(1, 0, 10), 100, 0).unwrap();
        assert!(pool.has_executable());
        let order: Vec<(Address, u64)> = pool
            .select(u64::MAX, usize::MAX, usize::MAX)
            .iter()
            .map(|tx| (tx.tx.sender, tx.tx.nonce))
            .collect();
        assert_eq!(order, vec![(sender(2), 0), (sender(1), 0), (sender(1), 1)]);
        assert_eq!(pool.pending_nonce(&sender(1), 0), 2);
    }

    #[test]
    fn budgets_bound_a_block_without_breaking_nonce_order() {
        let mut pool = Mempool::default();
        pool.insert(tx(1, 0, 60), 100, 0).unwrap();
        pool.insert(tx(1, 1, 10), 100, 0).unwrap();
        pool.insert(tx(2, 0, 30), 100, 0).unwrap();
        let selected = pool.select(50, usize::MAX, usize::MAX);
        // Sender 1's nonce 0 does not fit, so its nonce 1 cannot go either.
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].tx.sender, sender(2));
        assert_eq!(pool.select(u64::MAX, 250, usize::MAX).len(), 2);
        assert_eq!(pool.select(u64::MAX, usize::MAX, 1).len(), 1);
    }

    #[test]
    fn admission_rejects_used_far_duplicate_and_overflowing_transactions() {
        let mut pool = Mempool::new(MempoolLimits {
            max_transactions: 2,
            max_bytes: 1_000,
        });
        assert_eq!(
            pool.insert(tx(1, 4, 10), 10, 5),
            Err(TxError::NonceUsed {
                expected: 5,
                found: 4
            })
        );
        assert!(matches!(
            pool.insert(tx(1, 5 + MAX_NONCE_GAP, 10), 10, 5),
            Err(TxError::NonceTooFarAhead { .. })
        ));
        pool.insert(tx(1, 5, 10), 10, 5).unwrap();
        assert_eq!(pool.insert(tx(1, 5, 10), 10, 5), Err(TxError::Duplicate));
        assert_eq!(pool.insert(tx(1, 5, 11), 10, 5), Err(TxError::Duplicate));
        assert_eq!(
            pool.insert(tx(2, 0, 10), 2_000, 0),
            Err(TxError::MempoolFull)
        );
        pool.insert(tx(2, 0, 10), 10, 0).unwrap();
        assert_eq!(pool.insert(tx(3, 0, 10), 10, 0), Err(TxError::MempoolFull));
    }

    #[test]
    fn committed_nonces_evict_what_is_done() {
        let mut pool = Mempool::default();
        for nonce in 0..3 {
            pool.insert(tx(1, nonce, 10), 100, 0).unwrap();
        }
        pool.update_nonces([(sender(1), 2)]);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.bytes(), 100);
        assert!(pool.has_executable());
        pool.update_nonces([(sender(1), 3)]);
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
    }

    #[test]
    fn a_stale_committed_nonce_does_not_hold_back_a_sender() {
        let mut pool = Mempool::default();
        for nonce in 0..3 {
            pool.insert(tx(1, nonce, 10), 100, 0).unwrap();
        }
        pool.update_nonces([(sender(1), 2)]);
        // Admitted with the nonce read before that commit.
        pool.insert(tx(1, 3, 10), 100, 1).unwrap();
        assert!(pool.has_executable());
        let nonces: Vec<u64> = pool
            .select(u64::MAX, usize::MAX, usize::MAX)
            .iter()
            .map(|tx| tx.tx.nonce)
            .collect();
        assert_eq!(nonces, [2, 3]);
    }
}
