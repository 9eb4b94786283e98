//! Storage on the node's RocksDB: calls of a contract doing 1, 10 and 100
//! reads and writes, executed by the VM against the node's view of
//! committed state (a RocksDB snapshot under the block's changes), against
//! raw RocksDB gets and puts of as many keys in the same run.
//!
//! `cargo bench -p cairn-node --bench storage` (`make bench`). The
//! contract's reads hit committed keys; its writes go to the call's
//! overlay, as in a block, and reach RocksDB in the block's one batch at
//! commit. The baseline reads as many keys from a RocksDB snapshot and
//! writes them back in one batch (without sync): one call's storage work
//! on raw RocksDB, as if each call were committed on its own.
//!
//! The `value` group prices the native-value host functions against the
//! storage ones in the same run: 1 and 100 `balance` reads of committed
//! accounts against as many `storage_get`s of committed keys, and 1 and
//! 100 `transfer`s to distinct accounts against as many `storage_set`s.
//! The difference between 100 and 1 over 99 is one host call's time; its
//! ratio to the storage call's is the ratio of their gas
//! (docs/BENCHMARKS.md, "Native value").

use std::hint::black_box;
use std::time::Duration;

use cairn_node::state::{Changes, View};
use cairn_node::test_utils::{
    GAS_PRICE, TEST_CHAIN, address, commit_next, open, sign, submit, user,
};
use cairn_node::types::{Action, VmAddress, contract_address};
use cairn_vm::{BlockInfo, Call, Status};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// `write(n)` stores keys 0..n (4 bytes each) with 32-byte values;
/// `read_write(n)` reads each of them and writes it again; `read(n)` only
/// reads them. `balances(n, addresses)` reads n accounts' balances,
/// `transfers(n, addresses)` pays each of them 1.
const CONTRACT: &str = r#"(module
  (import "cairn" "input_read" (func $input_read (param i32)))
  (import "cairn" "storage_get" (func $get (param i32 i32 i32 i32) (result i64)))
  (import "cairn" "storage_set" (func $set (param i32 i32 i32 i32)))
  (import "cairn" "balance" (func $balance (param i32 i32)))
  (import "cairn" "transfer" (func $transfer (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 60016) "\01")
  (func $count (result i32) (call $input_read (i32.const 0)) (i32.load (i32.const 0)))
  (func (export "read") (local $i i32) (local $n i32)
    (local.set $n (call $count))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.const 16) (local.get $i))
      (drop (call $get (i32.const 16) (i32.const 4) (i32.const 128) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "balances") (local $i i32) (local $n i32)
    (local.set $n (call $count))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (call $balance (i32.add (i32.const 4) (i32.mul (local.get $i) (i32.const 32))) (i32.const 60000))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "transfers") (local $i i32) (local $n i32)
    (local.set $n (call $count))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (call $transfer (i32.add (i32.const 4) (i32.mul (local.get $i) (i32.const 32))) (i32.const 60016))
        (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "write") (local $i i32) (local $n i32)
    (local.set $n (call $count))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.const 16) (local.get $i))
      (call $set (i32.const 16) (i32.const 4) (i32.const 64) (i32.const 32))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "read_write") (local $i i32) (local $n i32)
    (local.set $n (call $count))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.const 16) (local.get $i))
      (if (i64.ne (call $get (i32.const 16) (i32.const 4) (i32.const 128) (i32.const 32)) (i64.const 32))
        (then unreachable))
      (call $set (i32.const 16) (i32.const 4) (i32.const 128) (i32.const 32))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))))"#;

const COUNTS: [u32; 3] = [1, 10, 100];

fn storage(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let chain = open(dir.path());
    let owner = user(2);
    let code = wat::parse_str(CONTRACT).expect("the contract parses");
    let deploy = Action::Deploy {
        code,
        abi: Vec::new(),
        init_input: Vec::new(),
    };
    // Funded, so that it can pay out in `transfers`.
    let deploy = TEST_CHAIN.sign_with(&owner, 0, 1_000_000_000, GAS_PRICE, 1_000_000, deploy);
    submit(&chain, &deploy).expect("the deploy is accepted");
    let max = *COUNTS.iter().max().expect("counts");
    let fill = Action::Call {
        contract: contract_address(&address(&owner), 0),
        method: "write".into(),
        input: max.to_le_bytes().to_vec(),
    };
    submit(&chain, &sign(&owner, 1, 1_000_000_000, fill)).expect("the fill is accepted");
    commit_next(&chain);
    let contract = contract_address(&address(&owner), 0).to_vm();

    let raw_dir = tempfile::tempdir().expect("a temporary directory");
    let raw = rocksdb::DB::open_default(raw_dir.path()).expect("RocksDB opens");
    let value = [0u8; 32];
    for index in 0..max {
        raw.put(index.to_le_bytes(), value).expect("put");
    }

    let mut group = c.benchmark_group("storage");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    for count in COUNTS {
        let input = count.to_le_bytes();
        group.bench_with_input(BenchmarkId::new("vm_on_rocksdb", count), &count, |b, _| {
            b.iter(|| {
                let snapshot = chain.store().snapshot();
                let changes = Changes::default();
                let view = View {
                    snapshot: &snapshot,
                    changes: &changes,
                    deploy: None,
                };
                let call = Call {
                    contract,
                    caller: cairn_vm::Address([1; 32]),
                    entry: "read_write",
                    input: &input,
                    gas_limit: 1_000_000_000,
                    value: 0,
                    block: BlockInfo::default(),
                    read_only: false,
                };
                let outcome = chain.vm().execute(&call, &view).expect("the VM runs");
                assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
                assert_eq!(outcome.writes.len(), count as usize);
            })
        });
        group.bench_with_input(BenchmarkId::new("raw_rocksdb", count), &count, |b, _| {
            b.iter(|| {
                let snapshot = raw.snapshot();
                let mut batch = rocksdb::WriteBatch::default();
                for index in 0..count {
                    let key = index.to_le_bytes();
                    let found = snapshot.get(key).expect("get").expect("the key exists");
                    batch.put(key, black_box(&found));
                }
                raw.write(batch).expect("the batch is written");
            })
        });
    }
    group.finish();

    // Distinct funded accounts (every test user holds a balance), after
    // the count, as `balances` and `transfers` read them.
    let accounts_input = |count: u32| {
        let mut input = count.to_le_bytes().to_vec();
        for seed in 0..count {
            let seed = u8::try_from(seed).expect("at most 256 accounts");
            input.extend_from_slice(&address(&user(seed)).0);
        }
        input
    };
    let mut group = c.benchmark_group("value");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    for (name, entry, writes) in [
        ("get", "read", false),
        ("balance", "balances", false),
        ("set", "write", true),
        ("transfer", "transfers", true),
    ] {
        for count in [1u32, 100] {
            let input = accounts_input(count);
            group.bench_with_input(BenchmarkId::new(name, count), &count, |b, _| {
                b.iter(|| {
                    let snapshot = chain.store().snapshot();
                    let changes = Changes::default();
                    let view = View {
                        snapshot: &snapshot,
                        changes: &changes,
                        deploy: None,
                    };
                    let call = Call {
                        contract,
                        caller: cairn_vm::Address([1; 32]),
                        entry,
                        input: &input,
                        gas_limit: 1_000_000_000,
                        value: 0,
                        block: BlockInfo::default(),
                        read_only: false,
                    };
                    let outcome = chain.vm().execute(&call, &view).expect("the VM runs");
                    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
                    if writes {
                        assert!(outcome.writes.len() + outcome.balances.len() >= count as usize);
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, storage);
criterion_main!(benches);
