//! WebSocket subscriptions (docs/RPC.md, "Subscriptions") served by the
//! node's RPC server on loopback, over a real chain (RocksDB) whose blocks
//! the test builds and commits: blocks arrive in order and none is
//! skipped, a receipt comes at once or on commit, the subscriptions are
//! bounded per connection and in total, a subscriber that stops reading is
//! dropped with a close reason while one that keeps up gets everything,
//! and malformed requests get errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_client::Client;
use cairn_node::background::BackgroundRuntime;
use cairn_node::chain::{Chain, Committed};
use cairn_node::rpc::subscriptions::{SubscriptionLimits, Subscriptions};
use cairn_node::rpc::{self, NewBlockView, Rpc, RpcLimits, codes, receipt_view};
use cairn_node::test_utils;
use cairn_node::types::contract_address;
use jsonrpsee::server::ServerHandle;
use parity_scale_codec::Encode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};

/// Generous: CI machines are slow and run other tests at the same time.
const PATIENCE: Duration = Duration::from_secs(120);

/// A chain in a temporary directory and the node's RPC server over it, on
/// a loopback port.
struct Served {
    chain: Arc<Chain>,
    rpc: Rpc,
    address: SocketAddr,
    handle: ServerHandle,
    _runtime: BackgroundRuntime,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(subscriptions: SubscriptionLimits) -> Served {
        Self::with_limits(RpcLimits {
            subscriptions,
            ..RpcLimits::default()
        })
        .await
    }

