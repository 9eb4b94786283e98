//! JSON-RPC 2.0 over HTTP and WebSocket, on one port (docs/RPC.md): the
//! server side of the API that `cairn-client` defines (the method trait,
//! the subscriptions and their views, re-exported here). Bytes travel as
//! hex strings; hashes and addresses as 64 hex digits, with or without
//! `0x`.
//!
//! Clients are strangers: requests are bounded in size, batches in length,
//! connections in number, and RPC shares no threads with consensus. The
//! server runs on a tokio runtime of its own ([`BackgroundRuntime`]), and every
//! request's blocking work on one of RPC's own thread pools ([`pool`]),
//! never on the blocking pool where consensus builds and commits blocks;
//! all of them run at a lower scheduling priority than consensus.
//! Contract queries have a pool of their own, with a gas cap, so that a
//! flood of heavy queries cannot delay a lookup or a transaction
//! submission; a full pool answers [`codes::BUSY`] at once. A failure
//! inside the node reaches the client as an error id only; the log has the
//! details under that id.
//!
//! A WebSocket connection can also subscribe to committed blocks and to a
//! transaction's receipt ([`subscriptions`]): bounded per connection and
//! in total; a block subscriber falling further behind than a bounded
//! number of blocks is dropped with a close reason.

pub mod pool;
pub mod subscriptions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use cairn_client::api::{
    AccountView, BlockView, CairnApiClient, CairnApiServer, CairnSubscriptionsClient,
    CairnSubscriptionsServer, ContractView, EventView, GasPriceView, NewBlockView, QueryResult,
    ReceiptView, StatusView, Submitted, TxSummary, block_view, codes, receipt_view, tx_summary,
};
use jsonrpsee::PendingSubscriptionSink;
use jsonrpsee::core::{RpcResult, SubscriptionResult, async_trait};
use jsonrpsee::server::{BatchRequestConfig, PingConfig, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use tokio::sync::mpsc;

use crate::background::BackgroundRuntime;
use crate::chain::{Chain, now_ms};
use crate::limits::MAX_TX_BYTES;
use crate::net::NetworkStatus;
use crate::types::{Action, Address, Hash, contract_address, parse_hash, status_name};
use pool::{PoolError, PoolLimits, WorkPool};
use subscriptions::{SubscriptionLimits, Subscriptions, TooManySubscriptions};

/// How much a node serves its clients at once ([`crate::config`]'s
/// `[rpc]` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcLimits {
    /// HTTP connections open at once; more are refused.
    pub max_connections: u32,
    /// Calls in one JSON-RPC batch; a longer batch is refused whole.
    pub max_batch: u32,
    /// The gas a query may use: the default of `gas_limit` and its cap.
    pub query_gas_limit: u64,
    /// Where contract queries run.
    pub queries: PoolLimits,
    /// Where everything else that blocks runs: lookups in the database and
    /// transaction admission.
    pub requests: PoolLimits,
    /// WebSocket subscriptions: how many, and how far behind a subscriber
    /// may fall.
    pub subscriptions: SubscriptionLimits,
    /// The kernel's send buffer of each client socket (Linux doubles it
    /// for its bookkeeping). Fixed rather than grown by the kernel (up to
    /// 4 MiB a socket): a client that stops reading holds at most this
    /// much of the node's memory in its socket.
    pub socket_send_buffer: u32,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            max_connections: 128,
            max_batch: 16,
            // About 8 ms of contract execution at the schedule's calibrated
            // 65 gas/ns (docs/BENCHMARKS.md), a tenth of a transaction's
            // default maximum.
            query_gas_limit: 500_000_000,
            queries: PoolLimits {
                threads: 2,
                queue: 32,
            },
            requests: PoolLimits {
                threads: 2,
                queue: 256,
            },
            subscriptions: SubscriptionLimits::default(),
            // Enough for full speed on loopback and a LAN; a 16 MiB
            // response still streams, at 256 KiB per round trip.
            socket_send_buffer: 128 * 1024,
        }
    }
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::INVALID_PARAMS, message.into(), None::<()>)
}

/// A failure of this node (storage, engine, a lost job), told to the
/// client by an id that finds it in the log: its text can name paths,
/// records and internals that are none of a stranger's business.
fn internal(error: impl std::fmt::Display) -> ErrorObjectOwned {
    failed_inside(codes::INTERNAL, "internal error", error)
}

fn failed_inside(code: i32, what: &str, error: impl std::fmt::Display) -> ErrorObjectOwned {
    let id = error_id();
    tracing::error!(error_id = %id, error = %format_args!("{error:#}"), "an RPC request failed inside the node");
    ErrorObjectOwned::owned(
        code,
        format!("{what} (error id {id}: the node's log has the details)"),
        None::<()>,
    )
}

