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
//!   over the server's.
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
/// Accounts the setup funds for the honest client, and for the gapped
/// flood's senders (whose queued transactions must be paid for).
const HONEST_KEYS: usize = 8;
const GAPPED_KEYS: usize = 32;
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
        Transaction {
            chain_id: self.chain_id.clone(),
            genesis_hash: self.genesis_hash,
            sender: cairn_types::keys::address(key),
            nonce,
            gas_limit,
            gas_price: GAS_PRICE,
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
        let mut last = None;
        for key in honest.iter().chain(&gapped) {
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
}

impl Budget {
    /// `seconds` of flood, at most a million requests and 4 GB.
    pub fn seconds(seconds: u64) -> Self {
        Budget {
            duration: Duration::from_secs(seconds),
            max_requests: 1_000_000,
            max_bytes: 4 << 30,
            honest_accounts: 4,
        }
    }
}

/// What an attack has spent, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Spent {
    budget: Budget,
    deadline: Instant,
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Spent {
    fn new(budget: Budget) -> Self {
        Spent {
            budget,
            deadline: Instant::now() + budget.duration,
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn over(&self) -> bool {
        Instant::now() >= self.deadline
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
    /// A Markdown table of reports, one row each: what docs/BENCHMARKS.md
    /// keeps.
    pub fn table(reports: &[Report]) -> String {
        let mut text = String::from(
            "| attack | seconds | requests | MB sent | heights finalized (min of nodes) | honest included | honest p50 / p99 | heights waited (max) | what the flood got |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for report in reports {
            let finalized = report
                .heights
                .iter()
                .map(NodeHeights::finalized)
                .min()
                .unwrap_or(0);
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
                "| {} | {:.1} | {} | {:.1} | {} | {}/{} | {} / {} ms | {} | {} |\n",
                report.attack,
                report.elapsed.as_secs_f64(),
                report.requests,
                megabytes,
                finalized,
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
    let spent = std::sync::Arc::new(Spent::new(*budget));
    let before = target.heights().await;
    let started = Instant::now();
    let honest = tokio::spawn(honest::run(
        target.clone(),
        setup.clone(),
        budget.honest_accounts,
        std::sync::Arc::clone(&spent),
    ));
    let outcomes = floods::run(target, setup, attack, &spent).await?;
    let elapsed = started.elapsed();
    let after = target.heights().await;
    let honest = honest.await.context("the honest client failed")??;
    Ok(Report {
        attack: attack.name(),
        elapsed,
        requests: spent.requests.load(Ordering::Relaxed),
        bytes: spent.bytes.load(Ordering::Relaxed),
        outcomes,
        heights: target
            .urls
            .iter()
            .zip(before.into_iter().zip(after))
            .map(|(url, (before, after))| NodeHeights {
                url: url.clone(),
                before,
                after,
            })
            .collect(),
        honest,
    })
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
}
