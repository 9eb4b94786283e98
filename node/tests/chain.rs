//! The state machine without the network: two independent chains (two
//! RocksDB databases) execute the same blocks to the same roots, and refuse
//! blocks that do not match their own execution.

use std::time::{Duration, SystemTime};

use cairn_node::chain::{BlockRejected, Chain, InvalidBlock};
use cairn_node::keys::PrivateKey;
use cairn_node::metrics::Metrics;
use cairn_node::test_utils::*;
use cairn_node::types::SignedTransaction;
use cairn_node::types::{
    Action, Address, Block, STATUS_DEPLOY_REJECTED, TxError, contract_address,
};
use parity_scale_codec::{Decode, Encode};

#[test]
fn two_nodes_execute_a_counter_to_the_same_state() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(a_dir.path()), open(b_dir.path()));
    let alice = user(2);

    let deploy_tx = deploy(&alice, 0, 100);
    submit(&a, &deploy_tx).unwrap();
    let block = advance(&a, &b);
    assert_eq!(block.transactions.len(), 1);
    let counter = contract_address(&address(&alice), 0);
    let (_, receipt) = b.store().receipt(&deploy_tx.hash()).unwrap().unwrap();
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.contract, Some(counter));
    assert!(receipt.gas_used > a.params().deploy_byte_gas * COUNTER.len() as u64);

    // Three increments from two senders, one of them beyond the limit.
    let bob = user(3);
    let txs = [
        call(&alice, 1, counter, "increment", 40u64.encode()),
        call(&bob, 0, counter, "increment", 50u64.encode()),
        call(&alice, 2, counter, "increment", 20u64.encode()),
    ];
    for tx in &txs {
        submit(&a, tx).unwrap();
    }
    let block = advance(&a, &b);
    assert_eq!(block.transactions.len(), 3);
    let receipts: Vec<_> = txs
        .iter()
        .map(|tx| b.store().receipt(&tx.hash()).unwrap().unwrap().1)
        .collect();
    assert!(receipts[0].is_ok() && receipts[1].is_ok());
    assert_eq!(u64::decode(&mut &receipts[1].output[..]).unwrap(), 90);
    // Past the limit: reverted, included, its nonce used, its writes gone.
    assert_eq!(receipts[2].status, 10, "{:?}", receipts[2]);
    assert!(receipts[2].gas_used > 0);
    assert_eq!(a.next_nonce(&address(&alice)).unwrap().0, 3);
    let count = b.query(&counter, "get", &[], 1_000_000_000).unwrap();
    assert_eq!(count.height, b.head().height);
    assert_eq!(u64::decode(&mut &count.outcome.output[..]).unwrap(), 90);
    assert_eq!(a.head().state_root, b.head().state_root);
    // Every fee paid: the reverted call's too, at its gas used.
    assert_eq!(
        receipts[2].fee,
        u128::from(receipts[2].gas_used) * u128::from(GAS_PRICE)
    );
    for chain in [&a, &b] {
        let state = chain.chain_state().unwrap();
        assert!(state.burned > 0);
        assert_eq!(sum_of_balances(chain), state.total_supply);
        assert_eq!(state.total_supply + state.burned, genesis_supply());
    }

    // A query writes nothing, even if it calls a mutating method.
    let before = a.head().state_root;
    let attempt = a
        .query(&counter, "increment", &1u64.encode(), 1_000_000_000)
        .unwrap();
    assert_eq!(attempt.outcome.status.code(), 14, "read_only");
    assert_eq!(a.head().state_root, before);
}

