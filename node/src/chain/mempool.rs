//! Transactions waiting for a block: validated on admission, ordered by the
//! gas price they pay (each sender's in nonce order), bounded in count and
//! bytes, per sender, and in time.
//!
//! - **Order.** Blocks take the highest gas price first: a sender's next
//!   transaction competes by its price, and its later ones follow it. A
//!   client who pays more is served first, however many cheaper
//!   transactions wait.
//! - **Payment.** A sender's pending transactions together may cost at
//!   most what it holds (`gas_limit × gas_price + value` each); after a
//!   commit, those its new balance no longer covers leave.
//! - **Replacement.** A transaction with a pending one's sender and nonce
//!   replaces it if it pays at least [`REPLACEMENT_BUMP_PERCENT`] more.
//! - **Bounds.** When the pool is full, a transaction that pays more evicts
//!   the cheapest (with its sender's later nonces, which cannot run without
//!   it); one that pays no more is refused. Nonces more than
//!   [`MAX_NONCE_GAP`] ahead are refused, and at most
//!   [`MempoolLimits::max_queued_per_sender`] may wait behind a gap.
//! - **Expiry.** A transaction still here [`MempoolLimits::ttl`] after it
//!   arrived leaves.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::limits::MAX_NONCE_GAP;
use crate::types::{Address, Hash, SignedTransaction, TxError};

/// How much more a replacement must pay, in percent of the price it
/// replaces (at least 1 more): as geth's default, enough that replacing a
/// transaction again and again costs its sender real fees.
pub const REPLACEMENT_BUMP_PERCENT: u64 = 10;

#[derive(Debug, Clone, Copy)]
pub struct MempoolLimits {
    pub max_transactions: usize,
    pub max_bytes: usize,
    /// The lowest gas price admitted (the node's own floor; blocks also
    /// need the base fee).
    pub min_gas_price: u64,
    /// How long a transaction may wait for a block.
    pub ttl: Duration,
    /// How many of a sender's transactions may wait behind a nonce gap.
    pub max_queued_per_sender: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_transactions: 20_000,
            max_bytes: 256 * 1024 * 1024,
            min_gas_price: 0,
            ttl: Duration::from_secs(600),
            max_queued_per_sender: 16,
        }
    }
}

/// A sender's committed state, as the mempool judges its transactions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderState {
    pub nonce: u64,
    pub balance: u128,
}

#[derive(Debug, Clone)]
struct Pending {
    tx: Arc<SignedTransaction>,
    hash: Hash,
    bytes: usize,
    /// Arrival order: among equal prices, the earlier goes first (and is
    /// evicted last).
    arrival: u64,
    admitted: Instant,
    /// `gas_limit × gas_price + value`.
    cost: u128,
}

impl Pending {
    fn price(&self) -> u64 {
        self.tx.tx.gas_price
    }

    /// The eviction order: cheapest first, newest first among equals.
    fn eviction_key(&self, sender: Address) -> EvictionKey {
        (
            self.price(),
            Reverse(self.arrival),
            sender,
            self.tx.tx.nonce,
        )
    }
}

type EvictionKey = (u64, Reverse<u64>, Address, u64);

#[derive(Debug, Default)]
struct SenderQueue {
    /// The nonce the sender's next committed transaction must carry.
    next_nonce: u64,
    by_nonce: BTreeMap<u64, Pending>,
}

#[derive(Debug, Default)]
pub struct Mempool {
    limits: MempoolLimits,
    senders: HashMap<Address, SenderQueue>,
    by_hash: HashMap<Hash, (Address, u64)>,
    by_price: BTreeSet<EvictionKey>,
    bytes: usize,
    arrivals: u64,
    /// The next block's base fee: a transaction paying less waits.
    base_fee: u64,
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

    pub fn limits(&self) -> &MempoolLimits {
        &self.limits
    }

    pub fn base_fee(&self) -> u64 {
        self.base_fee
    }

    /// Sets the next block's base fee (after every commit).
    pub fn set_base_fee(&mut self, base_fee: u64) {
        self.base_fee = base_fee;
    }

