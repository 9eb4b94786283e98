//! The state transition alone: blocks run through `execution` on a
//! temporary store, with no chain, mempool, consensus or network around
//! them. Receipts are what the transactions did, roots are what any store
//! reproduces, and nothing is written until the block is committed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use cairn_node::execution::{BlockExecution, ExecError, Executor, Mode, NextBlock};
use cairn_node::genesis::Genesis;
use cairn_node::state::{BlockWrites, Changes, Head, Store, tree};
use cairn_node::test_utils::*;
use cairn_node::types::{Address, SignedTransaction, TxError, contract_address};
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

/// A store initialised for [`genesis`], its VM, in a directory of its own.
struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    vm: Vm,
    genesis: Genesis,
}

impl Node {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let genesis = genesis();
        store
            .init_genesis(genesis.hash(), genesis.genesis_time_ms)
            .unwrap();
        Node {
            _dir: dir,
            store,
            vm: Vm::new(VmConfig::default()).unwrap(),
            genesis,
        }
    }

    fn head(&self) -> Head {
        self.store.head().unwrap()
    }

    fn execute(
        &self,
        transactions: &[SignedTransaction],
        mode: Mode,
    ) -> Result<BlockExecution, ExecError> {
        let head = self.head();
        let next = NextBlock {
            parent: head,
            time_ms: head.time_ms + 1,
            proposer: proposer(),
        };
        let transactions = transactions.iter().cloned().map(Arc::new).collect();
        Executor::new(&self.vm, &self.genesis).execute_block(
            &self.store.snapshot(),
            &next,
            transactions,
            mode,
        )
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
fn a_block_that_only_uses_nonces_has_a_pinned_root() {
    // Calls to an address without a contract fail, so the state is the
    // senders' accounts and nothing else: the root then depends only on the
    // tree's hashing, its leaf keys and the account record's encoding, all
    // of which every node of the network must keep computing the same. The
    // pinned value is also what the node computed before `state` and
    // `execution` were split out of the chain.
    let node = Node::new();
    let empty_root = node.head().state_root;
    let transactions: Vec<_> = (2..5)
        .map(|seed| call(&user(seed), 0, Address([0; 32]), "m", Vec::new()))
        .collect();
    let executed = node.execute(&transactions, Mode::Build).unwrap();
    assert_eq!(executed.receipts.len(), 3);
    assert!(executed.receipts.iter().all(|receipt| !receipt.is_ok()));
    assert!(executed.changes.storage.is_empty() && executed.changes.contracts.is_empty());
    assert_eq!(executed.changes.accounts.len(), 3);
    // The Jellyfish Merkle tree's root of nothing is its placeholder.
    assert_eq!(empty_root, *b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
    assert_eq!(
        hex::encode(executed.block.header.state_root),
        "f2718a65bdf8adfca3d4aec7d052496c1940b51344c1d6a545982220eca41fa6",
        "the root of three accounts at nonce 1"
    );
    node.commit(executed);
    node.check_records();
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
    assert_eq!(checked, u64::try_from(RECORDS).unwrap());
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
