//! A node among strangers, on loopback: a `cairn-node` process keeps
//! committing blocks while clients flood its query pool with maximum-gas
//! queries, and the excess gets a clear "busy" at once; batches, request
//! bodies and query gas are bounded; failures inside the node reach
//! clients as an error id; a query reports the height of the state it
//! read; the gossip swarm refuses connections over its limits.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_node::config::NodeConfig;
use cairn_node::keys::PrivateKey;
use cairn_node::rpc::{CairnApiClient, codes};
use cairn_node::types::{Action, Address, Hash, SignedTransaction, Transaction, contract_address};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use parity_scale_codec::{Decode, Encode};

const HASHER: &[u8] = include_bytes!("../../contracts-sdk/testdata/hasher.wasm");
const COUNTER: &[u8] = include_bytes!("../../contracts-sdk/testdata/counter.wasm");
const CHAIN_ID: &str = "cairn-limits";
/// Generous: CI machines are slow and run other tests at the same time.
const PATIENCE: Duration = Duration::from_secs(180);
const MAX_BATCH: u32 = 4;
/// The seeds of the keys the tests sign with, funded at genesis.
const FUNDED: [u8; 3] = [21, 22, 31];
const FUNDS: u128 = 1_000_000_000_000_000_000;

/// A base port whose next ten ports are free right now; two calls in one
/// process never start from the same range.
fn free_base_port() -> u16 {
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let seed = u16::try_from(std::process::id() % 1000).unwrap()
        + 7 * CALLS.fetch_add(1, Ordering::Relaxed);
    'search: for attempt in 0..200u16 {
        let base = 30_000 + ((seed + attempt * 53) % 300) * 100;
        for offset in 0..10 {
            if TcpListener::bind(("127.0.0.1", base + offset)).is_err() {
                continue 'search;
            }
        }
        return base;
    }
    panic!("no free port range found");
}

/// One validator's node, as a process, with small RPC limits.
struct OneNode {
    _dir: tempfile::TempDir,
    /// What every transaction to this node signs over.
    genesis_hash: Hash,
    home: PathBuf,
    child: Child,
    url: String,
}

impl Drop for OneNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OneNode {
    fn start(configure: impl FnOnce(&mut NodeConfig)) -> OneNode {
        let dir = tempfile::tempdir().unwrap();
        let base = free_base_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_cairn-node"));
        command
            .args(["testnet", "--validators", "1", "--chain-id", CHAIN_ID])
            .args(["--base-port", &base.to_string(), "--out"])
            .arg(dir.path())
            .args([
                "--target-block-time-ms",
                "300",
                "--max-idle-block-interval-ms",
                "600",
            ]);
        for seed in FUNDED {
            let address = Address(*PrivateKey::from([seed; 32]).public_key().as_bytes());
            command.arg("--fund").arg(format!("{address}={FUNDS}"));
        }
        let status = command.stdout(Stdio::null()).status().unwrap();
        assert!(status.success());
        let home = dir.path().join("node0");
        let genesis_hash = cairn_node::genesis::Genesis::load(&home.join("genesis.json"))
            .unwrap()
            .hash();
        let mut config = NodeConfig::load(&home).unwrap();
        configure(&mut config);
        config.save(&home).unwrap();
        let log = std::fs::File::create(home.join("node.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cairn-node"))
            .args(["run", "--home"])
            .arg(&home)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        OneNode {
            url: format!("http://{}", config.rpc.listen),
            _dir: dir,
            genesis_hash,
            home,
            child,
        }
    }