    /// Whether some transaction could go into the next block.
    pub fn has_executable(&self) -> bool {
        self.senders.values().any(|queue| {
            queue
                .by_nonce
                .get(&queue.next_nonce)
                .is_some_and(|pending| pending.price() >= self.base_fee)
        })
    }

    /// The next nonce the sender should use, counting its pending
    /// transactions that follow on without a gap.
    pub fn pending_nonce(&self, sender: &Address, committed_nonce: u64) -> u64 {
        self.senders.get(sender).map_or(committed_nonce, |queue| {
            contiguous_from(queue, committed_nonce)
        })
    }

    /// Admits a transaction whose signature and gas are already checked;
    /// `sender` is its sender's committed state, `now` the node's clock.
    pub fn insert(
        &mut self,
        tx: SignedTransaction,
        bytes: usize,
        sender_state: SenderState,
        now: Instant,
    ) -> Result<Hash, TxError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(TxError::Duplicate);
        }
        let t = &tx.tx;
        let (sender, nonce, price) = (t.sender, t.nonce, t.gas_price);
        if price < self.limits.min_gas_price {
            return Err(TxError::GasPriceTooLow {
                price,
                minimum: self.limits.min_gas_price,
            });
        }
        let committed = sender_state.nonce;
        if nonce < committed {
            return Err(TxError::NonceUsed {
                expected: committed,
                found: nonce,
            });
        }
        if nonce >= committed.saturating_add(MAX_NONCE_GAP) {
            return Err(TxError::NonceTooFarAhead {
                expected: committed,
                found: nonce,
            });
        }
        let cost = t.max_cost().ok_or(TxError::InsufficientBalance {
            needed: u128::MAX,
            available: sender_state.balance,
        })?;
        let queue = self.senders.get(&sender);
        let replaced = queue.and_then(|queue| queue.by_nonce.get(&nonce));
        if let Some(replaced) = replaced {
            let pending = replaced.price();
            let bump = (pending / 100 * REPLACEMENT_BUMP_PERCENT
                + pending % 100 * REPLACEMENT_BUMP_PERCENT / 100)
                .max(1);
            let required = pending.saturating_add(bump);
            if price < required {
                return Err(TxError::ReplacementUnderpriced { pending, required });
            }
        } else if let Some(queue) = queue {
            // Behind a gap: bounded per sender.
            let end = contiguous_from(queue, committed);
            if nonce > end {
                let queued = queue.by_nonce.range(end + 1..).count();
                if queued >= self.limits.max_queued_per_sender {
                    return Err(TxError::TooManyQueued {
                        max: self.limits.max_queued_per_sender,
                    });
                }
            }
        } else if nonce > committed && self.limits.max_queued_per_sender == 0 {
            return Err(TxError::TooManyQueued { max: 0 });
        }
        // Everything the sender has pending must stay payable together.
        let pending_cost = queue.map_or(0u128, |queue| {
            queue
                .by_nonce
                .range(committed..)
                .filter(|(other, _)| **other != nonce)
                .fold(0u128, |sum, (_, pending)| sum.saturating_add(pending.cost))
        });
        let needed = pending_cost.saturating_add(cost);
        if needed > sender_state.balance {
            return Err(TxError::InsufficientBalance {
                needed,
                available: sender_state.balance,
            });
        }
        let freed = replaced.map_or((0, 0), |replaced| (1, replaced.bytes));
        let evictions = self.plan_evictions(sender, price, bytes, freed)?;
        for (evicted, from_nonce) in evictions {
            self.remove_from(&evicted, from_nonce);
        }
        if let Some(replaced) = self
            .senders
            .get(&sender)
            .and_then(|queue| queue.by_nonce.get(&nonce))
            .map(|pending| pending.hash)
        {
            self.remove_one(&replaced);
        }

        self.arrivals += 1;
        let pending = Pending {
            tx: Arc::new(tx),
            hash,
            bytes,
            arrival: self.arrivals,
            admitted: now,
            cost,
        };
        self.by_price.insert(pending.eviction_key(sender));
        self.by_hash.insert(hash, (sender, nonce));
        self.bytes += bytes;
        let queue = self.senders.entry(sender).or_default();
        // Committed nonces only grow; never let a late caller move it back.
        queue.next_nonce = queue.next_nonce.max(committed);
        queue.by_nonce.insert(nonce, pending);
        Ok(hash)
    }

    /// What to evict so that a transaction of `bytes` paying `price` from
    /// `sender` fits, `freed` (count, bytes) being what its admission frees
    /// itself (a replaced transaction): the cheapest transactions of other
    /// senders, each with its sender's later nonces, all paying less than
    /// `price`. `Err(MempoolFull)` if that is not enough.
    fn plan_evictions(
        &self,
        sender: Address,
        price: u64,
        bytes: usize,
        freed: (usize, usize),
    ) -> Result<Vec<(Address, u64)>, TxError> {
        let mut count = (self.len() + 1).saturating_sub(freed.0);
        let mut total = (self.bytes + bytes).saturating_sub(freed.1);
        let fits = |count: usize, total: usize| {
            count <= self.limits.max_transactions && total <= self.limits.max_bytes
        };
        let mut plan: Vec<(Address, u64)> = Vec::new();
        let mut cut: HashMap<Address, u64> = HashMap::new();
        for &(cheap_price, _, owner, nonce) in &self.by_price {
            if fits(count, total) {
                break;
            }
            if cheap_price >= price {
                break;
            }
            if owner == sender || cut.get(&owner).is_some_and(|from| *from <= nonce) {
                continue;
            }
            let queue = &self.senders[&owner];
            // Those above an earlier cut of this sender were counted then.
            let upper = cut.get(&owner).copied().unwrap_or(u64::MAX);
            for (_, pending) in queue.by_nonce.range(nonce..upper) {
                count -= 1;
                total -= pending.bytes;
            }
            cut.insert(owner, nonce);
            plan.retain(|(planned, _)| *planned != owner);
            plan.push((owner, nonce));
        }
        if fits(count, total) {
            Ok(plan)
        } else {
            Err(TxError::MempoolFull)
        }
    }

    fn remove_one(&mut self, hash: &Hash) {
        let Some((sender, nonce)) = self.by_hash.remove(hash) else {
            return;
        };
        let Some(queue) = self.senders.get_mut(&sender) else {
            return;
        };
        if let Some(pending) = queue.by_nonce.remove(&nonce) {
            self.by_price.remove(&pending.eviction_key(sender));
            self.bytes -= pending.bytes;
        }
        if queue.by_nonce.is_empty() {
            self.senders.remove(&sender);
        }
    }

    /// Removes `sender`'s transactions from `nonce` on.
    fn remove_from(&mut self, sender: &Address, nonce: u64) {
        let hashes: Vec<Hash> = self
            .senders
            .get(sender)
            .map(|queue| {
                queue
                    .by_nonce
                    .range(nonce..)
                    .map(|(_, pending)| pending.hash)
                    .collect()
            })
            .unwrap_or_default();
        for hash in hashes {
            self.remove_one(&hash);
        }
    }

    /// Transactions for a block, in an order that executes: the highest gas
    /// price first, each sender's in nonce order from its next nonce, until
    /// the byte or count budget is spent. Transactions below the base fee
    /// wait. The block's gas is the executor's to count: it stops when a
    /// transaction's gas limit no longer fits.
    pub fn select(&self, byte_budget: usize, count_budget: usize) -> Vec<Arc<SignedTransaction>> {
        // Max-heap on (price, earliest arrival) of each sender's next
        // executable transaction.
        let mut heads = BinaryHeap::new();
        for (sender, queue) in &self.senders {
            if let Some(pending) = queue.by_nonce.get(&queue.next_nonce) {
                heads.push((
                    pending.price(),
                    Reverse(pending.arrival),
                    *sender,
                    queue.next_nonce,
                ));
            }
        }
        let mut bytes = 0usize;
        let mut selected = Vec::new();
        while let Some((price, _, sender, nonce)) = heads.pop() {
            // The best head pays less than the base fee: so do the rest.
            if selected.len() >= count_budget || price < self.base_fee {
                break;
            }
            let queue = &self.senders[&sender];
            let pending = &queue.by_nonce[&nonce];
            let bytes_after = bytes.saturating_add(pending.bytes);
            if bytes_after > byte_budget {
                // This sender's later nonces cannot go without this one.
                continue;
            }
            bytes = bytes_after;
            selected.push(Arc::clone(&pending.tx));
            if let Some(next) = queue.by_nonce.get(&(nonce + 1)) {
                heads.push((next.price(), Reverse(next.arrival), sender, nonce + 1));
            }
        }
        selected
    }

    /// Removes one transaction (one that cannot be executed here); the
    /// sender's later nonces stay, waiting for this nonce again. Returns
    /// whether it was there.
    pub fn remove(&mut self, hash: &Hash) -> bool {
        let present = self.by_hash.contains_key(hash);
        self.remove_one(hash);
        present
    }

    /// A gas price that puts a transaction into the next block now: the
    /// base fee (or this node's minimum, if higher), or, when the
    /// transactions paying at least that fill a block by their gas limits,
    /// one more than the price of the first that no longer fits.
    pub fn suggested_gas_price(&self, block_gas_limit: u64) -> u64 {
        let floor = self.base_fee.max(self.limits.min_gas_price);
        let mut gas = 0u64;
        for &(price, _, sender, nonce) in self.by_price.iter().rev() {
            if price < floor {
                break;
            }
            let gas_limit = self.senders[&sender].by_nonce[&nonce].tx.tx.gas_limit;
            gas = gas.saturating_add(gas_limit);
            if gas > block_gas_limit {
                return price.saturating_add(1).max(floor);
            }
        }
        floor
    }

    /// After a commit: the new committed state of the accounts the block
    /// touched. Their transactions below the new nonce are done (included,
    /// or replaced by another with the same nonce) and leave, and so do
    /// those the new balance no longer covers, with the later ones.
    pub fn update_accounts(&mut self, committed: impl IntoIterator<Item = (Address, SenderState)>) {
        for (sender, state) in committed {
            let Some(queue) = self.senders.get_mut(&sender) else {
                continue;
            };
            queue.next_nonce = state.nonce;
            let done: Vec<Hash> = queue
                .by_nonce
                .range(..state.nonce)
                .map(|(_, pending)| pending.hash)
                .collect();
            let mut spent = 0u128;
            let unpayable = queue
                .by_nonce
                .range(state.nonce..)
                .find_map(|(nonce, pending)| {
                    spent = spent.saturating_add(pending.cost);
                    (spent > state.balance).then_some(*nonce)
                });
            for hash in done {
                self.remove_one(&hash);
            }
            if let Some(nonce) = unpayable {
                self.remove_from(&sender, nonce);
            }
        }
    }

    /// Drops the transactions that arrived more than the time to live
    /// before `now`; returns how many.
    pub fn remove_expired(&mut self, now: Instant) -> usize {
        let ttl = self.limits.ttl;
        let expired: Vec<Hash> = self
            .senders
            .values()
            .flat_map(|queue| queue.by_nonce.values())
            .filter(|pending| now.saturating_duration_since(pending.admitted) >= ttl)
            .map(|pending| pending.hash)
            .collect();
        for hash in &expired {
            self.remove_one(hash);
        }
        expired.len()
    }
}

