//! The client side of Cairn's adversary: floods a local network through
//! its nodes' JSON-RPC while an honest client sends transactions, and
//! measures what consensus and the honest client went through.
//!
//! The floods ([`Attack`]):
//!
//! - **queries**: JSON-RPC batches of maximum-gas queries (a hash chain
//!   that only gas stops), on many connections at once;
//! - **gapped**: signed, valid transactions that can never execute, each
//!   sender's nonces starting past a gap, optionally with the largest
//!   input a call may carry;
//! - **oversized**: transactions over the size limit, and request bodies
//!   over the server's;
//! - **spin**: valid transactions that run until the most gas a
//!   transaction may ask for, from many accounts at once.
//!
//! [`Session`] is what any attacker uses: the adversary
//! (`crate::adversary`, feature `adversary`) runs peers and faulty
//! validators between its `begin` and `end`; [`junk_peer`] is the peer.
//!
//! Every attack is bounded in time, requests and bytes ([`Budget`]), aims
//! only at loopback addresses ([`Target::new`] refuses anything else) and
//! stops by itself. Its [`Report`] has the heights each node finalized
//! during the attack, what the flood's requests got back, and the honest
//! client's inclusion latency (p50, p99) and the heights it waited.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use cairn_testnet::attack::{self, Attack, Budget, Setup, Target};
//!
//! # let (genesis_hash, faucet) = ([0; 32], cairn_types::keys::generate());
//! let urls = ["http://127.0.0.1:26652".to_owned()];
//! let target = Target::new(&urls, "cairn-testnet", genesis_hash)?;
//! // A key the genesis funded (`cairn-testnet up`'s faucet): it deploys
//! // the contracts and funds the accounts the attack signs with.
//! let setup = Setup::deploy(&target, faucet).await?;
//! let report = attack::run(
//!     &target,
//!     &setup,
//!     &Attack::Queries { connections: 32, batch: 16 },
//!     &Budget::seconds(30),
//! )
//! .await?;
//! println!("{}", attack::Report::table(&[report]));
//! # Ok(())
//! # }
//! ```

mod floods;
mod honest;
pub mod junk_peer;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_client::Client;
use cairn_client::api::{ReceiptView, codes};
use cairn_types::{Action, Address, Hash, PrivateKey, SignedTransaction, Transaction};
use parity_scale_codec::Encode;

pub use honest::HonestReport;

const HASHER: &[u8] = include_bytes!("../../../contracts-sdk/testdata/hasher.wasm");
const COUNTER: &[u8] = include_bytes!("../../../contracts-sdk/testdata/counter.wasm");

/// The gas price of everything the attack signs: far above a local
/// testnet's base fee, which these floods do not fill blocks to raise.
pub(crate) const GAS_PRICE: u64 = 100;
/// Accounts the setup funds for the honest client, for the gapped flood's
/// senders (whose queued transactions must be paid for) and for the
/// spinners (whose every unit of gas is).
const HONEST_KEYS: usize = 8;
const GAPPED_KEYS: usize = 32;
/// The most accounts a [`Attack::Spin`] flood sends from.
pub const SPINNER_KEYS: usize = 16;
/// What each of them gets: far more than 16 queued transactions of the
/// largest gas limit at [`GAS_PRICE`] cost.
const FUNDS: u128 = 1_000_000_000_000_000_000;

/// Gas for a transfer: its intrinsic cost only (about 3.5 million).
const TRANSFER_GAS: u64 = 10_000_000;
/// The gas limit of the setup's deploys.
const DEPLOY_GAS: u64 = 2_000_000_000;
/// The gas limit of an honest call.
pub(crate) const CALL_GAS: u64 = 100_000_000;
/// How long one request may take before it counts as a transport failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, after the flood, honest transactions still pending are waited
/// for before they count as not included.
const SETTLE: Duration = Duration::from_secs(60);
/// The most an attack goes on past its duration waiting for every node to
/// finalize [`Budget::min_finalized`] heights.
const MAX_HOLD: Duration = Duration::from_secs(120);

/// The nodes under attack: their RPC URLs, all on loopback.
#[derive(Debug, Clone)]
pub struct Target {
    pub urls: Vec<String>,
    pub chain_id: String,
    /// The network's genesis hash, which every signature covers.
    pub genesis_hash: Hash,
    clients: Vec<Client>,
}

