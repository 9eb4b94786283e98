//! `cairn-node`: create a node's home, generate a local testnet, run a node.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cairn_node::config::{CONFIG_FILE, NodeConfig, TestnetSpec, generate_testnet, resolve};
use cairn_node::genesis::Genesis;
use cairn_node::keys;
use cairn_node::types::Address;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cairn-node",
    version,
    about = "A Cairn node: Malachite consensus, RocksDB state, the Cairn VM"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a node home: a key and a config. Give it the network's
    /// genesis file, or make it a validator later and add the genesis then.
    Init {
        #[arg(long)]
        home: PathBuf,
        #[arg(long)]
        moniker: String,
        /// The network's genesis file, copied into the home.
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// The address consensus and gossip listen on, for peers (all
        /// interfaces by default).
        #[arg(long, default_value = "0.0.0.0")]
        host: String,
        /// The address JSON-RPC and metrics listen on, for clients
        /// (loopback by default: open it only behind a proxy or firewall).
        #[arg(long, default_value = "127.0.0.1")]
        rpc_host: std::net::IpAddr,
        /// Consensus, gossip, RPC and metrics use this port and the next three.
        #[arg(long, default_value_t = 26655)]
        base_port: u16,
    },
    /// Generates the homes of a local testnet: keys, one genesis, configs
    /// whose persistent peers are each other.
    Testnet {
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "cairn-local")]
        chain_id: String,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Node i uses ports from base_port + 10 * i.
        #[arg(long, default_value_t = 26655)]
        base_port: u16,
        #[arg(long, default_value_t = 500)]
        target_block_time_ms: u64,
        #[arg(long, default_value_t = 2_000)]
        max_idle_block_interval_ms: u64,
        /// An account funded at genesis: its address (64 hex digits) and
        /// balance in the token's smallest unit. Repeat for more.
        #[arg(long = "fund", value_name = "ADDRESS=AMOUNT", value_parser = parse_allocation)]
        fund: Vec<(Address, u128)>,
    },
    /// Runs the node in `home` until interrupted.
    Run {
        #[arg(long)]
        home: PathBuf,
    },
    /// Prints the node's address (its public key) and its peer id.
    Info {
        #[arg(long)]
        home: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init {
            home,
            moniker,
            genesis,
            host,
            rpc_host,
            base_port,
        } => init(
            &home,
            &moniker,
            genesis.as_deref(),
            &host,
            rpc_host,
            base_port,
        ),
        Command::Testnet {
            validators,
            out,
            chain_id,
            host,
            base_port,
            target_block_time_ms,
            max_idle_block_interval_ms,
            fund,
        } => testnet(&TestnetSpec {
            validators,
            out,
            chain_id,
            host,
            base_port,
            target_block_time_ms,
            max_idle_block_interval_ms,
            accounts: fund,
        }),
        Command::Run { home } => cairn_node::node::run_until_signal(&home),
        Command::Info { home } => {
            let config = NodeConfig::load(&home)?;
            let key = keys::load(&resolve(&home, &config.key_file))?;
            println!("moniker:  {}", config.moniker);
            println!("address:  {}", keys::address(&key));
            println!(
                "peer id:  {}",
                keys::libp2p_keypair(&key).public().to_peer_id()
            );
            Ok(())
        }
    }
}

fn init(
    home: &Path,
    moniker: &str,
    genesis: Option<&Path>,
    host: &str,
    rpc_host: std::net::IpAddr,
    base_port: u16,
) -> anyhow::Result<()> {
    if home.join(CONFIG_FILE).exists() {
        bail!("{} already holds a node", home.display());
    }
    std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
    let config = NodeConfig::with_ports(moniker, host, base_port)?.with_client_host(rpc_host);
    let key = keys::generate();
    keys::save(&key, &home.join(&config.key_file))?;
    if let Some(genesis) = genesis {
        Genesis::load(genesis)?.save(&home.join(&config.genesis_file))?;
    }
    config.save(home)?;
    println!("initialised {} in {}", moniker, home.display());
    println!("address: {}", keys::address(&key));
    println!(
        "peer id: {}",
        keys::libp2p_keypair(&key).public().to_peer_id()
    );
    Ok(())
}

/// `ADDRESS=AMOUNT`, for `--fund`.
fn parse_allocation(text: &str) -> Result<(Address, u128), String> {
    let (address, amount) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not ADDRESS=AMOUNT"))?;
    Ok((
        Address::from_hex(address)?,
        cairn_node::types::parse_amount(amount)?,
    ))
}

fn testnet(spec: &TestnetSpec) -> anyhow::Result<()> {
    let nodes = generate_testnet(spec)?;
    for (home, config) in nodes {
        println!(
            "{}: RPC http://{} in {}",
            config.moniker,
            config.rpc.listen,
            home.display()
        );
    }
    Ok(())
}
