//! JSON-RPC 2.0 over HTTP (docs/RPC.md). Bytes travel as hex strings;
//! hashes and addresses as 64 hex digits, with or without `0x`.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::chain::Chain;
use crate::genesis::ChainParams;
use crate::limits::MAX_TX_BYTES;
use crate::net::NetworkStatus;
use crate::types::{
    Action, Address, Block, Hash, Receipt, SignedTransaction, contract_address, parse_hash,
    status_name,
};

/// Error codes beyond JSON-RPC's own.
pub mod codes {
    /// The transaction was refused; the message says why.
    pub const TX_REJECTED: i32 = 1;
    /// A query could not run (no such contract is a status, not this).
    pub const QUERY_FAILED: i32 = 2;
    pub const INVALID_PARAMS: i32 = -32602;
    pub const INTERNAL: i32 = -32603;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub hash: String,
    pub sender: String,
    pub nonce: u64,
    /// Where a deploy will create its contract.
    pub contract: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub contract: String,
    pub topic: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    pub tx_hash: String,
    pub height: u64,
    pub index: u32,
    pub status: u32,
    pub status_name: String,
    pub gas_used: u64,
    pub output: String,
    pub events: Vec<EventView>,
    pub contract: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResult {
    pub status: u32,
    pub status_name: String,
    pub gas_used: u64,
    pub output: String,
    /// The height whose state the query read.
    pub height: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxSummary {
    pub hash: String,
    pub sender: String,
    pub nonce: u64,
    pub gas_limit: u64,
    pub kind: String,
    pub contract: Option<String>,
    pub method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    pub hash: String,
    pub height: u64,
    pub time_ms: u64,
    pub parent: String,
    pub proposer: String,
    pub tx_root: String,
    pub receipts_root: String,
    pub state_root: String,
    pub gas_used: u64,
    pub transactions: Vec<TxSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub address: String,
    /// The nonce of the account's next transaction in the committed state.
    pub nonce: u64,
    /// The nonce after the account's transactions waiting in this node's
    /// mempool: what a new transaction should carry.
    pub pending_nonce: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractView {
    pub address: String,
    pub code_hash: String,
    pub deployer: String,
    pub deployed_at: u64,
    /// The ABI given at deploy, if any.
    pub abi: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub chain_id: String,
    pub genesis_hash: String,
    pub moniker: String,
    pub height: u64,
    pub block_hash: String,
    pub state_root: String,
    pub block_time_ms: u64,
    pub consensus_peers: u64,
    pub gossip_peers: u64,
    /// Whether a peer has reported a height above this node's.
    pub syncing: bool,
    pub mempool_size: u64,
    pub params: ChainParams,
}

#[rpc(server, client, namespace = "cairn")]
pub trait CairnApi {
    /// Submits a SCALE-encoded signed transaction (hex); returns its hash
    /// once it is in this node's mempool and on its way to the others.
    #[method(name = "submitTransaction")]
    async fn submit_transaction(&self, tx: String) -> RpcResult<Submitted>;

    /// The receipt of a committed transaction, or null if it is not
    /// committed (yet).
    #[method(name = "getReceipt")]
    async fn get_receipt(&self, hash: String) -> RpcResult<Option<ReceiptView>>;

    /// Runs a method read-only on the latest committed state.
    #[method(name = "query")]
    async fn query(
        &self,
        contract: String,
        method: String,
        input: String,
        gas_limit: Option<u64>,
    ) -> RpcResult<QueryResult>;

    #[method(name = "getBlock")]
    async fn get_block(&self, height: u64) -> RpcResult<Option<BlockView>>;

    #[method(name = "getBlockByHash")]
    async fn get_block_by_hash(&self, hash: String) -> RpcResult<Option<BlockView>>;

    #[method(name = "getAccount")]
    async fn get_account(&self, address: String) -> RpcResult<AccountView>;

    #[method(name = "getContract")]
    async fn get_contract(&self, address: String) -> RpcResult<Option<ContractView>>;

    #[method(name = "status")]
    async fn status(&self) -> RpcResult<StatusView>;
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::INVALID_PARAMS, message.into(), None::<()>)
}

fn internal(error: impl std::fmt::Display) -> ErrorObjectOwned {
    tracing::warn!(%error, "RPC request failed inside the node");
    ErrorObjectOwned::owned(codes::INTERNAL, format!("node error: {error}"), None::<()>)
}

fn parse_address(text: &str) -> Result<Address, ErrorObjectOwned> {
    Address::from_hex(text).map_err(invalid_params)
}

fn parse_bytes(text: &str, what: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|error| invalid_params(format!("{what} is not hex: {error}")))
}

pub fn receipt_view(height: u64, index: u32, receipt: &Receipt) -> ReceiptView {
    ReceiptView {
        tx_hash: hex::encode(receipt.tx_hash),
        height,
        index,
        status: receipt.status,
        status_name: status_name(receipt.status).to_owned(),
        gas_used: receipt.gas_used,
        output: hex::encode(&receipt.output),
        events: receipt
            .events
            .iter()
            .map(|event| EventView {
                contract: event.contract.to_string(),
                topic: hex::encode(&event.topic),
                data: hex::encode(&event.data),
            })
            .collect(),
        contract: receipt.contract.map(|address| address.to_string()),
    }
}

pub fn tx_summary(tx: &SignedTransaction) -> TxSummary {
    let t = &tx.tx;
    let (kind, contract, method) = match &t.action {
        Action::Deploy { .. } => (
            "deploy",
            Some(contract_address(&t.sender, t.nonce).to_string()),
            None,
        ),
        Action::Call {
            contract, method, ..
        } => ("call", Some(contract.to_string()), Some(method.clone())),
    };
    TxSummary {
        hash: hex::encode(tx.hash()),
        sender: t.sender.to_string(),
        nonce: t.nonce,
        gas_limit: t.gas_limit,
        kind: kind.to_owned(),
        contract,
        method,
    }
}

pub fn block_view(block: &Block) -> BlockView {
    let header = &block.header;
    BlockView {
        hash: hex::encode(block.hash()),
        height: header.height,
        time_ms: header.time_ms,
        parent: hex::encode(header.parent),
        proposer: hex::encode(header.proposer),
        tx_root: hex::encode(header.tx_root),
        receipts_root: hex::encode(header.receipts_root),
        state_root: hex::encode(header.state_root),
        gas_used: header.gas_used,
        transactions: block.transactions.iter().map(tx_summary).collect(),
    }
}

/// The RPC service of one node.
#[derive(Debug, Clone)]
pub struct Rpc {
    pub chain: Arc<Chain>,
    /// Accepted transactions go here to be gossiped to the other nodes.
    pub gossip: mpsc::Sender<Vec<u8>>,
    pub network: Arc<NetworkStatus>,
    pub moniker: String,
}

/// Runs blocking chain work (RocksDB reads, contract execution) off the
/// async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ErrorObjectOwned> + Send + 'static,
) -> Result<T, ErrorObjectOwned> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| internal(format!("the request's task failed: {error}")))?
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
        let (hash, tx, bytes) = blocking(move || {
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
            Action::Call { .. } => None,
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
        blocking(move || {
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
        let chain = Arc::clone(&self.chain);
        let gas_limit = gas_limit.unwrap_or(chain.params().max_tx_gas);
        blocking(move || {
            let height = chain.head().height;
            let outcome = chain
                .query(&contract, &method, &input, gas_limit)
                .map_err(|error| {
                    ErrorObjectOwned::owned(codes::QUERY_FAILED, error.to_string(), None::<()>)
                })?;
            Ok(QueryResult {
                status: outcome.status.code(),
                status_name: status_name(outcome.status.code()).to_owned(),
                gas_used: outcome.gas_used,
                output: hex::encode(&outcome.output),
                height,
            })
        })
        .await
    }

    async fn get_block(&self, height: u64) -> RpcResult<Option<BlockView>> {
        let chain = Arc::clone(&self.chain);
        blocking(move || {
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
        blocking(move || {
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
        blocking(move || {
            let (nonce, pending_nonce) = chain.next_nonce(&address).map_err(internal)?;
            Ok(AccountView {
                address: address.to_string(),
                nonce,
                pending_nonce,
            })
        })
        .await
    }

    async fn get_contract(&self, address: String) -> RpcResult<Option<ContractView>> {
        let address = parse_address(&address)?;
        let chain = Arc::clone(&self.chain);
        blocking(move || {
            let Some(info) = chain.contract(&address).map_err(internal)? else {
                return Ok(None);
            };
            let abi = chain
                .store()
                .abi(&info.code_hash)
                .map_err(internal)?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            Ok(Some(ContractView {
                address: address.to_string(),
                code_hash: hex::encode(info.code_hash),
                deployer: info.deployer.to_string(),
                deployed_at: info.deployed_at,
                abi,
            }))
        })
        .await
    }

    async fn status(&self) -> RpcResult<StatusView> {
        let head = self.chain.head();
        let highest_seen = self.network.highest_peer_height();
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
            syncing: highest_seen > head.height.saturating_add(1),
            mempool_size: u64::try_from(self.chain.mempool_len()).unwrap_or(u64::MAX),
            params: self.chain.params().clone(),
        })
    }
}

/// Largest request body: the largest transaction, hex-encoded, with room
/// for the JSON around it.
#[allow(clippy::cast_possible_truncation)] // a few MiB: fits in u32
const MAX_REQUEST_BYTES: u32 = 2 * (MAX_TX_BYTES as u32) + 64 * 1024;

/// Serves `rpc` on `address` until the handle is stopped.
pub async fn serve(rpc: Rpc, address: SocketAddr) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let config = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(16 * 1024 * 1024)
        .max_connections(256)
        .http_only()
        .build();
    let server = Server::builder()
        .set_config(config)
        .build(address)
        .await
        .map_err(|error| anyhow::anyhow!("binding the RPC server to {address}: {error}"))?;
    let bound = server.local_addr()?;
    Ok((bound, server.start(rpc.into_rpc())))
}
