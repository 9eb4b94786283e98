//! The state transition alone: blocks run through `execution` on a
//! temporary store, with no chain, mempool, consensus or network around
//! them. Receipts are what the transactions did, roots are what any store
//! reproduces, fees are taken, burned and tipped as the rules say, and
//! nothing is written until the block is committed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use cairn_node::execution::{
    BlockExecution, ExecError, Executor, Mode, NextBlock, VerifiedSignatures, genesis_state,
};
use cairn_node::genesis::{ChainParams, Genesis, GenesisAccount};
use cairn_node::keys::PrivateKey;
use cairn_node::state::{Account, BlockWrites, ChainState, Changes, Head, Store, tree};
use cairn_node::test_utils::*;
use cairn_node::types::{
    Action, Address, SignedTransaction, Transaction, TxError, contract_address,
};
use cairn_vm::{Vm, VmConfig};
use parity_scale_codec::{Decode, Encode};

/// The system allocator, counting what each thread has allocated and not
/// freed, and its peak: how much memory a check holds at once.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // Not while the thread's locals are being torn down.
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: every call goes to the system allocator unchanged; the counting
// touches only constant-initialised thread locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            track(isize::try_from(layout.size()).unwrap_or(isize::MAX));
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(pointer, layout) };
        track(-isize::try_from(layout.size()).unwrap_or(isize::MAX));
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most memory this thread held at once while running `work`, above
/// what it held before.
fn peak_bytes<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let result = work();
    let peak = PEAK.with(Cell::get) - start;
    (result, usize::try_from(peak).unwrap_or(0))
}

/// A store initialised for a genesis, its VM, in a directory of its own.
struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    vm: Vm,
    genesis: Genesis,
}

impl Node {
    /// On the test chain's [`genesis`].
    fn new() -> Self {
        Node::with(genesis())
    }

    fn with(genesis: Genesis) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .init_genesis(
                genesis.hash(),
                genesis.genesis_time_ms,
                &genesis_state(&genesis).unwrap(),
            )
            .unwrap();
        Node {
            _dir: dir,
            store,
            vm: Vm::new(VmConfig::default()).unwrap(),
            genesis,
        }
    }

    /// A transaction for this node's genesis.
    fn sign(
        &self,
        key: &PrivateKey,
        nonce: u64,
        gas_limit: u64,
        gas_price: u64,
        value: u128,
        action: Action,
    ) -> SignedTransaction {
        Transaction {
            chain_id: self.genesis.chain_id.clone(),
            genesis_hash: self.genesis.hash(),
            sender: address(key),
            nonce,
            gas_limit,
            gas_price,
            value,
            action,
        }
        .sign(key)
    }

    fn account(&self, address: &Address) -> Account {
        self.store.snapshot().account(address).unwrap()
    }

    fn chain_state(&self) -> ChainState {
        self.store.snapshot().chain_state().unwrap()
    }

    /// Every balance added up must be the supply, and the supply the
    /// genesis supply less what was burned.
    fn check_supply(&self) {
        let snapshot = self.store.snapshot();
        let mut sum = 0u128;
        snapshot
            .for_each_account(|_, account| sum += account.balance)
            .unwrap();
        let chain = snapshot.chain_state().unwrap();
        assert_eq!(sum, chain.total_supply);
        assert_eq!(
            chain.total_supply + chain.burned,
            self.genesis.total_supply().unwrap()
        );
    }

    fn head(&self) -> Head {
        self.store.head().unwrap()
    }

    fn execute(
        &self,
        transactions: &[SignedTransaction],
        mode: Mode,
    ) -> Result<BlockExecution, ExecError> {
        self.execute_remembering(transactions, mode, None)
    }

    /// [`Node::execute`] with an executor that trusts, and fills,
    /// `signatures`.
    fn execute_remembering(
        &self,
        transactions: &[SignedTransaction],
        mode: Mode,
        signatures: Option<&VerifiedSignatures>,
    ) -> Result<BlockExecution, ExecError> {
        let head = self.head();
        let next = NextBlock {
            parent: head,
            time_ms: head.time_ms + 1,
            proposer: proposer(),
        };
        let transactions = transactions.iter().cloned().map(Arc::new).collect();
        let mut executor = Executor::new(&self.vm, &self.genesis);
        if let Some(signatures) = signatures {
            executor = executor.with_signatures(signatures);
        }
        executor.execute_block(&self.store.snapshot(), &next, transactions, mode)
    }

    fn commit(&self, executed: BlockExecution) {
        self.store
            .commit(executed.into_writes(b"certificate"))
            .unwrap();
    }

    /// The root rebuilt from every record must be the committed one.
    fn check_records(&self) {
        let snapshot = self.store.snapshot();
        let mut leaves = Vec::new();
        snapshot
            .for_each_state_leaf(|key, value| {
                leaves.push((key, value));
                Ok(())
            })
            .unwrap();
        tree::check_rebuilt_root(&snapshot.head().unwrap(), &leaves).unwrap();
    }
}

