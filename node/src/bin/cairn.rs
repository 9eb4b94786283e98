//! `cairn`: keys, deploying and calling contracts by method name through
//! their ABI, and reading the chain, over a node's JSON-RPC.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use cairn_node::abi::{Abi, Method};
use cairn_node::keys;
use cairn_node::rpc::{CairnApiClient, ReceiptView, StatusView};
use cairn_node::types::{Action, Address, SignedTransaction, Transaction, status_name};
use clap::{Args, Parser, Subcommand};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use malachitebft_signing_ed25519::PrivateKey;
use parity_scale_codec::Encode;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Deploy, call and query Cairn contracts"
)]
struct Cli {
    /// The node's JSON-RPC address.
    #[arg(
        long,
        global = true,
        env = "CAIRN_RPC",
        default_value = "http://127.0.0.1:26657"
    )]
    rpc: String,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage account keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Deploys a contract built by `cargo cairn build`.
    Deploy {
        /// The contract's .wasm.
        wasm: PathBuf,
        /// Its ABI; `<wasm without .wasm>.abi.json` by default.
        #[arg(long)]
        abi: Option<PathBuf>,
        /// The constructor's arguments, as a JSON array or object.
        #[arg(long, default_value = "[]")]
        args: String,
        #[command(flatten)]
        send: SendOptions,
    },
    /// Calls a method in a transaction.
    Call {
        contract: String,
        method: String,
        /// Arguments as a JSON array or object.
        #[arg(default_value = "[]")]
        args: String,
        #[command(flatten)]
        abi: AbiOption,
        #[command(flatten)]
        send: SendOptions,
    },
    /// Runs a read-only method on the latest state; nothing is sent.
    Query {
        contract: String,
        method: String,
        #[arg(default_value = "[]")]
        args: String,
        #[command(flatten)]
        abi: AbiOption,
    },
    /// The node's chain, height, state root and peers.
    Status,
    /// A transaction's receipt.
    Receipt { hash: String },
    /// A block by height (`latest` for the newest) or hash.
    Block { id: String },
    /// An account's nonces.
    Account { address: String },
    /// A contract's code hash, deployer and ABI.
    Contract { address: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generates a key into a new file.
    New { file: PathBuf },
    /// Prints the address of a key file.
    Show { file: PathBuf },
}

