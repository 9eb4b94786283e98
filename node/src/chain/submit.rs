//! Admitting transactions from clients and peers into the mempool.

use std::time::Instant;

use super::mempool::SenderState;
use super::{Chain, to_i64};
use crate::execution;
use crate::types::{Hash, SignedTransaction, TxError};

impl Chain {
    /// Checks what can be checked without state: size, chain and genesis,
    /// signature, gas bounds and field sizes. Returns the intrinsic gas.
    pub fn check_transaction(&self, tx: &SignedTransaction, bytes: usize) -> Result<u64, TxError> {
        execution::check_transaction(&self.genesis, &self.genesis_hash, tx, bytes)
    }

    /// Admits a transaction from a client or a peer into the mempool.
    pub fn submit(&self, bytes: &[u8]) -> Result<(Hash, SignedTransaction), TxError> {
        let tx = SignedTransaction::decode_checked(bytes)?;
        self.check_transaction(&tx, bytes.len())?;
        let mut mempool = self.lock_mempool();
        // The account is read under the mempool's lock. A commit writes the
        // store and then tells the mempool; an account read before taking
        // the lock can predate a commit the mempool has already seen, and
        // would readmit transactions that block included.
        let account = self
            .store
            .snapshot()
            .account(&tx.tx.sender)
            .map_err(|error| {
                TxError::Malformed(format!("reading the sender's account: {error}"))
            })?;
        let sender = SenderState {
            nonce: account.nonce,
            balance: account.balance,
        };
        let hash = mempool.insert(tx.clone(), bytes.len(), sender, Instant::now())?;
        self.signatures.insert(hash);
        let mempool_len = mempool.len();
        drop(mempool);
        self.arrivals.notify_waiters();
        self.metrics.mempool_size.set(to_i64(mempool_len));
        // At debug: comparing nodes' logs shows how long gossip took.
        tracing::debug!(hash = %hex::encode(hash), nonce = tx.tx.nonce, "admitted a transaction");
        Ok((hash, tx))
    }

    pub fn mempool_len(&self) -> usize {
        self.lock_mempool().len()
    }
}