#[test]
fn blocks_execute_to_receipts_and_roots_that_another_store_reproduces() {
    let (proposer_node, validator_node) = (Node::new(), Node::new());
    let alice = user(2);
    let counter = contract_address(&address(&alice), 0);
    let blocks = [
        vec![deploy(&alice, 0, 100)],
        vec![
            call(&alice, 1, counter, "increment", 40u64.encode()),
            call(&user(3), 0, counter, "increment", 50u64.encode()),
            // Beyond the limit of 100: reverted, but included.
            call(&alice, 2, counter, "increment", 20u64.encode()),
        ],
    ];
    let mut receipts = Vec::new();
    for transactions in &blocks {
        let built = proposer_node.execute(transactions, Mode::Build).unwrap();
        let verified = validator_node
            .execute(&built.block.transactions, Mode::Verify)
            .unwrap();
        assert_eq!(verified.block, built.block);
        assert_eq!(verified.receipts, built.receipts);
        // Executing wrote nothing.
        assert_eq!(proposer_node.head().height + 1, built.block.header.height);
        receipts.extend(built.receipts.clone());
        let head = built.head();
        proposer_node.commit(built);
        validator_node.commit(verified);
        assert_eq!(proposer_node.head(), head);
        assert_eq!(validator_node.head(), head);
        proposer_node.check_records();
        validator_node.check_records();
        proposer_node.check_supply();
    }
    assert_eq!(receipts.len(), 4);
    assert!(receipts[0].is_ok(), "{:?}", receipts[0]);
    assert_eq!(receipts[0].contract, Some(counter));
    assert!(receipts[1].is_ok() && receipts[2].is_ok());
    assert_eq!(u64::decode(&mut &receipts[2].output[..]).unwrap(), 90);
    assert_eq!(receipts[3].status, 10, "{:?}", receipts[3]);
    let snapshot = proposer_node.store.snapshot();
    assert_eq!(snapshot.account(&address(&alice)).unwrap().nonce, 3);
    assert_eq!(snapshot.contract(&counter).unwrap().unwrap().deployed_at, 1);
}

#[test]
fn a_signature_is_verified_once_and_what_was_not_verified_is() {
    let node = Node::new();
    let to = address(&user(9));
    let good: Vec<SignedTransaction> = (0..40)
        .map(|nonce| transfer(&user(2), nonce, to, 1))
        .collect();
    let mut forged = transfer(&user(3), 0, to, 1);
    forged.signature[0] ^= 1;
    let signatures = VerifiedSignatures::default();

    // A follower that never saw the transactions verifies every signature
    // (across its cores: 40 is enough), remembers those that verify, and
    // refuses the forged one at its place in the block.
    let mut block = good.clone();
    block.insert(20, forged.clone());
    let refused = node
        .execute_remembering(&block, Mode::Verify, Some(&signatures))
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ExecError::InvalidTransaction {
                index: 20,
                error: TxError::BadSignature
            }
        ),
        "{refused:?}"
    );
    assert!(good.iter().all(|tx| signatures.contains(&tx.hash())));
    assert!(!signatures.contains(&forged.hash()));

    // What is remembered is trusted: not verified again. (A hash covers
    // the signature, so only the node's own memory can vouch for a forged
    // one; this shows the executor takes its word.)
    let vouched = VerifiedSignatures::default();
    vouched.insert(forged.hash());
    let trusted = node
        .execute_remembering(std::slice::from_ref(&forged), Mode::Verify, Some(&vouched))
        .unwrap();
    assert_eq!(trusted.receipts.len(), 1);
    // Without the memory, the same block is refused.
    assert!(matches!(
        node.execute(std::slice::from_ref(&forged), Mode::Verify),
        Err(ExecError::InvalidTransaction {
            index: 0,
            error: TxError::BadSignature
        })
    ));

    // The good block verifies with and without what was remembered, to
    // the same block.
    let remembered = node
        .execute_remembering(&good, Mode::Verify, Some(&signatures))
        .unwrap();
    let fresh = node.execute(&good, Mode::Verify).unwrap();
    assert_eq!(remembered.block, fresh.block);
    assert_eq!(remembered.receipts, fresh.receipts);
}

