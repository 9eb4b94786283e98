//! `cairn`: keys, deploying and calling contracts by method name through
//! their ABI, sending native value, and reading the chain, over a node's
//! JSON-RPC.
//!
//! One file per subcommand; `send.rs` signs and submits, `output.rs`
//! prints receipts.

mod account;
mod balance;
mod block;
mod call;
mod contract;
mod deploy;
mod gas_price;
mod keys;
mod output;
mod query;
mod receipt;
mod send;
mod status;
mod transfer;

use anyhow::Context as _;
use cairn_client::Client;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Deploy, call and query Cairn contracts, and send the native token"
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
    Keys(keys::KeysCommand),
    /// Deploys a contract built by `cargo cairn build`.
    Deploy(deploy::DeployArgs),
    /// Calls a method in a transaction.
    Call(call::CallArgs),
    /// Sends native value to an account or a contract.
    Transfer(transfer::TransferArgs),
    /// What an account or a contract holds of the native token.
    Balance(balance::BalanceArgs),
    /// The next block's base fee and the gas price the node suggests.
    GasPrice,
    /// Runs a read-only method on the latest state; nothing is sent.
    Query(query::QueryArgs),
    /// The node's chain, height, state root and peers.
    Status,
    /// A transaction's receipt.
    Receipt(receipt::ReceiptArgs),
    /// A block by height (`latest` for the newest) or hash.
    Block(block::BlockArgs),
    /// An account's nonces and balance.
    Account(account::AccountArgs),
    /// A contract's code hash, deployer and ABI.
    Contract(contract::ContractArgs),
}

/// What every subcommand is given: where the node is and how to print.
pub(crate) struct Context {
    rpc: String,
    pub(crate) json: bool,
}

impl Context {
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        Client::new(&self.rpc).with_context(|| format!("connecting to {}", self.rpc))
    }
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let context = Context {
        rpc: cli.rpc,
        json: cli.json,
    };
    if let Err(error) = runtime.block_on(run(cli.command, &context)) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command, context: &Context) -> anyhow::Result<()> {
    match command {
        Command::Keys(command) => keys::run(command, context),
        Command::Deploy(args) => deploy::run(args, context).await,
        Command::Call(args) => call::run(args, context).await,
        Command::Transfer(args) => transfer::run(args, context).await,
        Command::Balance(args) => balance::run(args, context).await,
        Command::GasPrice => gas_price::run(context).await,
        Command::Query(args) => query::run(args, context).await,
        Command::Status => status::run(context).await,
        Command::Receipt(args) => receipt::run(args, context).await,
        Command::Block(args) => block::run(args, context).await,
        Command::Account(args) => account::run(args, context).await,
        Command::Contract(args) => contract::run(args, context).await,
    }
}