    async fn with_limits(limits: RpcLimits) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let chain = Arc::new(test_utils::open(dir.path()));
        let rpc = Rpc::new(
            Arc::clone(&chain),
            mpsc::channel(64).0,
            Arc::default(),
            "test".into(),
            &limits,
        )
        .unwrap();
        let runtime = BackgroundRuntime::start("test-rpc", 2).unwrap();
        let (address, handle) = rpc::serve(
            rpc.clone(),
            "127.0.0.1:0".parse().unwrap(),
            &limits,
            &runtime,
        )
        .await
        .unwrap();
        Served {
            chain,
            rpc,
            address,
            handle,
            _runtime: runtime,
            _dir: dir,
        }
    }

    fn client(&self) -> Client {
        Client::new(&format!("http://{}", self.address)).unwrap()
    }

    fn subscriptions(&self) -> &Arc<Subscriptions> {
        self.rpc.subscriptions()
    }

    /// Builds the next block from the mempool and commits it.
    async fn commit(&self) -> usize {
        let chain = Arc::clone(&self.chain);
        tokio::task::spawn_blocking(move || test_utils::commit_next(&chain))
            .await
            .unwrap()
    }

    /// What a block subscriber should have been told about block `height`.
    fn announced(&self, height: u64) -> NewBlockView {
        let block = self.chain.store().block(height).unwrap().unwrap();
        NewBlockView {
            height,
            hash: hex::encode(block.hash()),
            state_root: hex::encode(block.header.state_root),
            transactions: block.transactions.len() as u64,
            gas_used: block.header.gas_used,
        }
    }

    /// Waits until `done` holds of the node's open subscriptions.
    async fn until_open(&self, what: &str, done: impl Fn(usize) -> bool) {
        let started = Instant::now();
        while !done(self.subscriptions().open()) {
            assert!(
                started.elapsed() < PATIENCE,
                "{what}: {} subscriptions open",
                self.subscriptions().open()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}

/// A WebSocket client written out by hand, so that a test controls every
/// byte and can stop reading its socket: text frames, masked as a client's
/// must be; pings answered.
struct RawSocket {
    stream: TcpStream,
    read: Vec<u8>,
}

impl RawSocket {
    /// Connects and upgrades; `receive_buffer` shrinks the socket's kernel
    /// buffer, so that a client that stops reading backs up soon.
    async fn connect(address: SocketAddr, receive_buffer: Option<u32>) -> RawSocket {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut stream = socket.connect(address).await.unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut read = Vec::new();
        let end = loop {
            if let Some(at) = read.windows(4).position(|window| window == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the server closed during the upgrade");
            read.extend_from_slice(&chunk[..n]);
        };
        let response = String::from_utf8_lossy(&read[..end]).into_owned();
        assert!(response.starts_with("HTTP/1.1 101"), "{response}");
        read.drain(..end);
        RawSocket { stream, read }
    }

    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = vec![0x80 | opcode];
        let mask = [0x5a, 0x17, 0xc3, 0x2e];
        if let Ok(len @ 0..=125) = u8::try_from(payload.len()) {
            frame.push(0x80 | len);
        } else if let Ok(len) = u16::try_from(payload.len()) {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&len.to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
        frame.extend_from_slice(&mask);
        frame.extend(
            payload
                .iter()
                .enumerate()
                .map(|(index, byte)| byte ^ mask[index % 4]),
        );
        self.stream.write_all(&frame).await.unwrap();
    }

    async fn send(&mut self, text: &str) {
        self.send_frame(0x1, text.as_bytes()).await;
    }

    async fn fill(&mut self, wanted: usize) -> bool {
        while self.read.len() < wanted {
            let mut chunk = [0u8; 16 * 1024];
            let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
                .await
                .expect("the server said nothing for the whole patience")
                .unwrap();
            if n == 0 {
                return false;
            }
            self.read.extend_from_slice(&chunk[..n]);
        }
        true
    }

    /// The next text message; `None` when the server closes.
    async fn receive(&mut self) -> Option<Value> {
        let mut message = Vec::new();
        loop {
            if !self.fill(2).await {
                return None;
            }
            let (first, second) = (self.read[0], self.read[1]);
            let (mut header, mut len) = (2, usize::from(second & 0x7f));
            if len == 126 {
                self.fill(4).await;
                len = usize::from(u16::from_be_bytes([self.read[2], self.read[3]]));
                header = 4;
            } else if len == 127 {
                self.fill(10).await;
                len = usize::try_from(u64::from_be_bytes(self.read[2..10].try_into().unwrap()))
                    .unwrap();
                header = 10;
            }
            if !self.fill(header + len).await {
                return None;
            }
            let payload: Vec<u8> = self.read.drain(..header + len).skip(header).collect();
            match first & 0x0f {
                0x8 => return None,
                0x9 => self.send_frame(0xa, &payload).await,
                0xa => {}
                _ => {
                    message.extend_from_slice(&payload);
                    if first & 0x80 != 0 {
                        return Some(serde_json::from_slice(&message).unwrap());
                    }
                }
            }
        }
    }

    /// Sends a call and returns its response, skipping notifications.
    async fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&request.to_string()).await;
        self.response(id).await
    }

    async fn response(&mut self, id: u64) -> Value {
        loop {
            let message = self.receive().await.expect("the server closed");
            if message["id"] == json!(id) {
                return message;
            }
        }
    }
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {response}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_arrive_in_order_and_none_is_skipped() {
    let served = Served::start(SubscriptionLimits::default()).await;
    let client = served.client();
    let mut first = client.subscribe_blocks().await.unwrap();
    let mut second = served.client().subscribe_blocks().await.unwrap();
    served.until_open("two subscribers", |open| open == 2).await;

    // Blocks with transactions and empty ones, committed faster than a
    // network would.
    let alice = test_utils::user(2);
    test_utils::submit(&served.chain, &test_utils::deploy(&alice, 0, 1_000)).unwrap();
    let counter = contract_address(&test_utils::address(&alice), 0);
    let start = served.chain.head().height;
    let mut nonce = 1;
    for round in 0..40u64 {
        for _ in 0..round % 3 {
            let tx = test_utils::call(&alice, nonce, counter, "increment", 1u64.encode());
            test_utils::submit(&served.chain, &tx).unwrap();
            nonce += 1;
        }
        served.commit().await;
    }
    let head = served.chain.head().height;
    assert_eq!(head, start + 40);

    for subscription in [&mut first, &mut second] {
        for height in start + 1..=head {
            let block = tokio::time::timeout(PATIENCE, subscription.next())
                .await
                .expect("the block came")
                .expect("the subscription is open")
                .unwrap();
            assert_eq!(block, served.announced(height));
        }
    }
    // Some of them held transactions, with their gas.
    let announced: Vec<_> = (start + 1..=head).map(|h| served.announced(h)).collect();
    assert!(announced.iter().any(|block| block.transactions == 2));
    assert!(announced.iter().any(|block| block.transactions == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_comes_at_once_if_committed_else_when_its_block_commits() {
    let served = Served::start(SubscriptionLimits::default()).await;
    let client = served.client();
    let alice = test_utils::user(3);
    let deploy = test_utils::deploy(&alice, 0, 1_000);
    test_utils::submit(&served.chain, &deploy).unwrap();
    served.commit().await;

    // Already committed: answered from the store.
    let receipt = client
        .receipt_when_committed(&deploy.hash())
        .await
        .unwrap()
        .expect("a receipt");
    let (location, stored) = served
        .chain
        .store()
        .receipt(&deploy.hash())
        .unwrap()
        .unwrap();
    assert_eq!(
        receipt,
        receipt_view(location.height, location.index, &stored)
    );

    // Not committed yet: it is in the mempool, the store has no receipt,
    // and the subscription waits for the commit.
    let counter = contract_address(&test_utils::address(&alice), 0);
    let call = test_utils::call(&alice, 1, counter, "increment", 5u64.encode());
    test_utils::submit(&served.chain, &call).unwrap();
    let waiting = tokio::spawn({
        let client = client.clone();
        let hash = call.hash();
        async move { client.receipt_when_committed(&hash).await }
    });
    served
        .until_open("the receipt subscription", |open| open == 1)
        .await;
    assert!(
        served
            .chain
            .store()
            .receipt(&call.hash())
            .unwrap()
            .is_none()
    );
    served.commit().await;
    let receipt = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the receipt came")
        .unwrap()
        .unwrap()
        .expect("a receipt");
    let (location, stored) = served.chain.store().receipt(&call.hash()).unwrap().unwrap();
    assert_eq!(location.height, served.chain.head().height);
    assert_eq!(
        receipt,
        receipt_view(location.height, location.index, &stored)
    );
    // It ended after its receipt: nothing stays open.
    served
        .until_open("the subscription to end", |open| open == 0)
        .await;

    // `wait_for_receipt` rides the same subscription: polling every hour,
    // it would not be done within the patience.
    let call = test_utils::call(&alice, 2, counter, "increment", 5u64.encode());
    test_utils::submit(&served.chain, &call).unwrap();
    let waiting = tokio::spawn({
        let client = client.clone();
        let hash = call.hash();
        async move {
            client
                .wait_for_receipt(&hash, 2 * PATIENCE, Duration::from_secs(3600))
                .await
        }
    });
    served
        .until_open("the waiter's subscription", |open| open == 1)
        .await;
    served.commit().await;
    let receipt = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the receipt came by subscription")
        .unwrap()
        .unwrap();
    assert_eq!(receipt.tx_hash, hex::encode(call.hash()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_subscription_over_the_limits_is_refused_and_one_freed_is_taken() {
    let served = Served::start(SubscriptionLimits {
        total: 3,
        per_connection: 2,
        buffer: 8,
    })
    .await;
    let mut one = RawSocket::connect(served.address, None).await;
    let mut two = RawSocket::connect(served.address, None).await;
    let unknown = "77".repeat(32);

    // Two on the first connection, its limit; a third is refused there.
    let blocks = one.call(1, "cairn_subscribeBlocks", json!([])).await;
    let blocks_id = blocks["result"].clone();
    assert!(!blocks_id.is_null(), "{blocks}");
    let receipt = one
        .call(2, "cairn_subscribeReceipt", json!([unknown]))
        .await;
    assert!(!receipt["result"].is_null(), "{receipt}");
    let third = one.call(3, "cairn_subscribeBlocks", json!([])).await;
    assert_eq!(
        error_code(&third),
        i64::from(codes::TOO_MANY_SUBSCRIPTIONS),
        "{third}"
    );

    // The node's third, on another connection, is its last.
    let last = two.call(1, "cairn_subscribeBlocks", json!([])).await;
    assert!(!last["result"].is_null(), "{last}");
    served
        .until_open("three subscriptions", |open| open == 3)
        .await;
    let over = two
        .call(2, "cairn_subscribeReceipt", json!([unknown]))
        .await;
    assert_eq!(error_code(&over), i64::from(codes::BUSY), "{over}");
    let message = over["error"]["message"].as_str().unwrap();
    assert!(message.contains("3 subscriptions"), "{message}");

    // Freed by an unsubscription, the place is taken again.
    let unsubscribed = one
        .call(4, "cairn_unsubscribeBlocks", json!([blocks_id]))
        .await;
    assert_eq!(unsubscribed["result"], json!(true), "{unsubscribed}");
    served.until_open("a freed place", |open| open == 2).await;
    let again = two
        .call(3, "cairn_subscribeReceipt", json!([unknown]))
        .await;
    assert!(!again["result"].is_null(), "{again}");

    // A closed connection frees its subscriptions.
    drop(one);
    served
        .until_open("the closed connection's subscription", |open| open == 2)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_dropped_and_one_that_keeps_up_gets_every_block() {
    const BUFFER: usize = 4;
    let served = Served::with_limits(RpcLimits {
        subscriptions: SubscriptionLimits {
            total: 8,
            per_connection: 4,
            buffer: BUFFER,
        },
        // The node's side of the socket holds a few notifications, as the
        // client's does: the slow subscriber backs up within a few hundred
        // blocks, not thousands.
        socket_send_buffer: 4096,
        ..RpcLimits::default()
    })
    .await;
    let mut keeping_up = served.client().subscribe_blocks().await.unwrap();
    // A small receive buffer: the kernel holds little for a reader that
    // stops reading.
    let mut slow = RawSocket::connect(served.address, Some(4096)).await;
    let subscribed = slow.call(1, "cairn_subscribeBlocks", json!([])).await;
    let id = subscribed["result"].clone();
    assert!(!id.is_null(), "{subscribed}");
    served
        .until_open("both subscribers", |open| open == 2)
        .await;
    let start = served.chain.head().height;

    // The keeping-up subscriber reads each block before the next commits.
    let (progress, mut read_through) = watch::channel(start);
    let reader = tokio::spawn(async move {
        let mut heights = Vec::new();
        while let Some(block) = keeping_up.next().await {
            let height = block.unwrap().height;
            heights.push(height);
            progress.send_replace(height);
        }
        heights
    });

    // Blocks until the slow subscriber is dropped. What it has not read
    // waits in its socket, in jsonrpsee's buffer of its connection, and
    // in the node's ring of the last BUFFER blocks, shared by every
    // subscriber: once it is further behind than that, it is dropped.
    let mut committed = 0;
    while served.subscriptions().open() == 2 {
        served.commit().await;
        committed += 1;
        let head = served.chain.head().height;
        tokio::time::timeout(PATIENCE, read_through.wait_for(|read| *read >= head))
            .await
            .expect("the keeping-up subscriber read the block")
            .unwrap();
        assert!(committed < 20_000, "the slow subscriber was never dropped");
    }
    let head = served.chain.head().height;
    println!("the slow subscriber was dropped after {committed} blocks");

    // The one that kept up is still subscribed, and gets the next block.
    served.commit().await;
    let last = head + 1;
    tokio::time::timeout(PATIENCE, read_through.wait_for(|read| *read >= last))
        .await
        .expect("the keeping-up subscriber read the last block")
        .unwrap();
    assert_eq!(served.subscriptions().open(), 1);

    // The slow one reads at last: consecutive blocks from the first, then
    // the close reason.
    let mut expected = start + 1;
    let reason = loop {
        let message = slow.receive().await.expect("the close reason came");
        let params = &message["params"];
        assert_eq!(params["subscription"], id, "{message}");
        if let Some(block) = params.get("result") {
            assert_eq!(block["height"], json!(expected), "{message}");
            expected += 1;
        } else {
            break params["error"].clone();
        }
    };
    assert_eq!(reason["code"], json!(codes::SUBSCRIBER_DROPPED), "{reason}");
    let message = reason["message"].as_str().unwrap();
    assert!(message.contains("subscriber dropped"), "{message}");
    assert!(
        expected - 1 < head,
        "the slow subscriber was sent every block: {} of {head}",
        expected - 1
    );
    println!(
        "it had been sent {} blocks of {committed}",
        expected - 1 - start
    );

    // Its connection still serves calls.
    let status = slow.call(2, "cairn_status", json!([])).await;
    assert_eq!(status["result"]["height"], json!(last), "{status}");

    drop(served);
    let heights = reader.await.unwrap();
    assert_eq!(heights, (start + 1..=last).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_subscription_requests_get_errors_and_the_connection_goes_on() {
    let served = Served::start(SubscriptionLimits::default()).await;
    let mut socket = RawSocket::connect(served.address, None).await;
    let cases = [
        (
            "cairn_subscribeReceipt",
            json!(["not hex"]),
            codes::INVALID_PARAMS,
        ),
        (
            "cairn_subscribeReceipt",
            json!(["abcd"]),
            codes::INVALID_PARAMS,
        ),
        ("cairn_subscribeReceipt", json!([]), codes::INVALID_PARAMS),
        ("cairn_subscribeReceipt", json!([42]), codes::INVALID_PARAMS),
        (
            "cairn_subscribeReceipt",
            json!({"hash": false}),
            codes::INVALID_PARAMS,
        ),
        ("cairn_subscribeEverything", json!([]), -32601),
    ];
    for (id, (method, params, code)) in (1..).zip(cases) {
        let response = socket.call(id, method, params.clone()).await;
        assert_eq!(
            error_code(&response),
            i64::from(code),
            "{method} {params}: {response}"
        );
    }
    // Not JSON at all.
    socket
        .send("{\"jsonrpc\": \"2.0\", \"id\": 9, \"method\":")
        .await;
    let response = socket.receive().await.unwrap();
    assert_eq!(error_code(&response), -32700, "{response}");
    // Unsubscribing from what is not there is a plain `false`.
    let response = socket
        .call(10, "cairn_unsubscribeBlocks", json!(["no-such-id"]))
        .await;
    assert_eq!(response["result"], json!(false), "{response}");
    assert_eq!(served.subscriptions().open(), 0);

    // The connection still subscribes, by name too.
    let response = socket
        .call(
            11,
            "cairn_subscribeReceipt",
            json!({"hash": "ab".repeat(32)}),
        )
        .await;
    assert!(!response["result"].is_null(), "{response}");
    let response = socket.call(12, "cairn_subscribeBlocks", json!([])).await;
    assert!(!response["result"].is_null(), "{response}");
    served
        .until_open("two subscriptions", |open| open == 2)
        .await;

    // Over HTTP there is no subscribing (jsonrpsee answers so).
    let request =
        json!({"jsonrpc": "2.0", "id": 1, "method": "cairn_subscribeBlocks", "params": []});
    let response = post(served.address, &request.to_string()).await;
    assert!(response.contains("\"code\":-32603"), "{response}");
    assert_eq!(served.subscriptions().open(), 2);
}

/// One HTTP POST by hand; the whole response.
async fn post(address: SocketAddr, body: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_reads_from_the_store_the_blocks_it_missed() {
    // The feed's announcements come through a channel of one: three
    // commits announced while it is not yet running leave it behind, and
    // it must serve the two it never heard of from the store.
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(test_utils::open(dir.path()));
    let subscriptions = Subscriptions::new(SubscriptionLimits::default());
    let mut subscriber = subscriptions.blocks().unwrap();
    let (announce, announced) = broadcast::channel(1);
    let start = chain.head().height;
    for _ in 0..3 {
        test_utils::commit_next(&chain);
        let head = chain.head();
        let _ = announce.send(Committed {
            height: head.height,
            hash: head.block_hash,
            state_root: head.state_root,
            transactions: 0,
            gas_used: 0,
        });
    }
    let feed =
        tokio::spawn(Arc::clone(&subscriptions).follow(Arc::clone(&chain), announced, start + 1));
    for height in start + 1..=start + 3 {
        let (announced, json) = tokio::time::timeout(PATIENCE, subscriber.next())
            .await
            .expect("the block came")
            .unwrap()
            .expect("the feed runs");
        let block: NewBlockView = serde_json::from_str(json.get()).unwrap();
        assert_eq!(announced, height);
        let stored = chain.store().block(height).unwrap().unwrap();
        assert_eq!(block.height, height);
        assert_eq!(block.hash, hex::encode(stored.hash()));
        assert_eq!(block.state_root, hex::encode(stored.header.state_root));
    }
    drop(announce);
    tokio::time::timeout(PATIENCE, feed)
        .await
        .expect("the feed ends with its announcements")
        .unwrap();
}
