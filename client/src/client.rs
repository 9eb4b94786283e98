//! A typed client of one node: the API's methods with Cairn's types in and
//! typed views out, and errors that say whether the node refused a request
//! or could not be reached.
//!
//! Calls go over HTTP. Subscriptions go over one WebSocket connection to
//! the same address, opened at the first subscription and opened again if
//! it was lost; a node that serves no WebSocket is remembered, and
//! [`Client::wait_for_receipt`] polls it instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_types::{Address, Hash, SignedTransaction};
use jsonrpsee::core::client::Subscription;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use parity_scale_codec::Encode;
use tokio::sync::Mutex;

use crate::api::{
    AccountView, BlockView, CairnApiClient, CairnSubscriptionsClient, ContractView, GasPriceView,
    NewBlockView, QueryResult, ReceiptView, StatusView, Submitted, codes,
};

/// How long one request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request the client sends: a largest transaction as hex, with
/// room for the JSON around it (the node takes up to about 5 MiB).
const MAX_REQUEST_BYTES: u32 = 16 * 1024 * 1024;

/// Why a call did not return a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not one a client can be made for.
    #[error("connecting to {url}")]
    Connect {
        url: String,
        #[source]
        source: jsonrpsee::core::ClientError,
    },
    /// The node answered with an error: [`codes::TX_REJECTED`] for a refused
    /// transaction, [`codes::INVALID_PARAMS`] for a malformed argument, ...
    #[error("{message} (error {code})")]
    Rpc { code: i32, message: String },
    /// No answer: the node is down or unreachable, the request timed out,
    /// or the answer was not the API's.
    #[error(transparent)]
    Transport(jsonrpsee::core::ClientError),
    /// The transaction was not committed within the time waited; it may
    /// still be.
    #[error("transaction {} not included after {:.1} s", hex::encode(.hash), .waited.as_secs_f64())]
    NotIncluded { hash: Hash, waited: Duration },
    /// The node at `url` serves no WebSocket (its HTTP server refused the
    /// upgrade), so it offers no subscriptions.
    #[error("{url} serves no WebSocket, so no subscriptions")]
    NoWebSocket { url: String },
}

impl ClientError {
    /// The node refused the transaction (bad signature, nonce, gas, gas
    /// price, balance, size, full mempool...); the message says why.
    pub fn is_rejected_transaction(&self) -> bool {
        matches!(self, ClientError::Rpc { code, .. } if *code == codes::TX_REJECTED)
    }

    /// The node refused the request because it is at its limit for that
    /// kind of request ([`codes::BUSY`]); the same request may succeed
    /// later or on another node.
    pub fn is_busy(&self) -> bool {
        matches!(self, ClientError::Rpc { code, .. } if *code == codes::BUSY)
    }
}

impl From<jsonrpsee::core::ClientError> for ClientError {
    fn from(error: jsonrpsee::core::ClientError) -> Self {
        match error {
            jsonrpsee::core::ClientError::Call(object) => ClientError::Rpc {
                code: object.code(),
                message: object.message().to_owned(),
            },
            other => ClientError::Transport(other),
        }
    }
}

/// A client of one node's JSON-RPC: calls over HTTP, subscriptions over a
/// WebSocket to the same address. Cheap to clone; clones share the
/// connections.
#[derive(Debug, Clone)]
pub struct Client {
    rpc: HttpClient,
    url: String,
    timeout: Duration,
    subscriptions: Arc<Mutex<Subscriptions>>,
}

/// The WebSocket connection, once opened.
#[derive(Debug, Default)]
enum Subscriptions {
    #[default]
    NotConnected,
    Connected(Arc<WsClient>),
    /// The node refused the upgrade: it serves HTTP only.
    Unsupported,
}

/// The WebSocket URL of a node's HTTP URL: the same address.
fn websocket_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_owned()
    }
}