/// The end of the run of `queue`'s nonces from `committed` (or the queue's
/// own next nonce, if later) without a gap.
fn contiguous_from(queue: &SenderQueue, committed: u64) -> u64 {
    let mut nonce = queue.next_nonce.max(committed);
    while queue.by_nonce.contains_key(&nonce) {
        nonce += 1;
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::types::{Action, Transaction};

    fn tx(seed: u8, nonce: u64, gas_limit: u64, gas_price: u64) -> SignedTransaction {
        let key = PrivateKey::from([seed; 32]);
        Transaction {
            chain_id: "test".into(),
            genesis_hash: [0; 32],
            sender: Address(*key.public_key().as_bytes()),
            nonce,
            gas_limit,
            gas_price,
            value: 0,
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

    /// A sender at nonce `nonce` that can pay for anything.
    fn rich(nonce: u64) -> SenderState {
        SenderState {
            nonce,
            balance: u128::MAX,
        }
    }

    fn order(pool: &Mempool) -> Vec<(Address, u64)> {
        pool.select(usize::MAX, usize::MAX)
            .iter()
            .map(|tx| (tx.tx.sender, tx.tx.nonce))
            .collect()
    }

    #[test]
    fn blocks_take_the_highest_price_first_each_sender_in_nonce_order() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        pool.insert(tx(1, 1, 10, 50), 100, rich(0), now).unwrap();
        assert!(!pool.has_executable(), "nonce 1 waits for nonce 0");
        pool.insert(tx(2, 0, 10, 5), 100, rich(0), now).unwrap();
        pool.insert(tx(3, 0, 10, 7), 100, rich(0), now).unwrap();
        pool.insert(tx(1, 0, 10, 6), 100, rich(0), now).unwrap();
        pool.insert(tx(4, 0, 10, 7), 100, rich(0), now).unwrap();
        assert!(pool.has_executable());
        // 7 (the earlier of two), 7, then sender 1's 6 and its 50 behind
        // it, then 5.
        assert_eq!(
            order(&pool),
            [
                (sender(3), 0),
                (sender(4), 0),
                (sender(1), 0),
                (sender(1), 1),
                (sender(2), 0)
            ]
        );
        assert_eq!(pool.pending_nonce(&sender(1), 0), 2);
        assert_eq!(pool.pending_nonce(&sender(9), 4), 4);
    }

    #[test]
    fn transactions_below_the_base_fee_wait_for_it_to_fall() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        pool.insert(tx(1, 0, 10, 3), 100, rich(0), now).unwrap();
        pool.insert(tx(2, 0, 10, 9), 100, rich(0), now).unwrap();
        pool.set_base_fee(5);
        assert_eq!(order(&pool), [(sender(2), 0)]);
        pool.set_base_fee(10);
        assert!(order(&pool).is_empty());
        assert!(!pool.has_executable());
        assert_eq!(pool.len(), 2);
        pool.set_base_fee(3);
        assert_eq!(order(&pool).len(), 2);
    }

    #[test]
    fn byte_and_count_budgets_bound_a_block_without_breaking_nonce_order() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        pool.insert(tx(1, 0, 10, 9), 300, rich(0), now).unwrap();
        pool.insert(tx(1, 1, 10, 9), 100, rich(0), now).unwrap();
        pool.insert(tx(2, 0, 10, 1), 100, rich(0), now).unwrap();
        // Sender 1's nonce 0 does not fit, so its nonce 1 cannot go either.
        let selected = pool.select(250, usize::MAX);
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].tx.sender, sender(2));
        assert_eq!(pool.select(usize::MAX, 2).len(), 2);
    }

    #[test]
    fn a_replacement_must_pay_ten_percent_more() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        let first = pool.insert(tx(1, 0, 10, 100), 100, rich(0), now).unwrap();
        assert_eq!(
            pool.insert(tx(1, 0, 11, 109), 100, rich(0), now),
            Err(TxError::ReplacementUnderpriced {
                pending: 100,
                required: 110
            })
        );
        assert_eq!(
            pool.insert(tx(1, 0, 10, 100), 100, rich(0), now),
            Err(TxError::Duplicate)
        );
        let second = pool.insert(tx(1, 0, 10, 110), 120, rich(0), now).unwrap();
        assert!(!pool.contains(&first) && pool.contains(&second));
        assert_eq!((pool.len(), pool.bytes()), (1, 120));
        // At least one more, however cheap.
        let mut cheap = Mempool::default();
        cheap.insert(tx(1, 0, 10, 0), 100, rich(0), now).unwrap();
        assert!(matches!(
            cheap.insert(tx(1, 0, 11, 0), 100, rich(0), now),
            Err(TxError::ReplacementUnderpriced { required: 1, .. })
        ));
        cheap.insert(tx(1, 0, 10, 1), 100, rich(0), now).unwrap();
    }

    #[test]
    fn a_full_pool_evicts_the_cheapest_for_a_better_price_and_refuses_the_rest() {
        let now = Instant::now();
        let mut pool = Mempool::new(MempoolLimits {
            max_transactions: 4,
            max_bytes: 1_000,
            ..MempoolLimits::default()
        });
        // Sender 1: a cheap nonce 0 and a dear nonce 1 behind it.
        pool.insert(tx(1, 0, 10, 2), 100, rich(0), now).unwrap();
        pool.insert(tx(1, 1, 10, 90), 100, rich(0), now).unwrap();
        pool.insert(tx(2, 0, 10, 5), 100, rich(0), now).unwrap();
        pool.insert(tx(3, 0, 10, 5), 100, rich(0), now).unwrap();
        // Paying no more than the cheapest: refused.
        assert_eq!(
            pool.insert(tx(4, 0, 10, 2), 100, rich(0), now),
            Err(TxError::MempoolFull)
        );
        // Paying more: sender 1's nonce 0 goes, and its nonce 1 with it.
        pool.insert(tx(4, 0, 10, 3), 100, rich(0), now).unwrap();
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.pending_nonce(&sender(1), 0), 0);
        pool.insert(tx(5, 0, 10, 6), 100, rich(0), now).unwrap();
        // Full again: the cheapest left is sender 4's 3.
        pool.insert(tx(6, 0, 10, 6), 100, rich(0), now).unwrap();
        assert_eq!(pool.pending_nonce(&sender(4), 0), 0);
        // Among equal prices the newest goes first: sender 3's.
        pool.insert(tx(7, 0, 10, 6), 100, rich(0), now).unwrap();
        assert_eq!(pool.pending_nonce(&sender(3), 0), 0);
        assert_eq!(pool.pending_nonce(&sender(2), 0), 1);
        assert_eq!(pool.len(), 4);
        // Bytes count too: one large transaction evicts several, the
        // newest of equal prices first.
        pool.insert(tx(8, 0, 10, 100), 800, rich(0), now).unwrap();
        assert_eq!((pool.len(), pool.bytes()), (3, 1_000));
        assert_eq!(pool.pending_nonce(&sender(7), 0), 0);
        assert_eq!(pool.pending_nonce(&sender(6), 0), 1);
    }

    #[test]
    fn a_sender_must_cover_everything_it_has_pending() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        let funds = SenderState {
            nonce: 0,
            balance: 1_000,
        };
        // 10 gas at 40: 400 each.
        pool.insert(tx(1, 0, 10, 40), 100, funds, now).unwrap();
        pool.insert(tx(1, 1, 10, 40), 100, funds, now).unwrap();
        assert_eq!(
            pool.insert(tx(1, 2, 10, 40), 100, funds, now),
            Err(TxError::InsufficientBalance {
                needed: 1_200,
                available: 1_000
            })
        );
        // A replacement counts instead of what it replaces, not with it.
        pool.insert(tx(1, 1, 10, 60), 100, funds, now).unwrap();
        let mut valuable = tx(2, 0, 10, 1).tx;
        valuable.value = 991;
        let key = PrivateKey::from([2; 32]);
        assert!(matches!(
            pool.insert(valuable.sign(&key), 100, funds, now),
            Err(TxError::InsufficientBalance { needed: 1_001, .. })
        ));
    }

    #[test]
    fn commits_remove_what_is_done_and_what_is_no_longer_paid_for() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        for nonce in 0..4 {
            pool.insert(tx(1, nonce, 10, 10), 100, rich(0), now)
                .unwrap();
        }
        pool.update_accounts([(
            sender(1),
            SenderState {
                nonce: 1,
                balance: u128::MAX,
            },
        )]);
        assert_eq!((pool.len(), pool.bytes()), (3, 300));
        // Now it holds enough for one more (100 each), not two.
        pool.update_accounts([(
            sender(1),
            SenderState {
                nonce: 1,
                balance: 150,
            },
        )]);
        assert_eq!(order(&pool), [(sender(1), 1)]);
        pool.update_accounts([(sender(1), rich(2))]);
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
    }

    #[test]
    fn transactions_expire_after_their_time_to_live() {
        let start = Instant::now();
        let ttl = MempoolLimits::default().ttl;
        let mut pool = Mempool::default();
        pool.insert(tx(1, 5, 10, 1), 100, rich(0), start).unwrap();
        let later = start + ttl / 2;
        pool.insert(tx(2, 0, 10, 1), 100, rich(0), later).unwrap();
        assert_eq!(
            pool.remove_expired(start + ttl - Duration::from_millis(1)),
            0
        );
        assert_eq!(pool.remove_expired(start + ttl), 1);
        assert_eq!(pool.pending_nonce(&sender(1), 0), 0);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.remove_expired(later + ttl), 1);
        assert!(pool.is_empty());
    }

    #[test]
    fn a_sender_queues_only_so_many_transactions_behind_a_gap() {
        let now = Instant::now();
        let max = MempoolLimits::default().max_queued_per_sender;
        let mut pool = Mempool::default();
        let max_nonce = u64::try_from(max).unwrap();
        for nonce in 0..max_nonce {
            pool.insert(tx(1, nonce + 2, 10, 1), 100, rich(0), now)
                .unwrap();
        }
        assert_eq!(
            pool.insert(tx(1, max_nonce + 2, 10, 1), 100, rich(0), now),
            Err(TxError::TooManyQueued { max })
        );
        // Filling the gap is always allowed, and makes room.
        pool.insert(tx(1, 0, 10, 1), 100, rich(0), now).unwrap();
        pool.insert(tx(1, 1, 10, 1), 100, rich(0), now).unwrap();
        pool.insert(tx(1, max_nonce + 2, 10, 1), 100, rich(0), now)
            .unwrap();
        assert_eq!(pool.pending_nonce(&sender(1), 0), max_nonce + 3);
    }

    #[test]
    fn admission_refuses_used_far_duplicate_and_cheap_transactions() {
        let now = Instant::now();
        let mut pool = Mempool::new(MempoolLimits {
            min_gas_price: 2,
            ..MempoolLimits::default()
        });
        assert_eq!(
            pool.insert(tx(1, 4, 10, 2), 10, rich(5), now),
            Err(TxError::NonceUsed {
                expected: 5,
                found: 4
            })
        );
        assert!(matches!(
            pool.insert(tx(1, 5 + MAX_NONCE_GAP, 10, 2), 10, rich(5), now),
            Err(TxError::NonceTooFarAhead { .. })
        ));
        assert_eq!(
            pool.insert(tx(1, 5, 10, 1), 10, rich(5), now),
            Err(TxError::GasPriceTooLow {
                price: 1,
                minimum: 2
            })
        );
        pool.insert(tx(1, 5, 10, 2), 10, rich(5), now).unwrap();
        assert_eq!(
            pool.insert(tx(1, 5, 10, 2), 10, rich(5), now),
            Err(TxError::Duplicate)
        );
    }

    #[test]
    fn a_stale_committed_nonce_does_not_hold_back_a_sender() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        for nonce in 0..3 {
            pool.insert(tx(1, nonce, 10, 1), 100, rich(0), now).unwrap();
        }
        pool.update_accounts([(sender(1), rich(2))]);
        // Admitted with the nonce read before that commit.
        pool.insert(tx(1, 3, 10, 1), 100, rich(1), now).unwrap();
        assert!(pool.has_executable());
        let nonces: Vec<u64> = order(&pool).iter().map(|(_, nonce)| *nonce).collect();
        assert_eq!(nonces, [2, 3]);
    }

    #[test]
    fn the_suggested_price_beats_a_block_full_of_cheaper_transactions() {
        let now = Instant::now();
        let mut pool = Mempool::default();
        pool.set_base_fee(4);
        assert_eq!(pool.suggested_gas_price(100), 4);
        // 40 + 40 gas at 9 and 6 fit a block of 100; 40 more at 5 do not.
        pool.insert(tx(1, 0, 40, 9), 100, rich(0), now).unwrap();
        pool.insert(tx(2, 0, 40, 6), 100, rich(0), now).unwrap();
        assert_eq!(pool.suggested_gas_price(100), 4);
        pool.insert(tx(3, 0, 40, 5), 100, rich(0), now).unwrap();
        assert_eq!(pool.suggested_gas_price(100), 6);
        // Below the base fee they do not count.
        pool.set_base_fee(7);
        assert_eq!(pool.suggested_gas_price(100), 7);
    }
}