/// A genesis funding users 2, 3 and 4 with 10^18 each, and nothing else.
fn small_genesis(params: ChainParams) -> Genesis {
    let mut genesis = genesis();
    genesis.accounts = (2..5)
        .map(|seed| GenesisAccount {
            address: address(&user(seed)).to_string(),
            balance: 1_000_000_000_000_000_000,
        })
        .collect();
    genesis.params = params;
    genesis
}

#[test]
fn a_block_of_failed_calls_has_a_pinned_root() {
    // Calls to an address without a contract fail, so the state is the
    // senders' accounts (nonce and balance), the proposer's tip and the
    // chain record, and nothing else: the root then depends only on the
    // tree's hashing, its leaf keys and the records' encodings, all of
    // which every node of the network must keep computing the same.
    let node = Node::with(small_genesis(ChainParams::default()));
    assert_eq!(
        hex::encode(node.head().state_root),
        "8114cbaf06703d173941a52984a25c8b96de5d2b470026f19d83c7fa1f020e28",
        "the root of three funded accounts and the chain record"
    );
    let transactions: Vec<_> = (2..5)
        .map(|seed| {
            node.sign(
                &user(seed),
                0,
                CALL_GAS,
                GAS_PRICE,
                0,
                Action::Call {
                    contract: Address([0; 32]),
                    method: "m".into(),
                    input: Vec::new(),
                },
            )
        })
        .collect();
    let executed = node.execute(&transactions, Mode::Build).unwrap();
    assert_eq!(executed.receipts.len(), 3);
    assert!(executed.receipts.iter().all(|receipt| !receipt.is_ok()));
    assert!(executed.changes.storage.is_empty() && executed.changes.contracts.is_empty());
    // Three senders and the proposer.
    assert_eq!(executed.changes.accounts.len(), 4);
    assert_eq!(
        hex::encode(executed.block.header.state_root),
        "e84107dd5da58f5b661892eef89585929f43ea9e3f01b9e3d5a3556759759ec8",
        "the root after three failed calls"
    );
    node.commit(executed);
    node.check_records();
    node.check_supply();
}

#[test]
fn fees_are_taken_for_the_gas_used_the_base_fee_burned_and_the_rest_tipped() {
    let node = Node::new();
    let (alice, bob) = (address(&user(2)), address(&user(3)));
    let base_fee = node.chain_state().base_fee;
    assert_eq!(base_fee, ChainParams::default().min_base_fee);
    let transactions = [
        // Fails: no contract there. It still pays for its gas.
        call(&user(2), 0, Address([0; 32]), "m", Vec::new()),
        transfer(&user(2), 1, bob, 1_234),
    ];
    let executed = node.execute(&transactions, Mode::Build).unwrap();
    let [failed, moved] = [&executed.receipts[0], &executed.receipts[1]];
    assert!(!failed.is_ok() && moved.is_ok());
    for (receipt, tx) in executed.receipts.iter().zip(&transactions) {
        // Charged for the gas used, never for the limit.
        assert!(receipt.gas_used < tx.tx.gas_limit);
        assert_eq!(
            receipt.fee,
            u128::from(receipt.gas_used) * u128::from(GAS_PRICE)
        );
        assert_eq!(
            receipt.burned,
            u128::from(receipt.gas_used) * u128::from(base_fee)
        );
    }
    assert_eq!((failed.value, moved.value), (0, 1_234));
    let fees = failed.fee + moved.fee;
    let burned = failed.burned + moved.burned;
    node.commit(executed);
    assert_eq!(node.account(&alice).balance, USER_BALANCE - fees - 1_234);
    assert_eq!(node.account(&bob).balance, USER_BALANCE + 1_234);
    // The proposer (the validator, funded at genesis like every user key)
    // got what was not burned.
    let proposer = address(&validator());
    assert_eq!(
        node.account(&proposer).balance,
        USER_BALANCE + fees - burned
    );
    let chain = node.chain_state();
    assert_eq!(chain.burned, burned);
    assert_eq!(chain.total_supply, genesis_supply() - burned);
    node.check_records();
    node.check_supply();
}

