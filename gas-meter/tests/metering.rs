//! Exact gas and stack-height values for small programs, run in wasmi.
//!
//! Expected values are written out from the default schedule's named costs
//! (`c.local`, `c.branch`, ...), instruction by instruction, so each test
//! states exactly which instructions a run pays for; the values of the costs
//! themselves are pinned in the schedule's own tests.

// Test inputs are small integers; casts between them cannot lose anything.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

use cairn_gas_meter::{Error, InstructionCosts, Schedule, instrument};
use common::{End, run};
use wasmi::TrapCode;

fn c() -> InstructionCosts {
    Schedule::default().instructions
}

/// Entering a function of `params` parameters and `locals` declared locals.
fn entry(params: u64, locals: u64) -> u64 {
    c().frame_param * params + c().frame_local * locals
}

fn metered(wat: &str) -> Vec<u8> {
    metered_with(wat, &Schedule::default())
}

fn metered_with(wat: &str, schedule: &Schedule) -> Vec<u8> {
    let wasm = wat::parse_str(wat).expect("test wat parses");
    instrument(&wasm, schedule).expect("test module instruments")
}

#[test]
fn straight_line_code_pays_the_sum_of_its_instructions() {
    let wasm =
        metered(r#"(module (func (export "f") (result i32) i32.const 1 i32.const 2 i32.add))"#);
    let run = run(&wasm, "f", &[], 1_000);
    assert_eq!(run.end, End::Returned(vec![3]));
    assert_eq!(run.gas_used, c().block + c().constant * 2 + c().simple);
}

const COUNT: &str = r#"(module
  (func (export "count") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l)
    local.get $i))"#;

/// One loop iteration, one block: local.get, const, add, tee, local.get,
/// lt_u, br_if.
fn iteration() -> u64 {
    let c = c();
    c.block + c.local + c.constant + c.simple + c.local + c.local + c.simple + c.branch
}

/// After the loop, one block: the final local.get.
fn tail() -> u64 {
    c().block + c().local
}

/// Entering `count`: one parameter, one local.
fn count_entry() -> u64 {
    entry(1, 1)
}

#[test]
fn every_loop_iteration_pays() {
    let wasm = metered(COUNT);
    for n in [1u64, 2, 10, 1_000] {
        let run = run(&wasm, "count", &[n as i64], u64::MAX);
        assert_eq!(run.end, End::Returned(vec![n as i64]));
        assert_eq!(
            run.gas_used,
            count_entry() + iteration() * n + tail(),
            "n = {n}"
        );
    }
}

#[test]
fn out_of_gas_is_exact_and_never_wraps() {
    let wasm = metered(COUNT);
    let exact = count_entry() + iteration() * 10 + tail();
    let enough = run(&wasm, "count", &[10], exact);
    assert_eq!(enough.end, End::Returned(vec![10]));
    assert_eq!(enough.gas_used, exact);

    let short = run(&wasm, "count", &[10], exact - 1);
    assert_eq!(short.end, End::OutOfGas);
    // The failing charge took nothing: what is left is below the block cost,
    // and the counter did not wrap around to a huge value.
    let left = exact - 1 - short.gas_used;
    assert!(
        left < tail(),
        "left {left} after running out on the final block of {}",
        tail()
    );

    let none = run(&wasm, "count", &[10], 0);
    assert_eq!(none.end, End::OutOfGas);
    assert_eq!(none.gas_used, 0);
}

#[test]
fn the_full_u64_range_of_gas_works() {
    let wasm = metered(COUNT);
    let run = run(&wasm, "count", &[3], u64::MAX);
    assert_eq!(run.end, End::Returned(vec![3]));
    assert_eq!(run.gas_used, count_entry() + iteration() * 3 + tail());
}

#[test]
fn only_the_branch_taken_is_charged() {
    let wasm = metered(
        r#"(module (func (export "pick") (param i32) (result i32)
          local.get 0
          if (result i32)
            i32.const 1
            i32.const 2
            i32.mul
          else
            i32.const 7
          end))"#,
    );
    let then = run(&wasm, "pick", &[1], 1_000);
    assert_eq!(then.end, End::Returned(vec![2]));
    let c = c();
    // The block ending in `if`, then the block of the branch taken.
    let head = entry(1, 0) + c.block + c.local + c.branch;
    assert_eq!(then.gas_used, head + c.block + c.constant * 2 + c.mul);
    let otherwise = run(&wasm, "pick", &[0], 1_000);
    assert_eq!(otherwise.end, End::Returned(vec![7]));
    assert_eq!(otherwise.gas_used, head + c.block + c.constant);
}