/// Whether opening a WebSocket failed because the server refused the
/// upgrade (it answered, but not as a WebSocket server), rather than
/// because it could not be reached.
fn upgrade_refused(error: &jsonrpsee::core::ClientError) -> bool {
    use jsonrpsee::client_transport::ws::WsHandshakeError;
    match error {
        jsonrpsee::core::ClientError::Transport(source) => matches!(
            source.downcast_ref::<WsHandshakeError>(),
            Some(WsHandshakeError::Rejected { .. } | WsHandshakeError::Redirected { .. })
        ),
        _ => false,
    }
}

/// Committed blocks, as the node announces them ([`Client::subscribe_blocks`]).
#[derive(Debug)]
pub struct BlockSubscription {
    inner: Subscription<NewBlockView>,
    /// The connection lives as long as its subscription.
    _connection: Arc<WsClient>,
}

impl BlockSubscription {
    /// The next committed block, in order; `None` once the subscription has
    /// ended: the connection closed, or the node dropped this subscriber
    /// for falling behind (subscribe again, and read faster).
    pub async fn next(&mut self) -> Option<Result<NewBlockView, ClientError>> {
        Some(self.inner.next().await?.map_err(|error| {
            ClientError::Transport(jsonrpsee::core::ClientError::ParseError(error))
        }))
    }
}

