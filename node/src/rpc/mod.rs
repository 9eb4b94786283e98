//! JSON-RPC 2.0 over HTTP (docs/RPC.md): the server side of the API that
//! `cairn-client` defines (the method trait and its views, re-exported
//! here). Bytes travel as hex strings; hashes and addresses as 64 hex
//! digits, with or without `0x`.

use std::net::SocketAddr;
use std::sync::Arc;

pub use cairn_client::api::{
    AccountView, BlockView, CairnApiClient, CairnApiServer, ContractView, EventView, GasPriceView,
    QueryResult, ReceiptView, StatusView, Submitted, TxSummary, block_view, codes, receipt_view,
    tx_summary,
};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use tokio::sync::mpsc;

use crate::chain::Chain;
use crate::limits::MAX_TX_BYTES;
use crate::net::NetworkStatus;
use crate::types::{Action, Address, Hash, contract_address, parse_hash, status_name};

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
        let chain = Arc::clone(&self.chain);
        let state = blocking(move || chain.chain_state().map_err(internal)).await?;
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
