//! Real `cairn-node` processes on loopback, made to suffer: a validator
//! killed with SIGKILL at every step of deciding and committing a block; a
//! faulty validator and a stranger flooding the consensus network with junk
//! proposal streams and proposals out of turn; a validator whose clock is a
//! minute off. Every time, the honest nodes keep finalizing, the victim
//! comes back with every block, and no validator ever signs two different
//! votes for one height, round and kind.
//!
//! The tests share the machine's ports and cores, so they run one at a
//! time.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_node::consensus::context::{Height, Validator, ValidatorAddress, ValidatorSet};
use cairn_node::faults::CRASH_POINTS;
use cairn_node::keys::PrivateKey;
use cairn_node::test_utils::junk_peer::JunkPeer;
use cairn_node::test_utils::local_net::{LocalNet, PATIENCE, Timing};
use malachitebft_app_channel::app::types::core::Round;

const NODES: usize = 4;
const ALL: [usize; NODES] = [0, 1, 2, 3];

/// One network at a time on this machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// The validator set of `net`'s genesis, as consensus sees it.
fn validators(net: &LocalNet) -> ValidatorSet {
    let genesis = net.genesis().unwrap();
    ValidatorSet::new(
        genesis
            .validators
            .iter()
            .map(|validator| Validator {
                address: ValidatorAddress(validator.key().unwrap()),
                power: validator.power,
            })
            .collect(),
    )
    .unwrap()
}

fn address(key: &PrivateKey) -> ValidatorAddress {
    ValidatorAddress(*key.public_key().as_bytes())
}

/// A loopback address nobody listens on right now.
fn free_address() -> libp2p::Multiaddr {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

/// Issue 14, item 5: SIGKILL at each step of a block's life, one step per
/// round of the loop, each on the next validator in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_killed_at_every_step_resumes_with_every_block_and_never_equivocates() {
    let _one = ONE_AT_A_TIME.lock().await;
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

/// Issue 14, items 1 and 2: the holder of validator 3's key, in place of
/// node 3, publishes incomplete streams and proposals for rounds it does
/// not propose; a stranger (no validator key) publishes junk streams. The
/// three honest validators refuse it all before executing anything and
/// keep finalizing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_validators_keep_finalizing_under_junk_streams_and_proposals_out_of_turn() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(&dir);
    let honest = [0, 1, 2];
    for index in honest {
        net.start(index);
    }
    net.wait_for_height(&honest, 2).await;

    let genesis = net.genesis().unwrap();
    let key = net.key(3).unwrap();
    let peers: Vec<_> = honest
        .iter()
        .map(|&index| net.consensus_address(index))
        .collect();
    // Where node 3 would listen: the honest nodes dial it as a peer.
    let mut faulty = JunkPeer::start(&key, &genesis, net.consensus_address(3), peers.clone())
        .await
        .unwrap();
    let mut stranger =
        JunkPeer::start(&PrivateKey::from([99; 32]), &genesis, free_address(), peers)
            .await
            .unwrap();
    let validators = validators(&net);
    let faulty_address = address(&key);

    let before = net.highest(&honest).await;
    let started = Instant::now();
    let mut published = 0u64;
    // Bounded: until the honest nodes have finalized five more heights
    // under attack, or the patience runs out.
    while net.highest(&honest).await < before + 5 {
        assert!(
            started.elapsed() < PATIENCE,
            "the honest nodes stalled under attack\n{}",
            net.logs()
        );
        let next = net.highest(&honest).await + 1;
        faulty.publish_junk_streams(50, 64).unwrap();
        stranger.publish_junk_streams(50, 64).unwrap();
        published += 100;
        for round in 0..4 {
            let due = validators.proposer(Height(next), Round::new(round)).address;
            if due != faulty_address {
                faulty
                    .publish_proposal(next, round, b"a block nobody should execute")
                    .unwrap();
                published += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    faulty.stop();
    stranger.stop();
    assert!(published > 0);

    for index in honest {
        let refused = net
            .wait_for(&format!("node{index} to report refused parts"), || async {
                net.metric(index, "cairn_consensus_refused_stream_messages_total")
                    .await
                    .filter(|refused| *refused > 0.0)
            })
            .await;
        assert!(refused > 0.0);
        let log = std::fs::read_to_string(net.home(index).join("node.log")).unwrap();
        // The junk block does not decode: had it been looked at, it would
        // have been logged as undecodable.
        assert!(
            !log.contains("undecodable proposal"),
            "node{index} looked at a proposal out of turn"
        );
    }
    net.assert_same_chain(&honest).await;
}

/// Issue 14, item 3, and a validator whose clock is off: behind by a
/// minute, every certified block is from its future, and it must still
/// sync them; ahead by a minute, its proposals are refused by the others'
/// clocks, and the chain goes on without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_whose_clock_is_off_syncs_and_cannot_push_block_times() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(&dir);
    let honest = [0, 1, 2];
    for index in honest {
        net.start(index);
    }
    net.wait_for_height(&honest, 4).await;

    net.start_with(3, &[("CAIRN_CLOCK_OFFSET_MS", "-60000")]);
    let target = net.highest(&honest).await + 2;
    net.wait_for_height(&[3], target).await;

    net.restart_with(3, &[("CAIRN_CLOCK_OFFSET_MS", "60000")]);
    // It proposes every fourth height; wait until the others have refused
    // one of its proposals, and the chain has moved on past it.
    net.wait_for(
        "the others to refuse a proposal from the future",
        || async {
            honest
                .iter()
                .any(|&index| {
                    std::fs::read_to_string(net.home(index).join("node.log"))
                        .unwrap_or_default()
                        .contains("ahead of this node's clock")
                })
                .then_some(())
        },
    )
    .await;
    let now = net.highest(&honest).await;
    net.wait_for_height(&ALL, now + 4).await;
    net.assert_same_chain(&ALL).await;

    // No block carries a time from the future of the honest clocks.
    let height = net.highest(&honest).await;
    let now_ms = cairn_node::chain::now_ms();
    for block_height in 1..=height {
        let block = net.client(0).block(block_height).await.unwrap().unwrap();
        assert!(
            block.time_ms <= now_ms + 10_000,
            "block {block_height} is from the future"
        );
    }
}
