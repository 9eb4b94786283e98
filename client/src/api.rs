//! The node's JSON-RPC API (docs/RPC.md), defined once: the method trait
//! (the node implements its server side, clients call its client side), the
//! subscriptions a WebSocket connection can open, and the JSON views they
//! return. Bytes travel as hex strings; hashes and addresses as 64 hex
//! digits, with or without `0x`.
//!
//! The methods (`CairnApi`: [`CairnApiClient`] for clients) answer over
//! HTTP and WebSocket alike; the subscriptions (`CairnSubscriptions`:
//! [`CairnSubscriptionsClient`]) need a WebSocket, on the same port. They are two traits so that an HTTP client still implements the
//! methods' client side.

use cairn_types::amount::as_string;
use cairn_types::{
    Action, Block, ChainParams, Receipt, SignedTransaction, contract_address, status_name,
};
// The client side's methods return jsonrpsee's client errors: only the
// server's signatures keep `RpcResult`.
#[cfg_attr(not(feature = "server"), allow(unused_imports))]
use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use serde::{Deserialize, Serialize};

/// Error codes beyond JSON-RPC's own.
pub mod codes {
    /// The transaction was refused; the message says why.
    pub const TX_REJECTED: i32 = 1;
    /// A query could not run on this node (no such contract is a status,
    /// not this); the message carries an error id for the node's log.
    pub const QUERY_FAILED: i32 = 2;
    /// The node is at its limit for this kind of request (every thread
    /// busy, the queue full): it refused at once; retry later or elsewhere.
    pub const BUSY: i32 = 3;
    /// The node closed a subscription whose subscriber fell behind (the
    /// close notification's error); subscribe again.
    pub const SUBSCRIBER_DROPPED: i32 = 4;
    /// A connection asked for more subscriptions than a node keeps on one
    /// connection (jsonrpsee's own code for it).
    pub const TOO_MANY_SUBSCRIPTIONS: i32 = -32006;
    pub const INVALID_PARAMS: i32 = -32602;
    /// The node failed internally; the message carries an error id for
    /// the node's log, never the failure's text.
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
    /// What the sender paid: `gas_used × gas_price`.
    #[serde(with = "as_string")]
    pub fee: u128,
    /// The part of the fee burned (the block's base fee of it); the rest
    /// went to the proposer.
    #[serde(with = "as_string")]
    pub burned: u128,
    /// Native value moved to the recipient (0 if the transaction failed).
    #[serde(with = "as_string")]
    pub value: u128,
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
    pub gas_price: u64,
    #[serde(with = "as_string")]
    pub value: u128,
    /// `deploy`, `call` or `transfer`.
    pub kind: String,
    /// The contract called or created.
    pub contract: Option<String>,
    pub method: Option<String>,
    /// A transfer's recipient.
    pub to: Option<String>,
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

/// A block as its subscription announces it, once committed: what a client
/// following the chain needs, without the transactions (`cairn_getBlock`
/// has them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBlockView {
    pub height: u64,
    pub hash: String,
    pub state_root: String,
    /// How many transactions the block holds.
    pub transactions: u64,
    pub gas_used: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub address: String,
    /// The nonce of the account's next transaction in the committed state.
    pub nonce: u64,
    /// The nonce after the account's transactions waiting in this node's
    /// mempool: what a new transaction should carry.
    pub pending_nonce: u64,
    /// What it holds of the native token, committed, in its smallest unit.
    #[serde(with = "as_string")]
    pub balance: u128,
}

/// Gas prices, in the token's smallest unit per unit of gas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GasPriceView {
    /// The next block's base fee: the least a transaction must pay to be
    /// included (it is burned).
    pub base_fee: u64,
    /// The least this node admits to its mempool.
    pub min_gas_price: u64,
    /// What puts a transaction into the next block, given what waits in
    /// this node's mempool: at least both of the above, and more than the
    /// transactions that would otherwise fill the block.
    pub suggested: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractView {
    pub address: String,
    pub code_hash: String,
    pub deployer: String,
    pub deployed_at: u64,
    /// blake2b-256 of the ABI given at deploy, which the contract's record
    /// (under the state root) commits to.
    #[serde(default)]
    pub abi_hash: Option<String>,
    /// The ABI this contract's deploy gave, if any.
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
    /// The next block's base fee.
    pub base_fee: u64,
    /// Every balance added up: the genesis supply less what was burned.
    #[serde(with = "as_string")]
    pub total_supply: u128,
    /// What fees have burned since genesis.
    #[serde(with = "as_string")]
    pub burned: u128,
    pub params: ChainParams,
}

// One definition for both sides: clients build without jsonrpsee's server,
// the node turns on `server` for `CairnApiServer`.
#[cfg_attr(feature = "server", rpc(server, client, namespace = "cairn"))]
#[cfg_attr(not(feature = "server"), rpc(client, namespace = "cairn"))]
pub trait CairnApi {
    /// Submits a SCALE-encoded signed transaction (hex); returns its hash
    /// once it is in this node's mempool and on its way to the others.
    #[method(name = "submitTransaction")]
    async fn submit_transaction(&self, tx: String) -> RpcResult<Submitted>;

    /// The receipt of a committed transaction, or null if it is not
    /// committed (yet).
    #[method(name = "getReceipt")]
    async fn get_receipt(&self, hash: String) -> RpcResult<Option<ReceiptView>>;

    /// Runs a method read-only on the latest committed state, with at most
    /// the node's query gas cap.
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

    /// The next block's base fee, this node's minimum and a suggested gas
    /// price.
    #[method(name = "gasPrice")]
    async fn gas_price(&self) -> RpcResult<GasPriceView>;
}

