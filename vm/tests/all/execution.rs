//! Calls end in a fixed status with exact gas, and the same call gives the
//! same outcome every time.

use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Address, BlockInfo, Call, Status, TrapCode};

use crate::support::{CONTRACT, Chain, GAS, contract, instance_gas, run_twice, trap, wat};

#[test]
fn each_engine_trap_becomes_its_fixed_code() {
    let wasm = contract(
        r#"
        (type $unary (func (param i32) (result i32)))
        (type $nullary (func))
        (table 2 funcref)
        (elem (i32.const 0) $id)
        (func $id (type $unary) local.get 0)
        (func (export "unreachable") unreachable)
        (func (export "oob") (drop (i32.load (i32.const 65535))))
        (func (export "div0") (drop (i32.div_u (i32.const 1) (i32.const 0))))
        (func (export "overflow") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1))))
        (func (export "null") (call_indirect (type $nullary) (i32.const 1)))
        (func (export "outside") (call_indirect (type $nullary) (i32.const 9)))
        (func (export "signature") (call_indirect (type $nullary) (i32.const 0)))
        (func (export "fill") (memory.fill (i32.const 65000) (i32.const 0) (i32.const 1000)))
        "#,
    );
    for (entry, code) in [
        ("unreachable", TrapCode::Unreachable),
        ("oob", TrapCode::MemoryOutOfBounds),
        ("div0", TrapCode::IntegerDivideByZero),
        ("overflow", TrapCode::IntegerOverflow),
        ("null", TrapCode::IndirectCallToNull),
        ("outside", TrapCode::IndirectCallToNull),
        ("signature", TrapCode::BadSignature),
        ("fill", TrapCode::MemoryOutOfBounds),
        ("missing", TrapCode::NoSuchEntry),
        ("memory", TrapCode::NoSuchEntry),
        ("__cairn_gas_left", TrapCode::NoSuchEntry),
    ] {
        let outcome = run_twice(&wasm, entry, &[], GAS);
        assert_eq!(outcome.status, trap(code), "{entry}");
        assert!(
            outcome.output.is_empty() && outcome.writes.is_empty() && outcome.events.is_empty()
        );
    }
}

#[test]
fn gas_is_exact_and_the_same_on_every_run() {
    // 10 iterations of a loop, then a host call: known costs, and a second
    // VM computes exactly the same number.
    let wasm = contract(
        r#"(func (export "loop") (local $i i32)
            (loop $l
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))"#,
    );
    let outcome = run_twice(&wasm, "loop", &[], GAS);
    assert_eq!(outcome.status, Status::Ok);
    let c = cairn_vm::Schedule::default().instructions;
    let iteration = c.block // one block per iteration
        + c.local + c.constant + c.simple + c.local // i += 1
        + c.local + c.constant + c.simple + c.branch; // br_if i < 10
    // The instance, then entering `loop` pays for its one local.
    assert_eq!(
        outcome.gas_used,
        instance_gas(&wasm) + c.frame_local + 10 * iteration
    );
}

#[test]
fn out_of_gas_uses_the_whole_limit_and_writes_nothing() {
    let wasm = contract(
        r#"(data (i32.const 0) "k")
           (func (export "spin")
             (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
             (loop $l (br $l)))"#,
    );
    for limit in [0, 1, 1_000, 123_457, 10_000_000] {
        let outcome = run_twice(&wasm, "spin", &[], limit);
        assert_eq!(outcome.status, Status::OutOfGas, "limit {limit}");
        assert_eq!(outcome.gas_used, limit);
        assert!(outcome.writes.is_empty());
    }
}

#[test]
fn a_trap_after_a_charge_that_was_not_covered_is_out_of_gas() {
    // The meter charges a block as it starts and checks later: here the
    // load traps before any check, with the gas below zero. One unit short
    // must still be out of gas, as it was when each block checked first;
    // with enough gas the contract's own trap shows, and a storage write
    // before the block has no chance to run the host on missing gas.
    let wasm = contract(
        r#"(func (export "load_past_the_end")
             (drop (i32.add (i32.const 1) (i32.const 2)))
             (drop (i32.load (i32.const 65536))))"#,
    );
    let c = cairn_vm::Schedule::default().instructions;
    let cost =
        instance_gas(&wasm) + c.block + 3 * c.constant + c.simple + 2 * c.parametric + c.load;
    let trapped = run_twice(&wasm, "load_past_the_end", &[], cost);
    assert_eq!(trapped.status, trap(TrapCode::MemoryOutOfBounds));
    assert_eq!(trapped.gas_used, cost);
    let short = run_twice(&wasm, "load_past_the_end", &[], cost - 1);
    assert_eq!(short.status, Status::OutOfGas);
    assert_eq!(short.gas_used, cost - 1);
}