#[test]
fn the_same_code_is_stored_once_and_a_bad_deploy_is_a_receipt() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(a_dir.path()), open(b_dir.path()));
    let alice = user(2);
    submit(&a, &deploy(&alice, 0, 1)).unwrap();
    submit(&a, &deploy(&alice, 1, 2)).unwrap();
    let float_module =
        wat::parse_str("(module (func (export \"f\") (drop (f32.const 1))))").unwrap();
    let bad = sign(
        &alice,
        2,
        1_000_000_000,
        Action::Deploy {
            code: float_module,
            abi: Vec::new(),
            init_input: Vec::new(),
        },
    );
    submit(&a, &bad).unwrap();
    advance(&a, &b);
    let first = b
        .contract(&contract_address(&address(&alice), 0))
        .unwrap()
        .unwrap();
    let second = b
        .contract(&contract_address(&address(&alice), 1))
        .unwrap()
        .unwrap();
    assert_eq!(first.code_hash, second.code_hash);
    // One ABI, stored once, under its own hash.
    assert_eq!(first.abi_hash, second.abi_hash);
    let abi_hash = first.abi_hash.unwrap();
    assert_eq!(b.store().abi(&abi_hash).unwrap().unwrap(), COUNTER_ABI);
    assert!(b.store().abi(&first.code_hash).unwrap().is_none());
    let (_, receipt) = b.store().receipt(&bad.hash()).unwrap().unwrap();
    assert_eq!(receipt.status, STATUS_DEPLOY_REJECTED);
    // The fixed code of a rejected feature (floats), never the parser's
    // text, which differs across library versions.
    assert_eq!(receipt.output, 0x0101u16.to_le_bytes());
    assert_eq!(
        cairn_types::rejection_name(cairn_types::rejection_code(&receipt.output).unwrap()),
        "floating point"
    );
    assert!(
        b.contract(&contract_address(&address(&alice), 2))
            .unwrap()
            .is_none()
    );
    assert_eq!(b.next_nonce(&address(&alice)).unwrap().0, 3);
}

#[test]
fn bad_transactions_are_refused_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let alice = user(2);
    let good = call(&alice, 0, Address([0; 32]), "m", Vec::new());

    let mut forged = good.clone();
    forged.tx.gas_limit += 1;
    assert_eq!(submit(&chain, &forged), Err(TxError::BadSignature));

    let mut foreign = good.tx.clone();
    foreign.chain_id = "other".into();
    assert!(matches!(
        submit(&chain, &foreign.sign(&alice)),
        Err(TxError::WrongChain { .. })
    ));

    // Another network with the same chain id (every local testnet has
    // one): its transactions are refused here, however valid there.
    let mut replayed = good.tx.clone();
    replayed.genesis_hash[0] ^= 1;
    let found = replayed.genesis_hash;
    assert_eq!(
        submit(&chain, &replayed.sign(&alice)),
        Err(TxError::WrongGenesis {
            expected: chain.genesis_hash(),
            found
        })
    );

    // A key that holds nothing cannot pay for anything.
    let mut seed = [7; 32];
    seed[0] = 8;
    let stranger = cairn_node::keys::PrivateKey::from(seed);
    assert!(matches!(
        submit(
            &chain,
            &call(&stranger, 0, Address([0; 32]), "m", Vec::new())
        ),
        Err(TxError::InsufficientBalance { available: 0, .. })
    ));

    let cheap = sign(
        &alice,
        0,
        10,
        Action::Call {
            contract: Address([0; 32]),
            method: "m".into(),
            input: Vec::new(),
        },
    );
    assert!(matches!(
        submit(&chain, &cheap),
        Err(TxError::GasBelowIntrinsic { .. })
    ));

    let greedy = sign(
        &alice,
        0,
        u64::MAX,
        Action::Call {
            contract: Address([0; 32]),
            method: "m".into(),
            input: Vec::new(),
        },
    );
    assert!(matches!(
        submit(&chain, &greedy),
        Err(TxError::GasAboveMaximum { .. })
    ));

    assert!(matches!(
        chain.submit(&[1, 2, 3]),
        Err(TxError::Malformed(_))
    ));
    let huge = vec![0u8; cairn_node::limits::MAX_TX_BYTES + 1];
    assert!(matches!(chain.submit(&huge), Err(TxError::TooLarge { .. })));

    submit(&chain, &good).unwrap();
    assert_eq!(submit(&chain, &good), Err(TxError::Duplicate));
    assert_eq!(chain.mempool_len(), 1);
}

