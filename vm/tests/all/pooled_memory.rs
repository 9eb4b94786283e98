//! Instances take their linear memory from a pool of reused reservations
//! (`vm/src/pool.rs`); every call must still see a fresh instance (DESIGN.md
//! rule 6): zeroed memory with its data segments, its initial size with
//! everything above it out of bounds, and globals at their initial values,
//! whatever the call before it (which likely left the reservation this one
//! gets) wrote, grew or set.

use std::cell::RefCell;

use cairn_vm::{Address, Status, TrapCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::{CONTRACT, Chain, IMPORTS, trap, wat};

const PAGE: u32 = 65_536;
/// Where `scribble` reads its input; writes avoid it so that they cannot
/// change the writes still to come.
const INPUT_AT: u32 = 1024;
const INPUT_SPAN: u32 = 4096;
const SMALL: Address = Address([0x5a; 32]);

/// A contract with `pages` of memory, a data segment, two mutable globals,
/// and entry points to overwrite all of them (`scribble`), report them
/// (`check`) and read one byte anywhere (`peek`).
fn scribbler(pages: u32) -> Vec<u8> {
    wat(&format!(
        r#"(module {IMPORTS}
  (memory (export "memory") {pages})
  (global $g (mut i64) (i64.const 7))
  (global $h (mut i32) (i32.const -3))
  (data (i32.const 100) "cairn")
  ;; input: pages to grow (u8), $g (i64), $h (i32), then (offset u32, byte u8)*
  (func (export "scribble")
    (local $p i32) (local $end i32)
    (call $input_read (i32.const {INPUT_AT}))
    (local.set $end (i32.add (i32.const {INPUT_AT}) (call $input_len)))
    (drop (memory.grow (i32.load8_u (i32.const {INPUT_AT}))))
    (global.set $g (i64.load (i32.const {g_at})))
    (global.set $h (i32.load (i32.const {h_at})))
    (local.set $p (i32.const {writes_at}))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (i32.store8 (i32.load (local.get $p)) (i32.load8_u (i32.add (local.get $p) (i32.const 4))))
        (local.set $p (i32.add (local.get $p) (i32.const 5)))
        (br $next))))
  ;; output: pages (u32), $g (i64), $h (i32), non-zero bytes in the whole
  ;; memory (u32, counted before the output is written), the data segment
  (func (export "check")
    (local $i i32) (local $end i32) (local $nonzero i32)
    (local.set $end (i32.mul (memory.size) (i32.const {PAGE})))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (if (i32.load8_u (local.get $i))
          (then (local.set $nonzero (i32.add (local.get $nonzero) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 0) (memory.size))
    (i64.store (i32.const 4) (global.get $g))
    (i32.store (i32.const 12) (global.get $h))
    (i32.store (i32.const 16) (local.get $nonzero))
    (memory.copy (i32.const 20) (i32.const 100) (i32.const 5))
    (call $output_write (i32.const 0) (i32.const 25)))
  ;; input: an address (u32); output: the byte there
  (func (export "peek")
    (call $input_read (i32.const 0))
    (i32.store8 (i32.const 0) (i32.load8_u (i32.load (i32.const 0))))
    (call $output_write (i32.const 0) (i32.const 1))))"#,
        g_at = INPUT_AT + 1,
        h_at = INPUT_AT + 9,
        writes_at = INPUT_AT + 13,
    ))
}

/// What `check` reports of a fresh instance with `pages` of memory: the
/// declared size, the initial globals, and only the data segment non-zero.
fn fresh(pages: u32) -> Vec<u8> {
    let mut expected = Vec::new();
    expected.extend_from_slice(&pages.to_le_bytes());
    expected.extend_from_slice(&7i64.to_le_bytes());
    expected.extend_from_slice(&(-3i32).to_le_bytes());
    expected.extend_from_slice(&5u32.to_le_bytes());
    expected.extend_from_slice(b"cairn");
    expected
}

fn scribble_input(grow: u8, g: i64, h: i32, writes: &[(u32, u8)]) -> Vec<u8> {
    let mut input = vec![grow];
    input.extend_from_slice(&g.to_le_bytes());
    input.extend_from_slice(&h.to_le_bytes());
    for &(offset, byte) in writes {
        input.extend_from_slice(&offset.to_le_bytes());
        input.push(byte);
    }
    input
}