#[derive(Args)]
struct SendOptions {
    /// The sender's key file (`cairn keys new`).
    #[arg(long, env = "CAIRN_KEY")]
    key: PathBuf,
    /// The transaction's gas limit; by default its intrinsic cost plus
    /// `--execution-gas`.
    #[arg(long)]
    gas: Option<u64>,
    /// Gas for execution when `--gas` is not given.
    #[arg(long, default_value_t = 2_000_000_000)]
    execution_gas: u64,
    /// Return once the node accepted the transaction, without waiting for
    /// its block.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for inclusion.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

#[derive(Args)]
struct AbiOption {
    /// The contract's ABI file; by default the one stored at deploy.
    #[arg(long)]
    abi: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(error) = runtime.block_on(run(cli)) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn client(url: &str) -> anyhow::Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .max_request_size(16 * 1024 * 1024)
        .build(url)
        .with_context(|| format!("connecting to {url}"))
}

fn read_abi(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn parse_args(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("arguments `{text}` are not JSON"))
}

fn print(json: bool, value: &Value, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Keys(KeysCommand::New { file }) => {
            let key = keys::generate();
            keys::save(&key, &file)?;
            let address = keys::address(&key).to_string();
            print(json, &json!({ "address": address, "file": file }), || {
                format!("address {address}\nsaved to {}", file.display())
            });
        }
        Command::Keys(KeysCommand::Show { file }) => {
            let address = keys::address(&keys::load(&file)?).to_string();
            print(json, &json!({ "address": address }), || address.clone());
        }
        Command::Status => {
            let status = client(&cli.rpc)?.status().await?;
            print(json, &serde_json::to_value(&status)?, || {
                format!(
                    "chain {} ({})\nheight {} block {}\nstate root {}\npeers: {} consensus, {} gossip; mempool {}{}",
                    status.chain_id,
                    status.moniker,
                    status.height,
                    status.block_hash,
                    status.state_root,
                    status.consensus_peers,
                    status.gossip_peers,
                    status.mempool_size,
                    if status.syncing { "; syncing" } else { "" }
                )
            });
        }
        Command::Receipt { hash } => {
            let receipt = client(&cli.rpc)?
                .get_receipt(hash.clone())
                .await?
                .ok_or_else(|| anyhow!("no committed transaction {hash}"))?;
            print(json, &serde_json::to_value(&receipt)?, || {
                describe_receipt(&receipt, None, None)
            });
        }
        Command::Block { id } => {
            let rpc = client(&cli.rpc)?;
            let block = if id == "latest" {
                let height = rpc.status().await?.height;
                rpc.get_block(height).await?
            } else if let Ok(height) = id.parse::<u64>() {
                rpc.get_block(height).await?
            } else {
                rpc.get_block_by_hash(id.clone()).await?
            }
            .ok_or_else(|| anyhow!("no block {id}"))?;
            print(json, &serde_json::to_value(&block)?, || {
                let mut text = format!(
                    "block {} {}\ntime {} ms, proposer {}\nstate root {}\ngas used {}, {} transactions",
                    block.height,
                    block.hash,
                    block.time_ms,
                    block.proposer,
                    block.state_root,
                    block.gas_used,
                    block.transactions.len()
                );
                for tx in &block.transactions {
                    text.push_str(&format!(
                        "\n  {} {} {} nonce {}{}",
                        tx.hash,
                        tx.kind,
                        tx.contract.as_deref().unwrap_or(""),
                        tx.nonce,
                        tx.method
                            .as_deref()
                            .map(|m| format!(" method {m}"))
                            .unwrap_or_default()
                    ));
                }
                text
            });
        }
        Command::Account { address } => {
            let account = client(&cli.rpc)?.get_account(address).await?;
            print(json, &serde_json::to_value(&account)?, || {
                format!(
                    "account {}\nnonce {} (next to use: {})",
                    account.address, account.nonce, account.pending_nonce
                )
            });
        }
        Command::Contract { address } => {
            let contract = client(&cli.rpc)?
                .get_contract(address.clone())
                .await?
                .ok_or_else(|| anyhow!("no contract at {address}"))?;
            print(json, &serde_json::to_value(&contract)?, || {
                format!(
                    "contract {}\ncode hash {}\ndeployed by {} at height {}\nABI: {}",
                    contract.address,
                    contract.code_hash,
                    contract.deployer,
                    contract.deployed_at,
                    if contract.abi.is_some() {
                        "stored"
                    } else {
                        "none"
                    }
                )
            });
        }
        Command::Deploy {
            wasm,
            abi,
            args,
            send,
        } => {
            let code =
                std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
            let abi_path = abi.unwrap_or_else(|| wasm.with_extension("abi.json"));
            let abi_json = read_abi(&abi_path)?;
            let abi = Abi::from_json(&abi_json)?;
            let init_input = match abi.methods.iter().find(|m| m.name == "init") {
                Some(init) => init.encode_args(&parse_args(&args)?)?,
                None if parse_args(&args)? == json!([]) => Vec::new(),
                None => bail!("{} has no constructor; it takes no arguments", abi.contract),
            };
            let action = Action::Deploy {
                code,
                abi: serde_json::to_vec(&abi_json)?,
                init_input,
            };
            let rpc = client(&cli.rpc)?;
            let receipt = send_transaction(&rpc, &send, action, json).await?;
            if let Some(receipt) = receipt {
                let value = receipt_json(&receipt, None, Some(&abi));
                print(json, &value, || {
                    let mut text = describe_receipt(&receipt, None, Some(&abi));
                    if let Some(contract) = &receipt.contract {
                        text = format!("deployed {} at {contract}\n{text}", abi.contract);
                    }
                    text
                });
                if receipt.status != 0 {
                    std::process::exit(2);
                }
            }
        }
        Command::Call {
            contract,
            method,
            args,
            abi,
            send,
        } => {
            let rpc = client(&cli.rpc)?;
            let abi = contract_abi(&rpc, &contract, abi.abi.as_deref()).await?;
            let method = abi.method(&method)?;
            let input = method.encode_args(&parse_args(&args)?)?;
            let action = Action::Call {
                contract: Address::from_hex(&contract).map_err(|error| anyhow!(error))?,
                method: method.name.clone(),
                input,
            };
            if let Some(receipt) = send_transaction(&rpc, &send, action, json).await? {
                print(
                    json,
                    &receipt_json(&receipt, Some(method), Some(&abi)),
                    || describe_receipt(&receipt, Some(method), Some(&abi)),
                );
                if receipt.status != 0 {
                    std::process::exit(2);
                }
            }
        }
        Command::Query {
            contract,
            method,
            args,
            abi,
        } => {
            let rpc = client(&cli.rpc)?;
            let abi = contract_abi(&rpc, &contract, abi.abi.as_deref()).await?;
            let method = abi.method(&method)?;
            let input = method.encode_args(&parse_args(&args)?)?;
            let result = rpc
                .query(contract, method.name.clone(), hex::encode(input), None)
                .await?;
            let output = hex::decode(&result.output)?;
            let value = if result.status == 0 {
                method
                    .decode_output(&output)
                    .unwrap_or(Value::String(result.output.clone()))
            } else {
                Value::String(describe_failure(result.status, &output, method))
            };
            let report = json!({
                "status": result.status_name,
                "value": value,
                "gas_used": result.gas_used,
                "height": result.height,
            });
            print(json, &report, || {
                if result.status == 0 {
                    value.to_string()
                } else {
                    format!(
                        "{} (gas {})",
                        value.as_str().unwrap_or_default(),
                        result.gas_used
                    )
                }
            });
            if result.status != 0 {
                std::process::exit(2);
            }
        }
    }
    Ok(())
}

