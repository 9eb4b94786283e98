//! Signing transactions for the running network: its chain id and genesis
//! hash (which every signature covers), one key's next nonce, and waiting
//! for receipts.

use std::time::Duration;

use anyhow::{Context, bail};
use cairn_client::Client;
use cairn_client::api::ReceiptView;
use cairn_types::{
    Action, Address, Hash, PrivateKey, SignedTransaction, Transaction, keys, parse_hash,
};

/// How long a transaction may take to be included before a command gives
/// up on it.
pub(crate) const PATIENCE: Duration = Duration::from_secs(300);

/// Gas for a transfer: it uses its intrinsic cost only (about 3.5 million).
pub(crate) const TRANSFER_GAS: u64 = 10_000_000;

/// One key's transactions on one network, in nonce order.
#[derive(Debug)]
pub(crate) struct Signer {
    chain_id: String,
    genesis_hash: Hash,
    key: PrivateKey,
    nonce: u64,
}

impl Signer {
    /// A signer for `key` on the network `client` is a node of, starting
    /// at the key's next nonce (its pending transactions counted).
    pub(crate) async fn new(client: &Client, key: PrivateKey) -> anyhow::Result<Self> {
        let status = client.status().await?;
        let account = client.account(&keys::address(&key)).await?;
        Ok(Signer {
            chain_id: status.chain_id,
            genesis_hash: parse_hash(&status.genesis_hash).map_err(anyhow::Error::msg)?,
            key,
            nonce: account.pending_nonce,
        })
    }

    pub(crate) fn address(&self) -> Address {
        keys::address(&self.key)
    }

    /// The next transaction of this key.
    pub(crate) fn sign(
        &mut self,
        gas_limit: u64,
        gas_price: u64,
        value: u128,
        action: Action,
    ) -> SignedTransaction {
        let tx = Transaction {
            chain_id: self.chain_id.clone(),
            genesis_hash: self.genesis_hash,
            sender: self.address(),
            nonce: self.nonce,
            gas_limit,
            gas_price,
            value,
            action,
        }
        .sign(&self.key);
        self.nonce += 1;
        tx
    }

    /// The next transaction: `amount` of the native token to `to`.
    pub(crate) fn transfer(
        &mut self,
        to: Address,
        amount: u128,
        gas_price: u64,
    ) -> SignedTransaction {
        self.sign(TRANSFER_GAS, gas_price, amount, Action::Transfer { to })
    }
}

/// Submits `tx` through `client`.
pub(crate) async fn submit(client: &Client, tx: &SignedTransaction) -> anyhow::Result<Hash> {
    client
        .submit(tx)
        .await
        .with_context(|| format!("submitting transaction {}", hex::encode(tx.hash())))?;
    Ok(tx.hash())
}

/// Waits for `hash`'s receipt; fails if it is not ok.
pub(crate) async fn included(client: &Client, hash: &Hash) -> anyhow::Result<ReceiptView> {
    let receipt = client
        .wait_for_receipt(hash, PATIENCE, Duration::from_millis(50))
        .await?;
    if receipt.status != 0 {
        bail!(
            "transaction {} failed: {}",
            hex::encode(hash),
            receipt.status_name
        );
    }
    Ok(receipt)
}
