//! `cairn-testnet bench`: finality latency (submission to receipt, as a
//! client sees it) and committed transactions per second on the running
//! network, with real signed transactions executing a real contract.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_types::{Action, Address, PrivateKey};
use parity_scale_codec::Encode;

use crate::signer::{Signer, included, submit};
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
const PATIENCE: Duration = Duration::from_secs(300);

pub(crate) async fn run(dir: &Path, transactions: usize, accounts: usize) -> anyhow::Result<()> {
    if transactions == 0 || accounts == 0 {
        bail!("--transactions and --accounts must be positive");
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
    let clients = state
        .nodes
        .iter()
        .map(|node| client(&node.rpc))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Fresh keys: a bench never collides with the nonces of earlier runs.
    // The faucet pays their fees.
    let keys: Vec<PrivateKey> = (0..accounts)
        .map(|_| cairn_types::keys::generate())
        .collect();
    let price = clients[0].gas_price().await?.suggested;
    let mut faucet = Signer::new(&clients[0], state.faucet_key()?).await?;
    let mut last = None;
    for key in &keys {
        let tx = faucet.transfer(cairn_types::keys::address(key), FEES, price);
        last = Some(submit(&clients[0], &tx).await?);
    }
    if let Some(hash) = last {
        included(&clients[0], &hash).await?;
    }
    let mut signers = Vec::with_capacity(accounts);
    for key in &keys {
        signers.push(Signer::new(&clients[0], key.clone()).await?);
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
    let hash = submit(&clients[0], &deploy).await?;
    let receipt = included(&clients[0], &hash).await?;
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
        funding = Some(submit(&clients[0], &tx).await?);
    }
    if let Some(hash) = funding {
        included(&clients[0], &hash).await?;
    }
    let start_height = clients[0].status().await?.height;

    println!(
        "sending {transactions} token transfers from {accounts} accounts to {} nodes…",
        clients.len()
    );
    let mut pending = Vec::with_capacity(transactions);
    let started = Instant::now();
    for index in 0..transactions {
        let account = index % accounts;
        let recipient = &keys[(account + 1) % accounts];
        let tx = signers[account].sign(GAS_LIMIT, price, 0, transfer(recipient, 1));
        let node = index % clients.len();
        let hash = submit(&clients[node], &tx).await?;
        pending.push((hash, node, Instant::now()));
    }
    let submitted = started.elapsed();

    let mut latencies = Vec::with_capacity(transactions);
    let mut remaining = pending;
    let mut finished = started;
    while !remaining.is_empty() {
        let mut still = Vec::new();
        for (hash, node, sent) in remaining {
            match clients[node].receipt(&hash).await? {
                Some(receipt) => {
                    if receipt.status != 0 {
                        bail!(
                            "transaction {} failed: {}",
                            hex::encode(hash),
                            receipt.status_name
                        );
                    }
                    let now = Instant::now();
                    latencies.push(now - sent);
                    finished = finished.max(now);
                }
                None => still.push((hash, node, sent)),
            }
        }
        remaining = still;
        if started.elapsed() > PATIENCE {
            bail!(
                "{} transactions not included after {PATIENCE:?}",
                remaining.len()
            );
        }
        if !remaining.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let elapsed = finished - started;
    let end_height = clients[0].status().await?.height;
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "{transactions} transactions in {:.2}s (submitted in {:.2}s), {} blocks",
        elapsed.as_secs_f64(),
        submitted.as_secs_f64(),
        end_height.saturating_sub(start_height)
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
