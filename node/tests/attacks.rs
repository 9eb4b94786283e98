//! Real `cairn-node` processes on loopback, made to suffer: a validator
//! killed with SIGKILL at every step of deciding and committing a block
//! (`CAIRN_CRASH_AT`). Every time, the others keep finalizing, the victim
//! comes back with every block, and no validator ever signs two different
//! votes for one height, round and kind.
//!
//! The attackers from outside (a junk peer, a faulty validator proposing
//! out of turn, a validator whose clock is off, repeated kills, client
//! floods) are the adversary's: `cairn-testnet`'s `adversary` module, run
//! short by `testnet/tests/attack.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cairn_node::faults::CRASH_POINTS;
use cairn_node::test_utils::local_net::{LocalNet, PATIENCE, Timing};

const NODES: usize = 4;
const ALL: [usize; NODES] = [0, 1, 2, 3];

fn network(dir: &tempfile::TempDir) -> LocalNet {
    LocalNet::generate(
        dir.path(),
        env!("CARGO_BIN_EXE_cairn-node"),
        NODES,
        Timing::default(),
    )
    .unwrap()
}

fn vote_log(net: &LocalNet, index: usize) -> PathBuf {
    net.home(index).join("votes.log")
}

/// Every vote any node's signer handed out, across all its runs: no two
/// for one validator, kind, height and round may differ. Returns how many
/// votes were read.
fn assert_no_conflicting_votes(net: &LocalNet) -> usize {
    let mut seen: BTreeMap<(String, String, u64, i64), String> = BTreeMap::new();
    let mut count = 0;
    for index in ALL {
        let log = std::fs::read_to_string(vote_log(net, index)).unwrap_or_default();
        for line in log.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [kind, height, round, value, validator] = fields[..] else {
                panic!("node{index}: a torn vote log line {line:?}");
            };
            let key = (
                validator.to_owned(),
                kind.to_owned(),
                height.parse().unwrap(),
                round.parse().unwrap(),
            );
            count += 1;
            if let Some(earlier) = seen.insert(key.clone(), value.to_owned()) {
                assert_eq!(
                    earlier, value,
                    "node{index} signed two different votes for {key:?}"
                );
            }
        }
    }
    count
}

/// Issue 14, item 5: SIGKILL at each step of a block's life, one step per
/// round of the loop, each on the next validator in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_killed_at_every_step_resumes_with_every_block_and_never_equivocates() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(&dir);
    let logs: Vec<String> = ALL
        .iter()
        .map(|&index| vote_log(&net, index).display().to_string())
        .collect();
    for index in ALL {
        net.start_with(index, &[("CAIRN_VOTE_LOG", &logs[index])]);
    }
    net.wait_for_height(&ALL, 2).await;

    for (step, point) in CRASH_POINTS.iter().enumerate() {
        let victim = step % NODES;
        let others: Vec<usize> = ALL.into_iter().filter(|&index| index != victim).collect();
        let crash = if *point == "synced.stored" {
            // Only a node that is behind receives synced blocks: the first
            // one it gets.
            net.kill(victim);
            let now = net.highest(&others).await;
            net.wait_for_height(&others, now + 3).await;
            (*point).to_owned()
        } else {
            // At a height none of them has finalized yet.
            format!("{point}@{}", net.highest(&ALL).await + 1)
        };
        net.restart_with(
            victim,
            &[
                ("CAIRN_VOTE_LOG", &logs[victim]),
                ("CAIRN_CRASH_AT", &crash),
            ],
        );
        let status = net.wait_for_exit(victim, PATIENCE).await;
        let status =
            status.unwrap_or_else(|| panic!("node{victim} never reached {crash}\n{}", net.logs()));
        assert!(!status.success(), "node{victim} at {crash}: {status}");

        // Back without the switch: it resumes from its own database and
        // WAL, while the others never stopped finalizing.
        net.start_with(victim, &[("CAIRN_VOTE_LOG", &logs[victim])]);
        let target = net.highest(&others).await + 1;
        net.wait_for_height(&ALL, target).await;
    }

    let agreed = net.assert_same_chain(&ALL).await;
    assert!(
        agreed >= 2 + CRASH_POINTS.len() as u64,
        "agreed up to {agreed}"
    );
    let votes = assert_no_conflicting_votes(&net);
    assert!(votes > 0, "no vote was logged");
}
