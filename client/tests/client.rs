//! The typed client against a stand-in node on loopback: jsonrpsee's
//! server answering the API's method names with canned views. Checks what
//! the client sends (hex encodings, parameter order), what it decodes, and
//! how each kind of failure reaches the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cairn_client::api::{ReceiptView, StatusView, codes};
use cairn_client::{Client, ClientError};
use cairn_types::{Action, Address, ChainParams, PrivateKey, SignedTransaction, Transaction};
use jsonrpsee::RpcModule;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::Encode;
use serde_json::{Value, json};

fn status() -> StatusView {
    StatusView {
        chain_id: "cairn-test".into(),
        genesis_hash: "00".repeat(32),
        moniker: "node0".into(),
        height: 7,
        block_hash: "11".repeat(32),
        state_root: "22".repeat(32),
        block_time_ms: 1_000,
        consensus_peers: 3,
        gossip_peers: 3,
        syncing: false,
        mempool_size: 0,
        base_fee: 1,
        total_supply: 1_000,
        burned: 0,
        params: ChainParams::default(),
    }
}

fn receipt(hash: &str) -> ReceiptView {
    ReceiptView {
        tx_hash: hash.to_owned(),
        height: 8,
        index: 0,
        status: 0,
        status_name: "ok".into(),
        gas_used: 42,
        fee: 84,
        burned: 42,
        value: 7,
        output: String::new(),
        events: vec![],
        contract: None,
    }
}

fn signed(nonce: u64) -> SignedTransaction {
    let key = PrivateKey::from([1; 32]);
    Transaction {
        chain_id: "cairn-test".into(),
        genesis_hash: [0; 32],
        sender: cairn_types::keys::address(&key),
        nonce,
        gas_limit: 10_000_000,
        gas_price: 1,
        value: 0,
        action: Action::Call {
            contract: Address([7; 32]),
            method: "increment".into(),
            input: vec![5],
        },
    }
    .sign(&key)
}

/// A node that knows one committed transaction (after `polls_before_commit`
/// receipt requests for it), refuses transactions with nonce 13, and echoes
/// query parameters back. It serves no subscriptions.
async fn stand_in(
    committed: SignedTransaction,
    polls_before_commit: u32,
) -> (Client, ServerHandle) {
    stand_in_on(
        ServerConfig::default(),
        committed,
        polls_before_commit,
        Arc::default(),
    )
    .await
}

/// [`stand_in`] on `server`, counting receipt requests in `polls`.
async fn stand_in_on(
    config: ServerConfig,
    committed: SignedTransaction,
    polls_before_commit: u32,
    polls: Arc<AtomicU32>,
) -> (Client, ServerHandle) {
    let (module, url, server) = module_on(config, committed, polls_before_commit, polls).await;
    let handle = server.start(module);
    (Client::new(&url).unwrap(), handle)
}

/// The stand-in's methods, and its server bound but not started.
async fn module_on(
    config: ServerConfig,
    committed: SignedTransaction,
    polls_before_commit: u32,
    polls: Arc<AtomicU32>,
) -> (RpcModule<()>, String, Server) {
    let server = Server::builder()
        .set_config(config)
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let committed_hash = hex::encode(committed.hash());
    let mut module = RpcModule::new(());
    module
        .register_method(
            "cairn_status",
            |_, _, _| Ok::<_, ErrorObjectOwned>(status()),
        )
        .unwrap();
    module
        .register_method(
            "cairn_submitTransaction",
            |params, _, _| -> Result<Value, ErrorObjectOwned> {
                let (hex_tx,): (String,) = params.parse()?;
                let bytes = hex::decode(&hex_tx).map_err(|error| {
                    ErrorObjectOwned::owned(codes::INVALID_PARAMS, error.to_string(), None::<()>)
                })?;
                let tx = SignedTransaction::decode_checked(&bytes).map_err(|error| {
                    ErrorObjectOwned::owned(codes::TX_REJECTED, error.to_string(), None::<()>)
                })?;
                if tx.tx.nonce == 13 {
                    return Err(ErrorObjectOwned::owned(
                        codes::TX_REJECTED,
                        "nonce 13 is already used; the account's next nonce is 14",
                        None::<()>,
                    ));
                }
                Ok(json!({
                    "hash": hex::encode(tx.hash()),
                    "sender": tx.tx.sender.to_string(),
                    "nonce": tx.tx.nonce,
                    "contract": null,
                }))
            },
        )
        .unwrap();
    module
        .register_method(
            "cairn_getReceipt",
            move |params, _, _| -> Result<Option<ReceiptView>, ErrorObjectOwned> {
                let (hash,): (String,) = params.parse()?;
                if hash != committed_hash {
                    return Ok(None);
                }
                let seen = polls.fetch_add(1, Ordering::SeqCst);
                Ok((seen >= polls_before_commit).then(|| receipt(&hash)))
            },
        )
        .unwrap();
    module
        .register_method(
            "cairn_query",
            |params, _, _| -> Result<Value, ErrorObjectOwned> {
                let (contract, method, input, gas): (String, String, String, Option<u64>) =
                    params.parse()?;
                Ok(json!({
                    "status": 0,
                    "status_name": "ok",
                    "gas_used": gas.unwrap_or(0),
                    "output": format!("{contract}/{method}/{input}"),
                    "height": 7,
                }))
            },
        )
        .unwrap();
    (module, url, server)
}

