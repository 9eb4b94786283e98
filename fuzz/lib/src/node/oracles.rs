//! The oracles of the node's transaction, block and RPC targets. Each takes
//! the bytes libFuzzer made and panics only if the node would misbehave on
//! them.
//!
//! An input's first byte says how to read the rest. Even: as the raw bytes
//! a peer or client sends. Odd: as the description of a valid value (a
//! signed transaction, a block of signed calls, a request for one of the
//! node's methods) which the rest of the input then edits, so that the
//! fuzzer spends its time past the decoders.

use std::path::Path;
use std::sync::Arc;

use arbitrary::Unstructured;
use cairn_node::chain::mempool::{Mempool, MempoolLimits, SenderState};
use cairn_node::chain::{BlockRejected, Chain, ExecutedBlock};
use cairn_node::execution::check_transaction;
use cairn_node::genesis::{ChainParams, Genesis};
use cairn_node::keys::PrivateKey;
use cairn_node::net::{NetworkStatus, gossip};
use cairn_node::rpc::{CairnApiServer, Rpc, RpcLimits, codes};
use cairn_node::test_utils::{
    self, COUNTER, COUNTER_ABI, ESCROW, ESCROW_ABI, GAS_PRICE, TestChain,
};
use cairn_node::types::{
    Action, Address, Block, Hash, Header, SignedTransaction, TxError, contract_address,
};
use jsonrpsee::RpcModule;
use libp2p::gossipsub::MessageAcceptance;
use parity_scale_codec::Encode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The chain every node oracle runs on.
pub(crate) const FUZZ_CHAIN: TestChain = TestChain {
    chain_id: "cairn-fuzz",
    validator_name: "fuzz",
    validator_seed: 7,
};

/// Users' keys are apart from the validator's.
pub(crate) fn user_key(seed: u8) -> PrivateKey {
    test_utils::user(seed | 0x80)
}

fn genesis() -> Genesis {
    FUZZ_CHAIN.genesis()
}

/// A chain on RocksDB at height 1 with a counter and an escrow deployed
/// (the escrow holding one open native deal, number 0, from user 1 to
/// user 2), and the RPC service over it. Oracles never commit to it, so
/// every input meets the same committed state.
#[derive(Debug)]
pub(crate) struct Fixture {
    pub(crate) chain: Arc<Chain>,
    counter: Address,
    pub(crate) escrow: Address,
    rpc: RpcModule<Rpc>,
    runtime: tokio::runtime::Runtime,
    /// Keeps the gossip queue open; what it carries is not read.
    _gossip: mpsc::Receiver<Vec<u8>>,
}

impl Fixture {
    /// Opens the fixture's database under `dir`.
    pub(crate) fn new(dir: &Path) -> Self {
        let chain = FUZZ_CHAIN.open(dir);
        let deployer = user_key(0);
        let deploy = FUZZ_CHAIN.sign(
            &deployer,
            0,
            ChainParams::default().max_tx_gas,
            Action::Deploy {
                code: COUNTER.to_vec(),
                abi: COUNTER_ABI.to_vec(),
                init_input: 1_000_000u64.encode(),
            },
        );
        let escrow_deploy = FUZZ_CHAIN.sign(
            &deployer,
            1,
            ChainParams::default().max_tx_gas,
            Action::Deploy {
                code: ESCROW.to_vec(),
                abi: ESCROW_ABI.to_vec(),
                init_input: Address([0; 32]).encode(),
            },
        );
        let escrow = contract_address(&test_utils::address(&deployer), 1);
        let deposit = FUZZ_CHAIN.sign_with(
            &user_key(1),
            0,
            test_utils::CALL_GAS,
            GAS_PRICE,
            5_000,
            Action::Call {
                contract: escrow,
                method: "open_native".into(),
                input: (test_utils::address(&user_key(2)), 0u64).encode(),
            },
        );
        for tx in [&deploy, &escrow_deploy, &deposit] {
            test_utils::submit(&chain, tx).expect("the fixture's transactions are admitted");
        }
        assert_eq!(
            test_utils::commit_next(&chain),
            3,
            "block 1 holds the deploys and the deposit"
        );
        let counter = contract_address(&test_utils::address(&deployer), 0);
        assert!(chain.contract(&counter).expect("reads").is_some());
        let held = chain.store().snapshot().account(&escrow).expect("reads");
        assert_eq!(held.balance, 5_000, "the escrow holds the deposit");

        let chain = Arc::new(chain);
        let (gossip, gossip_queue) = mpsc::channel(16);
        let rpc = Rpc::new(
            Arc::clone(&chain),
            gossip,
            Arc::new(NetworkStatus::default()),
            "fuzz".into(),
            &RpcLimits::default(),
        )
        .expect("the RPC threads start")
        .into_rpc();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Fixture {
            chain,
            counter,
            escrow,
            rpc,
            runtime,
            _gossip: gossip_queue,
        }
    }
}

