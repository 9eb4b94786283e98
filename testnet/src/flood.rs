//! `cairn-testnet flood`: the spam experiment of issue 15. Spinning clients
//! send transactions that burn their whole gas limit (the `hasher`
//! example's `hash_chain` for ever more rounds, at the chain's largest
//! gas limit) at one gas price, enough to fill every block for the length
//! of the experiment; meanwhile an honest client sends one transfer at a
//! time at the price the node suggests, and measures how many heights and
//! how many seconds each takes from submission to its receipt.
//!
//! Everything is bounded: the spinners send `spinners × per_spinner`
//! transactions, the honest client `honest`, each waited for at most
//! [`PATIENCE`](crate::signer::PATIENCE). The spinners' transactions left
//! when it ends stay pending until they are included or expire.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_client::Client;
use cairn_types::{Action, Address, keys};
use clap::Args;
use parity_scale_codec::Encode;
use serde::Serialize;

use crate::signer::{PATIENCE, Signer, included, submit};
use crate::{State, client};

const HASHER: &[u8] = include_bytes!("../../contracts-sdk/testdata/hasher.wasm");
const HASHER_ABI: &[u8] = include_bytes!("../../contracts-sdk/testdata/hasher.abi.json");

#[derive(Debug, Args)]
pub(crate) struct FloodArgs {
    /// Spinning accounts.
    #[arg(long, default_value_t = 8)]
    pub(crate) spinners: usize,
    /// Transactions each spinner sends (at most 64: a node holds no more
    /// of one account).
    #[arg(long, default_value_t = 24)]
    pub(crate) per_spinner: usize,
    /// The spinners' gas price: above the base fee for as long as the
    /// experiment lasts, so they keep filling blocks.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) spinner_price: u64,
    /// Transfers the honest client sends, one after the other.
    #[arg(long, default_value_t = 20)]
    pub(crate) honest: usize,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What the experiment measured.
#[derive(Debug, Serialize)]
struct FloodReport {
    spinners: usize,
    spinning_transactions: usize,
    /// Each honest transfer: heights from the node's height when it was
    /// submitted to the block that included it, and seconds from
    /// submission to its receipt.
    honest_heights: Vec<u64>,
    honest_seconds: Vec<f64>,
    honest_p50_seconds: f64,
    honest_p99_seconds: f64,
    honest_max_heights: u64,
    /// The blocks made while the honest client sent, and how many of them
    /// spinning transactions filled past half the block gas limit.
    blocks: u64,
    blocks_over_half_full: u64,
    /// The base fee when the honest client started and when it finished.
    base_fee_before: u64,
    base_fee_after: u64,
}

pub(crate) async fn run(dir: &Path, args: &FloodArgs) -> anyhow::Result<()> {
    let gap = usize::try_from(cairn_node::limits::MAX_NONCE_GAP).unwrap_or(usize::MAX);
    if args.spinners == 0 || args.honest == 0 || args.per_spinner == 0 {
        bail!("--spinners, --per-spinner and --honest must be positive");
    }
    if args.per_spinner > gap {
        bail!("--per-spinner is at most {gap}: a node holds no more of one account");
    }
    let state = State::load(dir)?;
    let clients = state
        .nodes
        .iter()
        .map(|node| client(&node.rpc))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = &clients[0];
    let status = first.status().await?;
    let max_gas = status.params.max_tx_gas;
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };

    // Fresh accounts, funded by the faucet for every fee they may pay.
    let spinner_keys: Vec<_> = (0..args.spinners).map(|_| keys::generate()).collect();
    let honest_key = keys::generate();
    let spinner_funds = u128::from(max_gas)
        * u128::from(args.spinner_price)
        * u128::try_from(args.per_spinner + 1)?;
    let honest_funds = 1_000_000_000_000_000_000u128;
    say(format!(
        "funding {} spinners and an honest client from the faucet…",
        args.spinners
    ));
    let price = first.gas_price().await?.suggested;
    let mut faucet = Signer::new(first, state.faucet_key()?).await?;
    let mut last = None;
    for key in &spinner_keys {
        let tx = faucet.transfer(keys::address(key), spinner_funds, price);
        last = Some(submit(first, &tx).await?);
    }
    let tx = faucet.transfer(keys::address(&honest_key), honest_funds, price);
    submit(first, &tx).await?;
    if let Some(hash) = last {
        included(first, &hash).await?;
    }
    included(first, &tx.hash()).await?;