#[tokio::test]
async fn views_decode_and_parameters_are_encoded_as_the_api_says() {
    let (client, _server) = stand_in(signed(0), 0).await;
    assert_eq!(client.status().await.unwrap(), status());
    let contract = Address([0xab; 32]);
    let result = client
        .query(&contract, "balance_of", &[1, 2], Some(99))
        .await
        .unwrap();
    assert_eq!(
        result.output,
        format!("{}/balance_of/0102", "ab".repeat(32))
    );
    assert_eq!(result.gas_used, 99);
}

#[tokio::test]
async fn a_submitted_transaction_is_waited_for_until_its_receipt_arrives() {
    let tx = signed(0);
    let (client, _server) = stand_in(tx.clone(), 3).await;
    let submitted = client.submit(&tx).await.unwrap();
    assert_eq!(submitted.hash, hex::encode(tx.hash()));
    assert_eq!(submitted.sender, tx.tx.sender.to_string());
    // The stand-in commits it on the fourth request.
    assert_eq!(client.receipt(&tx.hash()).await.unwrap(), None);
    let receipt = client
        .wait_for_receipt(
            &tx.hash(),
            Duration::from_secs(600),
            Duration::from_millis(1),
        )
        .await
        .unwrap();
    assert_eq!(receipt.tx_hash, hex::encode(tx.hash()));
    assert_eq!(receipt.gas_used, 42);
}