    fn client(&self) -> HttpClient {
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(60))
            .max_request_size(16 * 1024 * 1024)
            .build(&self.url)
            .unwrap()
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.home.join("node.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    async fn wait_for<T, Fut>(&self, what: &str, mut probe: impl FnMut() -> Fut) -> T
    where
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out waiting for {what}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn height(&self, client: &HttpClient) -> u64 {
        self.wait_for("the node's status", || async {
            client.status().await.ok().map(|status| status.height)
        })
        .await
    }

    /// Submits `tx` and waits for its receipt; returns the receipt's height.
    async fn include(&self, client: &HttpClient, tx: &SignedTransaction) -> u64 {
        let hash = client
            .submit_transaction(hex::encode(tx.encode()))
            .await
            .unwrap()
            .hash;
        self.wait_for(&format!("receipt {hash}"), || async {
            client.get_receipt(hash.clone()).await.ok().flatten()
        })
        .await
        .height
    }
}

/// POSTs `body` to `url` as JSON over a connection of its own; returns the
/// whole HTTP response, status line first.
async fn post(url: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The server may answer and close before the whole body is sent.
    let _ = stream.write_all(body.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

fn sign(
    node: &OneNode,
    key: &PrivateKey,
    nonce: u64,
    gas_limit: u64,
    action: Action,
) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID.into(),
        genesis_hash: node.genesis_hash,
        sender: Address(*key.public_key().as_bytes()),
        nonce,
        gas_limit,
        // A local testnet's base fee.
        gas_price: 1,
        value: 0,
        action,
    }
    .sign(key)
}

fn deploy(
    node: &OneNode,
    key: &PrivateKey,
    nonce: u64,
    code: &[u8],
    init: Vec<u8>,
) -> SignedTransaction {
    sign(
        node,
        key,
        nonce,
        2_000_000_000,
        Action::Deploy {
            code: code.to_vec(),
            abi: Vec::new(),
            init_input: init,
        },
    )
}

/// What a flood of queries got back.
#[derive(Debug, Default)]
struct FloodCounts {
    answered: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

/// Sends batches of maximum-gas queries on a connection of its own until
/// `stop`.
async fn flood(url: String, hasher: String, stop: Arc<AtomicBool>, counts: Arc<FloodCounts>) {
    let client = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(120))
        .build(url)
        .unwrap();
    // A hash chain of u32::MAX rounds: only gas stops it.
    let input = hex::encode(([7u8; 32], u32::MAX).encode());
    while !stop.load(Ordering::Relaxed) {
        let mut batch = BatchRequestBuilder::new();
        for _ in 0..MAX_BATCH {
            batch
                .insert(
                    "cairn_query",
                    rpc_params![hasher.clone(), "hash_chain", input.clone(), u64::MAX],
                )
                .unwrap();
        }
        match client.batch_request::<serde_json::Value>(batch).await {
            Ok(responses) => {
                for response in responses {
                    match response {
                        Ok(_) => counts.answered.fetch_add(1, Ordering::Relaxed),
                        Err(error) if error.code() == codes::BUSY => {
                            counts.busy.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(error) => {
                            eprintln!("flood: {error:?}");
                            counts.other.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }
            Err(error) => {
                eprintln!("flood: {error}");
                counts.other.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consensus_commits_while_queries_flood_and_the_excess_is_refused_at_once() {
    let max_tx_gas = cairn_node::genesis::ChainParams::default().max_tx_gas;
    let node = OneNode::start(|config| {
        config.rpc.max_batch = MAX_BATCH;
        config.rpc.query_threads = 1;
        config.rpc.query_queue = 2;
        // Every query may run a transaction's worth of gas: the heaviest
        // flood there is.
        config.rpc.query_gas_limit = max_tx_gas;
    });
    let client = node.client();
    node.wait_for("the first block", || async {
        client
            .status()
            .await
            .ok()
            .filter(|status| status.height >= 1)
    })
    .await;
    let alice = PrivateKey::from([21; 32]);
    node.include(&client, &deploy(&node, &alice, 0, HASHER, Vec::new()))
        .await;
    let hasher = contract_address(&Address(*alice.public_key().as_bytes()), 0).to_string();

    // One full-gas query runs to its end: out of gas at the cap.
    let input = hex::encode(([7u8; 32], u32::MAX).encode());
    let alone = client
        .query(hasher.clone(), "hash_chain".into(), input.clone(), None)
        .await
        .unwrap();
    assert_eq!(alone.status_name, "out_of_gas");
    assert_eq!(alone.gas_used, max_tx_gas);

    // Sixteen connections flood the single query thread.
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    let flooders: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(flood(
                node.url.clone(),
                hasher.clone(),
                Arc::clone(&stop),
                Arc::clone(&counts),
            ))
        })
        .collect();
    node.wait_for("the flood to saturate the query pool", || async {
        (counts.busy.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;

    // While it lasts, blocks keep coming and a transaction gets in.
    let during = node.height(&client).await;
    node.wait_for("five blocks during the flood", || async {
        client
            .status()
            .await
            .ok()
            .filter(|status| status.height >= during + 5)
    })
    .await;
    let bob = PrivateKey::from([22; 32]);
    let included_at = node
        .include(&client, &deploy(&node, &bob, 0, COUNTER, 1_000u64.encode()))
        .await;
    assert!(included_at > during);

    // The excess is refused without waiting for a query to end: a query
    // that did wait has to have run to the cap (queued behind others), a
    // busy one ran nothing.
    let busy = client
        .query(hasher.clone(), "hash_chain".into(), input.clone(), None)
        .await;
    if let Err(jsonrpsee::core::ClientError::Call(error)) = &busy {
        assert_eq!(error.code(), codes::BUSY, "{error:?}");
        assert!(error.message().contains("busy"), "{error:?}");
    }
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        flooder.await.unwrap();
    }
    let (answered, busy, other) = (
        counts.answered.load(Ordering::Relaxed),
        counts.busy.load(Ordering::Relaxed),
        counts.other.load(Ordering::Relaxed),
    );
    println!("flood: {answered} answered, {busy} busy, {other} other errors");
    assert!(
        answered > 0 && busy > answered,
        "{answered} answered, {busy} busy"
    );
    assert_eq!(other, 0);

    // A batch over the limit is refused whole, saying why.
    let calls: Vec<String> = (0..=MAX_BATCH)
        .map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"cairn_status","params":[]}}"#))
        .collect();
    let response = post(&node.url, &format!("[{}]", calls.join(","))).await;
    assert!(response.contains("batch"), "{response}");
    assert!(!response.contains("chain_id"), "{response}");

    // A body over the limit is refused before it is read as a request.
    let oversized = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"cairn_submitTransaction","params":["{}"]}}"#,
        "00".repeat(3 * 1024 * 1024)
    );
    let response = post(&node.url, &oversized).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    // The node is still fine.
    let after = node.height(&client).await;
    assert!(after >= during + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_reports_the_height_of_the_state_it_read() {
    let node = OneNode::start(|_| {});
    let client = node.client();
    node.wait_for("the first block", || async {
        client
            .status()
            .await
            .ok()
            .filter(|status| status.height >= 1)
    })
    .await;
    let alice = PrivateKey::from([31; 32]);
    node.include(
        &client,
        &deploy(&node, &alice, 0, COUNTER, 1_000_000u64.encode()),
    )
    .await;
    let counter = contract_address(&Address(*alice.public_key().as_bytes()), 0);

    // One increment per block, each waited for, while another task asks
    // for the count as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let client = node.client();
        let stop = Arc::clone(&stop);
        async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(result) = client
                    .query(counter.to_string(), "get".into(), String::new(), None)
                    .await
                {
                    let count =
                        u64::decode(&mut &hex::decode(&result.output).unwrap()[..]).unwrap();
                    seen.push((result.height, count));
                }
            }
            seen
        }
    });
    let mut increments_at = Vec::new();
    for nonce in 1..=12 {
        let tx = sign(
            &node,
            &alice,
            nonce,
            100_000_000,
            Action::Call {
                contract: counter,
                method: "increment".into(),
                input: 1u64.encode(),
            },
        );
        increments_at.push(node.include(&client, &tx).await);
    }
    stop.store(true, Ordering::Relaxed);
    let seen = reader.await.unwrap();
    assert!(seen.len() > 12, "only {} queries answered", seen.len());
    // Each answer's count is what the blocks up to its height did.
    for (height, count) in seen {
        let expected = increments_at.iter().filter(|at| **at <= height).count();
        assert_eq!(
            count,
            u64::try_from(expected).unwrap(),
            "a query at height {height} read count {count}"
        );
    }
}

/// The RPC service called in-process, on a chain without a network.
mod service {
    use std::sync::Arc;

