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
fn out_of_gas_is_exact_and_stops_within_a_stretch() {
    let wasm = metered(COUNT);
    let exact = count_entry() + iteration() * 10 + tail();
    let enough = run(&wasm, "count", &[10], exact);
    assert_eq!(enough.end, End::Returned(vec![10]));
    assert_eq!(enough.gas_used, exact);
    assert_eq!(enough.gas_left, 0);

    // One short: the tail block's charge goes below zero and nothing
    // checks until the export returns, which ends the call out of gas.
    let short = run(&wasm, "count", &[10], exact - 1);
    assert_eq!(short.end, End::OutOfGas);
    assert_eq!(short.flag, cairn_gas_meter::TRAP_OUT_OF_GAS);
    assert_eq!(short.gas_used, exact - 1);
    assert_eq!(short.gas_left, -1);

    // Nothing at all: the entry and the first iteration are charged, and
    // the loop header's check stops it there.
    let none = run(&wasm, "count", &[10], 0);
    assert_eq!(none.end, End::OutOfGas);
    assert_eq!(none.gas_used, 0);
    assert_eq!(none.gas_left, -(count_entry() + iteration()).cast_signed());
}

#[test]
fn the_most_gas_the_counter_holds_works() {
    let wasm = metered(COUNT);
    let run = run(&wasm, "count", &[3], cairn_gas_meter::MAX_GAS_LEFT);
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
fn a_callee_charged_at_its_call_sites_costs_what_it_did_when_it_traps() {
    // `$leaf` and `$divide` are entered only by direct calls that nothing
    // can trap before, so their first blocks are charged with their
    // callers' blocks (instrumentation version 4); `$after_load` is called
    // after a load that can trap, so it charges itself. Whatever happens, a
    // run pays what charging every block where it starts made it pay: a trap
    // in a callee leaves it charged for the callee's first block, and a
    // trap in the caller's block before the call leaves the callee
    // uncharged.
    let wat = r#"(module
      (memory 1)
      (func $leaf (param i32) (result i32) local.get 0 i32.const 1 i32.add)
      (func $divide (param i32) (result i32) local.get 0 i32.const 0 i32.div_u)
      (func $after_load (param i32) (result i32) local.get 0 i32.const 1 i32.add)
      (func (export "returns") (result i32) i32.const 5 call $leaf)
      (func (export "callee_traps") (result i32) i32.const 5 call $divide)
      (func (export "caller_traps") (result i32) i32.const 70000 i32.load call $after_load))"#;
    let wasm = metered(wat);
    let c = c();
    let leaf = entry(1, 0) + c.block + c.local + c.constant + c.simple;
    let divide = entry(1, 0) + c.block + c.local + c.constant + c.div;

    let returns = run(&wasm, "returns", &[], u64::MAX);
    assert_eq!(returns.end, End::Returned(vec![6]));
    assert_eq!(returns.gas_used, c.block + c.constant + c.call + leaf);

    let callee_traps = run(&wasm, "callee_traps", &[], u64::MAX);
    assert_eq!(
        callee_traps.end,
        End::Trapped(Some(TrapCode::IntegerDivisionByZero))
    );
    assert_eq!(
        callee_traps.gas_used,
        c.block + c.constant + c.call + divide
    );

    let caller_traps = run(&wasm, "caller_traps", &[], u64::MAX);
    assert_eq!(
        caller_traps.end,
        End::Trapped(Some(TrapCode::MemoryOutOfBounds))
    );
    assert_eq!(
        caller_traps.gas_used,
        c.block + c.constant + c.load + c.call
    );

    // Exactly enough for `returns`, and one short.
    let exact = c.block + c.constant + c.call + leaf;
    assert_eq!(
        run(&wasm, "returns", &[], exact).end,
        End::Returned(vec![6])
    );
    assert_eq!(run(&wasm, "returns", &[], exact - 1).end, End::OutOfGas);

    // Where the charges are: none in `$leaf` and `$divide`, one in
    // `$after_load`, and one in `$leaf` again once the table holds it.
    assert_eq!(charges_per_body(&wasm)[..3], [0, 0, 1]);
    let in_table = metered(&wat.replace(
        "(memory 1)",
        "(memory 1) (table 1 funcref) (elem (i32.const 0) $leaf)",
    ));
    assert_eq!(charges_per_body(&in_table)[..3], [1, 0, 1]);
}

/// How many charges (`global.set` of the gas counter, global 0 in these
/// modules) each function body of a metered module holds, in order.
fn charges_per_body(metered: &[u8]) -> Vec<usize> {
    let mut bodies = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(metered) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.expect("metered module parses")
        {
            let mut reader = body.get_operators_reader().expect("operators");
            let mut count = 0;
            while !reader.eof() {
                let op = reader.read().expect("operator");
                if matches!(op, wasmparser::Operator::GlobalSet { global_index: 0 }) {
                    count += 1;
                }
            }
            bodies.push(count);
        }
    }
    bodies
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