    // The contract the spinners call: a hash chain of u32::MAX rounds runs
    // until its gas is gone.
    let mut spinners = Vec::with_capacity(args.spinners);
    for key in spinner_keys {
        spinners.push(Signer::new(first, key).await?);
    }
    let deploy = spinners[0].sign(
        2_000_000_000,
        args.spinner_price,
        0,
        Action::Deploy {
            code: HASHER.to_vec(),
            abi: HASHER_ABI.to_vec(),
            init_input: Vec::new(),
        },
    );
    let receipt = included(first, &submit(first, &deploy).await?).await?;
    let hasher = Address::from_hex(receipt.contract.as_deref().context("no contract address")?)
        .map_err(anyhow::Error::msg)?;

    say(format!(
        "{} spinners send {} transactions each of {max_gas} gas at gas price {}…",
        args.spinners, args.per_spinner, args.spinner_price
    ));
    let spin = Action::Call {
        contract: hasher,
        method: "hash_chain".into(),
        input: ([7u8; 32], u32::MAX).encode(),
    };
    let mut sent = 0;
    for round in 0..args.per_spinner {
        for (index, spinner) in spinners.iter_mut().enumerate() {
            let tx = spinner.sign(max_gas, args.spinner_price, 0, spin.clone());
            let node = &clients[(round + index) % clients.len()];
            submit(node, &tx).await?;
            sent += 1;
        }
    }

    let mut honest = Signer::new(first, honest_key).await?;
    let recipient = Address([0x0d; 32]);
    let start_height = first.status().await?.height;
    let base_fee_before = first.gas_price().await?.base_fee;
    say(format!(
        "an honest client sends {} transfers, one at a time, at the suggested price…",
        args.honest
    ));
    let mut heights = Vec::with_capacity(args.honest);
    let mut seconds = Vec::with_capacity(args.honest);
    for index in 0..args.honest {
        let node = &clients[index % clients.len()];
        let price = node.gas_price().await?.suggested;
        let tx = honest.transfer(recipient, 1, price);
        // The network's height: the highest any node has committed, so that
        // a node that lags behind (a loaded machine) does not make the
        // transaction look as if it waited for the heights it missed.
        let mut height = 0;
        for client in &clients {
            if let Ok(status) = client.status().await {
                height = height.max(status.height);
            }
        }
        let sent_at = Instant::now();
        submit(node, &tx).await?;
        let receipt = wait(node, &tx.hash()).await?;
        let elapsed = sent_at.elapsed().as_secs_f64();
        let waited = receipt.height.saturating_sub(height);
        say(format!(
            "  transfer {index}: price {price}, submitted at height {height}, included at {} ({waited} heights, {elapsed:.2} s)",
            receipt.height
        ));
        heights.push(waited);
        seconds.push(elapsed);
    }
    let end_height = first.status().await?.height;
    let base_fee_after = first.gas_price().await?.base_fee;

    let mut over_half = 0;
    for height in start_height + 1..=end_height {
        if let Some(block) = first.block(height).await?
            && block.gas_used > status.params.block_gas_limit / 2
        {
            over_half += 1;
        }
    }
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let percentile = |p: usize| sorted[(sorted.len() * p / 100).min(sorted.len() - 1)];
    let report = FloodReport {
        spinners: args.spinners,
        spinning_transactions: sent,
        honest_heights: heights.clone(),
        honest_seconds: seconds,
        honest_p50_seconds: percentile(50),
        honest_p99_seconds: percentile(99),
        honest_max_heights: heights.iter().copied().max().unwrap_or(0),
        blocks: end_height.saturating_sub(start_height),
        blocks_over_half_full: over_half,
        base_fee_before,
        base_fee_after,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "honest inclusion: p50 {:.2} s, p99 {:.2} s, at most {} heights; {} of {} blocks were over half full of spinning transactions; base fee {} -> {}",
            report.honest_p50_seconds,
            report.honest_p99_seconds,
            report.honest_max_heights,
            report.blocks_over_half_full,
            report.blocks,
            report.base_fee_before,
            report.base_fee_after
        );
    }
    Ok(())
}

/// The honest transfer's receipt: polled often, as a wallet would, so the
/// latency is the chain's and not the poll's.
async fn wait(
    node: &Client,
    hash: &cairn_types::Hash,
) -> anyhow::Result<cairn_client::api::ReceiptView> {
    let receipt = node
        .wait_for_receipt(hash, PATIENCE, Duration::from_millis(25))
        .await?;
    if receipt.status != 0 {
        bail!("the honest transfer failed: {}", receipt.status_name);
    }
    Ok(receipt)
}
