//! Four real `cairn-node` processes on loopback: contracts deployed and
//! called through any node end in the same state everywhere, a node killed
//! with SIGKILL restarts and catches up without losing a block, and bad
//! transactions are refused while the network keeps going.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_node::keys::PrivateKey;
use cairn_node::rpc::{CairnApiClient, ReceiptView};
use cairn_node::types::{Action, Address, Hash, SignedTransaction, Transaction};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use parity_scale_codec::{Decode, Encode};

const COUNTER: &[u8] = include_bytes!("../../contracts-sdk/testdata/counter.wasm");
const COUNTER_ABI: &[u8] = include_bytes!("../../contracts-sdk/testdata/counter.abi.json");
const NODES: usize = 4;
/// Generous: CI machines are slow and run other tests at the same time.
const PATIENCE: Duration = Duration::from_secs(120);

/// A base port whose next `10 * NODES` ports are all free right now.
fn free_base_port() -> u16 {
    let seed = u16::try_from(std::process::id() % 1000).unwrap();
    'search: for attempt in 0..200u16 {
        let base = 20_000 + ((seed + attempt * 37) % 400) * 100;
        let mut held = Vec::new();
        for offset in 0..u16::try_from(10 * NODES).unwrap() {
            match TcpListener::bind(("127.0.0.1", base + offset)) {
                Ok(listener) => held.push(listener),
                Err(_) => continue 'search,
            }
        }
        return base;
    }
    panic!("no free port range found");
}

struct Testnet {
    dir: tempfile::TempDir,
    nodes: Vec<Option<Child>>,
    rpc: Vec<HttpClient>,
    genesis_hash: Hash,
}

/// The seeds of the keys funded at genesis.
const FUNDED: std::ops::RangeInclusive<u8> = 11..=15;
const FUNDS: u128 = 1_000_000_000_000_000_000;