fn proposer() -> [u8; 32] {
    FUZZ_CHAIN.proposer()
}

/// The first byte of an input says how to read the rest: odd, as the
/// description of a value; even (or no byte at all), as raw bytes.
enum Input<'a> {
    Raw(&'a [u8]),
    Structured(Unstructured<'a>),
}

fn input(data: &[u8]) -> Input<'_> {
    match data {
        [mode, rest @ ..] if mode & 1 == 1 => Input::Structured(Unstructured::new(rest)),
        [_, rest @ ..] => Input::Raw(rest),
        [] => Input::Raw(&[]),
    }
}

fn bytes(input: &mut Unstructured<'_>, max: usize) -> Vec<u8> {
    let len = input.int_in_range(0..=max).unwrap_or(0);
    input.bytes(len).map(<[u8]>::to_vec).unwrap_or_default()
}

const METHODS: &[&str] = &["increment", "get", "reset", "transfer", "init", "memory"];

/// A signed transaction that every node admits: right chain, gas within
/// bounds, a nonce in the window, a short action.
fn valid_transaction(input: &mut Unstructured<'_>, contract: Address) -> SignedTransaction {
    let key = user_key(input.arbitrary().unwrap_or(0));
    let nonce = input.int_in_range(0..=8).unwrap_or(0);
    let action = if input.ratio(1, 4).unwrap_or(false) {
        Action::Deploy {
            code: bytes(input, 256),
            abi: if input.arbitrary().unwrap_or(false) {
                b"{}".to_vec()
            } else {
                Vec::new()
            },
            init_input: bytes(input, 32),
        }
    } else {
        Action::Call {
            contract: if input.arbitrary().unwrap_or(true) {
                contract
            } else {
                Address(input.arbitrary().unwrap_or([0; 32]))
            },
            method: (*input.choose(METHODS).unwrap_or(&"increment")).to_owned(),
            input: bytes(input, 32),
        }
    };
    let max = ChainParams::default().max_tx_gas;
    let gas_limit = input.int_in_range(max / 100..=max).unwrap_or(max);
    FUZZ_CHAIN.sign(&key, nonce, gas_limit, action)
}

/// Up to four edits of `bytes`: a flipped bit, a set byte, a cut, an
/// inserted byte.
fn mutate(input: &mut Unstructured<'_>, bytes: &mut Vec<u8>) {
    for _ in 0..input.int_in_range(0..=4).unwrap_or(0) {
        let Ok(kind) = input.int_in_range(0..=3u8) else {
            return;
        };
        let at = input.choose_index(bytes.len().max(1)).unwrap_or(0);
        match kind {
            0 if !bytes.is_empty() => bytes[at] ^= 1u8 << input.int_in_range(0..=7u32).unwrap_or(0),
            1 if !bytes.is_empty() => bytes[at] = input.arbitrary().unwrap_or(0),
            2 => bytes.truncate(at),
            _ => bytes.insert(at.min(bytes.len()), input.arbitrary().unwrap_or(0)),
        }
    }
}