#[test]
fn gas_limits_beyond_the_meters_counter_are_reported_exactly() {
    // The meter holds at most i64::MAX; a larger limit still reports what
    // was used.
    let wasm = contract(r#"(func (export "noop"))"#);
    let used = run_twice(&wasm, "noop", &[], u64::MAX).gas_used;
    assert_eq!(used, run_twice(&wasm, "noop", &[], GAS).gas_used);
    assert_eq!(used, instance_gas(&wasm));
}

#[test]
fn a_failed_call_leaves_state_as_it_was() {
    let mut chain = Chain::new();
    chain.deploy(
        CONTRACT,
        &contract(
            r#"(data (i32.const 0) "key")
               (data (i32.const 8) "value")
               (func (export "write_then_trap")
                 (call $storage_set (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 5))
                 (call $emit_event (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 5))
                 unreachable)
               (func (export "write")
                 (call $storage_set (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 5)))"#,
        ),
    );
    let before = chain.state.clone();
    let failed = chain.call(CONTRACT, "write_then_trap", &[]);
    assert_eq!(failed.status, trap(TrapCode::Unreachable));
    assert!(failed.writes.is_empty() && failed.events.is_empty());
    assert_eq!(chain.state, before);
    assert!(
        failed.gas_used > 0,
        "a failed call still pays for what it ran"
    );

    let ok = chain.call(CONTRACT, "write", &[]);
    assert_eq!(ok.status, Status::Ok);
    assert_eq!(
        chain.state.entries(&CONTRACT),
        vec![(b"key".to_vec(), b"value".to_vec())]
    );
}

#[test]
fn every_call_gets_a_fresh_instance() {
    // A mutable global and memory written by one call are back to their
    // initial values in the next: only storage survives.
    let wasm = contract(
        r#"(global $calls (mut i64) (i64.const 0))
           (func (export "bump")
             (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
             (i64.store (i32.const 64) (i64.add (i64.load (i32.const 64)) (i64.const 1)))
             (i64.store (i32.const 0) (global.get $calls))
             (i64.store (i32.const 8) (i64.load (i32.const 64)))
             (call $output_write (i32.const 0) (i32.const 16)))"#,
    );
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, &wasm);
    for _ in 0..3 {
        let outcome = chain.call(CONTRACT, "bump", &[]);
        assert_eq!(
            outcome.output,
            [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}

#[test]
fn calls_to_nothing_are_failed_outcomes_not_errors() {
    let vm = crate::support::vm();
    let state = MemoryStorage::new();
    let call = Call {
        contract: Address([9; 32]),
        caller: Address([1; 32]),
        entry: "anything",
        input: &[],
        gas_limit: GAS,
        value: 0,
        block: BlockInfo::default(),
        read_only: false,
    };
    let outcome = vm.execute(&call, &state).unwrap();
    assert_eq!(outcome.status, trap(TrapCode::NoSuchContract));
    assert_eq!(outcome.gas_used, 0);
}

#[test]
fn deployed_code_missing_from_the_store_is_a_node_error() {
    // The state says a contract runs code the VM has never seen and the
    // store does not have: the node's fault, never a result.
    let vm = crate::support::vm();
    let mut state = MemoryStorage::new();
    let wasm = wat(r#"(module (memory (export "memory") 1) (func (export "f")))"#);
    state.deploy(CONTRACT, &wasm);
    let mut empty_code = MemoryStorage::new();
    // Same contract record, but without the code bytes.
    struct NoCode<'a>(&'a MemoryStorage);
    impl cairn_vm::Storage for NoCode<'_> {
        fn get(&self, c: &Address, k: &[u8]) -> Result<Option<Vec<u8>>, cairn_vm::StorageError> {
            self.0.get(c, k)
        }
        fn seek(
            &self,
            c: &Address,
            r: &cairn_vm::KeyRange,
            o: cairn_vm::Order,
        ) -> Result<cairn_vm::RangeStep, cairn_vm::StorageError> {
            self.0.seek(c, r, o)
        }
        fn set(&mut self, _: &Address, _: &[u8], _: &[u8]) -> Result<(), cairn_vm::StorageError> {
            unreachable!("the VM never writes to the embedder's store")
        }
        fn remove(&mut self, _: &Address, _: &[u8]) -> Result<(), cairn_vm::StorageError> {
            unreachable!("the VM never writes to the embedder's store")
        }
    }
    impl cairn_vm::Contracts for NoCode<'_> {
        fn code_hash(
            &self,
            c: &Address,
        ) -> Result<Option<cairn_vm::CodeHash>, cairn_vm::StorageError> {
            cairn_vm::Contracts::code_hash(self.0, c)
        }
        fn code(&self, _: &cairn_vm::CodeHash) -> Result<Option<Vec<u8>>, cairn_vm::StorageError> {
            Ok(None)
        }
    }
    impl cairn_vm::Accounts for NoCode<'_> {
        fn balance(&self, a: &Address) -> Result<u128, cairn_vm::StorageError> {
            cairn_vm::Accounts::balance(self.0, a)
        }
    }
    empty_code.deploy(CONTRACT, &wasm);
    let call = Call {
        contract: CONTRACT,
        caller: Address([1; 32]),
        entry: "f",
        input: &[],
        gas_limit: GAS,
        value: 0,
        block: BlockInfo::default(),
        read_only: false,
    };
    let error = vm.execute(&call, &NoCode(&empty_code)).unwrap_err();
    assert!(
        matches!(error, cairn_vm::VmError::MissingCode(_)),
        "{error}"
    );
    // With the code available it compiles on demand and runs.
    assert_eq!(vm.execute(&call, &state).unwrap().status, Status::Ok);
}