/// A fresh id for an internal error: this process's start time and a
/// counter, unique across restarts of a node.
fn error_id() -> String {
    static STARTED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = *STARTED.get_or_init(now_ms);
    format!("{started:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn too_many_subscriptions(error: TooManySubscriptions) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::BUSY, error.to_string(), None::<()>)
}

fn busy(error: PoolError) -> ErrorObjectOwned {
    match error {
        PoolError::Busy(busy) => ErrorObjectOwned::owned(codes::BUSY, busy.to_string(), None::<()>),
        lost @ PoolError::Lost(_) => internal(lost),
    }
}

fn parse_address(text: &str) -> Result<Address, ErrorObjectOwned> {
    Address::from_hex(text).map_err(invalid_params)
}

fn parse_bytes(text: &str, what: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|error| invalid_params(format!("{what} is not hex: {error}")))
}

/// The RPC service of one node. Cheap to clone: clones share the pools.
#[derive(Debug, Clone)]
pub struct Rpc {
    chain: Arc<Chain>,
    /// Accepted transactions go here to be gossiped to the other nodes.
    gossip: mpsc::Sender<Vec<u8>>,
    network: Arc<NetworkStatus>,
    moniker: String,
    query_gas_limit: u64,
    queries: Arc<WorkPool>,
    requests: Arc<WorkPool>,
    subscriptions: Arc<Subscriptions>,
}

impl Rpc {
    /// The service, with its thread pools started.
    pub fn new(
        chain: Arc<Chain>,
        gossip: mpsc::Sender<Vec<u8>>,
        network: Arc<NetworkStatus>,
        moniker: String,
        limits: &RpcLimits,
    ) -> std::io::Result<Self> {
        Ok(Rpc {
            chain,
            gossip,
            network,
            moniker,
            query_gas_limit: limits.query_gas_limit,
            queries: Arc::new(WorkPool::start("query", limits.queries, true)?),
            requests: Arc::new(WorkPool::start("rpc", limits.requests, true)?),
            subscriptions: Subscriptions::new(limits.subscriptions),
        })
    }

    /// The subscriptions this service serves.
    pub fn subscriptions(&self) -> &Arc<Subscriptions> {
        &self.subscriptions
    }

    /// Runs blocking work (RocksDB reads, admission) on the request pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ErrorObjectOwned> + Send + 'static,
    ) -> Result<T, ErrorObjectOwned> {
        self.requests.run(work).await.map_err(busy)?
    }
}

#[async_trait]
impl CairnApiServer for Rpc {
    async fn submit_transaction(&self, tx: String) -> RpcResult<Submitted> {
        let digits = tx.strip_prefix("0x").unwrap_or(&tx);
        // Hex is two characters per byte: refuse before decoding.
        if digits.len() > 2 * MAX_TX_BYTES {
            return Err(ErrorObjectOwned::owned(
                codes::TX_REJECTED,
                format!("the transaction is over {MAX_TX_BYTES} bytes"),
                None::<()>,
            ));
        }
        let bytes = parse_bytes(digits, "the transaction")?;
        let chain = Arc::clone(&self.chain);
        let (hash, tx, bytes) = self
            .blocking(move || {
                let (hash, tx) = chain.submit(&bytes).map_err(|error| {
                    chain.metrics().rejected_transactions.inc();
                    ErrorObjectOwned::owned(codes::TX_REJECTED, error.to_string(), None::<()>)
                })?;
                Ok((hash, tx, bytes))
            })
            .await?;
        if self.gossip.try_send(bytes).is_err() {
            // It is in this node's mempool; other nodes get it when the
            // gossip queue drains or this node proposes.
            tracing::warn!(hash = %hex::encode(hash), "gossip queue full; transaction kept locally");
        }
        let contract = match &tx.tx.action {
            Action::Deploy { .. } => Some(contract_address(&tx.tx.sender, tx.tx.nonce).to_string()),
            Action::Call { .. } | Action::Transfer { .. } => None,
        };
        Ok(Submitted {
            hash: hex::encode(hash),
            sender: tx.tx.sender.to_string(),
            nonce: tx.tx.nonce,
            contract,
        })
    }

    async fn get_receipt(&self, hash: String) -> RpcResult<Option<ReceiptView>> {
        let hash: Hash = parse_hash(&hash).map_err(invalid_params)?;
        let chain = Arc::clone(&self.chain);
        self.blocking(move || {
            Ok(chain
                .store()
                .receipt(&hash)
                .map_err(internal)?
                .map(|(location, receipt)| receipt_view(location.height, location.index, &receipt)))
        })
        .await
    }

