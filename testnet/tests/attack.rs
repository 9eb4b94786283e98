//! The adversary's client side, short: four real node processes (started
//! by `cairn-testnet up`) under each flood for a few seconds, after as
//! long without one (the baseline), with an honest client sending
//! transactions meanwhile. Every node keeps
//! finalizing and every honest transaction is included within a bounded
//! number of heights; latencies are printed, never asserted.

use std::path::Path;
use std::process::{Command, Output};

use cairn_testnet::attack::{self, Attack, Budget, Report, Setup, Target};

/// Heights an honest transaction may wait for its block, counted from the
/// head when it was sent: generous, since a loaded CI machine makes slow
/// rounds, yet far below "never".
const MAX_HEIGHTS_WAITED: u64 = 20;
/// Each flood's length: short enough for CI, long enough for several
/// blocks.
const FLOOD_SECONDS: u64 = 4;

fn testnet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn-testnet"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Takes the network down even when the test fails.
struct Guard<'a>(&'a Path);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = testnet(self.0, &["down"]);
    }
}

fn check(report: &Report) {
    for node in &report.heights {
        assert!(
            node.finalized() >= 1,
            "{} finalized nothing during {}: {:?}",
            node.url,
            report.attack,
            node
        );
    }
    let honest = &report.honest;
    assert!(
        honest.sent > 0,
        "{}: no honest transaction got in: {honest:?}",
        report.attack
    );
    assert_eq!(honest.missing, 0, "{}: {honest:?}", report.attack);
    assert_eq!(honest.included(), honest.sent, "{}", report.attack);
    let waited = honest.max_heights_waited().unwrap_or(0);
    assert!(
        waited <= MAX_HEIGHTS_WAITED,
        "{}: an honest transaction waited {waited} heights",
        report.attack
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_users_and_consensus_get_through_client_floods() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("net");
    let _guard = Guard(&dir);
    let up = testnet(
        &dir,
        &["up", "--nodes", "4", "--target-block-time-ms", "300"],
    );
    assert!(
        up.status.success(),
        "{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).unwrap()).unwrap();
    let urls: Vec<String> = state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["rpc"].as_str().unwrap().to_owned())
        .collect();
    let genesis = cairn_types::Genesis::load(&dir.join("node0").join("genesis.json")).unwrap();
    let target = Target::new(&urls, state["chain_id"].as_str().unwrap(), genesis.hash()).unwrap();
    // The faucet `up` funded at genesis pays for the attack's accounts.
    let faucet = cairn_types::keys::load(Path::new(state["faucet"].as_str().unwrap())).unwrap();
    let setup = Setup::deploy(&target, faucet).await.unwrap();

    // Bounded in traffic too: at most a few hundred MB per flood.
    let budget = |megabytes: u64| Budget {
        max_bytes: megabytes << 20,
        honest_accounts: 4,
        ..Budget::seconds(FLOOD_SECONDS)
    };
    let attacks = [
        (Attack::Nothing, budget(1)),
        (
            // More connections than the four nodes have query threads
            // and queue places (4 x (2 + 32)).
            Attack::Queries {
                connections: 160,
                batch: 16,
            },
            budget(256),
        ),
        (
            Attack::Gapped {
                connections: 4,
                batch: 16,
                input_bytes: 0,
            },
            budget(256),
        ),
        (
            Attack::Gapped {
                connections: 2,
                batch: 4,
                // The largest input a call may carry.
                input_bytes: cairn_types::limits::MAX_INPUT_BYTES,
            },
            // Below the mempool's byte limit: evicting by fee is not this
            // test's subject.
            budget(64),
        ),
        (Attack::Oversized { connections: 4 }, budget(256)),
    ];
    let mut reports = Vec::new();
    for (attack, budget) in &attacks {
        let report = attack::run(&target, &setup, attack, budget).await.unwrap();
        println!(
            "{}: heights {:?}, flood {:?}, honest {:?}",
            report.attack, report.heights, report.outcomes, report.honest
        );
        check(&report);
        reports.push(report);
    }
    println!("{}", Report::table(&reports));

    // What each flood got: the queries mostly "busy", the gapped ones
    // admitted (they are valid), the oversized ones refused at the door.
    assert_eq!(reports[0].outcomes.total(), 0);
    let queries = &reports[1].outcomes;
    assert!(queries.get("busy") > 0, "{queries:?}");
    assert_eq!(queries.get("node error"), 0, "{queries:?}");
    assert!(
        reports[2].outcomes.get("accepted") > 0,
        "{:?}",
        reports[2].outcomes
    );
    let oversized = &reports[4].outcomes;
    assert_eq!(oversized.get("accepted"), 0, "{oversized:?}");
    assert!(oversized.total() > 0);

    // The nodes still agree.
    let status = testnet(&dir, &["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("all agree"), "{text}");
}