/// What a node does with a transaction from gossip or RPC: decode, check
/// statelessly, admit to a mempool (here a fresh one, with the sender at
/// nonce 0 and funded), and tell gossipsub whether to relay.
fn admit(genesis: &Genesis, bytes: &[u8]) -> Result<Hash, TxError> {
    let tx = SignedTransaction::decode_checked(bytes)?;
    check_transaction(genesis, &FUZZ_CHAIN.genesis_hash(), &tx, bytes.len())?;
    let sender = SenderState {
        nonce: 0,
        balance: test_utils::USER_BALANCE,
    };
    Mempool::new(MempoolLimits::default()).insert(
        tx,
        bytes.len(),
        sender,
        std::time::Instant::now(),
    )
}

/// A transaction as a peer gossips it or a client submits it. Whatever
/// decodes has exactly one encoding and its hash is the hash of those
/// bytes; a refusal is blamed on the peer exactly when it is invalid by
/// itself; and any edit of a valid transaction is refused.
pub fn transaction(data: &[u8]) {
    let genesis = genesis();
    let (original, bytes) = match input(data) {
        Input::Structured(mut input) => {
            let tx = valid_transaction(&mut input, Address([1; 32]));
            let mut bytes = tx.encode();
            mutate(&mut input, &mut bytes);
            (Some(tx), bytes)
        }
        Input::Raw(bytes) => (None, bytes.to_vec()),
    };
    let admitted = admit(&genesis, &bytes);
    match (&admitted, gossip::acceptance(&admitted)) {
        (Ok(_), MessageAcceptance::Accept) => {}
        (Err(error), MessageAcceptance::Reject) => assert!(gossip::is_peer_fault(error)),
        (Err(error), MessageAcceptance::Ignore) => assert!(!gossip::is_peer_fault(error)),
        (admitted, _) => panic!("gossip judged {admitted:?} wrongly"),
    }
    if let Ok(decoded) = SignedTransaction::decode_checked(&bytes) {
        assert_eq!(decoded.encode(), bytes, "a second encoding decodes");
        assert_eq!(decoded.hash(), cairn_vm::blake2b_256(&bytes));
        if let Ok(hash) = &admitted {
            assert_eq!(*hash, decoded.hash());
        }
    }
    if let Some(original) = original {
        if bytes == original.encode() {
            assert_eq!(admitted, Ok(original.hash()), "a valid transaction refused");
        } else {
            assert!(
                admitted.is_err(),
                "an edited transaction was admitted: {original:?}"
            );
        }
    }
}

/// A block proposed for height 2 on the fixture: it must be refused as
/// malformed or invalid (never as a local failure, which would spare the
/// proposer the blame), or accepted, and judged the same way twice.
pub(crate) fn block(fixture: &Fixture, data: &[u8]) {
    let bytes = match input(data) {
        Input::Structured(mut input) => {
            let head = fixture.chain.head();
            let count = input.int_in_range(0..=6).unwrap_or(0);
            let transactions = (0..count)
                .map(|_| valid_transaction(&mut input, fixture.counter))
                .collect();
            let mut header = Header {
                height: 2,
                time_ms: head.time_ms + input.int_in_range(1..=5_000).unwrap_or(1),
                parent: head.block_hash,
                proposer: proposer(),
                tx_root: input.arbitrary().unwrap_or_default(),
                receipts_root: input.arbitrary().unwrap_or_default(),
                state_root: input.arbitrary().unwrap_or_default(),
                gas_used: input.arbitrary().unwrap_or_default(),
            };
            if input.ratio(1, 8).unwrap_or(false) {
                header.height = input.arbitrary().unwrap_or(0);
            }
            let mut bytes = Block {
                header,
                transactions,
            }
            .encode();
            mutate(&mut input, &mut bytes);
            bytes
        }
        Input::Raw(bytes) => bytes.to_vec(),
    };
    let verdict = |result: Result<ExecutedBlock, BlockRejected>| match result {
        Ok(executed) => Ok(executed.hash),
        Err(BlockRejected::Local(reason)) => {
            panic!("a proposed block failed locally: {reason}")
        }
        Err(rejected) => Err(rejected.to_string()),
    };
    let first = verdict(fixture.chain.verify(2, &proposer(), &bytes));
    let second = verdict(fixture.chain.verify(2, &proposer(), &bytes));
    assert_eq!(first, second, "the same block judged twice differently");
}

