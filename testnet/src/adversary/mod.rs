//! The adversary of issue 14: a local network of real node processes that
//! it starts itself, and every attack against it, one after the other. For
//! each, the honest nodes' heights before and after, what the attack got,
//! and what an honest client sending transactions meanwhile went through
//! ([`Report`]).
//!
//! The attacks ([`ATTACKS`], [`describe`]):
//!
//! - peers on the consensus network ([`peers`]): a stranger publishing junk
//!   proposal streams, and a faulty validator (the holder of one
//!   validator's key, in its place) publishing junk streams and proposals
//!   for rounds it does not propose;
//! - validators ([`validators`]): one SIGKILLed and restarted repeatedly;
//!   one whose clock is a minute ahead, then behind;
//! - clients ([`crate::attack`]): batches of maximum-gas queries,
//!   oversized transactions, transactions spinning to the gas limit, and
//!   gapped transactions (small, and with the largest inputs).
//!
//! Everything is on loopback, bounded in time and traffic, and stops by
//! itself: the network's processes are children of this one and die with
//! the [`Adversary`].
//!
//! The nodes run with cairn-node's fault switches (`test-utils`: the clock
//! offset); that is why this module, and the `cairn-adversary` binary
//! that runs it, exist only with this crate's `adversary` feature, and why
//! the nodes are this binary's own children (`cairn-adversary run --home
//! …`) rather than `cairn-node` processes, which have no such switches.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use cairn_testnet::adversary::{Adversary, ATTACKS};
//! use cairn_testnet::attack::Report;
//!
//! let dir = tempfile::tempdir()?;
//! let mut adversary = Adversary::start(dir.path(), "target/release/cairn-adversary").await?;
//! let mut reports = Vec::new();
//! for name in ATTACKS {
//!     reports.push(adversary.run(name, 10).await?);
//! }
//! println!("{}", Report::table(&reports));
//! # Ok(())
//! # }
//! ```

pub mod peers;
pub mod validators;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_node::consensus::context::{Height, Validator, ValidatorAddress, ValidatorSet};
use cairn_node::genesis::Genesis;
use cairn_node::test_utils::local_net::{LocalNet, PATIENCE, Timing};
use malachitebft_app_channel::app::types::core::Round;

use crate::attack::{self, Attack, Budget, Report, Setup, Target};

/// Validators in the adversary's network.
pub const NODES: usize = 4;
/// The validator the validator attacks take over, kill or skew: the last.
pub const VICTIM: usize = NODES - 1;
/// Every node.
const ALL: [usize; NODES] = [0, 1, 2, 3];
/// The nodes that stay honest while [`VICTIM`] is attacked or impersonated.
const OTHERS: [usize; NODES - 1] = [0, 1, 2];

/// Every attack, by name, in the order a run without names plays them:
/// the baseline first; then the gapped floods (nothing expires from a
/// mempool yet, so what they leave stays there, inert: no block includes
/// it); the spinning transactions last, since the backlog they leave runs
/// to the gas limit block after block once the attack is over, and would
/// be measured as the next attack's.
pub const ATTACKS: &[&str] = &[
    "none",
    "junk-streams",
    "out-of-turn",
    "kill-restart",
    "clock-ahead",
    "clock-behind",
    "queries",
    "oversized",
    "gapped",
    "gapped-large",
    "spin",
];

/// The most gapped transactions one run sends: below a node's mempool
/// capacity (20,000). Gapped transactions stay until they expire (ten
/// minutes by default), so more would fill it for the rest of a run.
const GAPPED_TRANSACTIONS: u64 = 12_000;
/// The most bytes the gapped flood of largest inputs sends, for the same
/// reason: below the mempool's 256 MiB.
const GAPPED_LARGE_BYTES: u64 = 96 << 20;
/// A cap on any other attack's traffic.
const MAX_BYTES: u64 = 2 << 30;
/// What the faucet holds at genesis: fees for every attack, many times over.
const FAUCET_BALANCE: u128 = 1_000_000_000_000_000_000_000_000_000_000;

/// What attack `name` does, for `--list` and the docs; `None` for a name
/// that is not one.
pub fn describe(name: &str) -> Option<&'static str> {
    Some(match name {
        "none" => "no attack: the honest client alone, the baseline",
        "junk-streams" => {
            "a stranger on the consensus network publishes proposal streams that never complete"
        }
        "out-of-turn" => {
            "a faulty validator (node 3's key, in its place) publishes junk streams and signed proposals for every round it does not propose"
        }
        "kill-restart" => "node 3 is SIGKILLed and restarted, again and again",
        "clock-ahead" => "node 3 runs with its clock a minute ahead",
        "clock-behind" => "node 3 runs with its clock a minute behind",
        "queries" => "JSON-RPC batches of maximum-gas queries on 160 connections",
        "oversized" => "transactions over the size limit and bodies over the server's",
        "spin" => "valid transactions that spin until the most gas a transaction may ask for",
        "gapped" => "valid transactions whose nonces start past a gap, so they never execute",
        "gapped-large" => "the same with the largest input a call may carry",
        _ => return None,
    })
}