#[test]
fn br_table_charges_the_target_reached() {
    let wasm = metered(
        r#"(module (func (export "switch") (param i32) (result i32)
          (block $c (block $b (block $a
            local.get 0
            br_table $a $b $c)
            i32.const 10
            return)
            i32.const 20
            i32.const 1
            i32.add
            return)
          i32.const 30))"#,
    );
    let c = c();
    // The dispatching block, and the block at the target reached.
    let head = entry(1, 0) + c.block + c.local + c.br_table + c.block;
    assert_eq!(
        run(&wasm, "switch", &[0], 1_000).gas_used,
        head + c.constant + c.branch
    );
    assert_eq!(
        run(&wasm, "switch", &[1], 1_000).gas_used,
        head + c.constant * 2 + c.simple + c.branch
    );
    assert_eq!(
        run(&wasm, "switch", &[2], 1_000).gas_used,
        head + c.constant
    );
    assert_eq!(
        run(&wasm, "switch", &[9], 1_000).end,
        End::Returned(vec![30])
    );
}

const FILL: &str = r#"(module (memory 1)
  (func (export "fill") (param i32)
    i32.const 0
    i32.const 0
    local.get 0
    memory.fill))"#;

#[test]
fn bulk_memory_pays_per_byte_before_it_runs() {
    let wasm = metered(FILL);
    let base = entry(1, 0) + c().block + c().constant * 2 + c().local + c().bulk_memory;
    for n in [0u64, 1, 1_000, 65_536] {
        let run = run(&wasm, "fill", &[n as i64], u64::MAX);
        assert_eq!(run.end, End::Returned(vec![]));
        assert_eq!(run.gas_used, base + n, "n = {n}");
    }
    // Out of bounds: charged in full, then the fill traps.
    let trapped = run(&wasm, "fill", &[70_000], u64::MAX);
    assert_eq!(trapped.end, End::Trapped(Some(TrapCode::MemoryOutOfBounds)));
    assert_eq!(trapped.gas_used, base + 70_000);
    // Not enough for the bytes: out of gas before any byte is written.
    let short = run(&wasm, "fill", &[1_000], base + 999);
    assert_eq!(short.end, End::OutOfGas);
}

#[test]
fn memory_copy_and_init_pay_per_byte() {
    let wasm = metered(
        r#"(module (memory 1)
          (data $d "0123456789")
          (func (export "copy") (param i32)
            i32.const 100 i32.const 0 local.get 0 memory.copy)
          (func (export "init") (param i32)
            i32.const 0 i32.const 0 local.get 0 memory.init $d))"#,
    );
    let base = entry(1, 0) + c().block + c().constant * 2 + c().local + c().bulk_memory;
    assert_eq!(
        run(&wasm, "copy", &[4_096], u64::MAX).gas_used,
        base + 4_096
    );
    assert_eq!(run(&wasm, "init", &[10], u64::MAX).gas_used, base + 10);
    let past_the_data = run(&wasm, "init", &[11], u64::MAX);
    assert_eq!(
        past_the_data.end,
        End::Trapped(Some(TrapCode::MemoryOutOfBounds))
    );
    assert_eq!(past_the_data.gas_used, base + 11);
}