/// What a WebSocket connection can subscribe to (docs/RPC.md,
/// "Subscriptions"). A node bounds them per connection and in total, and
/// drops a subscriber that falls behind, closing its subscription with an
/// error that says why.
#[cfg_attr(feature = "server", rpc(server, client, namespace = "cairn"))]
#[cfg_attr(not(feature = "server"), rpc(client, namespace = "cairn"))]
pub trait CairnSubscriptions {
    /// Every block this node commits from now on, in order, none skipped
    /// while the subscriber keeps up.
    #[subscription(name = "subscribeBlocks" => "block", unsubscribe = "unsubscribeBlocks", item = NewBlockView)]
    async fn subscribe_blocks(&self) -> SubscriptionResult;

    /// One notification, the transaction's receipt: at once if it is
    /// committed, else when the block holding it commits. The subscription
    /// ends after it.
    #[subscription(name = "subscribeReceipt" => "receipt", unsubscribe = "unsubscribeReceipt", item = ReceiptView)]
    async fn subscribe_receipt(&self, hash: String) -> SubscriptionResult;
}

/// The view of a committed receipt, the `index`th transaction of block
/// `height`.
pub fn receipt_view(height: u64, index: u32, receipt: &Receipt) -> ReceiptView {
    ReceiptView {
        tx_hash: hex::encode(receipt.tx_hash),
        height,
        index,
        status: receipt.status,
        status_name: status_name(receipt.status).to_owned(),
        gas_used: receipt.gas_used,
        fee: receipt.fee,
        burned: receipt.burned,
        value: receipt.value,
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
    let (kind, contract, method, to) = match &t.action {
        Action::Deploy { .. } => (
            "deploy",
            Some(contract_address(&t.sender, t.nonce).to_string()),
            None,
            None,
        ),
        Action::Call {
            contract, method, ..
        } => (
            "call",
            Some(contract.to_string()),
            Some(method.clone()),
            None,
        ),
        Action::Transfer { to } => ("transfer", None, None, Some(to.to_string())),
    };
    TxSummary {
        hash: hex::encode(tx.hash()),
        sender: t.sender.to_string(),
        nonce: t.nonce,
        gas_limit: t.gas_limit,
        gas_price: t.gas_price,
        value: t.value,
        kind: kind.to_owned(),
        contract,
        method,
        to,
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

#[cfg(test)]
mod tests {
    use cairn_types::{Address, Event, Header, PrivateKey, Transaction, keys};

    use super::*;

    fn deploy() -> SignedTransaction {
        let key = PrivateKey::from([2; 32]);
        Transaction {
            chain_id: "test".into(),
            genesis_hash: [1; 32],
            sender: keys::address(&key),
            nonce: 4,
            gas_limit: 9,
            gas_price: 2,
            value: 3,
            action: Action::Deploy {
                code: vec![0, 0x61, 0x73, 0x6d],
                abi: vec![],
                init_input: vec![],
            },
        }
        .sign(&key)
    }

    #[test]
    fn receipts_show_bytes_as_hex_and_statuses_by_name() {
        let receipt = Receipt {
            tx_hash: [1; 32],
            status: 10,
            gas_used: 5,
            fee: 15,
            burned: 10,
            value: u128::MAX,
            output: vec![0xde, 0xad],
            events: vec![Event {
                contract: Address([3; 32]),
                topic: b"Transfer".to_vec(),
                data: vec![1],
            }],
            contract: None,
        };
        let view = receipt_view(6, 2, &receipt);
        assert_eq!(view.tx_hash, "01".repeat(32));
        assert_eq!((view.height, view.index), (6, 2));
        assert_eq!(view.status_name, "reverted");
        assert_eq!(view.output, "dead");
        assert_eq!(view.events[0].topic, hex::encode("Transfer"));
        assert_eq!(view.events[0].contract, "03".repeat(32));
        // Amounts are decimal strings in JSON, exact at any size.
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["fee"], "15");
        assert_eq!(json["value"], u128::MAX.to_string());
        assert_eq!(serde_json::from_value::<ReceiptView>(json).unwrap(), view);
    }

    #[test]
    fn a_transfer_is_summarised_with_its_recipient_and_value() {
        let key = PrivateKey::from([2; 32]);
        let tx = Transaction {
            chain_id: "test".into(),
            genesis_hash: [1; 32],
            sender: keys::address(&key),
            nonce: 0,
            gas_limit: 9,
            gas_price: 2,
            value: 77,
            action: Action::Transfer {
                to: Address([6; 32]),
            },
        }
        .sign(&key);
        let summary = tx_summary(&tx);
        assert_eq!(summary.kind, "transfer");
        assert_eq!(summary.to, Some("06".repeat(32)));
        assert_eq!((summary.contract, summary.method), (None, None));
        assert_eq!((summary.value, summary.gas_price), (77, 2));
    }

    #[test]
    fn a_deploy_is_summarised_with_the_contract_it_creates() {
        let tx = deploy();
        let summary = tx_summary(&tx);
        assert_eq!(summary.kind, "deploy");
        assert_eq!(
            summary.contract,
            Some(contract_address(&tx.tx.sender, 4).to_string())
        );
        assert_eq!(summary.method, None);
        assert_eq!(summary.hash, hex::encode(tx.hash()));

        let block = Block {
            header: Header {
                height: 3,
                time_ms: 10,
                parent: [4; 32],
                proposer: [5; 32],
                tx_root: [6; 32],
                receipts_root: [7; 32],
                state_root: [8; 32],
                gas_used: 11,
            },
            transactions: vec![tx],
        };
        let view = block_view(&block);
        assert_eq!(view.hash, hex::encode(block.hash()));
        assert_eq!(view.state_root, "08".repeat(32));
        assert_eq!(view.transactions, vec![summary]);
    }
}