    async fn query(
        &self,
        contract: String,
        method: String,
        input: String,
        gas_limit: Option<u64>,
    ) -> RpcResult<QueryResult> {
        let contract = parse_address(&contract)?;
        let input = parse_bytes(&input, "the input")?;
        if input.len() > cairn_vm::limits::MAX_INPUT_BYTES {
            return Err(invalid_params(format!(
                "the input is over {} bytes",
                cairn_vm::limits::MAX_INPUT_BYTES
            )));
        }
        // A query pays nothing, so it gets a node's small cap, not a
        // transaction's maximum.
        let gas_limit = gas_limit
            .unwrap_or(self.query_gas_limit)
            .min(self.query_gas_limit);
        let chain = Arc::clone(&self.chain);
        let queried = self
            .queries
            .run(move || chain.query(&contract, &method, &input, gas_limit))
            .await
            .map_err(busy)?
            .map_err(|error| {
                failed_inside(codes::QUERY_FAILED, "the query could not run", error)
            })?;
        let outcome = queried.outcome;
        Ok(QueryResult {
            status: outcome.status.code(),
            status_name: status_name(outcome.status.code()).to_owned(),
            gas_used: outcome.gas_used,
            output: hex::encode(&outcome.output),
            height: queried.height,
        })
    }

    async fn get_block(&self, height: u64) -> RpcResult<Option<BlockView>> {
        let chain = Arc::clone(&self.chain);
        self.blocking(move || {
            Ok(chain
                .store()
                .block(height)
                .map_err(internal)?
                .as_ref()
                .map(block_view))
        })
        .await
    }

    async fn get_block_by_hash(&self, hash: String) -> RpcResult<Option<BlockView>> {
        let hash = parse_hash(&hash).map_err(invalid_params)?;
        let chain = Arc::clone(&self.chain);
        self.blocking(move || {
            let Some(height) = chain.store().block_height(&hash).map_err(internal)? else {
                return Ok(None);
            };
            Ok(chain
                .store()
                .block(height)
                .map_err(internal)?
                .as_ref()
                .map(block_view))
        })
        .await
    }

    async fn get_account(&self, address: String) -> RpcResult<AccountView> {
        let address = parse_address(&address)?;
        let chain = Arc::clone(&self.chain);
        self.blocking(move || {
            let (account, pending_nonce) = chain.account(&address).map_err(internal)?;
            Ok(AccountView {
                address: address.to_string(),
                nonce: account.nonce,
                pending_nonce,
                balance: account.balance,
            })
        })
        .await
    }

    async fn get_contract(&self, address: String) -> RpcResult<Option<ContractView>> {
        let address = parse_address(&address)?;
        let chain = Arc::clone(&self.chain);
        self.blocking(move || {
            let Some((info, abi)) = chain.contract_with_abi(&address).map_err(internal)? else {
                return Ok(None);
            };
            // Admission let only JSON in.
            let abi = abi.and_then(|bytes| serde_json::from_slice(&bytes).ok());
            Ok(Some(ContractView {
                address: address.to_string(),
                code_hash: hex::encode(info.code_hash),
                deployer: info.deployer.to_string(),
                deployed_at: info.deployed_at,
                abi_hash: info.abi_hash.map(hex::encode),
                abi,
            }))
        })
        .await
    }

    async fn status(&self) -> RpcResult<StatusView> {
        let head = self.chain.head();
        let chain = Arc::clone(&self.chain);
        let state = self
            .blocking(move || chain.chain_state().map_err(internal))
            .await?;
        Ok(StatusView {
            chain_id: self.chain.genesis().chain_id.clone(),
            genesis_hash: hex::encode(self.chain.genesis_hash()),
            moniker: self.moniker.clone(),
            height: head.height,
            block_hash: hex::encode(head.block_hash),
            state_root: hex::encode(head.state_root),
            block_time_ms: head.time_ms,
            consensus_peers: self.network.consensus_peers(),
            gossip_peers: self.network.gossip_peers(),
            syncing: self.network.syncing(head.height, now_ms()),
            mempool_size: u64::try_from(self.chain.mempool_len()).unwrap_or(u64::MAX),
            base_fee: state.base_fee,
            total_supply: state.total_supply,
            burned: state.burned,
            params: self.chain.params().clone(),
        })
    }

    async fn gas_price(&self) -> RpcResult<GasPriceView> {
        let prices = self.chain.gas_prices();
        Ok(GasPriceView {
            base_fee: prices.base_fee,
            min_gas_price: prices.min_gas_price,
            suggested: prices.suggested,
        })
    }
}