impl Target {
    /// Refuses any URL whose host is not a loopback address: these floods
    /// are for local networks only.
    pub fn new(urls: &[String], chain_id: &str, genesis_hash: Hash) -> anyhow::Result<Self> {
        if urls.is_empty() {
            bail!("no node to aim at");
        }
        let mut clients = Vec::new();
        for url in urls {
            let host = url
                .strip_prefix("http://")
                .and_then(|rest| rest.rsplit_once(':'))
                .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
                .with_context(|| format!("{url} is not http://host:port"))?;
            let ip: IpAddr = host
                .parse()
                .with_context(|| format!("{url}: the host must be a loopback IP address"))?;
            if !ip.is_loopback() {
                bail!("{url} is not on loopback: attacks run against local networks only");
            }
            clients.push(Client::with_timeout(url, REQUEST_TIMEOUT)?);
        }
        Ok(Target {
            urls: urls.to_vec(),
            chain_id: chain_id.to_owned(),
            genesis_hash,
            clients,
        })
    }

    pub(crate) fn client(&self, index: usize) -> &Client {
        &self.clients[index % self.clients.len()]
    }

    pub(crate) fn nodes(&self) -> usize {
        self.clients.len()
    }

    /// A transaction of the target's chain. Everything this module sends is
    /// signed here, through `cairn-types`, so a change of the transaction
    /// format changes it in one place.
    pub(crate) fn sign(
        &self,
        key: &PrivateKey,
        nonce: u64,
        gas_limit: u64,
        action: Action,
    ) -> SignedTransaction {
        self.sign_at(key, nonce, gas_limit, GAS_PRICE, action)
    }

    /// [`Target::sign`] at `gas_price`.
    pub(crate) fn sign_at(
        &self,
        key: &PrivateKey,
        nonce: u64,
        gas_limit: u64,
        gas_price: u64,
        action: Action,
    ) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id.clone(),
            genesis_hash: self.genesis_hash,
            sender: cairn_types::keys::address(key),
            nonce,
            gas_limit,
            gas_price,
            value: 0,
            action,
        }
        .sign(key)
    }

    /// Each node's height, or `None` for a node that does not answer.
    pub async fn heights(&self) -> Vec<Option<u64>> {
        let mut heights = Vec::new();
        for client in &self.clients {
            heights.push(client.status().await.ok().map(|status| status.height));
        }
        heights
    }
}

/// The contracts the attacks use, deployed once per network, the chain's
/// gas bounds, and the funded accounts the attacks sign with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `hasher` example: `hash_chain(seed, rounds)` runs until gas
    /// ends, the heaviest query there is.
    pub hasher: Address,
    /// The `counter` example, which the honest client increments.
    pub counter: Address,
    /// The most gas a transaction may ask for: what the flood's
    /// transactions ask, so that any size of them is admitted.
    pub max_tx_gas: u64,
    /// The honest client's accounts, one per concurrent sender.
    pub honest: Vec<PrivateKey>,
    /// The gapped flood's senders: a transaction is admitted only if its
    /// sender can pay for it and everything it has pending.
    pub gapped: Vec<PrivateKey>,
    /// The spinning flood's senders, one per connection: each pays for
    /// the gas its transactions burn.
    pub spinners: Vec<PrivateKey>,
}

