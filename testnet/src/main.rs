//! `cairn-testnet`: one command from nothing to a running local Cairn
//! network of real node processes, and the commands to watch it, stop and
//! restart its nodes, and take it down.
//!
//! State lives in one directory (`.cairn-testnet` by default): each node's
//! home (`node0`, `node1`, …, with its `node.log`), the developer accounts
//! and the faucet's key (`accounts/`, all funded at genesis), and
//! `testnet.json`, which records ports and process ids so that `status`,
//! `stop`, `start` and `down` work from any later shell.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_client::Client;
use cairn_client::api::StatusView;
use cairn_node::node::{TestnetSpec, generate_testnet};
use cairn_types::{Address, keys, parse_amount};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

mod bench;
mod flood;
mod signer;

const STATE_FILE: &str = "testnet.json";
const DEV_ACCOUNTS: usize = 4;
/// What each developer account holds at genesis, in the token's smallest
/// unit: enough for any amount of testing.
const DEV_BALANCE: u128 = 1_000_000_000_000_000_000_000_000;
/// What the faucet (`cairn-testnet fund`) holds at genesis.
const FAUCET_BALANCE: u128 = 1_000_000_000_000_000_000_000_000_000_000;

#[derive(Parser)]
#[command(
    name = "cairn-testnet",
    version,
    about = "Start, watch and stop a local Cairn network"
)]
struct Cli {
    /// Where the testnet's homes, logs and state live.
    #[arg(
        long,
        global = true,
        env = "CAIRN_TESTNET_DIR",
        default_value = ".cairn-testnet"
    )]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the network (if the directory holds none) and starts every
    /// node that is not running, then waits for the first blocks.
    Up {
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// Node i uses four ports from base_port + 10 * i; by default the
        /// first free range from 26650.
        #[arg(long)]
        base_port: Option<u16>,
        #[arg(long, default_value_t = 100)]
        target_block_time_ms: u64,
        #[arg(long, default_value_t = 2_000)]
        max_idle_block_interval_ms: u64,
        /// Seconds to wait for the network to produce its first blocks.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Each node's process, height, state root and peers, and whether their
    /// state roots agree.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Prints a node's log (the last lines with --tail).
    Logs {
        node: usize,
        #[arg(long)]
        tail: Option<usize>,
    },
    /// Prints a node's JSON-RPC URL (for scripts).
    Rpc { node: usize },
    /// Waits until a node has caught up with the highest node and is
    /// connected to a consensus peer again.
    Wait {
        node: usize,
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Measures finality latency and throughput: deploys a token, funds
    /// several accounts, then sends token transfers from them round-robin
    /// to every node, several at once, and times each from submission to
    /// its receipt, which the node pushes on a subscription.
    Bench {
        /// Transactions to send.
        #[arg(long, default_value_t = 400)]
        transactions: usize,
        /// Sending accounts (each keeps its own nonce sequence).
        #[arg(long, default_value_t = 8)]
        accounts: usize,
        /// Submissions in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Transactions per second to send at (a fixed load); by default
        /// as fast as the submissions go.
        #[arg(long)]
        rate: Option<f64>,
    },
    /// The faucet: sends AMOUNT of the native token (its smallest unit) to
    /// ADDRESS from the faucet account, and waits for it to be included.
    Fund {
        address: String,
        #[arg(value_parser = parse_amount)]
        amount: u128,
    },
    /// The spam experiment: while spinning clients fill every block with
    /// transactions that burn their whole gas limit at one gas price,
    /// an honest client sends transfers at the price the node suggests,
    /// one after the other, and reports how many heights and seconds each
    /// took to be included (p50, p99). Bounded: the spinners send a fixed
    /// number of transactions, the honest client a fixed number.
    Flood(flood::FloodArgs),
    /// Stops one node: SIGTERM, or SIGKILL with --kill (a crash).
    Stop {
        node: usize,
        #[arg(long)]
        kill: bool,
    },
    /// Starts one stopped node again.
    Start { node: usize },
    /// Stops every node; --clean also deletes the directory.
    Down {
        #[arg(long)]
        clean: bool,
    },
    /// Runs one node in the foreground (what `up` starts in the background).
    #[command(hide = true)]
    RunNode {
        #[arg(long)]
        home: PathBuf,
    },
}

/// `testnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) chain_id: String,
    pub(crate) nodes: Vec<NodeState>,
    accounts: Vec<PathBuf>,
    /// The faucet's key; absent in testnets made before it existed.
    #[serde(default)]
    pub(crate) faucet: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeState {
    name: String,
    home: PathBuf,
    pub(crate) rpc: String,
    metrics: Option<String>,
    pid: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::RunNode { home } = &cli.command {
        return cairn_node::node::run_until_signal(home);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Up {
                nodes,
                base_port,
                target_block_time_ms,
                max_idle_block_interval_ms,
                timeout,
            } => {
                up(
                    &cli.dir,
                    nodes,
                    base_port,
                    target_block_time_ms,
                    max_idle_block_interval_ms,
                    Duration::from_secs(timeout),
                )
                .await
            }
            Command::Status { json } => status(&cli.dir, json).await,
            Command::Logs { node, tail } => logs(&cli.dir, node, tail),
            Command::Bench {
                transactions,
                accounts,
                concurrency,
                rate,
            } => {
                let load = bench::Load {
                    transactions,
                    accounts,
                    concurrency,
                    rate,
                };
                bench::run(&cli.dir, load).await
            }
            Command::Fund { address, amount } => fund(&cli.dir, &address, amount).await,
            Command::Flood(args) => flood::run(&cli.dir, &args).await,
            Command::Rpc { node } => {
                println!("{}", State::load(&cli.dir)?.node(node)?.rpc);
                Ok(())
            }
            Command::Wait { node, timeout } => {
                wait_caught_up(&cli.dir, node, Duration::from_secs(timeout)).await
            }
            Command::Stop { node, kill } => stop(&cli.dir, node, kill).await,
            Command::Start { node } => start(&cli.dir, node).await,
            Command::Down { clean } => down(&cli.dir, clean).await,
            Command::RunNode { .. } => unreachable!("handled above"),
        }
    })
}

