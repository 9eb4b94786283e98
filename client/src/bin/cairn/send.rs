//! Signing, submitting and waiting for a transaction; finding a contract's
//! ABI. Shared by `deploy`, `call` and `query`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use cairn_client::abi::Abi;
use cairn_client::api::ReceiptView;
use cairn_client::{Client, ClientError};
use cairn_types::{Action, Address, Transaction, keys, parse_amount, parse_hash};
use clap::Args;
use serde_json::Value;

use crate::output::print;

/// Gas for execution when neither `--gas` nor `--execution-gas` is given.
const DEFAULT_EXECUTION_GAS: u64 = 2_000_000_000;

#[derive(Args)]
pub(crate) struct SendOptions {
    /// The sender's key file (`cairn keys new`).
    #[arg(long, env = "CAIRN_KEY")]
    key: PathBuf,
    /// The transaction's gas limit; by default its intrinsic cost plus
    /// `--execution-gas`.
    #[arg(long)]
    gas: Option<u64>,
    /// Gas for execution when `--gas` is not given [default: 2000000000,
    /// and 0 for a transfer, which runs no code].
    #[arg(long)]
    execution_gas: Option<u64>,
    /// What to pay per unit of gas, in the token's smallest unit; by
    /// default the node's suggestion (`cairn gas-price`). The sender must
    /// hold `gas limit × gas price + value`; it pays for the gas used.
    #[arg(long)]
    gas_price: Option<u64>,
    /// Return once the node accepted the transaction, without waiting for
    /// its block.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for inclusion.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

impl SendOptions {
    /// These options, with `execution_gas` for when neither `--gas` nor
    /// `--execution-gas` was given (a transfer runs no code).
    pub(crate) fn with_default_execution_gas(mut self, execution_gas: u64) -> Self {
        self.execution_gas.get_or_insert(execution_gas);
        self
    }
}

#[derive(Args)]
pub(crate) struct ValueOption {
    /// Native value to send with the transaction, in the token's smallest
    /// unit (the method must be payable).
    #[arg(long, default_value = "0", value_parser = parse_amount)]
    pub(crate) value: u128,
}

#[derive(Args)]
pub(crate) struct AbiOption {
    /// The contract's ABI file; by default the one stored at deploy.
    #[arg(long)]
    pub(crate) abi: Option<PathBuf>,
}

pub(crate) fn read_abi(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

pub(crate) fn parse_args(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("arguments `{text}` are not JSON"))
}

pub(crate) fn parse_address(text: &str) -> anyhow::Result<Address> {
    Address::from_hex(text).map_err(|error| anyhow!(error))
}

/// The ABI to call `contract` by: the file given, or the one stored with
/// its code.
pub(crate) async fn contract_abi(
    client: &Client,
    contract: &str,
    file: Option<&Path>,
) -> anyhow::Result<Abi> {
    let json = match file {
        Some(path) => read_abi(path)?,
        None => client
            .contract(&parse_address(contract)?)
            .await?
            .ok_or_else(|| anyhow!("no contract at {contract}"))?
            .abi
            .ok_or_else(|| anyhow!("the contract was deployed without an ABI; pass --abi"))?,
    };
    Ok(Abi::from_json(&json)?)
}

/// Signs and submits `action` with `value`, then waits for its receipt
/// unless told not to.
pub(crate) async fn send_transaction(
    client: &Client,
    options: &SendOptions,
    action: Action,
    value: u128,
    json: bool,
) -> anyhow::Result<Option<ReceiptView>> {
    let key = keys::load(&options.key)?;
    let sender = keys::address(&key);
    let status = client.status().await?;
    let account = client.account(&sender).await?;
    let gas_price = match options.gas_price {
        Some(price) => price,
        None => client.gas_price().await?.suggested,
    };
    let mut tx = Transaction {
        chain_id: status.chain_id.clone(),
        genesis_hash: parse_hash(&status.genesis_hash).map_err(|error| anyhow!(error))?,
        sender,
        nonce: account.pending_nonce,
        gas_limit: 0,
        gas_price,
        value,
        action,
    };
    tx.gas_limit = match options.gas {
        Some(gas) => gas,
        None => {
            // The gas limit is a fixed-width field: the size is known now.
            let size = tx.clone().sign(&key).encoded_len();
            let intrinsic = status.params.intrinsic_gas(&tx, size);
            intrinsic
                .saturating_add(options.execution_gas.unwrap_or(DEFAULT_EXECUTION_GAS))
                .min(status.params.max_tx_gas)
        }
    };
    if let Some(cost) = tx.max_cost()
        && cost > account.balance
    {
        bail!(
            "{sender} holds {} but the transaction may cost {cost} (gas limit {} × gas price {} + value {value})",
            account.balance,
            tx.gas_limit,
            tx.gas_price
        );
    }
    let signed = tx.sign(&key);
    let submitted = client
        .submit(&signed)
        .await
        .context("the node refused the transaction")?;
    if options.no_wait {
        print(json, &serde_json::to_value(&submitted)?, || {
            format!("submitted {}", submitted.hash)
        });
        return Ok(None);
    }
    let hash = signed.hash();
    let started = Instant::now();
    let spinner = std::io::stderr().is_terminal() && !json;
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut frame = 0;
    // On the node's receipt subscription (polling a node that has none).
    let receipt = client.wait_for_receipt(
        &hash,
        Duration::from_secs(options.timeout_secs),
        Duration::from_millis(150),
    );
    tokio::pin!(receipt);
    let mut tick = tokio::time::interval(Duration::from_millis(150));
    let receipt = loop {
        tokio::select! {
            receipt = &mut receipt => break receipt,
            _ = tick.tick(), if spinner => {
                eprint!(
                    "\r{} waiting for {} to be included ({:.1} s)",
                    frames[frame % frames.len()],
                    submitted.hash.get(..16).unwrap_or(&submitted.hash),
                    started.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().flush();
                frame += 1;
            }
        }
    };
    if spinner {
        eprint!("\r\x1b[2K");
    }
    match receipt {
        Ok(receipt) => Ok(Some(receipt)),
        Err(ClientError::NotIncluded { .. }) => bail!(
            "transaction {} not included after {} s; it may still be; check with `cairn receipt {}`",
            submitted.hash,
            options.timeout_secs,
            submitted.hash
        ),
        Err(error) => Err(error.into()),
    }
}