#[test]
fn memory_grow_pays_per_page_granted_and_nothing_past_the_cap() {
    let wasm = metered(
        r#"(module (memory 1)
          (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#,
    );
    let grown = run(&wasm, "grow", &[3], u64::MAX);
    assert_eq!(grown.end, End::Returned(vec![1]));
    let per_page = Schedule::default().dynamic.memory_grow_per_page;
    let head = entry(1, 0) + c().block + c().local + c().memory_grow;
    assert_eq!(grown.gas_used, head + 3 * per_page);
    let to_the_cap = run(&wasm, "grow", &[511], u64::MAX);
    assert_eq!(to_the_cap.end, End::Returned(vec![1]));
    assert_eq!(to_the_cap.gas_used, head + 511 * per_page);
    // 1 + 512 pages is over the default cap of 512: the grow fails and
    // pays for no page. With only the head's gas, it still returns -1.
    for delta in [512, 0x7fff_ffff, -1] {
        let refused = run(&wasm, "grow", &[delta], u64::MAX);
        assert_eq!(refused.end, End::Returned(vec![-1]), "delta {delta}");
        assert_eq!(refused.gas_used, head, "delta {delta}");
        let just_enough = run(&wasm, "grow", &[delta], head);
        assert_eq!(just_enough.end, End::Returned(vec![-1]), "delta {delta}");
    }
    // Short of the pages' gas: out of gas, before the memory grows.
    let short = run(&wasm, "grow", &[3], head + 3 * per_page - 1);
    assert_eq!(short.end, End::OutOfGas);
}

#[test]
fn memory_grow_past_a_declared_maximum_is_not_charged() {
    let wasm = metered(
        r#"(module (memory 2 4)
          (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#,
    );
    let per_page = Schedule::default().dynamic.memory_grow_per_page;
    let head = entry(1, 0) + c().block + c().local + c().memory_grow;
    let to_the_maximum = run(&wasm, "grow", &[2], u64::MAX);
    assert_eq!(to_the_maximum.end, End::Returned(vec![2]));
    assert_eq!(to_the_maximum.gas_used, head + 2 * per_page);
    let past_it = run(&wasm, "grow", &[3], u64::MAX);
    assert_eq!(past_it.end, End::Returned(vec![-1]));
    assert_eq!(past_it.gas_used, head);
}

#[test]
fn memories_get_the_cap_as_their_maximum() {
    let schedule = Schedule {
        max_memory_pages: 20,
        ..Schedule::default()
    };
    for (declared, expected) in [
        ("(memory 1)", 20),
        ("(memory 1 10)", 10),
        ("(memory 1 30)", 20),
    ] {
        let wasm = metered_with(&format!("(module {declared})"), &schedule);
        let memory = wasmparser::Parser::new(0)
            .parse_all(&wasm)
            .find_map(|payload| match payload.unwrap() {
                wasmparser::Payload::MemorySection(reader) => reader.into_iter().next(),
                _ => None,
            })
            .unwrap()
            .unwrap();
        assert_eq!(memory.maximum, Some(expected), "{declared}");
    }
    let too_big = wat::parse_str("(module (memory 21))").unwrap();
    assert_eq!(
        instrument(&too_big, &schedule),
        Err(Error::MemoryTooLarge {
            initial: 21,
            limit: 20
        })
    );
}

const RECURSE: &str = r#"(module
  (func $rec (export "rec") (param i32) (result i32)
    local.get 0
    i32.eqz
    if (result i32)
      i32.const 0
    else
      local.get 0
      i32.const 1
      i32.sub
      call $rec
      i32.const 1
      i32.add
    end))"#;

/// `$rec`'s frame: 1 parameter, no locals, an operand stack of at most 2,
/// 2 slots for the meter's own code and the schedule's overhead of 8.
const REC_FRAME: u32 = 1 + 2 + 2 + 8;

#[test]
fn recursion_stops_at_the_same_depth_every_time() {
    let mut schedule = Schedule::default();
    schedule.stack.max_height = REC_FRAME * 10;
    let wasm = metered_with(RECURSE, &schedule);
    // The exported entry's frame counts too: rec(9) has ten frames.
    let deepest = run(&wasm, "rec", &[9], u64::MAX);
    assert_eq!(deepest.end, End::Returned(vec![9]));
    assert_eq!(deepest.stack_height, 0, "every frame's cost is given back");
    for _ in 0..2 {
        let over = run(&wasm, "rec", &[10], u64::MAX);
        assert_eq!(over.end, End::StackOverflow);
    }
}

#[test]
fn call_indirect_pays_for_the_largest_frame_of_its_signature() {
    // $big has 20 more locals than $small; both are (i32) -> i32.
    let wat = r#"(module
      (type $t (func (param i32) (result i32)))
      (table 2 funcref)
      (elem (i32.const 0) $small $big)
      (func $small (type $t) local.get 0)
      (func $big (type $t) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                                   i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) local.get 0)
      (func (export "dispatch") (param i32) (result i32)
        i32.const 5
        local.get 0
        call_indirect (type $t)))"#;
    // dispatch: 1 param + stack 2 + 2 + 8 = 13; $big: 1 + 20 + 1 + 2 + 8 = 32.
    let mut schedule = Schedule::default();
    schedule.stack.max_height = 13 + 32;
    let wasm = metered_with(wat, &schedule);
    assert_eq!(
        run(&wasm, "dispatch", &[0], u64::MAX).end,
        End::Returned(vec![5])
    );
    assert_eq!(
        run(&wasm, "dispatch", &[1], u64::MAX).end,
        End::Returned(vec![5])
    );
    schedule.stack.max_height = 13 + 31;
    let wasm = metered_with(wat, &schedule);
    // Even the small callee is charged the signature's largest frame.
    assert_eq!(
        run(&wasm, "dispatch", &[0], u64::MAX).end,
        End::StackOverflow
    );
}