impl State {
    pub(crate) fn load(dir: &Path) -> anyhow::Result<State> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no testnet in {} (start one with `cairn-testnet up`)",
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(STATE_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The faucet's key, which the genesis funded.
    pub(crate) fn faucet_key(&self) -> anyhow::Result<cairn_types::PrivateKey> {
        let path = self.faucet.as_ref().with_context(|| {
            "this testnet was made before it had a faucet: `cairn-testnet down --clean`, then `up`"
        })?;
        Ok(keys::load(path)?)
    }

    fn node(&mut self, index: usize) -> anyhow::Result<&mut NodeState> {
        let count = self.nodes.len();
        self.nodes.get_mut(index).with_context(|| {
            format!("there is no node {index}; the testnet has {count} (0..{count})")
        })
    }
}

async fn up(
    dir: &Path,
    nodes: usize,
    base_port: Option<u16>,
    target_block_time_ms: u64,
    max_idle_block_interval_ms: u64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut state = if dir.join(STATE_FILE).exists() {
        let state = State::load(dir)?;
        println!(
            "Resuming the testnet in {} ({} nodes, chain {}).",
            dir.display(),
            state.nodes.len(),
            state.chain_id
        );
        state
    } else {
        if !(1..=32).contains(&nodes) {
            bail!("--nodes must be between 1 and 32");
        }
        let base_port = match base_port {
            Some(port) => port,
            None => free_port_range(nodes)?,
        };
        println!(
            "Creating a {nodes}-node testnet in {} (ports from {base_port}).",
            dir.display()
        );
        create(
            dir,
            nodes,
            base_port,
            target_block_time_ms,
            max_idle_block_interval_ms,
        )?
    };

    for index in 0..state.nodes.len() {
        let node = &state.nodes[index];
        if node.pid.is_some_and(alive) {
            println!(
                "  {} is already running (pid {})",
                node.name,
                node.pid.unwrap_or(0)
            );
            continue;
        }
        let pid = spawn(&node.home)?;
        println!(
            "  started {} (pid {pid}), log {}",
            node.name,
            node.home.join("node.log").display()
        );
        state.node(index)?.pid = Some(pid);
    }
    state.save(dir)?;

    wait_for_blocks(&state, timeout).await?;
    print_summary(dir, &state);
    Ok(())
}

fn create(
    dir: &Path,
    nodes: usize,
    base_port: u16,
    target_block_time_ms: u64,
    max_idle_block_interval_ms: u64,
) -> anyhow::Result<State> {
    // The keys first: the genesis funds them.
    let dev_keys: Vec<_> = (0..DEV_ACCOUNTS).map(|_| keys::generate()).collect();
    let faucet_key = keys::generate();
    let mut funded: Vec<(Address, u128)> = dev_keys
        .iter()
        .map(|key| (keys::address(key), DEV_BALANCE))
        .collect();
    funded.push((keys::address(&faucet_key), FAUCET_BALANCE));
    let generated = generate_testnet(&TestnetSpec {
        validators: nodes,
        out: dir.to_owned(),
        chain_id: "cairn-testnet".into(),
        host: "127.0.0.1".into(),
        base_port,
        target_block_time_ms,
        max_idle_block_interval_ms,
        accounts: funded,
    })?;
    let accounts_dir = dir.join("accounts");
    std::fs::create_dir_all(&accounts_dir)?;
    let mut accounts = Vec::new();
    for (index, key) in dev_keys.iter().enumerate() {
        let path = accounts_dir.join(format!("dev{index}.json"));
        keys::save(key, &path)?;
        accounts.push(path);
    }
    let faucet = accounts_dir.join("faucet.json");
    keys::save(&faucet_key, &faucet)?;
    let state = State {
        chain_id: "cairn-testnet".into(),
        nodes: generated
            .into_iter()
            .map(|(home, config)| NodeState {
                name: config.moniker.clone(),
                home: std::path::absolute(&home).unwrap_or(home),
                rpc: format!("http://{}", config.rpc.listen),
                metrics: config
                    .metrics
                    .listen
                    .map(|address| format!("http://{address}/metrics")),
                pid: None,
            })
            .collect(),
        accounts: accounts
            .into_iter()
            .map(|path| std::path::absolute(&path).unwrap_or(path))
            .collect(),
        faucet: Some(std::path::absolute(&faucet).unwrap_or(faucet)),
    };
    state.save(dir)?;
    Ok(state)
}

/// `cairn-testnet fund`: a transfer from the faucet, through node 0.
async fn fund(dir: &Path, address: &str, amount: u128) -> anyhow::Result<()> {
    let state = State::load(dir)?;
    let to = Address::from_hex(address).map_err(anyhow::Error::msg)?;
    let faucet = state.faucet_key()?;
    let node = client(&state.nodes[0].rpc)?;
    let price = node.gas_price().await?.suggested;
    let mut faucet = signer::Signer::new(&node, faucet).await?;
    let tx = faucet.transfer(to, amount, price);
    let hash = signer::submit(&node, &tx).await?;
    let receipt = signer::included(&node, &hash).await?;
    let balance = node.account(&to).await?.balance;
    println!(
        "sent {amount} to {to} in block {} (fee {}); it holds {balance}",
        receipt.height, receipt.fee
    );
    Ok(())
}

/// The first base port from 26650 (in steps of 100) whose every port is
/// free on loopback.
fn free_port_range(nodes: usize) -> anyhow::Result<u16> {
    'search: for base in (26_650u16..60_000).step_by(100) {
        for index in 0..u16::try_from(nodes)? {
            for offset in 0..4 {
                let port = base + index * 10 + offset;
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                    continue 'search;
                }
            }
        }
        return Ok(base);
    }
    bail!("no free port range found for {nodes} nodes")
}

