//! Contracts that make a call cost the node the most for the least gas
//! outside the code itself: instantiation at the limits (table entries,
//! element and data segments, imports, globals, exports, functions, initial
//! memory) and the first touch of memory pages. The `pricing` benchmark
//! measures their gas per nanosecond against the calibration's workloads;
//! the `instantiation` tests check each is accepted and charged. Shared by
//! both with `#[path]`.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Write;

use cairn_vm::host::abi::{HOST_FUNCTIONS, HOST_MODULE};
use cairn_vm::limits::{
    MAX_DATA_SEGMENTS, MAX_ELEMENT_ENTRIES, MAX_ELEMENT_SEGMENTS, MAX_EXPORTS, MAX_FUNCTIONS,
    MAX_GLOBALS, MAX_MEMORY_PAGES, MAX_TABLE_ELEMENTS,
};

/// Bytes of a wasm page.
pub const PAGE: u32 = 64 * 1024;

/// Bytes of the host's pages, the unit the kernel maps on first touch.
pub const OS_PAGE: u32 = 4 * 1024;

/// One priced shape: a contract and the entry point to call.
#[derive(Debug, Clone)]
pub struct PricedShape {
    pub name: &'static str,
    /// What it does, for tables.
    pub what: &'static str,
    pub wasm: Vec<u8>,
    /// Every shape's entry point is `run`.
    pub entry: &'static str,
}

fn shape(name: &'static str, what: &'static str, wat: &str) -> PricedShape {
    PricedShape {
        name,
        what,
        wasm: wat::parse_str(wat).unwrap_or_else(|error| panic!("{name} does not parse: {error}")),
        entry: "run",
    }
}