    use cairn_node::chain::Chain;
    use cairn_node::rpc::{CairnApiServer, Rpc, RpcLimits, codes};
    use cairn_node::state::COLUMN_FAMILIES;
    use cairn_node::test_utils;
    use cairn_node::types::{Address, contract_address};
    use tokio::sync::mpsc;

    /// A chain whose one contract record is garbage: what a failing disk
    /// or a bug would leave.
    fn chain_with_a_corrupt_contract(dir: &std::path::Path) -> (Arc<Chain>, Address) {
        drop(test_utils::open(dir));
        let contract = Address([7; 32]);
        {
            let db = rocksdb::DB::open_cf(
                &rocksdb::Options::default(),
                dir.join("db"),
                COLUMN_FAMILIES,
            )
            .unwrap();
            let cf = db.cf_handle("contracts").unwrap();
            db.put_cf(cf, contract.0, b"\xffcorrupt").unwrap();
        }
        let mut config = test_utils::config(dir, None);
        // The startup check would refuse the state; the point is what a
        // client sees when the node fails later.
        config.verify_state_on_start = false;
        let chain = Chain::open(test_utils::genesis(), &config, Default::default()).unwrap();
        (Arc::new(chain), contract)
    }

    fn rpc(chain: Arc<Chain>) -> Rpc {
        Rpc::new(
            chain,
            mpsc::channel(1).0,
            Arc::default(),
            "test".into(),
            &RpcLimits::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn internal_failures_reach_clients_as_an_error_id_only() {
        let dir = tempfile::tempdir().unwrap();
        let (chain, contract) = chain_with_a_corrupt_contract(dir.path());
        let rpc = rpc(chain);

        let error = rpc.get_contract(contract.to_string()).await.unwrap_err();
        assert_eq!(error.code(), codes::INTERNAL);
        let message = error.message();
        assert!(message.contains("error id"), "{message}");
        assert!(
            !message.contains("corrupt") && !message.contains("database"),
            "{message}"
        );

        let error = rpc
            .query(contract.to_string(), "get".into(), String::new(), None)
            .await
            .unwrap_err();
        assert_eq!(error.code(), codes::QUERY_FAILED);
        let message = error.message();
        assert!(message.contains("error id"), "{message}");
        assert!(!message.contains("corrupt"), "{message}");

        // Two failures, two ids.
        let again = rpc.get_contract(contract.to_string()).await.unwrap_err();
        assert_ne!(again.message(), error.message());
    }

    #[tokio::test]
    async fn a_query_asking_more_than_the_cap_gets_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let chain = Arc::new(test_utils::open(dir.path()));
        let alice = test_utils::user(2);
        test_utils::submit(&chain, &test_utils::deploy(&alice, 0, 100)).unwrap();
        test_utils::commit_next(&chain);
        let counter = contract_address(&test_utils::address(&alice), 0);
        let limits = RpcLimits {
            query_gas_limit: 1_000,
            ..RpcLimits::default()
        };
        let rpc = Rpc::new(
            chain,
            mpsc::channel(1).0,
            Arc::default(),
            "t".into(),
            &limits,
        )
        .unwrap();
        for asked in [None, Some(u64::MAX)] {
            let result = rpc
                .query(counter.to_string(), "get".into(), String::new(), asked)
                .await
                .unwrap();
            assert_eq!(result.status_name, "out_of_gas", "{asked:?}");
            assert!(result.gas_used <= 1_000, "{result:?}");
        }
    }
}

mod gossip_limits {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use cairn_node::chain::Chain;
    use cairn_node::net::NetworkStatus;
    use cairn_node::net::gossip::{self, GossipConfig, GossipLimits};
    use futures::StreamExt;
    use libp2p::swarm::dial_opts::DialOpts;
    use libp2p::swarm::{NetworkBehaviour, Swarm, SwarmEvent, dummy};
    use libp2p::{Multiaddr, gossipsub, noise, tcp, yamux};
    use parity_scale_codec::Encode;