impl Setup {
    /// Deploys both contracts from `funder` (a key the genesis funded)
    /// through the first node, and funds fresh accounts from it.
    pub async fn deploy(target: &Target, funder: PrivateKey) -> anyhow::Result<Setup> {
        let client = target.client(0);
        let sender = cairn_types::keys::address(&funder);
        let mut nonce = client.account(&sender).await?.pending_nonce;
        let deploys = [(HASHER, Vec::new()), (COUNTER, u64::MAX.encode())];
        let mut addresses = Vec::new();
        for (code, init_input) in deploys {
            let tx = target.sign(
                &funder,
                nonce,
                DEPLOY_GAS,
                Action::Deploy {
                    code: code.to_vec(),
                    abi: Vec::new(),
                    init_input,
                },
            );
            client.submit(&tx).await?;
            let receipt = client
                .wait_for_receipt(&tx.hash(), SETTLE, Duration::from_millis(100))
                .await?;
            if receipt.status != 0 {
                bail!(
                    "deploying the attack's contracts failed: {}",
                    receipt.status_name
                );
            }
            addresses.push(cairn_types::contract_address(&sender, nonce));
            nonce += 1;
        }
        let honest: Vec<PrivateKey> = (0..HONEST_KEYS)
            .map(|_| cairn_types::keys::generate())
            .collect();
        let gapped: Vec<PrivateKey> = (0..GAPPED_KEYS)
            .map(|_| cairn_types::keys::generate())
            .collect();
        let spinners: Vec<PrivateKey> = (0..SPINNER_KEYS)
            .map(|_| cairn_types::keys::generate())
            .collect();
        let mut last = None;
        for key in honest.iter().chain(&gapped).chain(&spinners) {
            let tx = Transaction {
                chain_id: target.chain_id.clone(),
                genesis_hash: target.genesis_hash,
                sender,
                nonce,
                gas_limit: TRANSFER_GAS,
                gas_price: GAS_PRICE,
                value: FUNDS,
                action: Action::Transfer {
                    to: cairn_types::keys::address(key),
                },
            }
            .sign(&funder);
            client.submit(&tx).await?;
            last = Some(tx.hash());
            nonce += 1;
        }
        if let Some(hash) = last {
            // The funder's transfers go in nonce order: the last one's
            // receipt means all are in.
            let receipt = client
                .wait_for_receipt(&hash, SETTLE, Duration::from_millis(100))
                .await?;
            if receipt.status != 0 {
                bail!(
                    "funding the attack's accounts failed: {}",
                    receipt.status_name
                );
            }
        }
        Ok(Setup {
            hasher: addresses[0],
            counter: addresses[1],
            max_tx_gas: client.status().await?.params.max_tx_gas,
            honest,
            gapped,
            spinners,
        })
    }
}

/// A flood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attack {
    /// Batches of `batch` maximum-gas queries, on `connections`
    /// connections, spread over the nodes.
    Queries { connections: usize, batch: usize },
    /// Batches of `batch` valid transactions whose nonces start past a gap,
    /// so that none can ever execute; each carries a call input of
    /// `input_bytes`.
    Gapped {
        connections: usize,
        batch: usize,
        input_bytes: usize,
    },
    /// Transactions just over the size limit, and request bodies over the
    /// server's limit, alternately.
    Oversized { connections: usize },
    /// Valid transactions that spin until their gas limit, the most a
    /// transaction may ask for: `accounts` senders, each with one
    /// transaction in flight at a time. Until the native token's fees
    /// land, they cost the sender nothing, and block space goes first come,
    /// first served.
    Spin { accounts: usize },
    /// No flood: the honest client alone, the baseline of the others.
    Nothing,
}

impl Attack {
    pub fn name(&self) -> String {
        match self {
            Attack::Queries { connections, batch } => {
                format!("query flood ({connections} connections, batches of {batch})")
            }
            Attack::Gapped {
                connections,
                batch,
                input_bytes,
            } => format!(
                "gapped transactions ({connections} connections, batches of {batch}, {input_bytes} B inputs)"
            ),
            Attack::Oversized { connections } => {
                format!("oversized transactions ({connections} connections)")
            }
            Attack::Spin { accounts } => {
                format!("transactions spinning to the gas limit ({accounts} accounts)")
            }
            Attack::Nothing => "none (baseline)".into(),
        }
    }
}

/// How much an attack may do: it stops at whichever limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub duration: Duration,
    pub max_requests: u64,
    pub max_bytes: u64,
    /// Honest accounts sending transactions meanwhile, one at a time each.
    pub honest_accounts: usize,
    /// Spread the requests and bytes evenly over the duration rather than
    /// spending them as fast as possible: for a flood whose total must stay
    /// below a capacity yet last the whole attack.
    pub paced: bool,
    /// The attack goes on past its duration, as hard as before, until
    /// every node it aims at has finalized this many heights since it
    /// began (two minutes more at the most): an attack shorter than the
    /// block it slows would measure nothing.
    pub min_finalized: u64,
}

impl Budget {
    /// `seconds` of flood, at most a million requests and 4 GB.
    pub fn seconds(seconds: u64) -> Self {
        Budget {
            duration: Duration::from_secs(seconds),
            max_requests: 1_000_000,
            max_bytes: 4 << 30,
            honest_accounts: 4,
            paced: false,
            min_finalized: 0,
        }
    }
}