/// Random writes anywhere in memory grown by `grow` pages, except over the
/// input they come from; half of them at the first or last byte of a 4 KiB
/// page, where a reset that clears pages partly would show.
fn writes(pages: u32, grow: u8) -> impl Strategy<Value = Vec<(u32, u8)>> {
    let end = (pages + u32::from(grow)) * PAGE;
    let anywhere = 0..end - INPUT_SPAN;
    let page_edge = (0..end / 4096, any::<bool>())
        .prop_map(|(page, last)| page * 4096 + if last { 4095 } else { 0 });
    let offset = prop_oneof![anywhere, page_edge].prop_map(|offset| {
        if (INPUT_AT..INPUT_AT + INPUT_SPAN).contains(&offset) {
            offset + INPUT_SPAN
        } else {
            offset
        }
    });
    proptest::collection::vec((offset, 1..=u8::MAX), 0..64)
}

#[test]
fn the_scribbler_reports_a_fresh_instance_and_its_own_writes() {
    let mut chain = Chain::new();
    chain.deploy(CONTRACT, &scribbler(2));
    assert_eq!(chain.call(CONTRACT, "check", &[]).output, fresh(2));
    // Within one call the writes are seen: the test contract works.
    let outcome = chain.call(CONTRACT, "scribble", &scribble_input(1, 1, 2, &[]));
    assert_eq!(outcome.status, Status::Ok);
    let out_of_bounds = chain.call(CONTRACT, "peek", &(2 * PAGE).to_le_bytes());
    assert_eq!(out_of_bounds.status, trap(TrapCode::MemoryOutOfBounds));
    let last_byte = chain.call(CONTRACT, "peek", &(2 * PAGE - 1).to_le_bytes());
    assert_eq!(last_byte.output, [0]);
}

#[test]
fn every_call_sees_fresh_memory_globals_and_size_after_a_scribbling_call() {
    const PAGES: u32 = 2;
    let chain = RefCell::new(Chain::new());
    chain.borrow_mut().deploy(CONTRACT, &scribbler(PAGES));
    // A smaller memory that may get the reservation the bigger one grew.
    chain.borrow_mut().deploy(SMALL, &scribbler(1));

    let case = (0..4u8)
        .prop_flat_map(|grow| (Just(grow), any::<i64>(), any::<i32>(), writes(PAGES, grow)));
    let mut runner = TestRunner::new(Config::with_cases(128));
    runner
        .run(&case, |(grow, g, h, writes)| {
            let mut chain = chain.borrow_mut();
            let scribbled = chain.call(CONTRACT, "scribble", &scribble_input(grow, g, h, &writes));
            prop_assert_eq!(scribbled.status, Status::Ok);

            // The next call: the same contract, then the smaller one.
            prop_assert_eq!(chain.call(CONTRACT, "check", &[]).output, fresh(PAGES));
            let scribbled = chain.call(CONTRACT, "scribble", &scribble_input(grow, g, h, &writes));
            prop_assert_eq!(scribbled.status, Status::Ok);
            prop_assert_eq!(chain.call(SMALL, "check", &[]).output, fresh(1));

            // The pages a call grew into are out of bounds for the next.
            let scribbled = chain.call(CONTRACT, "scribble", &scribble_input(grow, g, h, &writes));
            prop_assert_eq!(scribbled.status, Status::Ok);
            let beyond = chain.call(CONTRACT, "peek", &(PAGES * PAGE).to_le_bytes());
            prop_assert_eq!(beyond.status, trap(TrapCode::MemoryOutOfBounds));
            let scribbled = chain.call(CONTRACT, "scribble", &scribble_input(grow, g, h, &writes));
            prop_assert_eq!(scribbled.status, Status::Ok);
            let beyond = chain.call(SMALL, "peek", &PAGE.to_le_bytes());
            prop_assert_eq!(beyond.status, trap(TrapCode::MemoryOutOfBounds));
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
}

#[test]
fn memories_of_calls_on_many_threads_stay_apart_and_fresh() {
    let wasm = scribbler(1);
    let chain = Chain::new();
    chain.vm.prepare(&wasm).expect("prepares");
    let mut state = chain.state;
    state.deploy(CONTRACT, &wasm);
    let vm = &chain.vm;
    let state = &state;
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            scope.spawn(move || {
                let writes: Vec<_> = (0..50).map(|i| (i * 997 + 5000, thread + 1)).collect();
                let input = scribble_input(thread % 3, i64::from(thread), 0, &writes);
                for _ in 0..50 {
                    let call = |entry, input| cairn_vm::Call {
                        contract: CONTRACT,
                        caller: crate::support::ALICE,
                        entry,
                        input,
                        gas_limit: crate::support::GAS,
                        value: 0,
                        block: cairn_vm::BlockInfo::default(),
                        read_only: true,
                    };
                    let scribbled = vm.execute(&call("scribble", &input), state).unwrap();
                    assert_eq!(scribbled.status, Status::Ok);
                    let checked = vm.execute(&call("check", &[]), state).unwrap();
                    assert_eq!(checked.output, fresh(1));
                }
            });
        }
    });
}