#[test]
fn a_block_that_does_not_match_this_nodes_execution_is_refused() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(a_dir.path()), open(b_dir.path()));
    submit(&a, &deploy(&user(2), 0, 100)).unwrap();
    let built = a.build(1, &proposer(), SystemTime::now()).unwrap();
    let block = Block::decode(&mut &built.bytes[..]).unwrap();

    let tamper = |change: &dyn Fn(&mut Block)| {
        let mut bad = block.clone();
        change(&mut bad);
        b.verify(1, &proposer(), &bad.encode())
    };
    let reason = |result: Result<_, BlockRejected>| match result {
        Err(BlockRejected::Invalid(reason)) => reason,
        other => panic!("expected an invalid block, got {other:?}"),
    };
    assert!(matches!(
        reason(tamper(&|block| block.header.state_root[0] ^= 1)),
        InvalidBlock::RootMismatch {
            what: "state root",
            ..
        }
    ));
    assert!(matches!(
        reason(tamper(&|block| block.header.gas_used += 1)),
        InvalidBlock::GasUsedMismatch { .. }
    ));
    assert!(matches!(
        reason(tamper(&|block| block.header.parent = [9; 32])),
        InvalidBlock::WrongParent { .. }
    ));
    assert!(matches!(
        reason(tamper(&|block| block.header.time_ms = 0)),
        InvalidBlock::TimeNotAfterParent { .. }
    ));
    assert!(matches!(
        reason(tamper(&|block| block.transactions[0].signature[0] ^= 1)),
        InvalidBlock::InvalidTransaction {
            index: 0,
            error: TxError::BadSignature
        }
    ));
    assert!(matches!(
        reason(tamper(&|block| {
            block.transactions.push(block.transactions[0].clone())
        })),
        InvalidBlock::InvalidTransaction {
            index: 1,
            error: TxError::NonceUsed { .. }
        }
    ));
    let wrong_proposer = reason(b.verify(1, &[7; 32], &built.bytes));
    assert!(matches!(wrong_proposer, InvalidBlock::WrongProposer { .. }));
    // What the log says, word for word as before the checks had variants.
    assert!(
        wrong_proposer.to_string().starts_with("names proposer "),
        "{wrong_proposer}"
    );
    assert!(matches!(
        b.verify(1, &proposer(), &built.bytes[1..]),
        Err(BlockRejected::Malformed(_))
    ));
    // The untampered block is fine.
    assert_eq!(
        b.verify(1, &proposer(), &built.bytes).unwrap().hash,
        built.hash
    );
}

#[test]
fn a_restarted_node_resumes_and_refuses_tampered_state() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let alice = user(2);
    let head = {
        let (a, b) = (open(dir.path()), open(other.path()));
        submit(&a, &deploy(&alice, 0, 100)).unwrap();
        advance(&a, &b);
        let counter = contract_address(&address(&alice), 0);
        submit(&a, &call(&alice, 1, counter, "increment", 5u64.encode())).unwrap();
        advance(&a, &b);
        a.head()
    };
    let reopened = open(dir.path());
    assert_eq!(reopened.head(), head);
    assert_eq!(reopened.next_nonce(&address(&alice)).unwrap().0, 2);
    drop(reopened);

    // Change one stored record behind the state tree's back: a contract's
    // storage, an account's balance, the chain's supply record.
    let pristine = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("db"), &pristine.path().join("db"));
    for (column, key) in [
        ("state", None),
        ("accounts", None),
        ("meta", Some(&b"chain_state"[..])),
    ] {
        let scratch = tempfile::tempdir().unwrap();
        copy_dir(&pristine.path().join("db"), &scratch.path().join("db"));
        {
            let db = rocksdb::DB::open_cf(
                &rocksdb::Options::default(),
                scratch.path().join("db"),
                cairn_node::state::COLUMN_FAMILIES,
            )
            .unwrap();
            let cf = db.cf_handle(column).unwrap();
            let key = match key {
                Some(key) => key.to_vec(),
                None => db
                    .iterator_cf(cf, rocksdb::IteratorMode::Start)
                    .next()
                    .unwrap()
                    .unwrap()
                    .0
                    .to_vec(),
            };
            let mut value = db.get_cf(cf, &key).unwrap().unwrap();
            // Still a record that decodes: only the root can tell.
            let last = value.len() - 1;
            value[last] ^= 1;
            db.put_cf(cf, key, value).unwrap();
        }
        let error =
            Chain::open(genesis(), &config(scratch.path(), None), Metrics::default()).unwrap_err();
        assert!(
            format!("{error:#}").contains("does not match its root"),
            "{column}: {error:#}"
        );
    }
}

/// A copy of a closed RocksDB directory (its files are plain files).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn an_idle_chain_has_nothing_to_propose_and_empty_blocks_still_advance() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(a_dir.path()), open(b_dir.path()));
    use cairn_node::chain::ConsensusHost;
    assert!(!a.has_pending_transactions());
    let root = a.head().state_root;
    let block = advance(&a, &b);
    assert!(block.transactions.is_empty());
    assert_eq!(a.head().state_root, root);
    assert!(block.header.time_ms > genesis().genesis_time_ms);
    // A transaction with a nonce gap is pending but not proposable.
    submit(&a, &call(&user(2), 1, Address([0; 32]), "m", Vec::new())).unwrap();
    assert!(!a.has_pending_transactions());
    submit(&a, &call(&user(2), 0, Address([0; 32]), "m", Vec::new())).unwrap();
    assert!(a.has_pending_transactions());
    std::thread::sleep(Duration::from_millis(2));
    let block = advance(&a, &b);
    assert_eq!(block.transactions.len(), 2);
    assert!(!a.has_pending_transactions());
}