/// Starts `cairn-testnet run-node` for `home` in its own process group (so
/// that Ctrl-C in this shell does not reach it), logging to `node.log`.
fn spawn(home: &Path) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("node.log"))
        .with_context(|| format!("opening the log in {}", home.display()))?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("run-node")
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting a node process")?;
    Ok(child.id())
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks that the process exists; a zombie (exited, not yet
    // reaped) does not count.
    // SAFETY: kill with signal 0 sends nothing.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists && !zombie(pid)
}

fn zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s == "Z"))
        })
        .unwrap_or(false)
}

fn signal(pid: u32, signal: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(pid).context("process id out of range")?;
    // SAFETY: sends a signal to a process this tool started.
    if unsafe { libc::kill(pid, signal) } != 0 {
        bail!(
            "could not signal process {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

pub(crate) fn client(url: &str) -> anyhow::Result<Client> {
    Ok(Client::with_timeout(url, Duration::from_secs(3))?)
}

async fn node_status(node: &NodeState) -> Option<StatusView> {
    client(&node.rpc).ok()?.status().await.ok()
}

async fn wait_for_blocks(state: &State, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_line = String::new();
    loop {
        let mut heights = Vec::new();
        for node in &state.nodes {
            heights.push(node_status(node).await.map(|status| status.height));
        }
        let line = heights
            .iter()
            .zip(&state.nodes)
            .map(|(height, node)| match height {
                Some(height) => format!("{} h{height}", node.name),
                None => format!("{} starting", node.name),
            })
            .collect::<Vec<_>>()
            .join(", ");
        if line != last_line {
            println!("  [{:>4.1}s] {line}", started.elapsed().as_secs_f64());
            last_line = line;
        }
        if heights
            .iter()
            .all(|height| height.is_some_and(|height| height >= 1))
        {
            return Ok(());
        }
        for (node, height) in state.nodes.iter().zip(&heights) {
            if height.is_none() && !node.pid.is_some_and(alive) {
                bail!(
                    "{} exited; its log is {}",
                    node.name,
                    node.home.join("node.log").display()
                );
            }
        }
        if started.elapsed() > timeout {
            bail!(
                "the network made no block in {}s; see the logs in {}",
                timeout.as_secs(),
                state.nodes[0].home.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_summary(dir: &Path, state: &State) {
    println!("\nThe testnet is up: chain {}.", state.chain_id);
    for node in &state.nodes {
        println!("  {:<6} RPC {}", node.name, node.rpc);
    }
    println!("\nDeveloper accounts (ed25519 keys, each funded with {DEV_BALANCE} at genesis):");
    for account in &state.accounts {
        println!("  {}", account.display());
    }
    if let Some(faucet) = &state.faucet {
        println!(
            "The faucet ({}) funds any address: cairn-testnet --dir {} fund ADDRESS AMOUNT",
            faucet.display(),
            dir.display()
        );
    }
    let first = &state.nodes[0].rpc;
    let key = state
        .accounts
        .first()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    println!("\nTry:");
    println!("  cairn --rpc {first} status");
    println!("  cairn --rpc {first} transfer <address> 1000 --key {key}");
    println!(
        "  cairn --rpc {first} deploy --key {key} contracts-sdk/testdata/counter.wasm --args '[10]'"
    );
    println!("  cairn-testnet --dir {} status", dir.display());
    println!("  cairn-testnet --dir {} down", dir.display());
}

async fn status(dir: &Path, json: bool) -> anyhow::Result<()> {
    let state = State::load(dir)?;
    let mut rows = Vec::new();
    for node in &state.nodes {
        let running = node.pid.is_some_and(alive);
        let status = if running {
            node_status(node).await
        } else {
            None
        };
        rows.push((node, running, status));
    }
    // Roots agree if every answering node has the same state root at the
    // lowest height they all reached.
    let common = rows
        .iter()
        .filter_map(|(_, _, status)| status.as_ref().map(|status| status.height))
        .min();
    let mut roots = Vec::new();
    if let Some(height) = common.filter(|&height| height > 0) {
        for (node, _, status) in &rows {
            if status.is_some()
                && let Ok(Some(block)) = client(&node.rpc)?.block(height).await
            {
                roots.push(block.state_root);
            }
        }
    }
    let agree = !roots.is_empty() && roots.iter().all(|root| *root == roots[0]);

    if json {
        let nodes: Vec<_> = rows
            .iter()
            .map(|(node, running, status)| {
                serde_json::json!({
                    "name": node.name,
                    "rpc": node.rpc,
                    "pid": node.pid,
                    "running": running,
                    "status": status,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "chain_id": state.chain_id,
                "nodes": nodes,
                "common_height": common,
                "state_roots_agree": agree,
            }))?
        );
        return Ok(());
    }
    println!("chain {}", state.chain_id);
    for (node, running, status) in &rows {
        match (running, status) {
            (false, _) => println!("  {:<6} stopped", node.name),
            (true, None) => println!("  {:<6} running, RPC not answering", node.name),
            (true, Some(status)) => println!(
                "  {:<6} height {:<6} root {}…  peers {}+{}  mempool {}{}",
                node.name,
                status.height,
                &status.state_root[..12.min(status.state_root.len())],
                status.consensus_peers,
                status.gossip_peers,
                status.mempool_size,
                if status.syncing { "  syncing" } else { "" },
            ),
        }
    }
    match common {
        Some(height) if height > 0 => println!(
            "state roots at height {height}: {}",
            if agree { "all agree" } else { "DIFFER" }
        ),
        _ => println!("no block yet"),
    }
    Ok(())
}

fn logs(dir: &Path, node: usize, tail: Option<usize>) -> anyhow::Result<()> {
    let mut state = State::load(dir)?;
    let path = state.node(node)?.home.join("node.log");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let skip = tail.map_or(0, |tail| lines.len().saturating_sub(tail));
    for line in &lines[skip..] {
        println!("{line}");
    }
    Ok(())
}

async fn wait_caught_up(dir: &Path, index: usize, timeout: Duration) -> anyhow::Result<()> {
    let mut state = State::load(dir)?;
    let node = state.node(index)?.clone();
    let mut target = 0;
    for other in &state.nodes {
        if let Some(status) = node_status(other).await {
            target = target.max(status.height);
        }
    }
    // Caught up means back in consensus too, not only synced: with peers,
    // the node connected to at least one of them.
    let needs_peers = state.nodes.len() > 1;
    let started = Instant::now();
    loop {
        let status = node_status(&node).await;
        let height = status.as_ref().map(|status| status.height);
        let peers = status.as_ref().map_or(0, |status| status.consensus_peers);
        if height.is_some_and(|height| height >= target) && (peers > 0 || !needs_peers) {
            println!(
                "{} is at height {} (the others were at {target} when asked) with {peers} consensus peers, after {:.1}s",
                node.name,
                height.unwrap_or(0),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "{} is at {} with {peers} consensus peers after {}s, short of height {target}{}",
                node.name,
                height.map_or("no height".to_owned(), |height| height.to_string()),
                timeout.as_secs(),
                if needs_peers { " and a peer" } else { "" }
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn stop(dir: &Path, index: usize, kill: bool) -> anyhow::Result<()> {
    let mut state = State::load(dir)?;
    let node = state.node(index)?;
    let Some(pid) = node.pid.filter(|&pid| alive(pid)) else {
        println!("{} is not running", node.name);
        return Ok(());
    };
    signal(pid, if kill { libc::SIGKILL } else { libc::SIGTERM })?;
    wait_for_exit(pid, Duration::from_secs(20)).await?;
    println!(
        "{} {} (pid {pid})",
        node.name,
        if kill { "killed" } else { "stopped" }
    );
    node.pid = None;
    state.save(dir)
}

async fn wait_for_exit(pid: u32, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while alive(pid) {
        if started.elapsed() > timeout {
            bail!("process {pid} did not exit within {}s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn start(dir: &Path, index: usize) -> anyhow::Result<()> {
    let mut state = State::load(dir)?;
    let node = state.node(index)?;
    if let Some(pid) = node.pid.filter(|&pid| alive(pid)) {
        println!("{} is already running (pid {pid})", node.name);
        return Ok(());
    }
    let pid = spawn(&node.home)?;
    node.pid = Some(pid);
    println!("started {} (pid {pid})", node.name);
    state.save(dir)
}

async fn down(dir: &Path, clean: bool) -> anyhow::Result<()> {
    let mut state = match State::load(dir) {
        Ok(state) => state,
        Err(_) if clean && dir.exists() => {
            std::fs::remove_dir_all(dir)?;
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    for node in &mut state.nodes {
        if let Some(pid) = node.pid.filter(|&pid| alive(pid)) {
            signal(pid, libc::SIGTERM)?;
            if wait_for_exit(pid, Duration::from_secs(20)).await.is_err() {
                signal(pid, libc::SIGKILL)?;
                wait_for_exit(pid, Duration::from_secs(5)).await?;
            }
            println!("stopped {}", node.name);
        }
        node.pid = None;
    }
    if clean {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        println!("removed {}", dir.display());
    } else {
        state.save(dir)?;
    }
    Ok(())
}
