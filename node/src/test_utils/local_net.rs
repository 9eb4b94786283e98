//! A local network of real `cairn-node` processes on loopback, for tests
//! that crash, restart and attack nodes: each node can be started with its
//! own environment (the fault switches of [`crate::faults`], a vote log),
//! killed with SIGKILL, and watched through its JSON-RPC and metrics.
//!
//! ```text
//! let mut net = LocalNet::generate(dir, env!("CARGO_BIN_EXE_cairn-node"), 4, timing)?;
//! net.start_all();
//! net.wait_for_height(&[0, 1, 2, 3], 3).await;
//! net.restart_with(2, &[("CAIRN_CRASH_AT", "commit.after_write")]);
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use cairn_client::Client;
use libp2p::Multiaddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{TestnetSpec, generate_testnet};
use crate::genesis::Genesis;
use crate::keys::PrivateKey;

/// How long a test waits for anything a network does. Generous: CI
/// machines are slow and run other tests at the same time.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Block pacing for tests: fast blocks, a short idle interval.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub target_block_time_ms: u64,
    pub max_idle_block_interval_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            target_block_time_ms: 300,
            max_idle_block_interval_ms: 1_000,
        }
    }
}

/// A base port whose next `10 * nodes` ports are all free right now.
pub fn free_base_port(nodes: usize) -> anyhow::Result<u16> {
    let seed = u16::try_from(std::process::id() % 1000).unwrap_or(0);
    let span = u16::try_from(10 * nodes)?;
    'search: for attempt in 0..400u16 {
        let base = 20_000 + ((seed + attempt * 37) % 400) * 100;
        let mut held = Vec::new();
        for offset in 0..span {
            match TcpListener::bind(("127.0.0.1", base + offset)) {
                Ok(listener) => held.push(listener),
                Err(_) => continue 'search,
            }
        }
        return Ok(base);
    }
    anyhow::bail!("no range of {span} free ports found on loopback")
}

/// The processes of a local network and how to reach them.
#[derive(Debug)]
pub struct LocalNet {
    dir: PathBuf,
    binary: PathBuf,
    base_port: u16,
    nodes: Vec<Option<Child>>,
    clients: Vec<Client>,
}

impl LocalNet {
    /// Writes the homes of a network of `validators` nodes under `dir`
    /// (which must be empty); starts nothing.
    pub fn generate(
        dir: &Path,
        binary: impl Into<PathBuf>,
        validators: usize,
        timing: Timing,
    ) -> anyhow::Result<LocalNet> {
        Self::generate_funded(dir, binary, validators, timing, Vec::new())
    }