#[test]
fn instrumenting_is_deterministic() {
    let wasm = wat::parse_str(COUNT).unwrap();
    let first = instrument(&wasm, &Schedule::default()).unwrap();
    for _ in 0..3 {
        assert_eq!(instrument(&wasm, &Schedule::default()).unwrap(), first);
    }
    let mut other = Schedule::default();
    other.instructions.simple += 1;
    assert_ne!(instrument(&wasm, &other).unwrap(), first);
}

#[test]
fn modules_without_code_or_exports_get_the_meter_sections() {
    for wat in [
        "(module)",
        "(module (memory 1))",
        "(module (global i32 (i32.const 1)))",
    ] {
        let wasm = metered(wat);
        wasmparser::Validator::new_with_features(cairn_gas_meter::supported_features())
            .validate_all(&wasm)
            .unwrap_or_else(|error| panic!("{wat}: {error}"));
        let exports: Vec<String> = wasmparser::Parser::new(0)
            .parse_all(&wasm)
            .filter_map(|payload| match payload.unwrap() {
                wasmparser::Payload::ExportSection(reader) => Some(
                    reader
                        .into_iter()
                        .map(|export| export.unwrap().name.to_owned())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            exports,
            [
                cairn_gas_meter::GAS_LEFT_EXPORT,
                cairn_gas_meter::STACK_HEIGHT_EXPORT,
                cairn_gas_meter::TRAP_EXPORT
            ]
        );
    }
}

#[test]
fn refuses_what_it_cannot_price() {
    let float = wat::parse_str("(module (func (result f32) f32.const 1))").unwrap();
    assert!(matches!(
        instrument(&float, &Schedule::default()),
        Err(Error::Invalid { .. })
    ));
    let reserved = wat::parse_str(r#"(module (func (export "__cairn_gas_left")))"#).unwrap();
    assert!(matches!(
        instrument(&reserved, &Schedule::default()),
        Err(Error::ReservedExport { .. })
    ));
    let garbage = b"\0asm\x01\0\0\0\x01\xff";
    assert!(matches!(
        instrument(garbage, &Schedule::default()),
        Err(Error::Invalid { .. })
    ));
    let mut huge = Schedule::default();
    huge.stack.max_height = 1 << 30;
    assert!(matches!(
        instrument(&wat::parse_str("(module)").unwrap(), &huge),
        Err(Error::Schedule(_))
    ));
}

#[test]
fn entering_a_function_pays_for_its_parameters_and_locals() {
    // A callee of 3 parameters and 5 locals, called twice from a function
    // of none: each entry pays 3 parameters and 5 locals, the caller none.
    let wasm = metered(
        r#"(module
          (func $callee (param i32 i32 i32) (local i64 i64 i64 i64 i64))
          (func (export "twice")
            i32.const 1 i32.const 2 i32.const 3 call $callee
            i32.const 1 i32.const 2 i32.const 3 call $callee))"#,
    );
    let c = c();
    let call = c.block + c.constant * 3 + c.call;
    // The callee's body is only `end`: its entry is its one charge.
    let callee = entry(3, 5);
    assert_eq!(
        run(&wasm, "twice", &[], u64::MAX).gas_used,
        2 * (call + callee)
    );
    assert_eq!(callee, 3 * c.frame_param + 5 * c.frame_local);
    // Not enough for the second entry: out of gas, nothing refunded.
    let short = run(&wasm, "twice", &[], 2 * call + callee + callee - 1);
    assert_eq!(short.end, End::OutOfGas);
}

#[test]
fn each_block_that_runs_pays_the_overhead_once() {
    // Same program, schedules differing only in the block overhead: the
    // difference is the number of blocks run times the change.
    let mut more = Schedule::default();
    more.instructions.block += 1_000;
    let wasm = wat::parse_str(COUNT).unwrap();
    let base = instrument(&wasm, &Schedule::default()).unwrap();
    let heavier = instrument(&wasm, &more).unwrap();
    for n in [1u64, 7, 100] {
        let cheap = run(&base, "count", &[n as i64], u64::MAX).gas_used;
        let dear = run(&heavier, "count", &[n as i64], u64::MAX).gas_used;
        // n iterations and the block after the loop; the function's first
        // block holds only `loop` and its entry cost, so it has no overhead.
        assert_eq!(dear - cheap, 1_000 * (n + 1), "n = {n}");
    }
}