/// The node's methods, and the parameters each takes.
const RPC_METHODS: &[(&str, usize)] = &[
    ("cairn_submitTransaction", 1),
    ("cairn_getReceipt", 1),
    ("cairn_query", 4),
    ("cairn_getBlock", 1),
    ("cairn_getBlockByHash", 1),
    ("cairn_getAccount", 1),
    ("cairn_getContract", 1),
    ("cairn_status", 0),
    ("cairn_gasPrice", 0),
];

/// A JSON value of the kinds RPC parameters take: hex strings (sometimes
/// an address the fixture knows), numbers at the edges, and the wrong types.
fn json_value(input: &mut Unstructured<'_>, fixture: &Fixture, depth: u8) -> Value {
    match input.int_in_range(0..=9u8).unwrap_or(0) {
        0 => Value::Null,
        1 => json!(input.arbitrary::<bool>().unwrap_or(false)),
        2 => json!(input.arbitrary::<u64>().unwrap_or(0)),
        3 => json!(input.arbitrary::<i64>().unwrap_or(-1)),
        4 => json!(f64::from(input.arbitrary::<i32>().unwrap_or(0)) / 7.0),
        5 => json!(fixture.counter.to_string()),
        6 => json!(format!("0x{}", hex::encode(bytes(input, 40)))),
        7 => json!(input.choose(METHODS).copied().unwrap_or("get")),
        8 if depth < 3 => Value::Array(
            (0..input.int_in_range(0..=3).unwrap_or(0))
                .map(|_| json_value(input, fixture, depth + 1))
                .collect(),
        ),
        _ => json!(input.arbitrary::<String>().unwrap_or_default()),
    }
}

/// A JSON-RPC request as a client sends it: jsonrpsee parses it and the
/// node's handlers check its parameters. Every request gets a response,
/// and hostile parameters are the client's error, never the node's.
pub(crate) fn rpc_request(fixture: &Fixture, data: &[u8]) {
    let request = match input(data) {
        Input::Structured(mut input) => {
            let &(method, arity) = input.choose(RPC_METHODS).unwrap_or(&RPC_METHODS[0]);
            let arity = if input.ratio(1, 8).unwrap_or(false) {
                input.int_in_range(0..=5).unwrap_or(0)
            } else {
                arity
            };
            let params: Vec<Value> = (0..arity)
                .map(|_| json_value(&mut input, fixture, 0))
                .collect();
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
        }
        Input::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
    };
    let Ok((response, _)) = fixture
        .runtime
        .block_on(fixture.rpc.raw_json_request(&request, 1))
    else {
        // Not a JSON-RPC request at all: the server answers a parse error.
        return;
    };
    let response: Value = serde_json::from_str(response.get()).expect("every response is JSON");
    assert_eq!(response["jsonrpc"], "2.0", "{response}");
    let has_result = response.get("result").is_some();
    let error = response.get("error");
    assert!(has_result != error.is_some(), "{response}");
    if let Some(error) = error {
        assert_ne!(
            error["code"].as_i64(),
            Some(i64::from(codes::INTERNAL)),
            "{request} made the node fail: {response}"
        );
    }
}