#[test]
fn what_a_sender_cannot_cover_or_that_pays_below_the_base_fee_is_left_out_and_refused() {
    let node = Node::new();
    let alice = user(2);
    let broke = PrivateKey::from([0xfe; 32]);
    // Not funded at genesis: 0xfe is a user seed, so fund it away first.
    let drain = node.sign(
        &user(0xfe),
        0,
        TRANSFER_GAS,
        GAS_PRICE,
        USER_BALANCE - u128::from(TRANSFER_GAS) * u128::from(GAS_PRICE),
        Action::Transfer {
            to: address(&alice),
        },
    );
    let executed = node.execute(&[drain], Mode::Build).unwrap();
    assert_eq!(executed.receipts.len(), 1);
    node.commit(executed);
    // What is left (the unused gas's refund) covers no transfer's fee.
    let left = node.account(&address(&broke)).balance;
    assert!(
        left < u128::from(TRANSFER_GAS) * u128::from(GAS_PRICE),
        "{left}"
    );
    let transactions = [
        transfer(&broke, 1, address(&alice), 1),
        node.sign(
            &alice,
            0,
            TRANSFER_GAS,
            0,
            0,
            Action::Transfer {
                to: address(&broke),
            },
        ),
        transfer(&alice, 0, address(&broke), USER_BALANCE * 2),
    ];
    let built = node.execute(&transactions, Mode::Build).unwrap();
    assert!(built.block.transactions.is_empty());
    let refusal =
        |tx: &SignedTransaction| match node.execute(std::slice::from_ref(tx), Mode::Verify) {
            Err(ExecError::InvalidTransaction { index: 0, error }) => error,
            other => panic!("expected a refusal, got {other:?}"),
        };
    assert!(matches!(
        refusal(&transactions[0]),
        TxError::InsufficientBalance { .. }
    ));
    assert_eq!(
        refusal(&transactions[1]),
        TxError::BelowBaseFee {
            price: 0,
            base_fee: 1
        }
    );
    assert!(matches!(
        refusal(&transactions[2]),
        TxError::InsufficientBalance { .. }
    ));
}

#[test]
fn blocks_fill_by_the_gas_used_and_never_run_more_than_their_limit() {
    // A block of 100M gas; transactions declare 40M and use their
    // intrinsic ~3.3M. Counted by their limits two would fit; counted by
    // what they use, every one whose limit fits what is left goes in.
    let params = ChainParams {
        block_gas_limit: 100_000_000,
        max_tx_gas: 100_000_000,
        ..ChainParams::default()
    };
    let node = Node::with(small_genesis(params.clone()));
    let transactions: Vec<_> = (0..30)
        .map(|nonce| {
            node.sign(
                &user(2),
                nonce,
                40_000_000,
                GAS_PRICE,
                1,
                Action::Transfer {
                    to: Address([9; 32]),
                },
            )
        })
        .collect();
    let built = node.execute(&transactions, Mode::Build).unwrap();
    let included = built.block.transactions.len();
    assert!(included > 2, "only {included} included");
    assert!(included < 30);
    let used = built.block.header.gas_used;
    assert!(used <= params.block_gas_limit);
    // The next one did not fit what was left.
    assert!(params.block_gas_limit - used < 40_000_000, "{used}");
    // A block that holds it anyway is invalid.
    match node.execute(&transactions[..=included], Mode::Verify) {
        Err(ExecError::InvalidTransaction {
            index,
            error: TxError::BlockGasExceeded { limit, remaining },
        }) => {
            assert_eq!(index, included);
            assert_eq!(
                (limit, remaining),
                (40_000_000, params.block_gas_limit - used)
            );
        }
        other => panic!("expected the gas limit to be refused, got {other:?}"),
    }
    // More than half full: the base fee rises as EIP-1559 says.
    assert!(used > params.base_fee_target());
    let before = node.chain_state().base_fee;
    node.commit(built);
    assert_eq!(
        node.chain_state().base_fee,
        params.next_base_fee(before, used)
    );
    assert!(node.chain_state().base_fee > before);
    node.check_supply();
}