    /// Starts `chain`'s gossip on a loopback port; returns it and the
    /// address it listens on.
    async fn start_gossip(
        chain: Arc<Chain>,
        limits: GossipLimits,
        outbound: tokio::sync::mpsc::Receiver<Vec<u8>>,
        status: Arc<NetworkStatus>,
    ) -> (gossip::Gossip, Multiaddr) {
        let node = gossip::start(
            chain,
            libp2p::identity::Keypair::generate_ed25519(),
            GossipConfig {
                listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
                persistent_peers: Vec::new(),
                limits,
            },
            outbound,
            status,
        )
        .await
        .unwrap();
        let mut listening = node.listening.clone();
        let address = listening
            .wait_for(|addresses| !addresses.is_empty())
            .await
            .unwrap()[0]
            .clone();
        (node, address)
    }

    /// A swarm of a new identity on tcp + noise + yamux, as the node's.
    fn swarm<B: NetworkBehaviour>(behaviour: impl FnOnce() -> B) -> Swarm<B> {
        libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| behaviour())
            .unwrap()
            .with_swarm_config(|config| {
                config.with_idle_connection_timeout(Duration::from_secs(120))
            })
            .build()
    }

    fn stranger() -> Swarm<dummy::Behaviour> {
        swarm(|| dummy::Behaviour)
    }