/// A deploy of [`COUNTER`] with `abi`.
fn deploy_with_abi(key: &PrivateKey, nonce: u64, abi: &[u8]) -> SignedTransaction {
    sign(
        key,
        nonce,
        DEPLOY_GAS,
        Action::Deploy {
            code: COUNTER.to_vec(),
            abi: abi.to_vec(),
            init_input: 100u64.encode(),
        },
    )
}

#[test]
fn each_deploy_keeps_its_own_abi_under_the_state_root() {
    let alice = user(2);
    let renamed = String::from_utf8(COUNTER_ABI.to_vec())
        .unwrap()
        .replace("\"Counter\"", "\"Tally\"");
    assert_ne!(renamed.as_bytes(), COUNTER_ABI);

    // Two deploys of one code, with different ABIs, the second without.
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(a_dir.path()), open(b_dir.path()));
    for (nonce, abi) in [(0, COUNTER_ABI), (1, renamed.as_bytes()), (2, &[][..])] {
        submit(&a, &deploy_with_abi(&alice, nonce, abi)).unwrap();
    }
    advance(&a, &b);
    let abi_of = |nonce| {
        let contract = contract_address(&address(&alice), nonce);
        let (info, abi) = b.contract_with_abi(&contract).unwrap().unwrap();
        (info.code_hash, abi)
    };
    let (first_code, first_abi) = abi_of(0);
    let (second_code, second_abi) = abi_of(1);
    let (third_code, third_abi) = abi_of(2);
    assert_eq!(first_code, second_code);
    assert_eq!(second_code, third_code);
    assert_eq!(first_abi.as_deref(), Some(COUNTER_ABI));
    assert_eq!(second_abi.as_deref(), Some(renamed.as_bytes()));
    assert_eq!(third_abi, None);

    // The ABI is part of the state: the same deploy with another ABI makes
    // another root.
    let roots: Vec<_> = [COUNTER_ABI, renamed.as_bytes()]
        .into_iter()
        .map(|abi| {
            let dir = tempfile::tempdir().unwrap();
            let chain = open(dir.path());
            submit(&chain, &deploy_with_abi(&alice, 0, abi)).unwrap();
            commit_next(&chain);
            chain.head().state_root
        })
        .collect();
    assert_ne!(roots[0], roots[1]);
}

#[test]
fn a_stored_abi_that_does_not_match_its_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user(2);
    let contract = contract_address(&address(&alice), 0);
    let abi_hash = {
        let chain = open(dir.path());
        submit(&chain, &deploy(&alice, 0, 100)).unwrap();
        commit_next(&chain);
        chain
            .contract(&contract)
            .unwrap()
            .unwrap()
            .abi_hash
            .unwrap()
    };
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path().join("db"),
            cairn_node::state::COLUMN_FAMILIES,
        )
        .unwrap();
        let cf = db.cf_handle("abi").unwrap();
        db.put_cf(cf, abi_hash, br#"{"contract": "Forged"}"#)
            .unwrap();
    }
    // The ABI is outside the tree's leaves (like code, by hash), so the
    // startup check passes; serving it checks the hash.
    let chain = open(dir.path());
    let error = chain.contract_with_abi(&contract).unwrap_err();
    assert!(
        error.to_string().contains("does not match its hash"),
        "{error}"
    );
}

#[test]
fn records_removed_or_added_behind_the_tree_are_refused_at_start() {
    for (tamper, expected) in [
        ("remove", "removed behind the tree's back"),
        ("add", "does not match its root"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let chain = open(dir.path());
            let alice = user(2);
            submit(&chain, &deploy(&alice, 0, 100)).unwrap();
            commit_next(&chain);
        }
        {
            let db = rocksdb::DB::open_cf(
                &rocksdb::Options::default(),
                dir.path().join("db"),
                cairn_node::state::COLUMN_FAMILIES,
            )
            .unwrap();
            let cf = db.cf_handle("state").unwrap();
            if tamper == "remove" {
                let (key, _) = db
                    .iterator_cf(cf, rocksdb::IteratorMode::Start)
                    .next()
                    .unwrap()
                    .unwrap();
                db.delete_cf(cf, key).unwrap();
            } else {
                db.put_cf(cf, [9u8; 40], b"extra").unwrap();
            }
        }
        let error =
            Chain::open(genesis(), &config(dir.path(), None), Metrics::default()).unwrap_err();
        assert!(
            format!("{error:#}").contains(expected),
            "{tamper}: {error:#}"
        );
    }
}