    /// [`LocalNet::generate`], with `accounts` holding native value at
    /// genesis: a network that carries transactions needs someone to pay
    /// their fees.
    pub fn generate_funded(
        dir: &Path,
        binary: impl Into<PathBuf>,
        validators: usize,
        timing: Timing,
        accounts: Vec<(crate::types::Address, u128)>,
    ) -> anyhow::Result<LocalNet> {
        let base_port = free_base_port(validators)?;
        generate_testnet(&TestnetSpec {
            validators,
            out: dir.to_owned(),
            chain_id: "cairn-test".into(),
            host: "127.0.0.1".into(),
            base_port,
            target_block_time_ms: timing.target_block_time_ms,
            max_idle_block_interval_ms: timing.max_idle_block_interval_ms,
            accounts,
        })?;
        let clients = (0..validators)
            .map(|index| {
                let port = base_port + u16::try_from(index * 10 + 2).unwrap_or(0);
                Client::with_timeout(&format!("http://127.0.0.1:{port}"), Duration::from_secs(10))
            })
            .collect::<Result<_, _>>()?;
        Ok(LocalNet {
            dir: dir.to_owned(),
            binary: binary.into(),
            base_port,
            nodes: (0..validators).map(|_| None).collect(),
            clients,
        })
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn home(&self, index: usize) -> PathBuf {
        self.dir.join(format!("node{index}"))
    }

    pub fn client(&self, index: usize) -> &Client {
        &self.clients[index]
    }

    /// Node `index`'s JSON-RPC URL.
    pub fn rpc_url(&self, index: usize) -> &str {
        self.clients[index].url()
    }

    /// The network's genesis, as every node has it.
    pub fn genesis(&self) -> anyhow::Result<Genesis> {
        Ok(Genesis::load(&self.home(0).join("genesis.json"))?)
    }

    /// Node `index`'s key: what a test impersonating that validator uses.
    pub fn key(&self, index: usize) -> anyhow::Result<PrivateKey> {
        Ok(crate::keys::load(&self.home(index).join("node_key.json"))?)
    }

    /// Where node `index`'s consensus swarm listens.
    pub fn consensus_address(&self, index: usize) -> Multiaddr {
        let port = self.base_port + u16::try_from(index * 10).unwrap_or(0);
        format!("/ip4/127.0.0.1/tcp/{port}")
            .parse()
            .expect("a tcp multiaddr parses")
    }

    fn metrics_port(&self, index: usize) -> u16 {
        self.base_port + u16::try_from(index * 10 + 3).unwrap_or(0)
    }

    pub fn start_all(&mut self) {
        for index in 0..self.len() {
            self.start(index);
        }
    }

    pub fn start(&mut self, index: usize) {
        self.start_with(index, &[]);
    }

    /// Starts node `index` with extra environment variables; its output
    /// (the log, and any error it exits with) is appended to `node.log` in
    /// its home. Panics if it cannot be started ([`LocalNet::try_start_with`]
    /// says why instead).
    pub fn start_with(&mut self, index: usize, env: &[(&str, &str)]) {
        if let Err(error) = self.try_start_with(index, env) {
            panic!("node{index} does not start: {error:#}");
        }
    }

    /// [`LocalNet::start_with`], for callers that handle the error.
    pub fn try_start_with(&mut self, index: usize, env: &[(&str, &str)]) -> anyhow::Result<()> {
        use anyhow::Context;
        let home = self.home(index);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .with_context(|| format!("opening node{index}'s log"))?;
        let errors = log.try_clone()?;
        let mut command = Command::new(&self.binary);
        command
            .args(["run", "--home"])
            .arg(&home)
            // The caller's filter if it set one (to trace a run), else info.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(log)
            .stderr(errors);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.nodes[index] = Some(child);
        Ok(())
    }

    /// Whether node `index`'s process runs (it was started, and has not
    /// exited).
    pub fn running(&mut self, index: usize) -> bool {
        match self.nodes[index].as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL: no chance to flush or shut down cleanly.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills node `index` and starts it again with `env`.
    pub fn restart_with(&mut self, index: usize, env: &[(&str, &str)]) {
        self.kill(index);
        self.start_with(index, env);
    }

    /// Waits for node `index` to exit by itself (a crash point); its exit
    /// status, or `None` if it still runs after `patience`.
    pub async fn wait_for_exit(&mut self, index: usize, patience: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.nodes[index].as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.nodes[index] = None;
                return Some(status);
            }
            if started.elapsed() > patience {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of every node's log, for a failing test's message.
    pub fn logs(&self) -> String {
        (0..self.len())
            .map(|index| {
                let log =
                    std::fs::read_to_string(self.home(index).join("node.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                format!(
                    "--- node{index} ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub async fn height(&self, index: usize) -> Option<u64> {
        self.clients[index]
            .status()
            .await
            .ok()
            .map(|status| status.height)
    }

    /// Polls `probe` until it answers, or panics with the nodes' logs after
    /// [`PATIENCE`].
    pub async fn wait_for<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        match self.try_wait_for(what, PATIENCE, probe).await {
            Ok(value) => value,
            Err(error) => panic!("{error}\n{}", self.logs()),
        }
    }

    /// Polls `probe` until it answers, or fails after `patience`.
    pub async fn try_wait_for<T, F, Fut>(
        &self,
        what: &str,
        patience: Duration,
        mut probe: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = probe().await {
                return Ok(value);
            }
            if started.elapsed() > patience {
                anyhow::bail!(
                    "timed out after {} s waiting for {what}",
                    patience.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_for_height(&self, nodes: &[usize], target: u64) {
        for &index in nodes {
            self.wait_for(&format!("node{index} to reach height {target}"), || async {
                self.height(index).await.filter(|height| *height >= target)
            })
            .await;
        }
    }

    /// The highest height among `nodes` that answer.
    pub async fn highest(&self, nodes: &[usize]) -> u64 {
        let mut highest = 0;
        for &index in nodes {
            highest = highest.max(self.height(index).await.unwrap_or(0));
        }
        highest
    }

    /// Checks that every node in `nodes` has every block up to the lowest
    /// one's height, with the same hash and state root; returns that
    /// height.
    pub async fn assert_same_chain(&self, nodes: &[usize]) -> u64 {
        match self.check_same_chain(nodes).await {
            Ok(height) => height,
            Err(error) => panic!("{error:#}"),
        }
    }

    /// [`LocalNet::assert_same_chain`], for callers that handle the error.
    pub async fn check_same_chain(&self, nodes: &[usize]) -> anyhow::Result<u64> {
        use anyhow::Context;
        let mut lowest = u64::MAX;
        for &index in nodes {
            let height = self
                .height(index)
                .await
                .with_context(|| format!("node{index} does not answer"))?;
            lowest = lowest.min(height);
        }
        for block_height in 1..=lowest {
            let mut reference = None;
            for &index in nodes {
                let block = self.clients[index]
                    .block(block_height)
                    .await
                    .with_context(|| format!("node{index}"))?
                    .with_context(|| format!("node{index} lacks block {block_height}"))?;
                let identity = (block.hash.clone(), block.state_root.clone());
                match &reference {
                    None => reference = Some(identity),
                    Some(reference) if *reference != identity => anyhow::bail!(
                        "node{index} differs at height {block_height}: {identity:?} against {reference:?}"
                    ),
                    Some(_) => {}
                }
            }
        }
        Ok(lowest)
    }

    /// The value of metric `name` (summed over its series) on node `index`,
    /// from its `/metrics` page.
    pub async fn metric(&self, index: usize, name: &str) -> Option<f64> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics_port(index)))
            .await
            .ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut page = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut page))
            .await
            .ok()?
            .ok()?;
        let values: Vec<f64> = page
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        for index in 0..self.len() {
            self.kill(index);
        }
    }
}
