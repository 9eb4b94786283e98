//! Token transfers through one node's executor, no network: blocks of 100
//! signed `transfer` calls of the `token` example, from 100 funded
//! accounts, built (every transaction checked and executed) and committed
//! to RocksDB by a `Chain`, against the same 100 calls executed on the bare
//! VM with in-memory storage in the same run.
//!
//! A follower's side too: the same blocks verified (re-executed) and
//! committed by a second `Chain`, once with the transactions already in its
//! mempool (they reached it by gossip, so their signatures were checked on
//! admission) and once unseen (as a block that arrives by sync).
//!
//! `cargo bench -p cairn-node --bench executor` (`make bench`).

use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use cairn_node::chain::{Chain, ExecutedBlock, ValidatorKey};
use cairn_node::keys::PrivateKey;
use cairn_node::test_utils::{address, commit_next, open, sign, submit, user};
use cairn_node::types::{Action, Address, SignedTransaction, VmAddress, contract_address};
use cairn_vm::testing::MemoryStorage;
use cairn_vm::{BlockInfo, Call, Status, Vm, VmConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use parity_scale_codec::Encode;

const TOKEN: &[u8] = include_bytes!("../../contracts-sdk/testdata/token.wasm");
const TOKEN_ABI: &[u8] = include_bytes!("../../contracts-sdk/testdata/token.abi.json");
/// Transfers per block, one per sender.
const BLOCK: u8 = 100;
/// The mempool takes at most 64 pending transactions of one account, so
/// the owner funds the senders in rounds of this many.
const FUNDING_ROUND: usize = 50;
const GAS: u64 = 20_000_000;

fn init_input() -> Vec<u8> {
    (
        "Cairn Token".to_owned(),
        "CRN".to_owned(),
        0u8,
        1_000_000_000_000u128,
    )
        .encode()
}

fn transfer_input(to: &Address, amount: u128) -> Vec<u8> {
    (to.0, amount).encode()
}

fn transfer(key: &PrivateKey, nonce: u64, token: Address, to: &Address) -> SignedTransaction {
    let call = Action::Call {
        contract: token,
        method: "transfer".into(),
        input: transfer_input(to, 1),
    };
    sign(key, nonce, GAS, call)
}

fn assert_succeeded(chain: &Chain, tx: &SignedTransaction) {
    let (_, receipt) = chain
        .store()
        .receipt(&tx.hash())
        .expect("the store reads")
        .expect("the transaction was executed");
    assert_eq!(receipt.status, 0, "a transfer failed: {receipt:?}");
}

/// A chain with the token deployed and `BLOCK` senders holding tokens.
fn funded_chain(dir: &std::path::Path) -> (Chain, Address, Vec<PrivateKey>) {
    let chain = open(dir);
    let owner = user(2);
    let deploy = Action::Deploy {
        code: TOKEN.to_vec(),
        abi: TOKEN_ABI.to_vec(),
        init_input: init_input(),
    };
    submit(&chain, &sign(&owner, 0, 2_000_000_000, deploy)).expect("the deploy is accepted");
    commit_next(&chain);
    let token = contract_address(&address(&owner), 0);
    let senders: Vec<PrivateKey> = (0..BLOCK).map(|index| user(10 + index)).collect();
    let mut nonce = 1;
    for round in senders.chunks(FUNDING_ROUND) {
        let mut last = None;
        for sender in round {
            let call = Action::Call {
                contract: token,
                method: "transfer".into(),
                input: transfer_input(&address(sender), 1_000_000),
            };
            let tx = sign(&owner, nonce, GAS, call);
            submit(&chain, &tx).expect("the funding is accepted");
            nonce += 1;
            last = Some(tx);
        }
        assert_eq!(commit_next(&chain), round.len());
        assert_succeeded(&chain, &last.expect("a round is not empty"));
    }
    (chain, token, senders)
}

fn executor(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (chain, token, senders) = funded_chain(dir.path());
    let recipient = address(&user(3));
    let nonces = RefCell::new(vec![0u64; senders.len()]);
    let next_block = || -> Vec<SignedTransaction> {
        let mut nonces = nonces.borrow_mut();
        senders
            .iter()
            .zip(nonces.iter_mut())
            .map(|(sender, nonce)| {
                *nonce += 1;
                transfer(sender, *nonce - 1, token, &recipient)
            })
            .collect()
    };
    // One block outside the measurement, to check the transfers succeed.
    let first = next_block();
    for tx in &first {
        submit(&chain, tx).expect("a transfer is accepted");
    }
    assert_eq!(commit_next(&chain), usize::from(BLOCK));
    for tx in &first {
        assert_succeeded(&chain, tx);
    }

    let mut group = c.benchmark_group("executor");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(u64::from(BLOCK)));
    group.bench_function("node_block_of_100_transfers", |b| {
        b.iter_batched(
            || {
                for tx in next_block() {
                    submit(&chain, &tx).expect("a transfer is accepted");
                }
            },
            |()| assert_eq!(commit_next(&chain), usize::from(BLOCK)),
            BatchSize::PerIteration,
        )
    });

    // A follower with the leader's chain, which verifies what it builds.
    let follower_dir = tempfile::tempdir().expect("a temporary directory");
    let follower = open(follower_dir.path());
    for height in 1..=chain.head().height {
        let block = chain
            .store()
            .block(height)
            .expect("the store reads")
            .expect("the block is stored");
        let executed = follower
            .verify_certified(height, &block.encode())
            .expect("the follower replays the leader's block");
        follower
            .commit(height, &executed.hash, b"certificate")
            .expect("the follower commits");
    }
    assert_eq!(follower.head(), chain.head());
    let proposer: ValidatorKey = chain.genesis().validators[0]
        .key()
        .expect("the test genesis has a validator");
    // The leader builds and commits the next block; the follower is given
    // its transactions first if they were `gossiped`.
    let lead = |gossiped: bool| {
        let transactions = next_block();
        for tx in &transactions {
            submit(&chain, tx).expect("a transfer is accepted");
            if gossiped {
                submit(&follower, tx).expect("the follower accepts a transfer");
            }
        }
        let height = chain.head().height + 1;
        let built = chain
            .build(height, &proposer, SystemTime::now())
            .expect("the block builds");
        chain
            .commit(height, &built.hash, b"certificate")
            .expect("the leader commits");
        (height, built)
    };
    let follow = |(height, built): (u64, ExecutedBlock)| {
        let verified = follower
            .verify(height, &proposer, &built.bytes)
            .expect("the follower accepts the block");
        assert_eq!(verified.hash, built.hash);
        follower
            .commit(height, &built.hash, b"certificate")
            .expect("the follower commits");
    };
    group.bench_function("follower_block_of_100_gossiped_transfers", |b| {
        b.iter_batched(|| lead(true), follow, BatchSize::PerIteration)
    });
    group.bench_function("follower_block_of_100_unseen_transfers", |b| {
        b.iter_batched(|| lead(false), follow, BatchSize::PerIteration)
    });

    // Baseline: the same calls on the bare VM, state in memory, no
    // signatures, blocks or RocksDB.
    let vm = Vm::new(VmConfig::default()).expect("the VM starts");
    let mut state = MemoryStorage::new();
    let contract = token.to_vm();
    state.deploy(contract, TOKEN);
    let owner = address(&user(2)).to_vm();
    let run = |state: &MemoryStorage, caller: cairn_vm::Address, entry: &str, input: &[u8]| {
        let call = Call {
            contract,
            caller,
            entry,
            input,
            gas_limit: GAS,
            value: 0,
            block: BlockInfo::default(),
            read_only: false,
        };
        let outcome = vm.execute(&call, state).expect("the VM runs");
        assert_eq!(outcome.status, Status::Ok, "{entry} failed: {outcome:?}");
        outcome.writes
    };
    let writes = run(&state, owner, "init", &init_input());
    state.commit(&writes);
    for sender in &senders {
        let writes = run(
            &state,
            owner,
            "transfer",
            &transfer_input(&address(sender), 1_000_000),
        );
        state.commit(&writes);
    }
    let input = transfer_input(&recipient, 1);
    group.bench_function("vm_100_transfers", |b| {
        b.iter(|| {
            for sender in &senders {
                let writes = run(&state, address(sender).to_vm(), "transfer", &input);
                assert!(!writes.is_empty(), "a transfer changes balances");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, executor);
criterion_main!(benches);
