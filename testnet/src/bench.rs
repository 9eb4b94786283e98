//! `cairn-testnet bench`: finality latency (submission to receipt, as a
//! client sees it) and committed transactions per second on the running
//! network, with real signed transactions executing a real contract.
//!
//! Transactions are signed before the clock starts, then submitted by
//! several tasks at once, round-robin to every node, each at once followed
//! by a receipt subscription on the node it went to (`cairn_subscribeReceipt`):
//! the client learns of a commit when the node pushes it, instead of
//! polling each receipt.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_client::Client;
use cairn_client::api::ReceiptView;
use cairn_types::{Action, Address, Hash, PrivateKey, SignedTransaction};
use parity_scale_codec::Encode;
use tokio::sync::Mutex;

use crate::signer::{PATIENCE, Signer, included, submit};
use crate::{State, client};

const TOKEN: &[u8] = include_bytes!("../../contracts-sdk/testdata/token.wasm");
const TOKEN_ABI: &[u8] = include_bytes!("../../contracts-sdk/testdata/token.abi.json");
/// Well above what a transfer uses, its intrinsic cost included (about 11
/// million under schedule 3: 3.4 million intrinsic, 7.4 million in the VM,
/// 6 million of it the token's two pages of memory). A transaction goes
/// into a block only if its gas limit fits what the block has left, so a
/// loose limit would end blocks early.
const GAS_LIMIT: u64 = 20_000_000;
/// Tokens each sending account gets before the measured transfers.
const FUNDING: u128 = 1_000_000;
/// Native value each sending account gets from the faucet for its fees.
const FEES: u128 = 1_000_000_000_000_000;
/// Receipt subscriptions on one WebSocket connection, well under a node's
/// default per-connection limit (1,024): a larger run opens more
/// connections to each node.
const SUBSCRIPTIONS_PER_CONNECTION: usize = 512;

/// How a run sends its transactions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) transactions: usize,
    pub(crate) accounts: usize,
    /// Tasks submitting at once.
    pub(crate) concurrency: usize,
    /// Transactions per second to submit at; `None`: as fast as the
    /// submitting tasks go.
    pub(crate) rate: Option<f64>,
}

/// What one measured transaction saw.
struct Measured {
    latency: Duration,
    committed_at: Instant,
    receipt: ReceiptView,
}