#[test]
fn a_transaction_that_does_not_apply_is_left_out_when_building_and_refused_when_verifying() {
    let node = Node::new();
    let alice = user(2);
    let target = Address([0; 32]);
    let transactions = [
        call(&alice, 0, target, "m", Vec::new()),
        // A nonce gap: left out of a built block.
        call(&alice, 5, target, "m", Vec::new()),
        // Another chain's transaction: also left out.
        TestChain {
            chain_id: "another-chain",
            ..TEST_CHAIN
        }
        .sign(
            &alice,
            1,
            CALL_GAS,
            cairn_node::types::Action::Call {
                contract: target,
                method: "m".into(),
                input: Vec::new(),
            },
        ),
        call(&alice, 1, target, "m", Vec::new()),
    ];
    let built = node.execute(&transactions, Mode::Build).unwrap();
    let included: Vec<_> = built
        .block
        .transactions
        .iter()
        .map(|tx| tx.tx.nonce)
        .collect();
    assert_eq!(included, [0, 1]);
    assert_eq!(built.receipts.len(), 2);

    match node.execute(&transactions, Mode::Verify) {
        Err(ExecError::InvalidTransaction {
            index: 1,
            error:
                TxError::NonceTooFarAhead {
                    expected: 1,
                    found: 5,
                },
        }) => {}
        other => panic!("expected the nonce gap to be refused, got {other:?}"),
    }
    match node.execute(
        &[transactions[0].clone(), transactions[2].clone()],
        Mode::Verify,
    ) {
        Err(ExecError::InvalidTransaction {
            index: 1,
            error: TxError::WrongChain { .. },
        }) => {}
        other => panic!("expected the other chain's transaction to be refused, got {other:?}"),
    }
    // Nothing was written by any of it.
    assert_eq!(node.head().height, 0);
}

#[test]
fn the_startup_check_holds_one_record_at_a_time_however_large_the_state() {
    const RECORDS: usize = 10_000;
    let node = Node::new();
    // The genesis's funded accounts and its chain record.
    let genesis_records = node.store.snapshot().check_records().unwrap();
    let mut changes = Changes::default();
    let entries = changes.storage.entry(Address([7; 32])).or_default();
    for index in 0..RECORDS {
        entries.insert(
            u32::try_from(index).unwrap().to_be_bytes().to_vec(),
            Some(vec![0xab; 32]),
        );
    }
    let (root, tree) = tree::apply(&node.store.snapshot().tree_reader(), &changes, 1).unwrap();
    let state = changes
        .storage
        .into_iter()
        .flat_map(|(contract, entries)| {
            entries
                .into_iter()
                .map(move |(key, value)| ((contract, key), value))
        })
        .collect();
    node.store
        .commit(BlockWrites {
            state,
            tree,
            head: Head {
                height: 1,
                state_root: root,
                ..node.head()
            },
            ..BlockWrites::default()
        })
        .unwrap();

    let snapshot = node.store.snapshot();
    let (checked, streaming) = peak_bytes(|| snapshot.check_records().unwrap());
    assert_eq!(checked, u64::try_from(RECORDS).unwrap() + genesis_records);
    // The way it was: every leaf in memory, and a tree rebuilt from them.
    let (_, in_memory) = peak_bytes(|| {
        let mut leaves = Vec::new();
        snapshot
            .for_each_state_leaf(|key, value| {
                leaves.push((key, value));
                Ok(())
            })
            .unwrap();
        tree::check_rebuilt_root(&snapshot.head().unwrap(), &leaves).unwrap();
    });
    println!(
        "peak memory checking {RECORDS} records: {streaming} B one at a time, {in_memory} B all at once"
    );
    assert!(streaming < 256 * 1024, "{streaming} B");
    assert!(
        in_memory > 20 * streaming,
        "{in_memory} B against {streaming} B"
    );
}