/// A contract of `pages` initial pages whose `run` is `body`, with
/// `items` (imports first, then functions, tables, data, globals) before
/// it.
fn contract(pages: u32, items: &str, body: &str) -> String {
    format!(r#"(module {items} (memory (export "memory") {pages}) (func (export "run") {body}))"#)
}

/// The cheapest call there is: one page, an empty entry point. The
/// benchmark subtracts its time and gas from every other shape's, so what
/// remains is what the shape adds to a call (the base of a call is paid by
/// the transaction's base gas or by `call_contract`).
pub fn baseline() -> PricedShape {
    shape(
        "baseline",
        "one page, an empty entry point",
        &contract(1, "", ""),
    )
}

/// Every shape, at the limits validation allows.
pub fn all() -> Vec<PricedShape> {
    vec![
        table_entries(),
        element_segments(),
        data_segments(),
        data_bytes(),
        host_imports(),
        globals(),
        exports(),
        functions(),
        max_memory(),
        fill_untouched(),
        stride_untouched(),
        grow_and_touch(),
        worst_instance(),
    ]
}

/// `count` `$f`s, for element segments.
fn refs(count: u32) -> String {
    "$f ".repeat(count as usize)
}

/// The table at its limit, filled by one segment.
pub fn table_entries() -> PricedShape {
    let items = format!(
        "(table {MAX_TABLE_ELEMENTS} funcref) (func $f) (elem (i32.const 0) {})",
        refs(MAX_ELEMENT_ENTRIES)
    );
    shape(
        "table_entries",
        "a 10,000-entry table filled by one element segment",
        &contract(1, &items, ""),
    )
}

/// The table filled by as many segments as allowed: the entries split as
/// evenly as `MAX_ELEMENT_ENTRIES` allows.
pub fn element_segments() -> PricedShape {
    let mut items = format!("(table {MAX_TABLE_ELEMENTS} funcref) (func $f)");
    items.push_str(&segments_filling_the_table());
    shape(
        "element_segments",
        "a 10,000-entry table filled by 1,024 element segments",
        &contract(1, &items, ""),
    )
}

fn segments_filling_the_table() -> String {
    let mut items = String::new();
    let mut offset = 0;
    for segment in 0..MAX_ELEMENT_SEGMENTS {
        let end = (segment + 1) * MAX_ELEMENT_ENTRIES / MAX_ELEMENT_SEGMENTS;
        let _ = write!(items, "(elem (i32.const {offset}) {})", refs(end - offset));
        offset = end;
    }
    items
}

/// As many data segments as allowed, each on a page of its own half of the
/// initial memory: every one touches a page the instance has not touched.
pub fn data_segments() -> PricedShape {
    shape(
        "data_segments",
        "1,024 data segments of 16 bytes spread over 512 pages",
        &contract(MAX_MEMORY_PAGES, &spread_data_segments(), ""),
    )
}

fn spread_data_segments() -> String {
    let stride = MAX_MEMORY_PAGES * PAGE / MAX_DATA_SEGMENTS;
    let mut items = String::new();
    for segment in 0..MAX_DATA_SEGMENTS {
        let _ = write!(
            items,
            r#"(data (i32.const {}) "0123456789abcdef")"#,
            segment * stride
        );
    }
    items
}

/// One data segment of 1 MiB: a sixteenth of the code-size limit's worth
/// of bytes copied into sixteen fresh pages at every instantiation.
pub fn data_bytes() -> PricedShape {
    let bytes = 16 * PAGE;
    let data = "\\a5".repeat(bytes as usize);
    shape(
        "data_bytes",
        "one data segment of 1 MiB",
        &contract(16, &format!(r#"(data (i32.const 0) "{data}")"#), ""),
    )
}

/// Every host function imported once (importing one twice is rejected).
pub fn host_imports() -> PricedShape {
    shape(
        "host_imports",
        "every host function imported",
        &contract(1, &all_imports(), ""),
    )
}

fn all_imports() -> String {
    let mut items = String::new();
    for function in HOST_FUNCTIONS {
        let params: String = function.params.iter().map(|ty| format!(" {ty}")).collect();
        let results: String = function.results.iter().map(|ty| format!(" {ty}")).collect();
        let _ = write!(
            items,
            r#"(import "{HOST_MODULE}" "{}" (func (param{params}) (result{results})))"#,
            function.name
        );
    }
    items
}

/// As many mutable `i64` globals as allowed.
pub fn globals() -> PricedShape {
    let items = "(global (mut i64) (i64.const 7))".repeat(MAX_GLOBALS as usize);
    shape("globals", "256 mutable globals", &contract(1, &items, ""))
}

/// As many exports as allowed, each of a function of its own (every
/// exported function gets a thunk).
pub fn exports() -> PricedShape {
    // `memory` and `run` are exports too.
    let mut items = String::new();
    for export in 0..MAX_EXPORTS - 2 {
        let _ = write!(items, r#"(func (export "e{export}"))"#);
    }
    shape(
        "exports",
        "256 exports, each of its own function",
        &contract(1, &items, ""),
    )
}

/// As many functions as allowed, all empty.
pub fn functions() -> PricedShape {
    let items = "(func)".repeat(MAX_FUNCTIONS as usize - 1);
    shape(
        "functions",
        "10,000 empty functions",
        &contract(1, &items, ""),
    )
}

/// The largest initial memory, untouched by the call.
pub fn max_memory() -> PricedShape {
    shape(
        "max_memory",
        "512 initial pages, none touched",
        &contract(MAX_MEMORY_PAGES, "", ""),
    )
}

/// `memory.fill` over the whole of the largest initial memory: every page
/// touched for the first time.
pub fn fill_untouched() -> PricedShape {
    let bytes = MAX_MEMORY_PAGES * PAGE;
    shape(
        "fill_untouched",
        "memory.fill over 512 untouched initial pages",
        &contract(
            MAX_MEMORY_PAGES,
            "",
            &format!("(memory.fill (i32.const 0) (i32.const 1) (i32.const {bytes}))"),
        ),
    )
}

/// A loop storing one byte per host page of `pages` pages from `from`,
/// in a function whose first local is `$p`.
fn stride_loop(from: u32, pages: u32) -> String {
    let end = from + pages * PAGE;
    format!(
        "(local.set $p (i32.const {from}))
         (loop $l
           (i32.store8 (local.get $p) (i32.const 1))
           (local.set $p (i32.add (local.get $p) (i32.const {OS_PAGE})))
           (br_if $l (i32.lt_u (local.get $p) (i32.const {end}))))"
    )
}

/// One byte stored in each host page of the largest initial memory: the
/// cheapest way to touch it all.
pub fn stride_untouched() -> PricedShape {
    shape(
        "stride_untouched",
        "a store every 4 KiB over 512 untouched initial pages",
        &contract(
            MAX_MEMORY_PAGES,
            "",
            &format!("(local $p i32) {}", stride_loop(0, MAX_MEMORY_PAGES)),
        ),
    )
}

/// One page, grown to the cap, then a store every 4 KiB of what it grew.
pub fn grow_and_touch() -> PricedShape {
    let grown = MAX_MEMORY_PAGES - 1;
    let body = format!(
        "(local $p i32) (drop (memory.grow (i32.const {grown}))) {}",
        stride_loop(PAGE, grown)
    );
    shape(
        "grow_and_touch",
        "memory.grow to 512 pages, then a store every 4 KiB",
        &contract(1, "", &body),
    )
}

/// Everything at once: every host function, the table filled by 1,024
/// segments, 1,024 data segments over 512 pages, 256 globals, 10,000
/// functions (exports are left at two: an export needs a function of its
/// own, and the functions are already at their limit).
pub fn worst_instance() -> PricedShape {
    let mut items = all_imports();
    items.push_str(&format!("(table {MAX_TABLE_ELEMENTS} funcref) (func $f)"));
    items.push_str(&segments_filling_the_table());
    items.push_str(&spread_data_segments());
    items.push_str(&"(global (mut i64) (i64.const 7))".repeat(MAX_GLOBALS as usize));
    let functions = MAX_FUNCTIONS as usize - HOST_FUNCTIONS.len() - 2;
    items.push_str(&"(func)".repeat(functions));
    shape(
        "worst_instance",
        "all of the above in one module, memory untouched",
        &contract(MAX_MEMORY_PAGES, &items, ""),
    )
}