/// `metered`'s export `export` run with an import `env.host` that records
/// the gas left it sees each time it is called.
fn run_with_host(metered: &[u8], export: &str, gas_limit: u64) -> (common::Run, Vec<i64>) {
    use wasmi::{Caller, Engine, Linker, Module, Store, Val};
    let engine = Engine::default();
    let module = Module::new(&engine, metered).unwrap();
    let mut store = Store::new(&engine, Vec::new());
    let mut linker = Linker::<Vec<i64>>::new(&engine);
    linker
        .func_wrap("env", "host", |mut caller: Caller<'_, Vec<i64>>| {
            let gas = caller
                .get_export(cairn_gas_meter::GAS_LEFT_EXPORT)
                .and_then(wasmi::Extern::into_global)
                .unwrap();
            let Val::I64(left) = gas.get(&caller) else {
                panic!("gas is an i64")
            };
            caller.data_mut().push(left);
        })
        .unwrap();
    let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
    let global = |store: &Store<Vec<i64>>, name| instance.get_global(store, name).unwrap();
    global(&store, cairn_gas_meter::GAS_LEFT_EXPORT)
        .set(&mut store, Val::I64(gas_limit.cast_signed()))
        .unwrap();
    let outcome = instance
        .get_typed_func::<(), ()>(&store, export)
        .unwrap()
        .call(&mut store, ());
    let Val::I64(gas_left) = global(&store, cairn_gas_meter::GAS_LEFT_EXPORT).get(&store) else {
        panic!("gas is an i64")
    };
    let Val::I32(flag) = global(&store, cairn_gas_meter::TRAP_EXPORT).get(&store) else {
        panic!("the flag is an i32")
    };
    let end = match outcome {
        Ok(()) => End::Returned(vec![]),
        Err(_) if flag == cairn_gas_meter::TRAP_OUT_OF_GAS => End::OutOfGas,
        Err(error) => End::Trapped(error.as_trap_code()),
    };
    let run = common::Run {
        end,
        gas_used: gas_limit - gas_left.max(0).cast_unsigned(),
        gas_left,
        flag,
        stack_height: 0,
    };
    (run, store.into_data())
}

#[test]
fn host_functions_never_run_on_gas_below_zero() {
    // A loop-free stretch, then the host: directly and through the table.
    let stretch = "(drop (i32.const 1)) ".repeat(20);
    let wasm = metered(&format!(
        r#"(module
          (type $void (func))
          (import "env" "host" (func $host))
          (table 1 funcref) (elem (i32.const 0) $host)
          (func (export "direct") {stretch} (call $host))
          (func (export "indirect") {stretch} (call_indirect (type $void) (i32.const 0))))"#
    ));
    let c = c();
    let body = c.block + 20 * (c.constant + c.parametric);
    for (export, cost) in [
        ("direct", body + c.call),
        ("indirect", body + c.constant + c.call_indirect),
    ] {
        let (paid, seen) = run_with_host(&wasm, export, cost);
        assert_eq!(paid.end, End::Returned(vec![]), "{export}");
        assert_eq!(seen, [0], "{export}: the host ran on exactly what was left");
        let (short, seen) = run_with_host(&wasm, export, cost - 1);
        assert_eq!(short.end, End::OutOfGas, "{export}");
        assert_eq!(short.gas_left, -1, "{export}");
        assert!(seen.is_empty(), "{export}: the host ran on {seen:?}");
    }
}