/// One-byte keys: `fill` writes keys 0 to n-1 and 255, `remove` removes
/// keys 0 to n-1 (n is the input's first byte), `first` opens an iterator
/// over every key and takes one step, and outputs what `storage_next`
/// returned.
const ITERATING: &str = r#"(module
  (import "cairn" "input_read" (func $input_read (param i32)))
  (import "cairn" "storage_set" (func $set (param i32 i32 i32 i32)))
  (import "cairn" "storage_remove" (func $remove (param i32 i32)))
  (import "cairn" "storage_range" (func $range (param i32 i32 i32 i32 i32) (result i32)))
  (import "cairn" "storage_next" (func $next (param i32 i32 i32 i32 i32) (result i64)))
  (import "cairn" "output_write" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func $keys (param $remove i32) (local $i i32)
    (call $input_read (i32.const 0))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.load8_u (i32.const 0))))
        (i32.store8 (i32.const 16) (local.get $i))
        (if (local.get $remove)
          (then (call $remove (i32.const 16) (i32.const 1)))
          (else (call $set (i32.const 16) (i32.const 1) (i32.const 16) (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
  (func (export "fill")
    (call $keys (i32.const 0))
    (i32.store8 (i32.const 16) (i32.const 255))
    (call $set (i32.const 16) (i32.const 1) (i32.const 16) (i32.const 1)))
  (func (export "remove") (call $keys (i32.const 1)))
  (func (export "first")
    (i64.store (i32.const 32)
      (call $next (call $range (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 6))
                  (i32.const 64) (i32.const 16) (i32.const 80) (i32.const 16)))
    (call $output (i32.const 32) (i32.const 8))))"#;

#[test]
fn iterating_past_keys_removed_earlier_in_the_block_is_charged_per_key() {
    // The gas of one iterator step in a block where an earlier transaction
    // removed the first `removed` of 64 committed keys.
    let gas_of_first_step = |removed: u8| {
        let node = Node::new();
        let alice = user(2);
        let contract = contract_address(&address(&alice), 0);
        let deploy = sign(
            &alice,
            0,
            DEPLOY_GAS,
            cairn_node::types::Action::Deploy {
                code: wat::parse_str(ITERATING).unwrap(),
                abi: Vec::new(),
                init_input: Vec::new(),
            },
        );
        let fill = call(&alice, 1, contract, "fill", vec![64]);
        let setup = node.execute(&[deploy, fill], Mode::Build).unwrap();
        assert!(setup.receipts.iter().all(|receipt| receipt.is_ok()));
        node.commit(setup);
        let remove = call(&alice, 2, contract, "remove", vec![removed]);
        let first = call(&alice, 3, contract, "first", Vec::new());
        let block = node.execute(&[remove, first], Mode::Build).unwrap();
        let receipt = &block.receipts[1];
        assert!(receipt.is_ok(), "{receipt:?}");
        // A one-byte key and a one-byte value (key 0, or key 255).
        assert_eq!(receipt.output, ((1i64 << 32) | 1).to_le_bytes());
        receipt.gas_used
    };
    let none_removed = gas_of_first_step(0);
    let all_removed = gas_of_first_step(64);
    assert_eq!(
        all_removed - none_removed,
        64 * cairn_vm::Schedule::default().host.storage_next,
        "each removed key the step walked past is a step of its own"
    );
}

#[test]
fn a_deploy_pays_for_its_compile_work_before_anything_is_compiled() {
    // A module of calls and no constructor: its deploy pays its intrinsic
    // cost and its compile work, nothing else.
    let calls = "(call $f)".repeat(2_000);
    let code = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (func $f) (func (export "run") {calls}))"#
    ))
    .unwrap();
    let measuring = Node::new();
    let compile_gas = {
        let prepared = measuring.vm.prepare(&code).unwrap();
        measuring.vm.compile_gas(&prepared.summary)
    };
    assert!(
        compile_gas
            >= 2_000
                * cairn_vm::limits::COMPILE_WORK_PER_CALL
                * cairn_vm::Schedule::default().compile_work_unit,
        "every call is at least its weight: {compile_gas}"
    );

    let deploy = |node: &Node, gas_limit: u64| {
        node.sign(
            &user(2),
            0,
            gas_limit,
            GAS_PRICE,
            0,
            Action::Deploy {
                code: code.clone(),
                abi: Vec::new(),
                init_input: Vec::new(),
            },
        )
    };
    let paid = Node::new();
    let enough = deploy(&paid, DEPLOY_GAS);
    let intrinsic = paid
        .genesis
        .params
        .intrinsic_gas(&enough.tx, enough.encoded_len());
    let block = paid.execute(&[enough], Mode::Build).unwrap();
    let receipt = &block.receipts[0];
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.gas_used, intrinsic + compile_gas);
    assert_eq!(paid.vm.cache_stats().misses, 1, "compiled once");

    // One unit of gas short: out of gas with the whole limit spent, and
    // the code never compiled.
    let short = Node::new();
    let limit = intrinsic + compile_gas - 1;
    let block = short
        .execute(&[deploy(&short, limit)], Mode::Build)
        .unwrap();
    let receipt = &block.receipts[0];
    assert_eq!(
        receipt.status,
        cairn_vm::Status::OutOfGas.code(),
        "{receipt:?}"
    );
    assert_eq!(receipt.gas_used, limit);
    assert_eq!(receipt.contract, None);
    assert_eq!(short.vm.cache_stats().misses, 0, "nothing compiled");
}