    /// Dials `address` `times` times from `swarm`, each a connection of
    /// its own.
    fn dial(swarm: &mut Swarm<dummy::Behaviour>, address: &Multiaddr, times: usize) {
        for _ in 0..times {
            swarm
                .dial(DialOpts::unknown_peer_id().address(address.clone()).build())
                .unwrap();
        }
    }

    /// Drives the strangers' swarms until the node's status is `settled`.
    async fn drive(
        swarms: &mut [Swarm<dummy::Behaviour>],
        status: &NetworkStatus,
        settled: impl Fn(&NetworkStatus) -> bool,
    ) {
        let started = Instant::now();
        while !settled(status) {
            assert!(
                started.elapsed() < super::PATIENCE,
                "connections {}, denied {}",
                status.gossip_connections(),
                status.gossip_denied()
            );
            for swarm in swarms.iter_mut() {
                // Let every stranger make progress for a moment.
                let _ = tokio::time::timeout(Duration::from_millis(20), async {
                    loop {
                        if let SwarmEvent::OutgoingConnectionError { error, .. } =
                            swarm.select_next_some().await
                        {
                            eprintln!("dial: {error}");
                        }
                    }
                })
                .await;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_over_the_limits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let chain = Arc::new(cairn_node::test_utils::open(dir.path()));
        let status = Arc::new(NetworkStatus::default());
        let limits = GossipLimits {
            per_peer: 1,
            pending_incoming: 8,
            incoming: 3,
            total: 8,
        };
        // Kept: the gossip task stops when its outbound queue closes.
        let (_outbound, outbound_rx) = tokio::sync::mpsc::channel(1);
        let (node, address) = start_gossip(chain, limits, outbound_rx, Arc::clone(&status)).await;

        // One stranger dialling five times: one connection, four refused.
        let mut swarms = vec![stranger()];
        dial(&mut swarms[0], &address, 5);
        drive(&mut swarms, &status, |status| {
            status.gossip_connections() + status.gossip_denied() >= 5
        })
        .await;
        assert_eq!(status.gossip_connections(), 1);
        assert_eq!(status.gossip_denied(), 4);

        // Five more strangers: three incoming connections in all.
        for _ in 0..5 {
            swarms.push(stranger());
        }
        for swarm in &mut swarms[1..] {
            dial(swarm, &address, 1);
        }
        drive(&mut swarms, &status, |status| {
            status.gossip_connections() + status.gossip_denied() >= 10
        })
        .await;
        assert_eq!(status.gossip_connections(), u64::from(limits.incoming));
        assert_eq!(status.gossip_denied(), 4 + 3);
        node.task.abort();
    }

    /// A peer speaking the node's gossip: anonymous messages, identified by
    /// their content's hash, as `gossip::build_swarm` configures them.
    fn gossip_peer() -> Swarm<gossipsub::Behaviour> {
        swarm(|| {
            let config = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .message_id_fn(|message| {
                    gossipsub::MessageId::from(cairn_vm::blake2b_256(&message.data).to_vec())
                })
                .build()
                .unwrap();
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config).unwrap()
        })
    }

    /// A gossip peer connected to the node at `address` and subscribed,
    /// each knowing the other's subscription.
    async fn joined(
        topic: &gossipsub::IdentTopic,
        address: &Multiaddr,
    ) -> Swarm<gossipsub::Behaviour> {
        let mut peer = gossip_peer();
        peer.behaviour_mut().subscribe(topic).unwrap();
        peer.dial(address.clone()).unwrap();
        drive_until(&mut peer, "the node's subscription", |event| {
            matches!(
                event,
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. })
            )
        })
        .await;
        // Time for the node to learn the peer's subscription too.
        drive_for(&mut peer, Duration::from_millis(300)).await;
        peer
    }

