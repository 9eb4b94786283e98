//! The adversary, short: every attack of `cairn-adversary` for a few
//! seconds against four real node processes (its own binary, with the
//! fault switches), with an honest client sending transactions meanwhile.
//! Every honest node finalizes during each attack, every honest
//! transaction is included within a bounded number of heights, each
//! attack got what it aims at refused, and the chains agree at the end.
//! Latencies are printed (the table of docs/BENCHMARKS.md), never
//! asserted.

use cairn_testnet::adversary::{ATTACKS, Adversary, failures};
use cairn_testnet::attack::Report;

/// Heights an honest transaction may wait for its block, counted from the
/// head when it was sent: generous, since a loaded CI machine makes slow
/// rounds, yet far below "never".
const MAX_HEIGHTS_WAITED: u64 = 20;
/// Each attack's length: short enough for CI, long enough for several
/// blocks. Every attack goes on until each honest node finalized a height
/// under it (the seconds it took are in the table), and attacks on the
/// consensus network and on a validator's clock until they have reached
/// their nodes.
const SECONDS: u64 = 4;

fn outcome(report: &Report, kind: &str) -> u64 {
    report.outcomes.get(kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_users_and_consensus_get_through_every_attack() {
    let dir = tempfile::tempdir().unwrap();
    let mut adversary = Adversary::start(dir.path(), env!("CARGO_BIN_EXE_cairn-adversary"))
        .await
        .unwrap();
    let mut reports = Vec::new();
    for name in ATTACKS {
        let report = adversary.run(name, SECONDS).await.unwrap();
        println!(
            "{}: heights {:?}, attack got {:?}, honest {:?}",
            report.attack, report.heights, report.outcomes, report.honest
        );
        let failed = failures(&report);
        assert!(failed.is_empty(), "{failed:?}\n{}", adversary.net().logs());
        let waited = report.honest.max_heights_waited().unwrap_or(0);
        assert!(
            waited <= MAX_HEIGHTS_WAITED,
            "{}: an honest transaction waited {waited} heights",
            report.attack
        );
        reports.push(report);
    }
    println!("{}", Report::table(&reports));
    let reports: std::collections::BTreeMap<&str, &Report> =
        ATTACKS.iter().copied().zip(&reports).collect();

    // Junk on the consensus network reached every node and was refused
    // there; a proposal out of turn was never looked at (its block does
    // not decode: a node that tried would have logged it).
    let junk = reports["junk-streams"];
    assert!(
        outcome(junk, "parts refused (fewest of a node)") > 0,
        "{junk:?}"
    );
    let faulty = reports["out-of-turn"];
    assert!(
        outcome(faulty, "proposals out of turn published") > 0,
        "{faulty:?}"
    );
    assert!(
        outcome(faulty, "parts refused (fewest of a node)") > 0,
        "{faulty:?}"
    );
    assert_eq!(
        outcome(faulty, "proposals out of turn looked at"),
        0,
        "{faulty:?}"
    );

    let kills = reports["kill-restart"];
    assert!(outcome(kills, "kills") > 0, "{kills:?}");

    // Ahead: its turn came, and the others refused what it proposed for
    // its time. Behind: it still synced every certified block, whatever
    // its clock said, and refused the others' proposals as from its future.
    let ahead = reports["clock-ahead"];
    assert_eq!(outcome(ahead, "node 3 had its turn"), 1, "{ahead:?}");
    assert!(
        outcome(ahead, "its proposals refused for their time") > 0,
        "{ahead:?}"
    );
    let behind = reports["clock-behind"];
    assert_eq!(outcome(behind, "node 3 had its turn"), 1, "{behind:?}");
    assert!(outcome(behind, "node 3 finalized") > 0, "{behind:?}");

    // The client floods: queries mostly "busy", none failing the node;
    // oversized transactions refused at the door; spinning transactions
    // included, each out of gas; gapped ones admitted (they are valid).
    let queries = &reports["queries"].outcomes;
    assert!(queries.get("busy") > 0, "{queries:?}");
    assert_eq!(queries.get("node error"), 0, "{queries:?}");
    let oversized = &reports["oversized"].outcomes;
    assert_eq!(oversized.get("accepted"), 0, "{oversized:?}");
    assert!(oversized.total() > 0, "{oversized:?}");
    let spin = &reports["spin"].outcomes;
    assert!(spin.get("receipts out_of_gas") > 0, "{spin:?}");
    assert!(reports["gapped"].outcomes.get("accepted") > 0);
    assert!(reports["gapped-large"].outcomes.get("accepted") > 0);

    // The nodes agree, and no block carries a time from the future of the
    // honest clocks.
    let height = adversary.same_chain().await.unwrap();
    let now_ms = cairn_node::chain::now_ms();
    for block_height in 1..=height {
        let block = adversary
            .net()
            .client(0)
            .block(block_height)
            .await
            .unwrap()
            .unwrap();
        assert!(
            block.time_ms <= now_ms + 10_000,
            "block {block_height} is from the future"
        );
    }
}