pub(crate) async fn run(dir: &Path, load: Load) -> anyhow::Result<()> {
    let Load {
        transactions,
        accounts,
        concurrency,
        rate,
    } = load;
    if transactions == 0 || accounts == 0 || concurrency == 0 {
        bail!("--transactions, --accounts and --concurrency must be positive");
    }
    if rate.is_some_and(|rate| !rate.is_finite() || rate <= 0.0) {
        bail!("--rate must be a positive number of transactions per second");
    }
    // A node holds at most MAX_NONCE_GAP transactions ahead per account.
    let gap = usize::try_from(cairn_node::limits::MAX_NONCE_GAP).unwrap_or(usize::MAX);
    if transactions.div_ceil(accounts) > gap {
        bail!(
            "{transactions} transactions from {accounts} accounts is more than {gap} pending per account; use --accounts {} or more",
            transactions.div_ceil(gap)
        );
    }
    // The first account funds the others before the measured transfers.
    if accounts - 1 > gap {
        bail!("at most {} accounts: the first funds the others", gap + 1);
    }
    let state = State::load(dir)?;
    let nodes = state.nodes.len();
    if nodes == 0 {
        bail!("the testnet has no nodes");
    }
    // Each node gets several clients (several WebSocket connections) if
    // its share of the receipts would crowd one connection.
    let per_node = transactions
        .div_ceil(nodes)
        .div_ceil(SUBSCRIPTIONS_PER_CONNECTION);
    let clients: Vec<Vec<Client>> = state
        .nodes
        .iter()
        .map(|node| (0..per_node.max(1)).map(|_| client(&node.rpc)).collect())
        .collect::<anyhow::Result<_>>()?;
    let first = &clients[0][0];
    // Fresh keys: a bench never collides with the nonces of earlier runs.
    // The faucet pays their fees.
    let keys: Vec<PrivateKey> = (0..accounts)
        .map(|_| cairn_types::keys::generate())
        .collect();
    let price = first.gas_price().await?.suggested;
    let mut faucet = Signer::new(first, state.faucet_key()?).await?;
    let mut last = None;
    for key in &keys {
        let tx = faucet.transfer(cairn_types::keys::address(key), FEES, price);
        last = Some(submit(first, &tx).await?);
    }
    if let Some(hash) = last {
        included(first, &hash).await?;
    }
    let mut signers = Vec::with_capacity(accounts);
    for key in &keys {
        signers.push(Signer::new(first, key.clone()).await?);
    }

    println!("deploying a token and funding {accounts} accounts…");
    let deploy = signers[0].sign(
        2_000_000_000,
        price,
        0,
        Action::Deploy {
            code: TOKEN.to_vec(),
            abi: TOKEN_ABI.to_vec(),
            init_input: ("Bench".to_owned(), "BNC".to_owned(), 0u8, u128::MAX).encode(),
        },
    );
    let hash = submit(first, &deploy).await?;
    let receipt = included(first, &hash).await?;
    let token = Address::from_hex(receipt.contract.as_deref().context("no contract address")?)
        .map_err(anyhow::Error::msg)?;
    let transfer = |to: &PrivateKey, amount: u128| Action::Call {
        contract: token,
        method: "transfer".into(),
        input: (*to.public_key().as_bytes(), amount).encode(),
    };
    let mut funding = None;
    for key in &keys[1..] {
        let tx = signers[0].sign(GAS_LIMIT, price, 0, transfer(key, FUNDING));
        funding = Some(submit(first, &tx).await?);
    }
    if let Some(hash) = funding {
        included(first, &hash).await?;
    }

    // Signed before the clock starts; transaction i goes to node i % nodes.
    let signed: Vec<SignedTransaction> = (0..transactions)
        .map(|index| {
            let account = index % accounts;
            let recipient = &keys[(account + 1) % accounts];
            signers[account].sign(GAS_LIMIT, price, 0, transfer(recipient, 1))
        })
        .collect();
    println!(
        "sending {transactions} token transfers from {accounts} accounts to {nodes} nodes, {concurrency} at a time{}…",
        rate.map_or(String::new(), |rate| format!(", at {rate:.0} tx/s"))
    );
    let started = Instant::now();
    // Each submitting task takes the next transaction in order, so an
    // account's transactions leave in nonce order.
    let next = Arc::new(Mutex::new(signed.into_iter().enumerate()));
    let clients = Arc::new(clients);
    let submitters: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = Arc::clone(&next);
            let clients = Arc::clone(&clients);
            tokio::spawn(async move {
                let mut waiting = Vec::new();
                loop {
                    let Some((index, tx)) = next.lock().await.next() else {
                        break;
                    };
                    if let Some(rate) = rate {
                        let due = started + Duration::from_secs_f64(index as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let node = &clients[index % clients.len()];
                    let client = node[(index / clients.len()) % node.len()].clone();
                    let sent = Instant::now();
                    let hash = submit(&client, &tx).await?;
                    waiting.push(tokio::spawn(async move {
                        let receipt = wait_receipt(&client, &hash).await?;
                        let committed_at = Instant::now();
                        anyhow::Ok(Measured {
                            latency: committed_at - sent,
                            committed_at,
                            receipt,
                        })
                    }));
                }
                anyhow::Ok(waiting)
            })
        })
        .collect();
    let mut waiting = Vec::with_capacity(transactions);
    for submitter in submitters {
        waiting.extend(submitter.await??);
    }
    let submitted = started.elapsed();

    let mut latencies = Vec::with_capacity(transactions);
    let mut finished = started;
    let mut per_block = std::collections::BTreeMap::<u64, usize>::new();
    for waiter in waiting {
        let measured = waiter.await??;
        if measured.receipt.status != 0 {
            bail!(
                "transaction {} failed: {}",
                measured.receipt.tx_hash,
                measured.receipt.status_name
            );
        }
        latencies.push(measured.latency);
        finished = finished.max(measured.committed_at);
        *per_block.entry(measured.receipt.height).or_default() += 1;
    }
    let elapsed = finished - started;
    let blocks = match (per_block.keys().next(), per_block.keys().next_back()) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    };
    let largest = per_block.values().max().copied().unwrap_or(0);
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "{transactions} transactions in {:.2}s (submitted in {:.2}s), {blocks} blocks (the fullest with {largest})",
        elapsed.as_secs_f64(),
        submitted.as_secs_f64(),
    );
    println!(
        "throughput: {:.0} tx/s committed",
        transactions as f64 / elapsed.as_secs_f64()
    );
    println!(
        "finality latency (submit to receipt): p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        percentile(50).as_millis(),
        percentile(90).as_millis(),
        percentile(99).as_millis(),
        latencies.last().map_or(0, Duration::as_millis)
    );
    Ok(())
}

/// On the node's receipt subscription (polling only a node without one).
async fn wait_receipt(client: &Client, hash: &Hash) -> anyhow::Result<ReceiptView> {
    Ok(client
        .wait_for_receipt(hash, PATIENCE, Duration::from_millis(50))
        .await?)
}