impl Testnet {
    fn home(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("node{index}"))
    }

    fn start(&mut self, index: usize) {
        let home = self.home(index);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cairn-node"))
            .args(["run", "--home"])
            .arg(&home)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes[index] = Some(child);
    }

    fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].take() {
            // SIGKILL: no chance to flush or shut down cleanly.
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn logs(&self) -> String {
        (0..NODES)
            .map(|index| {
                let log =
                    std::fs::read_to_string(self.home(index).join("node.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                format!(
                    "--- node{index} ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for index in 0..NODES {
            self.kill(index);
        }
    }
}

fn testnet() -> Testnet {
    let dir = tempfile::tempdir().unwrap();
    let base = free_base_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn-node"));
    command
        .args(["testnet", "--validators", "4", "--chain-id", "cairn-test"])
        .args(["--base-port", &base.to_string(), "--out"])
        .arg(dir.path())
        .args([
            "--target-block-time-ms",
            "300",
            "--max-idle-block-interval-ms",
            "1000",
        ]);
    for seed in FUNDED {
        let address = Address(*PrivateKey::from([seed; 32]).public_key().as_bytes());
        command.arg("--fund").arg(format!("{address}={FUNDS}"));
    }
    let status = command.stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    let genesis =
        cairn_node::genesis::Genesis::load(&dir.path().join("node0/genesis.json")).unwrap();
    let rpc = (0..NODES)
        .map(|index| {
            let port = base + u16::try_from(index * 10 + 2).unwrap();
            HttpClientBuilder::default()
                .request_timeout(Duration::from_secs(10))
                .build(format!("http://127.0.0.1:{port}"))
                .unwrap()
        })
        .collect();
    let mut net = Testnet {
        dir,
        nodes: (0..NODES).map(|_| None).collect(),
        rpc,
        genesis_hash: genesis.hash(),
    };
    for index in 0..NODES {
        net.start(index);
    }
    net
}

async fn wait_for<T, F, Fut>(net: &Testnet, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if started.elapsed() > PATIENCE {
            panic!("timed out waiting for {what}\n{}", net.logs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn height(client: &HttpClient) -> Option<u64> {
    client.status().await.ok().map(|status| status.height)
}

async fn wait_for_height(net: &Testnet, nodes: &[usize], target: u64) {
    for &index in nodes {
        wait_for(
            net,
            &format!("node{index} to reach height {target}"),
            || async {
                height(&net.rpc[index])
                    .await
                    .filter(|height| *height >= target)
            },
        )
        .await;
    }
}

fn sign(
    net: &Testnet,
    key: &PrivateKey,
    nonce: u64,
    gas_limit: u64,
    action: Action,
) -> SignedTransaction {
    Transaction {
        chain_id: "cairn-test".into(),
        genesis_hash: net.genesis_hash,
        sender: Address(*key.public_key().as_bytes()),
        nonce,
        gas_limit,
        gas_price: 10,
        value: 0,
        action,
    }
    .sign(key)
}

async fn submit(client: &HttpClient, tx: &SignedTransaction) -> String {
    client
        .submit_transaction(hex::encode(tx.encode()))
        .await
        .unwrap()
        .hash
}

async fn receipt_everywhere(net: &Testnet, nodes: &[usize], hash: &str) -> ReceiptView {
    let mut first = None;
    for &index in nodes {
        let receipt = wait_for(net, &format!("receipt {hash} on node{index}"), || async {
            net.rpc[index]
                .get_receipt(hash.to_owned())
                .await
                .ok()
                .flatten()
        })
        .await;
        if let Some(first) = &first {
            assert_eq!(&receipt, first, "node{index} has another receipt");
        }
        first = Some(receipt);
    }
    first.unwrap()
}

/// Every node has the same block hash and state root at every height up to
/// the lowest node's height.
async fn assert_same_chain(net: &Testnet, nodes: &[usize]) -> u64 {
    let mut lowest = u64::MAX;
    for &index in nodes {
        lowest = lowest.min(height(&net.rpc[index]).await.unwrap());
    }
    for block_height in 1..=lowest {
        let mut reference = None;
        for &index in nodes {
            let block = net.rpc[index]
                .get_block(block_height)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("node{index} lacks block {block_height}"));
            let identity = (block.hash.clone(), block.state_root.clone());
            match &reference {
                None => reference = Some(identity),
                Some(reference) => assert_eq!(
                    &identity, reference,
                    "node{index} differs at height {block_height}"
                ),
            }
        }
    }
    lowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_agree_survive_a_kill_and_refuse_bad_transactions() {
    let mut net = testnet();
    let all = [0, 1, 2, 3];
    wait_for_height(&net, &all, 2).await;

    // Deploy through node 0; it is executed everywhere.
    let alice = PrivateKey::from([11; 32]);
    let deploy = sign(
        &net,
        &alice,
        0,
        2_000_000_000,
        Action::Deploy {
            code: COUNTER.to_vec(),
            abi: COUNTER_ABI.to_vec(),
            init_input: 1_000u64.encode(),
        },
    );
    let hash = submit(&net.rpc[0], &deploy).await;
    let receipt = receipt_everywhere(&net, &all, &hash).await;
    assert_eq!(receipt.status_name, "ok", "{receipt:?}");
    let counter = receipt.contract.clone().unwrap();

    // Increments sent to the other nodes, from several accounts.
    let mut hashes = Vec::new();
    for (index, seed) in [(1usize, 12u8), (2, 13), (3, 14)] {
        let key = PrivateKey::from([seed; 32]);
        for nonce in 0..3 {
            let tx = sign(
                &net,
                &key,
                nonce,
                100_000_000,
                Action::Call {
                    contract: Address::from_hex(&counter).unwrap(),
                    method: "increment".into(),
                    input: 1u64.encode(),
                },
            );
            hashes.push(submit(&net.rpc[index], &tx).await);
        }
    }
    for hash in &hashes {
        assert_eq!(receipt_everywhere(&net, &all, hash).await.status, 0);
    }
    for index in all {
        let result = net.rpc[index]
            .query(counter.clone(), "get".into(), String::new(), None)
            .await
            .unwrap();
        let count = u64::decode(&mut &hex::decode(&result.output).unwrap()[..]).unwrap();
        assert_eq!(count, 9, "node{index}");
    }
    assert_same_chain(&net, &all).await;

    // Native value sent through node 1 is held everywhere.
    let carol = Address([0xca; 32]);
    let mut payment = sign(&net, &alice, 1, 10_000_000, Action::Transfer { to: carol });
    payment.tx.value = 4_321;
    let payment = payment.tx.sign(&alice);
    let hash = submit(&net.rpc[1], &payment).await;
    let receipt = receipt_everywhere(&net, &all, &hash).await;
    assert_eq!((receipt.status, receipt.value), (0, 4_321));
    assert_eq!(receipt.fee, u128::from(receipt.gas_used) * 10);
    for index in all {
        let account = net.rpc[index].get_account(carol.to_string()).await.unwrap();
        assert_eq!(account.balance, 4_321, "node{index}");
    }

    // Bad transactions: refused with a reason, and nobody stops.
    let mut forged = sign(
        &net,
        &alice,
        2,
        100_000_000,
        Action::Call {
            contract: Address::from_hex(&counter).unwrap(),
            method: "increment".into(),
            input: 1u64.encode(),
        },
    );
    forged.signature[5] ^= 1;
    // Signed for another network that shares the chain id.
    let mut replayed = forged.tx.clone();
    replayed.genesis_hash[0] ^= 1;
    let refusals = [
        (hex::encode(forged.encode()), "signature"),
        (
            hex::encode(replayed.sign(&alice).encode()),
            "the network of genesis",
        ),
        ("00ff".to_owned(), "malformed"),
        ("zz".to_owned(), "not hex"),
        (hex::encode(deploy.encode()), "nonce 0 is already used"),
    ];
    for (tx, reason) in refusals {
        let error = net.rpc[1].submit_transaction(tx).await.unwrap_err();
        assert!(error.to_string().contains(reason), "{error}");
    }

    // SIGKILL node 2; the other three keep finalizing blocks.
    let before = height(&net.rpc[0]).await.unwrap();
    net.kill(2);
    let bob = PrivateKey::from([15; 32]);
    let tx = sign(
        &net,
        &bob,
        0,
        100_000_000,
        Action::Call {
            contract: Address::from_hex(&counter).unwrap(),
            method: "increment".into(),
            input: 5u64.encode(),
        },
    );
    let hash = submit(&net.rpc[3], &tx).await;
    receipt_everywhere(&net, &[0, 1, 3], &hash).await;
    wait_for_height(&net, &[0, 1, 3], before + 10).await;

    // Restarted, it resumes from its own database and syncs the rest,
    // saying so in its status while it does, and not once caught up.
    net.start(2);
    let target = height(&net.rpc[0]).await.unwrap();
    let said_syncing = std::sync::atomic::AtomicBool::new(false);
    wait_for(
        &net,
        &format!("node2 to sync to height {target}"),
        || async {
            let status = net.rpc[2].status().await.ok()?;
            if status.syncing {
                said_syncing.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            (status.height >= target).then_some(())
        },
    )
    .await;
    assert!(
        said_syncing.into_inner(),
        "node2 caught up without ever saying it was syncing"
    );
    wait_for(&net, "node2 to say it is no longer syncing", || async {
        let status = net.rpc[2].status().await.ok()?;
        (!status.syncing).then_some(())
    })
    .await;
    receipt_everywhere(&net, &all, &hash).await;
    let agreed = assert_same_chain(&net, &all).await;
    assert!(agreed >= target, "agreed up to {agreed}, wanted {target}");
}