/// What an attack has spent, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Spent {
    budget: Budget,
    /// Tokio's clock, which tests can pause.
    started: tokio::time::Instant,
    /// Milliseconds from `started` to the end of the budget's time: an
    /// attack that must first reach every node may lengthen it.
    deadline_ms: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Spent {
    fn new(budget: Budget) -> Self {
        Spent {
            budget,
            started: tokio::time::Instant::now(),
            deadline_ms: AtomicU64::new(
                u64::try_from(budget.duration.as_millis()).unwrap_or(u64::MAX),
            ),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        (self.started + Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))).into_std()
    }

    /// Moves the end of the budget's time to `extra` from now, if that is
    /// later.
    fn extend(&self, extra: Duration) {
        let wanted = self.started.elapsed() + extra;
        self.deadline_ms.fetch_max(
            u64::try_from(wanted.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// For a paced budget, waits while more of the requests or bytes are
    /// spent than of the time.
    pub(crate) async fn pace(&self) {
        if !self.budget.paced {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let spent = (self.requests.load(Ordering::Relaxed) as f64
            / self.budget.max_requests.max(1) as f64)
            .max(self.bytes.load(Ordering::Relaxed) as f64 / self.budget.max_bytes.max(1) as f64);
        let due = self.budget.duration.mul_f64(spent.min(1.0));
        let elapsed = self.started.elapsed();
        if due > elapsed {
            tokio::time::sleep((due - elapsed).min(Duration::from_secs(1))).await;
        }
    }

    pub(crate) fn over(&self) -> bool {
        self.started.elapsed() >= Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))
            || self.requests.load(Ordering::Relaxed) >= self.budget.max_requests
            || self.bytes.load(Ordering::Relaxed) >= self.budget.max_bytes
    }

    /// Takes one request of `bytes` from the budget; false once it is spent.
    pub(crate) fn take(&self, bytes: u64) -> bool {
        if self.over() {
            return false;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        true
    }
}

/// Counts of what the flood's calls got back, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcomes(pub BTreeMap<String, u64>);

impl Outcomes {
    pub(crate) fn add(&mut self, kind: impl Into<String>) {
        *self.0.entry(kind.into()).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, other: Outcomes) {
        for (kind, count) in other.0 {
            *self.0.entry(kind).or_default() += count;
        }
    }

    pub fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// The kind of a failed call, for [`Outcomes`]: the node's error code by
/// name (a refused transaction by the start of its reason), or how the
/// transport failed.
pub(crate) fn kind_of(error: &jsonrpsee::core::ClientError) -> String {
    use jsonrpsee::core::ClientError;
    match error {
        ClientError::Call(object) => match object.code() {
            codes::BUSY => "busy".into(),
            codes::TX_REJECTED => {
                let reason: String = object
                    .message()
                    .split(|c: char| c.is_ascii_digit() || c == ':' || c == ';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .chars()
                    .take(40)
                    .collect();
                format!("refused: {reason}")
            }
            codes::INVALID_PARAMS => "invalid params".into(),
            codes::INTERNAL | codes::QUERY_FAILED => "node error".into(),
            other => format!("error {other}"),
        },
        ClientError::RequestTimeout => "timed out".into(),
        ClientError::Transport(error) => {
            let text = error.to_string();
            if text.contains("413") || text.to_lowercase().contains("too large") {
                "body too large".into()
            } else {
                // A body the node stopped reading ends in a closed
                // connection.
                let short: String = text.chars().take(48).collect();
                format!("transport: {short}")
            }
        }
        other => format!("client: {other}"),
    }
}

/// One node's heights around the flood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHeights {
    pub url: String,
    pub before: Option<u64>,
    pub after: Option<u64>,
}

impl NodeHeights {
    /// Blocks the node finalized during the flood (0 if it stopped
    /// answering).
    pub fn finalized(&self) -> u64 {
        match (self.before, self.after) {
            (Some(before), Some(after)) => after.saturating_sub(before),
            _ => 0,
        }
    }
}

/// What one attack did and what it cost consensus and the honest client.
#[derive(Debug, Clone)]
pub struct Report {
    pub attack: String,
    pub elapsed: Duration,
    pub requests: u64,
    pub bytes: u64,
    pub outcomes: Outcomes,
    pub heights: Vec<NodeHeights>,
    pub honest: HonestReport,
}

impl Report {
    /// The fewest blocks any of the honest nodes finalized during the
    /// attack.
    pub fn min_finalized(&self) -> u64 {
        self.heights
            .iter()
            .map(NodeHeights::finalized)
            .min()
            .unwrap_or(0)
    }

    /// A Markdown table of reports, one row each: what docs/BENCHMARKS.md
    /// keeps.
    pub fn table(reports: &[Report]) -> String {
        let mut text = String::from(
            "| attack | seconds | requests | MB sent | heights finalized (min of honest nodes) | honest included | honest p50 / p99 | heights waited (max) | honest errors | what the attack got |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for report in reports {
            let outcomes = report
                .outcomes
                .0
                .iter()
                .map(|(kind, count)| format!("{kind} {count}"))
                .collect::<Vec<_>>()
                .join(", ");
            #[allow(clippy::cast_precision_loss)]
            let megabytes = report.bytes as f64 / 1e6;
            text.push_str(&format!(
                "| {} | {:.1} | {} | {:.1} | {} | {}/{} | {} / {} ms | {} | {} | {} |\n",
                report.attack,
                report.elapsed.as_secs_f64(),
                report.requests,
                megabytes,
                report.min_finalized(),
                report.honest.included(),
                report.honest.sent,
                report
                    .honest
                    .latency_percentile(50)
                    .map_or(0, |d| d.as_millis()),
                report
                    .honest
                    .latency_percentile(99)
                    .map_or(0, |d| d.as_millis()),
                report.honest.max_heights_waited().unwrap_or(0),
                report.honest.errors(),
                outcomes,
            ));
        }
        text
    }
}

/// Runs `attack` against `target` within `budget`, with an honest client
/// sending transactions meanwhile; waits for the honest transactions still
/// pending afterwards (at most a minute) and reports.
pub async fn run(
    target: &Target,
    setup: &Setup,
    attack: &Attack,
    budget: &Budget,
) -> anyhow::Result<Report> {
    let session = Session::begin(target, setup, budget).await;
    let outcomes = floods::run(target, setup, attack, &session.spent).await?;
    session.end(attack.name(), outcomes).await
}

/// One attack in progress: the heights it started at, its budget being
/// spent, and the honest client at work. An attacker of any kind (a flood
/// here, a peer or a crashing validator in the adversary) acts between
/// [`Session::begin`] and [`Session::end`], until [`Session::over`].
#[derive(Debug)]
pub struct Session {
    target: Target,
    spent: std::sync::Arc<Spent>,
    before: Vec<Option<u64>>,
    started: Instant,
    honest: tokio::task::JoinHandle<anyhow::Result<HonestReport>>,
    /// Holds the attack on until every node finalized
    /// [`Budget::min_finalized`] heights.
    hold: Option<tokio::task::JoinHandle<()>>,
}

impl Session {
    /// Reads the heights of `target`'s nodes (the honest ones: the
    /// report's heights are theirs) and starts the honest client on them.
    pub async fn begin(target: &Target, setup: &Setup, budget: &Budget) -> Session {
        let spent = std::sync::Arc::new(Spent::new(*budget));
        let before = target.heights().await;
        let started = Instant::now();
        let honest = tokio::spawn(honest::run(
            target.clone(),
            setup.clone(),
            budget.honest_accounts,
            std::sync::Arc::clone(&spent),
        ));
        let hold = (budget.min_finalized > 0).then(|| {
            tokio::spawn(hold_until_finalized(
                target.clone(),
                before.clone(),
                std::sync::Arc::clone(&spent),
            ))
        });
        Session {
            target: target.clone(),
            spent,
            before,
            started,
            honest,
            hold,
        }
    }

    /// Whether the budget is spent: the attacker stops.
    pub fn over(&self) -> bool {
        self.spent.over()
    }

    /// Takes one request (a message, a kill) of `bytes` from the budget;
    /// false once it is spent.
    pub fn take(&self, bytes: u64) -> bool {
        self.spent.take(bytes)
    }

    /// When the budget's time runs out.
    pub fn deadline(&self) -> Instant {
        self.spent.deadline()
    }

    /// Lengthens the attack to at least `extra` from now: for an attack
    /// that has not yet reached every node it is meant to (a peer whose
    /// messages no node has seen yet), so that a slow start does not end
    /// it before it began. Bounded by the caller.
    pub fn extend(&self, extra: Duration) {
        self.spent.extend(extra);
    }

    /// Reads the heights again, waits for the honest client's pending
    /// transactions (at most a minute) and reports.
    pub async fn end(self, attack: String, outcomes: Outcomes) -> anyhow::Result<Report> {
        if let Some(hold) = &self.hold {
            hold.abort();
        }
        let elapsed = self.started.elapsed();
        let after = self.target.heights().await;
        let honest = self.honest.await.context("the honest client failed")??;
        Ok(Report {
            attack,
            elapsed,
            requests: self.spent.requests.load(Ordering::Relaxed),
            bytes: self.spent.bytes.load(Ordering::Relaxed),
            outcomes,
            heights: self
                .target
                .urls
                .iter()
                .zip(self.before.into_iter().zip(after))
                .map(|(url, (before, after))| NodeHeights {
                    url: url.clone(),
                    before,
                    after,
                })
                .collect(),
            honest,
        })
    }
}

/// Keeps `spent`'s time from running out, a second at a time, until every
/// node of `target` has finalized the budget's `min_finalized` heights
/// past `before`, the attack ended otherwise, or [`MAX_HOLD`] passed.
async fn hold_until_finalized(
    target: Target,
    before: Vec<Option<u64>>,
    spent: std::sync::Arc<Spent>,
) {
    let limit = spent.budget.duration + MAX_HOLD;
    loop {
        let now = target.heights().await;
        let finalized = now.iter().zip(&before).all(|(now, before)| {
            matches!((now, before), (Some(now), Some(before))
                if now.saturating_sub(*before) >= spent.budget.min_finalized)
        });
        if finalized || spent.over() || spent.started.elapsed() >= limit {
            return;
        }
        spent.extend(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `hash`'s receipt on `client` until it is there or `deadline`.
pub(crate) async fn receipt_by(
    client: &Client,
    hash: &cairn_types::Hash,
    deadline: Instant,
) -> Option<ReceiptView> {
    loop {
        if let Ok(Some(receipt)) = client.receipt(hash).await {
            return Some(receipt);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        for url in [
            "http://127.0.0.1:26657",
            "http://127.3.2.1:1",
            "http://[::1]:26657",
        ] {
            Target::new(&[url.to_owned()], "c", [0; 32]).unwrap();
        }
        for url in [
            "http://10.0.0.1:26657",
            "http://8.8.8.8:80",
            "http://example.com:80",
            "http://localhost.evil:1",
            "https://127.0.0.1",
        ] {
            assert!(
                Target::new(&[url.to_owned()], "c", [0; 32]).is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn a_budget_stops_at_its_first_limit() {
        let spent = Spent::new(Budget {
            max_requests: 3,
            ..Budget::seconds(60)
        });
        assert!(spent.take(10) && spent.take(10) && spent.take(10));
        assert!(!spent.take(10));
        let spent = Spent::new(Budget {
            max_bytes: 25,
            ..Budget::seconds(60)
        });
        assert!(spent.take(10) && spent.take(10) && spent.take(10));
        assert!(!spent.take(1));
        let spent = Spent::new(Budget::seconds(0));
        assert!(!spent.take(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_paced_budget_spreads_its_requests_over_its_time() {
        let spent = Spent::new(Budget {
            max_requests: 10,
            paced: true,
            ..Budget::seconds(10)
        });
        let started = tokio::time::Instant::now();
        let mut taken_at = Vec::new();
        loop {
            spent.pace().await;
            if !spent.take(1) {
                break;
            }
            taken_at.push(started.elapsed());
        }
        // Request k went once k tenths of the time had passed, not before,
        // and the last one well before the end.
        assert_eq!(taken_at.len(), 10, "{taken_at:?}");
        for (k, at) in (0u32..).zip(&taken_at) {
            assert!(*at >= Duration::from_secs(k.into()), "{taken_at:?}");
            assert!(*at < Duration::from_secs(u64::from(k) + 1), "{taken_at:?}");
        }
        // Unpaced, the same budget goes at once.
        let spent = Spent::new(Budget {
            max_requests: 10,
            ..Budget::seconds(10)
        });
        let unpaced = tokio::time::Instant::now();
        for _ in 0..10 {
            spent.pace().await;
            assert!(spent.take(1));
        }
        assert_eq!(unpaced.elapsed(), Duration::ZERO);
    }
}
