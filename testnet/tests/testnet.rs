//! The `cairn-testnet` command end to end: `up` starts four real node
//! processes that make blocks, a contract deployed through one node is
//! executed by all, `stop --kill` crashes a node, and a node whose data
//! directory was deleted resyncs from its peers to the same state roots, a
//! node killed with its data kept catches up; `down --clean` leaves nothing
//! behind.

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_client::Client;
use cairn_client::api::ReceiptView;
use cairn_types::{Action, Address, Hash, PrivateKey, SignedTransaction, Transaction, parse_hash};
use parity_scale_codec::Encode;

mod common;
use common::{Guard, succeed, testnet};

const COUNTER: &[u8] = include_bytes!("../../contracts-sdk/testdata/counter.wasm");
const COUNTER_ABI: &[u8] = include_bytes!("../../contracts-sdk/testdata/counter.abi.json");
const PATIENCE: Duration = Duration::from_secs(180);

fn status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&succeed(dir, &["status", "--json"])).unwrap()
}

fn heights(status: &serde_json::Value) -> Vec<Option<u64>> {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["status"]["height"].as_u64())
        .collect()
}

async fn wait_until(dir: &Path, what: &str, mut done: impl FnMut(&serde_json::Value) -> bool) {
    let started = Instant::now();
    loop {
        let status = status(dir);
        if done(&status) {
            return;
        }
        if started.elapsed() > PATIENCE {
            let logs = succeed(dir, &["logs", "1", "--tail", "40"]);
            panic!("timed out waiting for {what}: {status:#}\n--- node1 ---\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until `node` reaches the height `reference` has now.
async fn catch_up(dir: &Path, reference: &Client, node: usize) {
    let target = reference.status().await.unwrap().height;
    wait_until(
        dir,
        &format!("node {node} to reach height {target}"),
        |status| heights(status)[node].is_some_and(|height| height >= target),
    )
    .await;
}

fn sign(genesis_hash: Hash, key: &PrivateKey, nonce: u64, action: Action) -> SignedTransaction {
    Transaction {
        chain_id: "cairn-testnet".into(),
        genesis_hash,
        sender: Address(*key.public_key().as_bytes()),
        nonce,
        gas_limit: 2_000_000_000,
        gas_price: 10,
        value: 0,
        action,
    }
    .sign(key)
}

async fn included(client: &Client, tx: &SignedTransaction) -> ReceiptView {
    let submitted = client.submit(tx).await.unwrap();
    assert_eq!(submitted.hash, hex::encode(tx.hash()));
    client
        .wait_for_receipt(&tx.hash(), PATIENCE, Duration::from_millis(200))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_deploy_crash_resync_down() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("net");
    let _guard = Guard(&dir);

    let up = succeed(
        &dir,
        &["up", "--nodes", "4", "--target-block-time-ms", "300"],
    );
    assert!(up.contains("The testnet is up"), "{up}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).unwrap()).unwrap();
    let rpc: Vec<Client> = state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| Client::new(node["rpc"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(rpc.len(), 4);
    let developer =
        cairn_types::keys::load(Path::new(state["accounts"][0].as_str().unwrap())).unwrap();
    let genesis_hash = parse_hash(&rpc[0].status().await.unwrap().genesis_hash).unwrap();

    // The developer accounts are funded at genesis; the faucet funds any
    // other address.
    let funded = rpc[1]
        .account(&cairn_types::keys::address(&developer))
        .await
        .unwrap();
    assert!(funded.balance > 0);
    let stranger = Address([0x5a; 32]);
    let fund = succeed(&dir, &["fund", &stranger.to_string(), "777"]);
    assert!(fund.contains("sent 777"), "{fund}");
    // Committed on node 0 when `fund` returns; node 3 may be a block behind.
    let started = Instant::now();
    while rpc[3].account(&stranger).await.unwrap().balance != 777 {
        assert!(
            started.elapsed() < PATIENCE,
            "node 3 never saw the faucet's transfer"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A contract deployed through node 0 is executed by every node.
    let deploy = sign(
        genesis_hash,
        &developer,
        0,
        Action::Deploy {
            code: COUNTER.to_vec(),
            abi: COUNTER_ABI.to_vec(),
            // A counter that counts up to 100, from 0.
            init_input: 100u64.encode(),
        },
    );
    let receipt = included(&rpc[0], &deploy).await;
    assert_eq!(receipt.status_name, "ok", "{receipt:?}");
    let counter = Address::from_hex(&receipt.contract.unwrap()).unwrap();
    let increment = |nonce| {
        sign(
            genesis_hash,
            &developer,
            nonce,
            Action::Call {
                contract: counter,
                method: "increment".into(),
                input: 1u64.encode(),
            },
        )
    };
    assert_eq!(included(&rpc[2], &increment(1)).await.status, 0);

    // The benchmark drives every node with signed transactions to the end.
    let bench = succeed(&dir, &["bench", "--transactions", "40", "--accounts", "4"]);
    assert!(bench.contains("40 transactions in"), "{bench}");
    assert!(bench.contains("finality latency"), "{bench}");

    // Crash node 1 and delete its state: it must come back from its peers.
    succeed(&dir, &["stop", "1", "--kill"]);
    std::fs::remove_dir_all(dir.join("node1").join("data")).unwrap();
    assert_eq!(included(&rpc[3], &increment(2)).await.status, 0);
    let status_while_down = status(&dir);
    assert_eq!(status_while_down["nodes"][1]["running"], false);

    succeed(&dir, &["start", "1"]);
    catch_up(&dir, &rpc[0], 1).await;
    wait_until(&dir, "all state roots to agree", |status| {
        status["state_roots_agree"] == true && heights(status).iter().all(Option::is_some)
    })
    .await;
    let count = rpc[1].query(&counter, "get", &[], None).await.unwrap();
    assert_eq!(count.output, hex::encode(2u64.encode()));

    // Crash node 2 but keep its data: it restarts from its own store and
    // catches up on the blocks finalized while it was down.
    succeed(&dir, &["stop", "2", "--kill"]);
    assert_eq!(included(&rpc[0], &increment(3)).await.status, 0);
    succeed(&dir, &["start", "2"]);
    catch_up(&dir, &rpc[0], 2).await;
    let count = rpc[2].query(&counter, "get", &[], None).await.unwrap();
    assert_eq!(count.output, hex::encode(3u64.encode()));

    let text = succeed(&dir, &["status"]);
    assert!(text.contains("all agree"), "{text}");
    succeed(&dir, &["down", "--clean"]);
    assert!(!dir.exists());
}

#[test]
fn commands_on_a_missing_testnet_explain_themselves() {
    let scratch = tempfile::tempdir().unwrap();
    let output = testnet(scratch.path(), &["status"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cairn-testnet up"), "{stderr}");

    let output = testnet(scratch.path(), &["up", "--nodes", "0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--nodes"));
}
