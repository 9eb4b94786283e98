//! The attack of issue 15 on a local network of four real node processes
//! with the default testnet settings: spinning clients fill every block
//! with transactions that burn the largest gas limit, while an honest
//! client pays the price the node suggests. Every honest transfer must be
//! included within a few heights of its submission (heights, not seconds:
//! timing never decides a test); the seconds are printed, and measured in
//! a release build in docs/BENCHMARKS.md.
//!
//! Before fees, with a mempool that served first come, first served, issue
//! 15 measured one such spinner starving an honest client on a local
//! four-node network: 3 honest transactions in 25 s, two not included
//! after 15 s.

mod common;
use common::{Guard, succeed};

/// Heights from the honest transfer's submission to its block: the block
/// being proposed when it arrives may be built already, the next takes it;
/// on a loaded 2-core machine a node that lags a height or two adds to
/// that (two runs here saw 5). First come, first served, the spinners'
/// backlog (128 at the largest gas limit, four a block) would make it
/// about 32.
const MAX_HEIGHTS: u64 = 6;

#[test]
fn spinning_transactions_do_not_starve_a_client_that_pays_more() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("net");
    let _guard = Guard(&dir);
    // The default settings: four nodes, 500 ms blocks.
    succeed(&dir, &["up"]);
    let report = succeed(
        &dir,
        &[
            "flood",
            "--spinners",
            "8",
            "--per-spinner",
            "16",
            "--honest",
            "12",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    println!(
        "honest inclusion under spinning spam: p50 {:.2} s, p99 {:.2} s (a debug build), heights {}",
        report["honest_p50_seconds"].as_f64().unwrap(),
        report["honest_p99_seconds"].as_f64().unwrap(),
        report["honest_heights"]
    );
    // The spam was on: most blocks made meanwhile were over half full of
    // transactions that burned the largest gas limit.
    let blocks = report["blocks"].as_u64().unwrap();
    let full = report["blocks_over_half_full"].as_u64().unwrap();
    assert!(blocks > 0 && full * 2 >= blocks, "{report}");
    // And every honest transfer still went in within a few heights.
    let heights: Vec<u64> = report["honest_heights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|height| height.as_u64().unwrap())
        .collect();
    assert_eq!(heights.len(), 12);
    assert!(
        heights.iter().all(|&waited| waited <= MAX_HEIGHTS),
        "{report}"
    );
    // Full blocks raised the base fee, which the spinners pay too.
    assert!(
        report["base_fee_after"].as_u64().unwrap() > report["base_fee_before"].as_u64().unwrap(),
        "{report}"
    );
    succeed(&dir, &["down", "--clean"]);
}
