//! A typed client of one node: the API's methods with Cairn's types in and
//! typed views out, and errors that say whether the node refused a request
//! or could not be reached.

use std::time::{Duration, Instant};

use cairn_types::{Address, Hash, SignedTransaction};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use parity_scale_codec::Encode;

use crate::api::{
    AccountView, BlockView, CairnApiClient, ContractView, GasPriceView, QueryResult, ReceiptView,
    StatusView, Submitted, codes,
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

/// A client of one node's JSON-RPC over HTTP. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    rpc: HttpClient,
    url: String,
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

    /// Polls for `hash`'s receipt every `poll` until it is committed or
    /// `timeout` has passed ([`ClientError::NotIncluded`]).
    pub async fn wait_for_receipt(
        &self,
        hash: &Hash,
        timeout: Duration,
        poll: Duration,
    ) -> Result<ReceiptView, ClientError> {
        let started = Instant::now();
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