impl Client {
    /// A client of the node at `url` (`http://127.0.0.1:26657`). Nothing is
    /// sent until the first call.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        Self::with_timeout(url, DEFAULT_TIMEOUT)
    }

    /// A client whose requests give up after `timeout`.
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, ClientError> {
        let rpc = HttpClientBuilder::default()
            .request_timeout(timeout)
            .max_request_size(MAX_REQUEST_BYTES)
            .build(url)
            .map_err(|source| ClientError::Connect {
                url: url.to_owned(),
                source,
            })?;
        Ok(Client {
            rpc,
            url: url.to_owned(),
            timeout,
            subscriptions: Arc::default(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The raw API ([`CairnApiClient`]'s methods, strings in and out).
    pub fn api(&self) -> &HttpClient {
        &self.rpc
    }

    /// Submits a signed transaction; returns once it is in the node's
    /// mempool.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<Submitted, ClientError> {
        self.submit_encoded(&tx.encode()).await
    }

    /// Submits the SCALE encoding of a signed transaction as it is.
    pub async fn submit_encoded(&self, bytes: &[u8]) -> Result<Submitted, ClientError> {
        Ok(self.rpc.submit_transaction(hex::encode(bytes)).await?)
    }

    /// The receipt of a committed transaction; `None` while it is not.
    pub async fn receipt(&self, hash: &Hash) -> Result<Option<ReceiptView>, ClientError> {
        Ok(self.rpc.get_receipt(hex::encode(hash)).await?)
    }

    /// The WebSocket connection, opened now if it is not open.
    async fn websocket(&self) -> Result<Arc<WsClient>, ClientError> {
        let mut state = self.subscriptions.lock().await;
        match &*state {
            Subscriptions::Connected(client) if client.is_connected() => {
                return Ok(Arc::clone(client));
            }
            Subscriptions::Unsupported => {
                return Err(ClientError::NoWebSocket {
                    url: self.url.clone(),
                });
            }
            Subscriptions::Connected(_) | Subscriptions::NotConnected => {}
        }
        let connected = WsClientBuilder::default()
            .request_timeout(self.timeout)
            .connection_timeout(self.timeout)
            .max_request_size(MAX_REQUEST_BYTES)
            // A node sends what its subscriptions produce; a waiter that
            // reads its one receipt late must not lose it.
            .max_buffer_capacity_per_subscription(4_096)
            .build(websocket_url(&self.url))
            .await;
        match connected {
            Ok(client) => {
                let client = Arc::new(client);
                *state = Subscriptions::Connected(Arc::clone(&client));
                Ok(client)
            }
            Err(error) if upgrade_refused(&error) => {
                *state = Subscriptions::Unsupported;
                Err(ClientError::NoWebSocket {
                    url: self.url.clone(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Every block the node commits from now on, in order
    /// (`cairn_subscribeBlocks`).
    pub async fn subscribe_blocks(&self) -> Result<BlockSubscription, ClientError> {
        let connection = self.websocket().await?;
        let inner = connection.subscribe_blocks().await?;
        Ok(BlockSubscription {
            inner,
            _connection: connection,
        })
    }

    /// `hash`'s receipt, as soon as it is committed
    /// (`cairn_subscribeReceipt`): at once if it already is. `None` if the
    /// subscription ended without it (the connection closed).
    pub async fn receipt_when_committed(
        &self,
        hash: &Hash,
    ) -> Result<Option<ReceiptView>, ClientError> {
        let mut subscription = self
            .websocket()
            .await?
            .subscribe_receipt(hex::encode(hash))
            .await?;
        let receipt = subscription.next().await.transpose().map_err(|error| {
            ClientError::Transport(jsonrpsee::core::ClientError::ParseError(error))
        })?;
        Ok(receipt)
    }

    /// Waits until `hash` is committed and returns its receipt, or gives
    /// up after `timeout` ([`ClientError::NotIncluded`]). Waits on a
    /// receipt subscription; where there is none to be had (the node
    /// serves no WebSocket, or refuses one more subscription, or the
    /// subscription ended without the receipt), polls every `poll` for
    /// the rest of the time.
    pub async fn wait_for_receipt(
        &self,
        hash: &Hash,
        timeout: Duration,
        poll: Duration,
    ) -> Result<ReceiptView, ClientError> {
        let started = Instant::now();
        match tokio::time::timeout(timeout, self.receipt_when_committed(hash)).await {
            Ok(Ok(Some(receipt))) => return Ok(receipt),
            // Polling answers these cases, or fails saying why.
            Ok(Ok(None) | Err(_)) => {}
            Err(_) => {
                return Err(ClientError::NotIncluded {
                    hash: *hash,
                    waited: started.elapsed(),
                });
            }
        }
        self.poll_for_receipt(hash, started, timeout, poll).await
    }

    /// Polls for `hash`'s receipt every `poll` until it is committed or
    /// `timeout` has passed since `started`.
    async fn poll_for_receipt(
        &self,
        hash: &Hash,
        started: Instant,
        timeout: Duration,
        poll: Duration,
    ) -> Result<ReceiptView, ClientError> {
        loop {
            if let Some(receipt) = self.receipt(hash).await? {
                return Ok(receipt);
            }
            if started.elapsed() > timeout {
                return Err(ClientError::NotIncluded {
                    hash: *hash,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Runs `method` read-only on the latest committed state; `gas_limit`
    /// defaults to, and is capped at, the node's query gas cap.
    pub async fn query(
        &self,
        contract: &Address,
        method: &str,
        input: &[u8],
        gas_limit: Option<u64>,
    ) -> Result<QueryResult, ClientError> {
        Ok(self
            .rpc
            .query(
                contract.to_string(),
                method.to_owned(),
                hex::encode(input),
                gas_limit,
            )
            .await?)
    }

    pub async fn block(&self, height: u64) -> Result<Option<BlockView>, ClientError> {
        Ok(self.rpc.get_block(height).await?)
    }

    pub async fn block_by_hash(&self, hash: &Hash) -> Result<Option<BlockView>, ClientError> {
        Ok(self.rpc.get_block_by_hash(hex::encode(hash)).await?)
    }

    pub async fn account(&self, address: &Address) -> Result<AccountView, ClientError> {
        Ok(self.rpc.get_account(address.to_string()).await?)
    }

    pub async fn contract(&self, address: &Address) -> Result<Option<ContractView>, ClientError> {
        Ok(self.rpc.get_contract(address.to_string()).await?)
    }

    pub async fn status(&self) -> Result<StatusView, ClientError> {
        Ok(self.rpc.status().await?)
    }

    /// The next block's base fee, the node's minimum and a suggested gas
    /// price.
    pub async fn gas_price(&self) -> Result<GasPriceView, ClientError> {
        Ok(self.rpc.gas_price().await?)
    }
}