    /// Drives `peer` until an event satisfies `wanted`.
    async fn drive_until(
        peer: &mut Swarm<gossipsub::Behaviour>,
        what: &str,
        wanted: impl Fn(&SwarmEvent<gossipsub::Event>) -> bool,
    ) {
        tokio::time::timeout(super::PATIENCE, async {
            while !wanted(&peer.select_next_some().await) {}
        })
        .await
        .unwrap_or_else(|_| panic!("the peer never saw {what}"));
    }

    /// Drives `peer` for `time`, whatever happens.
    async fn drive_for(peer: &mut Swarm<gossipsub::Behaviour>, time: Duration) {
        let _ = tokio::time::timeout(time, async {
            loop {
                peer.select_next_some().await;
            }
        })
        .await;
    }

    /// Anonymous messages name no author, so a relay cannot know that a
    /// transaction came from the node it sends it to. Such echoes once
    /// counted as invalid messages and graylisted the honest peer: the node
    /// then dropped everything it sent, and on a four-node network a node
    /// missed a fifth to a half of its peers' transactions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relaying_a_transaction_back_to_its_publisher_is_no_offence() {
        use cairn_node::test_utils::{address, transfer, user};

        let dir = tempfile::tempdir().unwrap();
        let chain = Arc::new(cairn_node::test_utils::open(dir.path()));
        let topic = gossip::topic(&chain.genesis().chain_id);
        let (outbound, outbound_rx) = tokio::sync::mpsc::channel(4);
        let (node, node_address) = start_gossip(
            Arc::clone(&chain),
            GossipLimits::default(),
            outbound_rx,
            Arc::new(NetworkStatus::default()),
        )
        .await;
        let mut witness = joined(&topic, &node_address).await;
        // The node publishes transactions (as it does those clients send
        // it), and a peer receives them.
        let published: Vec<Vec<u8>> = (0..3)
            .map(|nonce| transfer(&user(1), nonce, address(&user(9)), 1).encode())
            .collect();
        for bytes in &published {
            outbound.send(bytes.clone()).await.unwrap();
            drive_until(&mut witness, "the node's transaction", |event| {
                matches!(
                    event,
                    SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. })
                        if &message.data == bytes
                )
            })
            .await;
        }

        // A peer that got them elsewhere relays them to the node, then
        // sends a transaction of its own.
        let mut peer = joined(&topic, &node_address).await;
        for bytes in published {
            peer.behaviour_mut().publish(topic.clone(), bytes).unwrap();
        }
        drive_for(&mut peer, Duration::from_millis(300)).await;
        let fresh = transfer(&user(2), 0, address(&user(9)), 1);
        peer.behaviour_mut().publish(topic, fresh.encode()).unwrap();

        let started = Instant::now();
        while chain.mempool_len() == 0 {
            assert!(
                started.elapsed() < super::PATIENCE,
                "the node never admitted the peer's transaction"
            );
            drive_for(&mut peer, Duration::from_millis(20)).await;
        }
        // The echo was a duplicate to the node: only the fresh one is in.
        assert_eq!(chain.mempool_len(), 1);
        assert_eq!(chain.next_nonce(&address(&user(2))).unwrap().1, 1);
        assert_eq!(chain.next_nonce(&address(&user(1))).unwrap().1, 0);
        node.task.abort();
    }
}