#[tokio::test]
async fn waiting_for_a_receipt_rides_the_nodes_subscription() {
    let tx = signed(0);
    // The stand-in's `getReceipt` would never answer: only the
    // subscription has the receipt.
    let polls = Arc::new(AtomicU32::new(0));
    let (mut module, url, server) = module_on(
        ServerConfig::default(),
        tx.clone(),
        u32::MAX,
        Arc::clone(&polls),
    )
    .await;
    let subscribed = Arc::new(AtomicU32::new(0));
    module
        .register_subscription(
            "cairn_subscribeReceipt",
            "receipt",
            "cairn_unsubscribeReceipt",
            {
                let subscribed = Arc::clone(&subscribed);
                move |params, pending, _, _| {
                    let subscribed = Arc::clone(&subscribed);
                    async move {
                        let (hash,): (String,) = params.parse()?;
                        subscribed.fetch_add(1, Ordering::SeqCst);
                        let sink = pending.accept().await?;
                        let json = serde_json::value::to_raw_value(&receipt(&hash))?;
                        sink.send(json).await?;
                        Ok::<_, jsonrpsee::core::SubscriptionError>(())
                    }
                }
            },
        )
        .unwrap();
    let _server = server.start(module);
    let client = Client::new(&url).unwrap();
    // Polling once an hour, it would not be done in time.
    let receipt = tokio::time::timeout(
        Duration::from_secs(120),
        client.wait_for_receipt(
            &tx.hash(),
            Duration::from_secs(600),
            Duration::from_secs(3600),
        ),
    )
    .await
    .expect("the receipt came on the subscription")
    .unwrap();
    assert_eq!(receipt.tx_hash, hex::encode(tx.hash()));
    assert_eq!(subscribed.load(Ordering::SeqCst), 1);
    assert_eq!(polls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_node_without_websocket_is_polled_for_receipts() {
    let tx = signed(0);
    let polls = Arc::new(AtomicU32::new(0));
    let (client, _server) = stand_in_on(
        ServerConfig::builder().http_only().build(),
        tx.clone(),
        3,
        Arc::clone(&polls),
    )
    .await;
    // It offers no subscriptions, and says so.
    let error = client.subscribe_blocks().await.unwrap_err();
    assert!(
        matches!(&error, ClientError::NoWebSocket { url } if url == client.url()),
        "{error:?}"
    );
    let receipt = client
        .wait_for_receipt(
            &tx.hash(),
            Duration::from_secs(600),
            Duration::from_millis(1),
        )
        .await
        .unwrap();
    assert_eq!(receipt.tx_hash, hex::encode(tx.hash()));
    // Committed on the fourth request: polled, four times.
    assert_eq!(polls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_transaction_never_committed_is_reported_after_the_wait() {
    let (client, _server) = stand_in(signed(0), 0).await;
    let other = signed(1);
    let error = client
        .wait_for_receipt(&other.hash(), Duration::ZERO, Duration::from_millis(1))
        .await
        .unwrap_err();
    match &error {
        ClientError::NotIncluded { hash, .. } => assert_eq!(*hash, other.hash()),
        other => panic!("expected NotIncluded, got {other:?}"),
    }
    assert!(
        error.to_string().contains(&hex::encode(other.hash())),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_transaction_is_a_rejection_with_the_nodes_reason() {
    let (client, _server) = stand_in(signed(0), 0).await;
    let error = client.submit(&signed(13)).await.unwrap_err();
    assert!(error.is_rejected_transaction(), "{error:?}");
    match &error {
        ClientError::Rpc { code, message } => {
            assert_eq!(*code, codes::TX_REJECTED);
            assert!(message.contains("nonce 13 is already used"), "{message}");
        }
        other => panic!("expected Rpc, got {other:?}"),
    }
    // Bytes that are no transaction are refused by the node, too.
    let error = client.submit_encoded(&[1, 2, 3]).await.unwrap_err();
    assert!(error.is_rejected_transaction(), "{error:?}");
    assert!(
        error.to_string().contains("malformed transaction"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unknown_method_is_an_rpc_error_not_a_rejection() {
    let (client, _server) = stand_in(signed(0), 0).await;
    // The stand-in serves no getAccount.
    let error = client.account(&Address([1; 32])).await.unwrap_err();
    match &error {
        ClientError::Rpc { code, .. } => assert_eq!(*code, -32601),
        other => panic!("expected Rpc, got {other:?}"),
    }
    assert!(!error.is_rejected_transaction());
}

#[tokio::test]
async fn a_node_that_is_not_there_is_a_transport_error() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let error = client.status().await.unwrap_err();
    assert!(matches!(error, ClientError::Transport(_)), "{error:?}");
}

#[test]
fn a_url_that_is_no_url_is_refused_up_front() {
    let error = Client::new("not a url").unwrap_err();
    assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains("not a url"), "{error}");
}

#[test]
fn the_views_json_is_the_apis() {
    // Field names are the API (docs/RPC.md): renaming one breaks clients.
    let value = serde_json::to_value(receipt("ab")).unwrap();
    assert_eq!(
        value,
        json!({
            "tx_hash": "ab", "height": 8, "index": 0, "status": 0, "status_name": "ok",
            "gas_used": 42, "fee": "84", "burned": "42", "value": "7",
            "output": "", "events": [], "contract": null,
        })
    );
    let value: Value = serde_json::to_value(status()).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "chain_id",
            "genesis_hash",
            "moniker",
            "height",
            "block_hash",
            "state_root",
            "block_time_ms",
            "consensus_peers",
            "gossip_peers",
            "syncing",
            "mempool_size",
            "base_fee",
            "total_supply",
            "burned",
            "params",
        ]
    );
    let encoded = signed(0).encode();
    assert_eq!(
        SignedTransaction::decode_checked(&encoded).unwrap(),
        signed(0)
    );
}