#[test]
fn a_call_that_ends_below_zero_ends_out_of_gas() {
    // No loop, no recursion, no host: only the export's return checks.
    let wasm = metered(
        r#"(module
          (func $add (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
          (func (export "f") (result i32) i32.const 1 i32.const 2 call $add))"#,
    );
    let c = c();
    let cost =
        (c.block + 2 * c.constant + c.call) + (entry(2, 0) + c.block + 2 * c.local + c.simple);
    let paid = run(&wasm, "f", &[], cost);
    assert_eq!(paid.end, End::Returned(vec![3]));
    assert_eq!(paid.gas_used, cost);
    let short = run(&wasm, "f", &[], cost - 1);
    assert_eq!(short.end, End::OutOfGas);
    assert_eq!(
        short.flag,
        cairn_gas_meter::TRAP_OUT_OF_GAS,
        "the meter trapped"
    );
    assert_eq!(short.gas_left, -1);
}

#[test]
fn call_trees_without_loops_or_recursion_stop_soon_after_running_out() {
    // 2^30 leaf calls and not a loop or a recursive call among them: the
    // functions high in the tree check on entry, so the run stops within
    // a bounded stretch of running out instead of finishing the tree.
    let mut wat = String::from("(module (func $f30 (drop (i32.const 0)))");
    for level in (0..30).rev() {
        let next = level + 1;
        wat.push_str(&format!("(func $f{level} (call $f{next}) (call $f{next}))"));
    }
    wat.push_str(r#"(func (export "go") (call $f0)))"#);
    let wasm = metered(&wat);
    let run = run(&wasm, "go", &[], 1_000_000);
    assert_eq!(run.end, End::OutOfGas);
    // At most 32 frames, each at most the meter's unchecked budget (100,000
    // gas) past zero.
    assert!(run.gas_left > -3_200_000, "ran {} past zero", -run.gas_left);
}

/// `$c0` calls `$c1` calls ... `$c9`; `go` calls `$c0` only if its argument
/// is not zero. Each `$c` frame: no locals, no operands, 2 meter slots and
/// the overhead of 8; `go`'s: 1 parameter, 1 operand, 2 + 8.
fn chain() -> String {
    let mut wat = String::from("(module (func $c9)");
    for link in (0..9).rev() {
        let next = link + 1;
        wat.push_str(&format!("(func $c{link} (call $c{next}))"));
    }
    wat.push_str(r#"(func (export "go") (param i32) (if (local.get 0) (then (call $c0)))))"#);
    wat
}

#[test]
fn call_chains_outside_recursion_are_charged_their_static_height_on_entry() {
    let height = 12 + 10 * 10;
    let mut schedule = Schedule::default();
    schedule.stack.max_height = height;
    let wasm = metered_with(&chain(), &schedule);
    for taken in [0, 1] {
        let run = run(&wasm, "go", &[taken], u64::MAX);
        assert_eq!(run.end, End::Returned(vec![]), "taken {taken}");
        assert_eq!(run.stack_height, 0);
    }
    // One slot short: the chain overflows on entry, whether or not the
    // call runs down it, the same way every time.
    schedule.stack.max_height = height - 1;
    let wasm = metered_with(&chain(), &schedule);
    for taken in [0, 1, 0] {
        assert_eq!(
            run(&wasm, "go", &[taken], u64::MAX).end,
            End::StackOverflow,
            "taken {taken}"
        );
    }
}

#[test]
fn recursive_functions_pay_for_every_call_they_make() {
    // `$rec` calls `$h` (4 locals: a frame of 4 + 2 + 8) outside its cycle:
    // each round of recursion is charged its own frame, and the call to
    // `$h` its frame while it runs, on top of all the rounds.
    let wat = r#"(module
      (func $h (local i64 i64 i64 i64))
      (func $rec (export "rec") (param i32) (result i32)
        call $h
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
    let mut schedule = Schedule::default();
    schedule.stack.max_height = REC_FRAME * 10 + 14;
    let wasm = metered_with(wat, &schedule);
    let deepest = run(&wasm, "rec", &[9], u64::MAX);
    assert_eq!(deepest.end, End::Returned(vec![9]));
    assert_eq!(deepest.stack_height, 0);
    // The eleventh round fits; its call to `$h` does not.
    assert_eq!(run(&wasm, "rec", &[10], u64::MAX).end, End::StackOverflow);
}

#[test]
fn recursive_call_indirect_pays_the_largest_height_in_the_table_per_call() {
    // `$down` reaches itself through the table: each indirect call is
    // charged the most any entry of the signature needs, `$wide`'s.
    let wat = r#"(module
      (type $t (func (param i32) (result i32)))
      (table 2 funcref) (elem (i32.const 0) $down $wide)
      (func $wide (type $t) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                                   i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) local.get 0)
      (func $down (export "down") (type $t)
        local.get 0
        i32.eqz
        if (result i32)
          i32.const 0
        else
          local.get 0
          i32.const 1
          i32.sub
          i32.const 0
          call_indirect (type $t)
        end))"#;
    // $down: 1 parameter, 2 operands, 2 + 8; $wide: 1 + 20 locals, 1
    // operand, 2 + 8.
    let (down, wide) = (13, 32);
    let mut schedule = Schedule::default();
    schedule.stack.max_height = down + 5 * wide;
    let wasm = metered_with(wat, &schedule);
    let deepest = run(&wasm, "down", &[5], u64::MAX);
    assert_eq!(deepest.end, End::Returned(vec![0]));
    assert_eq!(deepest.stack_height, 0);
    assert_eq!(run(&wasm, "down", &[6], u64::MAX).end, End::StackOverflow);
}

#[test]
fn the_start_function_is_entered_through_a_thunk_too() {
    let instantiate = |wat: &str| {
        let wasm = metered(wat);
        wasmparser::Validator::new_with_features(cairn_gas_meter::supported_features())
            .validate_all(&wasm)
            .unwrap();
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, &wasm).unwrap();
        let mut store = wasmi::Store::new(&engine, ());
        wasmi::Linker::<()>::new(&engine)
            .instantiate_and_start(&mut store, &module)
            .map(|_| ())
    };
    // Exported and the start function at once: one thunk serves both. It
    // runs at instantiation, before any gas is set, so only a free one
    // gets through.
    assert!(instantiate(r#"(module (func $free (export "free")) (start $free))"#).is_ok());
    let paying = r#"(module
      (global $g (mut i32) (i32.const 0))
      (func $pays (export "pays") (global.set $g (i32.const 1)))
      (start $pays))"#;
    assert!(instantiate(paying).is_err(), "ran on no gas");
}