async fn contract_abi(
    rpc: &HttpClient,
    contract: &str,
    file: Option<&Path>,
) -> anyhow::Result<Abi> {
    let json = match file {
        Some(path) => read_abi(path)?,
        None => rpc
            .get_contract(contract.to_owned())
            .await?
            .ok_or_else(|| anyhow!("no contract at {contract}"))?
            .abi
            .ok_or_else(|| anyhow!("the contract was deployed without an ABI; pass --abi"))?,
    };
    Abi::from_json(&json)
}

/// Signs and submits `action`, then waits for its receipt unless told not
/// to.
async fn send_transaction(
    rpc: &HttpClient,
    options: &SendOptions,
    action: Action,
    json: bool,
) -> anyhow::Result<Option<ReceiptView>> {
    let key = keys::load(&options.key)?;
    let sender = keys::address(&key);
    let status: StatusView = rpc.status().await?;
    let account = rpc.get_account(sender.to_string()).await?;
    let mut tx = Transaction {
        chain_id: status.chain_id.clone(),
        sender,
        nonce: account.pending_nonce,
        gas_limit: 0,
        action,
    };
    tx.gas_limit = match options.gas {
        Some(gas) => gas,
        None => {
            // The gas limit is a fixed-width field: the size is known now.
            let size = signed(&tx, &key).encoded_size();
            let intrinsic = status.params.intrinsic_gas(&tx, size);
            intrinsic
                .saturating_add(options.execution_gas)
                .min(status.params.max_tx_gas)
        }
    };
    let signed = signed(&tx, &key);
    let submitted = rpc
        .submit_transaction(hex::encode(signed.encode()))
        .await
        .context("the node refused the transaction")?;
    if options.no_wait {
        print(json, &serde_json::to_value(&submitted)?, || {
            format!("submitted {}", submitted.hash)
        });
        return Ok(None);
    }
    let started = Instant::now();
    let spinner = std::io::stderr().is_terminal() && !json;
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut frame = 0;
    loop {
        if let Some(receipt) = rpc.get_receipt(submitted.hash.clone()).await? {
            if spinner {
                eprint!("\r\x1b[2K");
            }
            return Ok(Some(receipt));
        }
        if started.elapsed() > Duration::from_secs(options.timeout_secs) {
            bail!(
                "transaction {} not included after {} s; it may still be; check with `cairn receipt {}`",
                submitted.hash,
                options.timeout_secs,
                submitted.hash
            );
        }
        if spinner {
            eprint!(
                "\r{} waiting for {} to be included ({:.1} s)",
                frames[frame % frames.len()],
                &submitted.hash[..16],
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
            frame += 1;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn signed(tx: &Transaction, key: &PrivateKey) -> SignedTransaction {
    tx.clone().sign(key)
}

fn describe_failure(status: u32, output: &[u8], method: &Method) -> String {
    let name = status_name(status);
    match status {
        // Reverted: the output is the method's error value.
        10 => format!(
            "reverted with {} 0x{}",
            method.error.as_deref().unwrap_or("data"),
            hex::encode(output)
        ),
        9 | 100 => format!("{name}: {}", String::from_utf8_lossy(output)),
        _ => name.to_owned(),
    }
}

fn receipt_json(receipt: &ReceiptView, method: Option<&Method>, abi: Option<&Abi>) -> Value {
    let mut value = serde_json::to_value(receipt).unwrap_or(Value::Null);
    let output = hex::decode(&receipt.output).unwrap_or_default();
    if receipt.status == 0
        && let Some(method) = method
        && let Ok(decoded) = method.decode_output(&output)
    {
        value["value"] = decoded;
    }
    if let Some(abi) = abi {
        let events: Vec<Value> = receipt
            .events
            .iter()
            .map(|event| {
                let topic = hex::decode(&event.topic).unwrap_or_default();
                let data = hex::decode(&event.data).unwrap_or_default();
                json!({
                    "contract": event.contract,
                    "event": String::from_utf8_lossy(&topic),
                    "fields": abi.decode_event(&topic, &data),
                })
            })
            .collect();
        value["decoded_events"] = Value::Array(events);
    }
    value
}

fn describe_receipt(receipt: &ReceiptView, method: Option<&Method>, abi: Option<&Abi>) -> String {
    let output = hex::decode(&receipt.output).unwrap_or_default();
    let outcome = match (receipt.status, method) {
        (0, Some(method)) => match method.decode_output(&output) {
            Ok(Value::Null) => "ok".to_owned(),
            Ok(value) => format!("ok: {value}"),
            Err(_) => format!("ok: 0x{}", receipt.output),
        },
        (0, None) => "ok".to_owned(),
        (status, Some(method)) => describe_failure(status, &output, method),
        (status, None) => format!(
            "{}{}",
            status_name(status),
            if output.is_empty() {
                String::new()
            } else {
                format!(": {}", String::from_utf8_lossy(&output))
            }
        ),
    };
    let mut text = format!(
        "{outcome}\ntx {} in block {} (gas {})",
        receipt.tx_hash, receipt.height, receipt.gas_used
    );
    for event in &receipt.events {
        let topic = hex::decode(&event.topic).unwrap_or_default();
        let data = hex::decode(&event.data).unwrap_or_default();
        let fields = abi
            .and_then(|abi| abi.decode_event(&topic, &data))
            .map_or_else(|| format!("0x{}", event.data), |fields| fields.to_string());
        text.push_str(&format!(
            "\nevent {} {fields}",
            String::from_utf8_lossy(&topic)
        ));
    }
    text
}