/// A network of [`NODES`] validators under attack, and what attacks it.
#[derive(Debug)]
pub struct Adversary {
    net: LocalNet,
    genesis: Genesis,
    validators: ValidatorSet,
    /// Every node's RPC.
    all: Target,
    /// The nodes other than [`VICTIM`].
    others: Target,
    setup: Setup,
}

impl Adversary {
    /// Writes a network's homes under `dir` (which must be empty), starts
    /// its nodes as `binary run --home <home>` (a binary with cairn-node's
    /// fault switches: `cairn-adversary`), waits for its first block and
    /// deploys the contracts the attacks use.
    pub async fn start(dir: &Path, binary: impl Into<PathBuf>) -> anyhow::Result<Adversary> {
        // The faucet pays for the attack's contracts and funds its honest
        // and flooding accounts.
        let faucet = cairn_types::keys::generate();
        let mut net = LocalNet::generate_funded(
            dir,
            binary,
            NODES,
            Timing::default(),
            vec![(cairn_types::keys::address(&faucet), FAUCET_BALANCE)],
        )?;
        for index in ALL {
            net.try_start_with(index, &[])?;
        }
        let genesis = net.genesis()?;
        let validators = ValidatorSet::new(
            genesis
                .validators
                .iter()
                .map(|validator| {
                    Ok(Validator {
                        address: ValidatorAddress(validator.key()?),
                        power: validator.power,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        )
        .map_err(|error| anyhow::anyhow!("the genesis's validators: {error}"))?;
        let urls = |nodes: &[usize]| -> Vec<String> {
            nodes
                .iter()
                .map(|&index| net.rpc_url(index).to_owned())
                .collect()
        };
        let all = Target::new(&urls(&ALL), &genesis.chain_id, genesis.hash())?;
        let others = Target::new(&urls(&OTHERS), &genesis.chain_id, genesis.hash())?;
        net.try_wait_for("the first block on every node", PATIENCE, || async {
            let mut lowest = u64::MAX;
            for index in ALL {
                lowest = lowest.min(net.height(index).await?);
            }
            (lowest >= 1).then_some(())
        })
        .await
        .with_context(|| net.logs())?;
        let setup = Setup::deploy(&all, faucet).await?;
        Ok(Adversary {
            net,
            genesis,
            validators,
            all,
            others,
            setup,
        })
    }

    /// The network's processes and homes (their `node.log`s).
    pub fn net(&self) -> &LocalNet {
        &self.net
    }

    /// Runs attack `name` (one of [`ATTACKS`]) for `seconds`, with the
    /// honest client at work, and brings the network back to every node
    /// running and caught up before and after.
    pub async fn run(&mut self, name: &str, seconds: u64) -> anyhow::Result<Report> {
        if describe(name).is_none() {
            bail!(
                "no attack is called {name:?}; there are {}",
                ATTACKS.join(", ")
            );
        }
        self.heal().await?;
        // Every attack lasts until each honest node finalized a height
        // under it: in a debug build a block of transactions at the gas
        // limit takes longer than a short attack.
        let budget = |max_bytes: u64| Budget {
            max_bytes,
            min_finalized: 1,
            ..Budget::seconds(seconds)
        };
        // Client attacks aim at every node; the others at a validator or
        // at the consensus network, and heal after.
        let client_attack = match name {
            "none" => Some((Attack::Nothing, budget(MAX_BYTES))),
            "queries" => Some((
                // More connections than the four nodes have query threads
                // and queue places (4 x (2 + 32)).
                Attack::Queries {
                    connections: 160,
                    batch: 16,
                },
                budget(MAX_BYTES),
            )),
            "oversized" => Some((Attack::Oversized { connections: 4 }, budget(MAX_BYTES))),
            // Four blocks' worth of gas at any time (a block holds four
            // transactions at the most gas), from accounts spread over the
            // nodes.
            "spin" => Some((Attack::Spin { accounts: 16 }, budget(MAX_BYTES))),
            "gapped" => Some((
                Attack::Gapped {
                    connections: 4,
                    batch: 16,
                    input_bytes: 0,
                },
                Budget {
                    max_requests: GAPPED_TRANSACTIONS / 16,
                    paced: true,
                    ..budget(MAX_BYTES)
                },
            )),
            "gapped-large" => Some((
                Attack::Gapped {
                    connections: 2,
                    batch: 4,
                    input_bytes: cairn_types::limits::MAX_INPUT_BYTES,
                },
                Budget {
                    paced: true,
                    ..budget(GAPPED_LARGE_BYTES)
                },
            )),
            _ => None,
        };
        let mut report = match client_attack {
            Some((attack, budget)) => {
                let mut report = attack::run(&self.all, &self.setup, &attack, &budget).await?;
                report.attack = labelled(name, &report.attack);
                return Ok(report);
            }
            None => match name {
                "junk-streams" => peers::junk_streams(self, budget(MAX_BYTES)).await?,
                "out-of-turn" => peers::out_of_turn(self, budget(MAX_BYTES)).await?,
                "kill-restart" => validators::kill_restart(self, budget(MAX_BYTES)).await?,
                "clock-ahead" => validators::skewed_clock(self, 60_000, budget(MAX_BYTES)).await?,
                "clock-behind" => {
                    validators::skewed_clock(self, -60_000, budget(MAX_BYTES)).await?
                }
                other => bail!("attack {other} has no plan"),
            },
        };
        report.attack = labelled(name, &report.attack);
        // The way back (a victim catching up), part of what the attack
        // cost.
        let healed = self.heal().await?;
        report.outcomes.0.insert(
            "seconds until every node caught up after".into(),
            healed.as_secs(),
        );
        Ok(report)
    }

    /// Checks that every node has every block up to the lowest one's
    /// height, identical; returns that height.
    pub async fn same_chain(&self) -> anyhow::Result<u64> {
        self.net.check_same_chain(&ALL).await
    }

    /// Starts any node that is not running and waits until every node has
    /// reached the highest height any had when asked; how long that took.
    async fn heal(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let target = self.net.highest(&ALL).await;
        loop {
            for index in ALL {
                // A node that exited (a port the attacker held a moment
                // too long) is started again.
                if !self.net.running(index) {
                    self.net.try_start_with(index, &[])?;
                }
            }
            let mut lowest = u64::MAX;
            for index in ALL {
                lowest = lowest.min(self.net.height(index).await.unwrap_or(0));
            }
            if lowest >= target {
                return Ok(started.elapsed());
            }
            if started.elapsed() > PATIENCE {
                bail!(
                    "the network did not heal in {} s (a node at {lowest}, short of {target})\n{}",
                    PATIENCE.as_secs(),
                    self.net.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The validator due to propose `round` of `height`.
    fn proposer(&self, height: u64, round: u32) -> ValidatorAddress {
        self.validators
            .proposer(Height(height), Round::new(round))
            .address
    }

    /// Node `index`'s address as a validator.
    fn address(&self, index: usize) -> anyhow::Result<ValidatorAddress> {
        Ok(ValidatorAddress(
            *self.net.key(index)?.public_key().as_bytes(),
        ))
    }

    /// How many of the nodes' log lines so far contain `needle`, each.
    fn log_counts(&self, nodes: &[usize], needle: &str) -> Vec<u64> {
        nodes
            .iter()
            .map(|&index| {
                let log = std::fs::read_to_string(self.net.home(index).join("node.log"))
                    .unwrap_or_default();
                u64::try_from(log.matches(needle).count()).unwrap_or(u64::MAX)
            })
            .collect()
    }

    /// Node `index`'s counter `name`, 0 if it does not answer.
    async fn counter(&self, index: usize, name: &str) -> u64 {
        let value = self.net.metric(index, name).await.unwrap_or(0.0);
        // A counter is a whole number well within u64.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let value = value.max(0.0) as u64;
        value
    }
}

/// A report's label: the attack's name (what the command line takes), then
/// what it did, unless that starts with the name already.
fn labelled(name: &str, what: &str) -> String {
    if what.starts_with(name) {
        what.to_owned()
    } else {
        format!("{name}: {what}")
    }
}

/// What makes a report a failure of the network rather than a measure of
/// it: an honest node that finalized nothing during the attack, an honest
/// transaction accepted and never included, or an honest client that got
/// nothing in. Empty when the network held.
pub fn failures(report: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    for node in &report.heights {
        if node.finalized() == 0 {
            failures.push(format!(
                "{}: {} finalized nothing ({:?} to {:?})",
                report.attack, node.url, node.before, node.after
            ));
        }
    }
    let honest = &report.honest;
    if honest.sent == 0 {
        failures.push(format!(
            "{}: no honest transaction got in ({} refused)",
            report.attack,
            honest.refused.len()
        ));
    }
    if honest.missing > 0 || honest.included() != honest.sent {
        failures.push(format!(
            "{}: {} of {} honest transactions never included",
            report.attack,
            honest.sent - honest.included(),
            honest.sent
        ));
    }
    failures
}
