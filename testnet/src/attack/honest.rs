//! The honest client: accounts that each send one transaction at a time
//! (a counter increment, at the gas price the node suggests) through the
//! nodes in turn while a flood lasts, and time each from submission to its
//! receipt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_types::Action;
use parity_scale_codec::Encode;

use super::{CALL_GAS, GAS_PRICE, SETTLE, Setup, Spent, Target, receipt_by};

/// What the honest client went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HonestReport {
    /// Transactions the nodes accepted.
    pub sent: u64,
    /// Submission to receipt, for each included transaction.
    pub latencies: Vec<Duration>,
    /// Blocks between the head at submission and the block that included
    /// it, for each included transaction (1: the very next block).
    pub heights_waited: Vec<u64>,
    /// Submissions refused (then retried), by reason.
    pub refused: Vec<String>,
    /// Accepted but not included within the settling time after the flood.
    pub missing: u64,
}

impl HonestReport {
    pub fn included(&self) -> u64 {
        u64::try_from(self.latencies.len()).unwrap_or(u64::MAX)
    }

    /// The `p`th percentile of the inclusion latency (nearest rank).
    pub fn latency_percentile(&self, p: usize) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = (sorted.len() * p).div_ceil(100).max(1);
        sorted.get(rank - 1).copied()
    }

    /// Submissions refused or unanswered, and transactions never included.
    pub fn errors(&self) -> u64 {
        u64::try_from(self.refused.len())
            .unwrap_or(u64::MAX)
            .saturating_add(self.missing)
    }

    pub fn max_heights_waited(&self) -> Option<u64> {
        self.heights_waited.iter().copied().max()
    }

    fn merge(&mut self, other: HonestReport) {
        self.sent += other.sent;
        self.latencies.extend(other.latencies);
        self.heights_waited.extend(other.heights_waited);
        self.refused.extend(other.refused);
        self.missing += other.missing;
    }
}

pub(super) async fn run(
    target: Target,
    setup: Setup,
    accounts: usize,
    spent: Arc<Spent>,
) -> anyhow::Result<HonestReport> {
    let mut tasks = Vec::new();
    for account in 0..accounts {
        let target = target.clone();
        let setup = setup.clone();
        let spent = Arc::clone(&spent);
        tasks.push(tokio::spawn(async move {
            one_account(&target, &setup, account, &spent).await
        }));
    }
    let mut report = HonestReport::default();
    for task in tasks {
        report.merge(task.await?);
    }
    Ok(report)
}

/// One account's transactions, one after the other, through node
/// `account`, then the next, until the flood is over.
async fn one_account(
    target: &Target,
    setup: &Setup,
    account: usize,
    spent: &Spent,
) -> HonestReport {
    let mut report = HonestReport::default();
    let Some(key) = setup.honest.get(account) else {
        report
            .refused
            .push(format!("no funded account for honest sender {account}"));
        return report;
    };
    let address = cairn_types::keys::address(key);
    let mut nonce = match target.client(account).account(&address).await {
        Ok(view) => view.pending_nonce,
        Err(error) => {
            report.refused.push(error.to_string());
            return report;
        }
    };
    let mut node = account;
    while !spent.over() {
        let client = target.client(node);
        node += 1;
        let Ok(status) = client.status().await else {
            report.refused.push("status unanswered".into());
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        // Priced as a wallet prices it: what the node suggests for the
        // next block, which outbids a flood that would fill it.
        let gas_price = match client.gas_price().await {
            Ok(prices) => prices.suggested.max(GAS_PRICE),
            Err(_) => {
                report.refused.push("gas price unanswered".into());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let tx = target.sign_at(
            key,
            nonce,
            CALL_GAS,
            gas_price,
            Action::Call {
                contract: setup.counter,
                method: "increment".into(),
                input: 1u64.encode(),
            },
        );
        let sent = Instant::now();
        if let Err(error) = client.submit(&tx).await {
            report.refused.push(error.to_string());
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        report.sent += 1;
        nonce += 1;
        // Waited for however long it takes, within the settling time after
        // the flood ends: no later transaction of this account can be
        // included before it.
        let deadline = spent.deadline().max(Instant::now()) + SETTLE;
        match receipt_by(client, &tx.hash(), deadline).await {
            Some(receipt) => {
                report.latencies.push(sent.elapsed());
                report
                    .heights_waited
                    .push(receipt.height.saturating_sub(status.height));
            }
            None => {
                report.missing += 1;
                break;
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let report = HonestReport {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            ..HonestReport::default()
        };
        assert_eq!(
            report.latency_percentile(50),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            report.latency_percentile(99),
            Some(Duration::from_millis(99))
        );
        assert_eq!(
            report.latency_percentile(100),
            Some(Duration::from_millis(100))
        );
        let one = HonestReport {
            latencies: vec![Duration::from_millis(7)],
            ..HonestReport::default()
        };
        assert_eq!(one.latency_percentile(99), Some(Duration::from_millis(7)));
        assert_eq!(HonestReport::default().latency_percentile(50), None);
    }
}