/// A `VmError` (the node's fault, not the contract's) while building a
/// block leaves out the one transaction that hit it: the proposer keeps
/// building, and the transaction leaves the mempool.
#[test]
fn a_transaction_that_fails_the_vm_is_dropped_from_the_block_being_built() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let alice = user(2);
    submit(&chain, &deploy(&alice, 0, 1_000)).unwrap();
    submit(&chain, &deploy(&alice, 1, 1_000)).unwrap();
    assert_eq!(commit_next(&chain), 2);
    let (broken, healthy) = (
        contract_address(&address(&alice), 0),
        contract_address(&address(&alice), 1),
    );

    chain.store().fail_storage_reads_of(Some(broken));
    let bob = user(3);
    let poison = call(&alice, 2, broken, "increment", 1u64.encode());
    let fine = call(&bob, 0, healthy, "increment", 1u64.encode());
    submit(&chain, &poison).unwrap();
    submit(&chain, &fine).unwrap();

    let height = chain.head().height + 1;
    let built = chain
        .build(height, &proposer(), SystemTime::now())
        .expect("the proposer still builds a block");
    let block = Block::decode(&mut &built.bytes[..]).unwrap();
    assert_eq!(
        block
            .transactions
            .iter()
            .map(|tx| tx.hash())
            .collect::<Vec<_>>(),
        [fine.hash()]
    );
    chain.commit(height, &built.hash, b"certificate").unwrap();
    assert_eq!(chain.mempool_len(), 0, "the failing transaction is gone");
    assert_eq!(chain.metrics().build_dropped_transactions.get(), 1);
}

/// "Certified is final": a decided block is judged by the chain's rules
/// only, not by who proposed it or by this node's clock, which decide only
/// this node's votes.
#[test]
fn a_certified_block_is_judged_by_the_chains_rules_alone() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(a_dir.path()), open(b_dir.path()));
    submit(&a, &deploy(&user(2), 0, 100)).unwrap();
    let far_ahead = SystemTime::now() + Duration::from_secs(3_600);
    let someone_else = [7; 32];
    let built = a.build(1, &someone_else, far_ahead).unwrap();

    // As a proposal, refused twice over.
    assert!(matches!(
        b.verify(1, &proposer(), &built.bytes),
        Err(BlockRejected::Invalid(InvalidBlock::WrongProposer { .. }))
    ));
    assert!(matches!(
        b.verify(1, &someone_else, &built.bytes),
        Err(BlockRejected::Invalid(
            InvalidBlock::TimeAheadOfClock { .. }
        ))
    ));
    // Certified, it is executed, and commits to the proposer's state.
    assert_eq!(
        b.verify_certified(1, &built.bytes).unwrap().hash,
        built.hash
    );
    a.commit(1, &built.hash, b"certificate").unwrap();
    b.commit(1, &built.hash, b"certificate").unwrap();
    assert_eq!(a.head(), b.head());

    // The chain's own rules still hold for a certified block.
    let mut block =
        Block::decode(&mut &a.build(2, &proposer(), SystemTime::now()).unwrap().bytes[..]).unwrap();
    block.header.parent = [9; 32];
    assert!(matches!(
        b.verify_certified(2, &block.encode()),
        Err(BlockRejected::Invalid(InvalidBlock::WrongParent { .. }))
    ));
}

/// A commit whose write fails keeps the executed block: the same commit
/// succeeds once the store does.
#[test]
fn a_failed_commit_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    submit(&chain, &deploy(&user(2), 0, 100)).unwrap();
    let built = chain.build(1, &proposer(), SystemTime::now()).unwrap();
    chain.store().fail_next_writes(1);
    assert!(chain.commit(1, &built.hash, b"certificate").is_err());
    assert_eq!(chain.head().height, 0);
    chain.commit(1, &built.hash, b"certificate").unwrap();
    assert_eq!(chain.head().block_hash, built.hash);
    assert!(chain.store().block(1).unwrap().is_some());
    // A block never executed here asks to be verified first.
    assert!(matches!(
        chain.commit(2, &[1; 32], b"certificate"),
        Err(cairn_node::chain::CommitError::NotExecuted(_))
    ));
}
