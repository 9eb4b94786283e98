//! Talking to a Cairn node from Rust, without building one: the node's
//! JSON-RPC API ([`api`]: the method trait, the subscriptions and the views
//! they return), a typed [`Client`] over it (calls over HTTP, subscriptions
//! to committed blocks and receipts over a WebSocket to the same address),
//! and the [`abi`] codec that turns a contract's JSON arguments into the
//! SCALE input its methods read. The `cairn` CLI is built from this crate
//! too.
//!
//! This crate and [`cairn_types`] depend on no part of the node (no
//! RocksDB, libp2p, Malachite or wasmer): a wallet, an indexer or a bot
//! links only what it uses.
//!
//! Sign a call and wait for its receipt, which the node pushes on a
//! subscription when the call's block commits:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use cairn_client::Client;
//! use cairn_types::{Action, Address, Transaction, keys, parse_hash};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("http://127.0.0.1:26657")?;
//! let key = keys::load("alice.json".as_ref())?;
//! let sender = keys::address(&key);
//! let status = client.status().await?;
//! let account = client.account(&sender).await?;
//! let tx = Transaction {
//!     chain_id: status.chain_id,
//!     genesis_hash: parse_hash(&status.genesis_hash)?,
//!     sender,
//!     nonce: account.pending_nonce,
//!     gas_limit: 100_000_000,
//!     // Pays for the gas used at this price; the node suggests one.
//!     gas_price: client.gas_price().await?.suggested,
//!     value: 0,
//!     action: Action::Call {
//!         contract: Address::from_hex("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")?,
//!         method: "increment".into(),
//!         input: 5u8.to_le_bytes().to_vec(),
//!     },
//! }
//! .sign(&key);
//! client.submit(&tx).await?;
//! let receipt = client
//!     .wait_for_receipt(&tx.hash(), Duration::from_secs(60), Duration::from_millis(200))
//!     .await?;
//! println!("{} in block {}", receipt.status_name, receipt.height);
//! # Ok(())
//! # }
//! ```
//!
//! A node refusing a transaction is [`ClientError::Rpc`] with
//! [`api::codes::TX_REJECTED`] ([`ClientError::is_rejected_transaction`]);
//! a node that cannot be reached is [`ClientError::Transport`].

pub mod abi;
pub mod api;
mod client;

pub use client::{BlockSubscription, Client, ClientError, DEFAULT_TIMEOUT};