#[async_trait]
impl CairnSubscriptionsServer for Rpc {
    async fn subscribe_blocks(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        match self.subscriptions.blocks() {
            Ok(subscription) => subscription.serve(pending).await,
            Err(error) => {
                pending.reject(too_many_subscriptions(error)).await;
                Ok(())
            }
        }
    }

    async fn subscribe_receipt(
        &self,
        pending: PendingSubscriptionSink,
        hash: String,
    ) -> SubscriptionResult {
        let hash = match parse_hash(&hash) {
            Ok(hash) => hash,
            Err(error) => {
                pending.reject(invalid_params(error)).await;
                return Ok(());
            }
        };
        // Waiting before looking: a commit in between reaches the waiter.
        let subscription = match self.subscriptions.receipt(hash) {
            Ok(subscription) => subscription,
            Err(error) => {
                pending.reject(too_many_subscriptions(error)).await;
                return Ok(());
            }
        };
        match self.get_receipt(hex::encode(hash)).await {
            Ok(committed) => subscription.serve(pending, committed).await,
            Err(error) => {
                pending.reject(error).await;
                Ok(())
            }
        }
    }
}

/// Largest request body: the largest transaction, hex-encoded, with room
/// for the JSON around it.
#[allow(clippy::cast_possible_truncation)] // a few MiB: fits in u32
const MAX_REQUEST_BYTES: u32 = 2 * (MAX_TX_BYTES as u32) + 64 * 1024;

/// Worker threads of the RPC runtime: enough to parse requests and answer
/// lookups; the heavy work is on the pools.
pub const RUNTIME_THREADS: usize = 2;

/// Messages waiting to be written to one connection (responses and
/// notifications together); while it is full the server reads no more
/// requests from that connection and subscriptions wait to send.
const CONNECTION_BUFFER: u32 = 64;

/// A WebSocket client that answers no ping within this long (one that is
/// gone, or that stopped reading its socket) is disconnected, and its
/// subscriptions end.
const PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const PING_INACTIVE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A listening socket whose accepted connections have a send buffer of
/// `send_buffer` bytes (they inherit it from the listener).
fn listen(address: SocketAddr, send_buffer: u32) -> std::io::Result<std::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(send_buffer)?;
    socket.bind(address)?;
    socket.listen(1024)?.into_std()
}

/// Serves `rpc` on `address`, over HTTP and WebSocket, on `runtime`,
/// until the handle is stopped; the subscriptions' feed runs there too.
pub async fn serve(
    rpc: Rpc,
    address: SocketAddr,
    limits: &RpcLimits,
    runtime: &BackgroundRuntime,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let handle = runtime
        .handle()
        .ok_or_else(|| anyhow::anyhow!("the RPC runtime is shut down"))?
        .clone();
    let config = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(16 * 1024 * 1024)
        .max_connections(limits.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch))
        .max_subscriptions_per_connection(limits.subscriptions.per_connection)
        .set_message_buffer_capacity(CONNECTION_BUFFER)
        .enable_ws_ping(
            PingConfig::new()
                .ping_interval(PING_INTERVAL)
                .inactive_limit(PING_INACTIVE_LIMIT),
        )
        .custom_tokio_runtime(handle.clone())
        .build();
    let chain = Arc::clone(&rpc.chain);
    let subscriptions = Arc::clone(&rpc.subscriptions);
    let mut methods = CairnApiServer::into_rpc(rpc.clone());
    methods
        .merge(CairnSubscriptionsServer::into_rpc(rpc))
        .map_err(|error| anyhow::anyhow!("registering the subscriptions: {error}"))?;
    let send_buffer = limits.socket_send_buffer;
    // Bound on the RPC runtime, so that its sockets are that runtime's.
    handle
        .spawn(async move {
            let listener = listen(address, send_buffer)
                .map_err(|error| anyhow::anyhow!("binding the RPC server to {address}: {error}"))?;
            let server = Server::builder()
                .set_config(config)
                .build_from_tcp(listener)?;
            let bound = server.local_addr()?;
            // The feed starts before the first subscriber can come, and
            // subscribes to commits before it reads the head: a block
            // committed in between is announced, not skipped.
            let committed = chain.subscribe();
            let next = chain.head().height + 1;
            tokio::spawn(subscriptions.follow(chain, committed, next));
            anyhow::Ok((bound, server.start(methods)))
        })
        .await
        .map_err(|error| anyhow::anyhow!("starting the RPC server: {error}"))?
}
