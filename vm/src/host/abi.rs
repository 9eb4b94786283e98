//! The host function table: every function a contract may import, with its
//! wasm signature and its implementation, listed once in [`host_functions!`]
//! below. From that one list come [`HOST_FUNCTIONS`] (what validation checks
//! imports against) and the binding the engine links; a test keeps
//! docs/ABI.md's tables equal to it, row by row.

use std::fmt::Write;

use wasmer::{AsStoreMut, Function, FunctionEnv};
use wasmparser::{FuncType, ValType};

use super::HostEnv;
use super::functions;

/// The import module every host function lives in.
pub const HOST_MODULE: &str = "cairn";

/// One host function's name and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFunction {
    pub name: &'static str,
    pub params: &'static [ValType],
    /// What docs/ABI.md calls each parameter, in order.
    pub param_names: &'static [&'static str],
    pub results: &'static [ValType],
}

macro_rules! val_type {
    (i32) => {
        ValType::I32
    };
    (i64) => {
        ValType::I64
    };
}

macro_rules! val_types {
    (()) => {
        &[]
    };
    ($result:ident) => {
        &[val_type!($result)]
    };
}

/// The table. Each row is `name(param: type, ...) -> result;` with wasm
/// types (`i32`, `i64`; the result `()` or one type) and names a function of
/// the same name in `functions.rs`. The implementation's Rust type must be
/// exactly that signature (`fn(Ctx, i32, ...) -> HostResult<result>`), or
/// the crate does not compile.
macro_rules! host_functions {
    ($( $name:ident ( $($param:ident : $ty:ident),* ) -> $result:tt ; )*) => {
        /// Every host function, in the order of docs/ABI.md.
        pub const HOST_FUNCTIONS: &[HostFunction] = &[
            $( HostFunction {
                name: stringify!($name),
                params: &[$(val_type!($ty)),*],
                param_names: &[$(stringify!($param)),*],
                results: val_types!($result),
            }, )*
        ];

        /// The engine's binding of the host function `name`, or `None` if
        /// the table has no such function.
        pub(crate) fn bind(
            name: &str,
            store: &mut impl AsStoreMut,
            env: &FunctionEnv<HostEnv>,
        ) -> Option<Function> {
            match name {
                $( stringify!($name) => {
                    let _signature_matches_the_table: fn(functions::Ctx<'_>, $($ty),*)
                        -> functions::HostResult<$result> = functions::$name;
                    Some(Function::new_typed_with_env(store, env, functions::$name))
                } )*
                _ => None,
            }
        }
    };
}

host_functions! {
    input_len() -> i32;
    input_read(dst: i32) -> ();
    output_write(src: i32, len: i32) -> ();
    storage_get(key: i32, key_len: i32, dst: i32, cap: i32) -> i64;
    storage_set(key: i32, key_len: i32, value: i32, value_len: i32) -> ();
    storage_remove(key: i32, key_len: i32) -> ();
    storage_range(start: i32, start_len: i32, end: i32, end_len: i32, flags: i32) -> i32;
    storage_next(iter: i32, key: i32, key_cap: i32, value: i32, value_cap: i32) -> i64;
    storage_close(iter: i32) -> ();
    emit_event(topic: i32, topic_len: i32, data: i32, data_len: i32) -> ();
    caller(dst: i32) -> ();
    self_address(dst: i32) -> ();
    block_height() -> i64;
    block_time() -> i64;
    gas_left() -> i64;
    attached_value(dst: i32) -> ();
    self_balance(dst: i32) -> ();
    balance(address: i32, dst: i32) -> ();
    transfer(address: i32, amount: i32) -> i32;
    blake2b_256(src: i32, len: i32, dst: i32) -> ();
    sha256(src: i32, len: i32, dst: i32) -> ();
    keccak256(src: i32, len: i32, dst: i32) -> ();
    ed25519_verify(sig: i32, msg: i32, msg_len: i32, key: i32) -> i32;
    secp256k1_recover(hash: i32, sig: i32, recovery_id: i32, dst: i32) -> i32;
    secp256k1_verify(hash: i32, sig: i32, key: i32, key_len: i32) -> i32;
    call_contract(address: i32, entry: i32, entry_len: i32, input: i32, input_len: i32, gas: i64) -> i32;
    call_contract_with_value(address: i32, entry: i32, entry_len: i32, input: i32, input_len: i32, gas: i64, value: i32) -> i32;
    call_output_len() -> i32;
    call_output_read(dst: i32) -> ();
    revert(data: i32, len: i32) -> ();
    abort(message: i32, len: i32) -> ();
}

impl HostFunction {
    /// Whether a declared import type is exactly this function's type.
    pub fn matches(&self, ty: &FuncType) -> bool {
        ty.params() == self.params && ty.results() == self.results
    }

    /// `(i32, i32) -> i64`.
    pub fn signature(&self) -> String {
        signature_text(self.params, self.results)
    }

    /// The signature with parameter names, as docs/ABI.md writes it:
    /// `(key: i32, key_len: i32) -> ()`.
    pub fn declaration(&self) -> String {
        let mut text = String::from("(");
        for (index, (name, param)) in self.param_names.iter().zip(self.params).enumerate() {
            if index > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "{name}: {param}");
        }
        text.push_str(") -> ");
        results_text(&mut text, self.results);
        text
    }
}

/// Looks a host function up by name.
pub fn find(name: &str) -> Option<&'static HostFunction> {
    HOST_FUNCTIONS.iter().find(|function| function.name == name)
}

/// A signature in the form `(i32, i32) -> i64`.
pub fn signature_text(params: &[ValType], results: &[ValType]) -> String {
    let mut text = String::from("(");
    for (index, param) in params.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{param}");
    }
    text.push_str(") -> ");
    results_text(&mut text, results);
    text
}

fn results_text(text: &mut String, results: &[ValType]) {
    match results {
        [] => text.push_str("()"),
        [single] => {
            let _ = write!(text, "{single}");
        }
        many => {
            text.push('(');
            for (index, result) in many.iter().enumerate() {
                if index > 0 {
                    text.push_str(", ");
                }
                let _ = write!(text, "{result}");
            }
            text.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = HOST_FUNCTIONS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HOST_FUNCTIONS.len());
    }

    #[test]
    fn signatures_read_like_wat() {
        assert_eq!(
            find("storage_get").unwrap().signature(),
            "(i32, i32, i32, i32) -> i64"
        );
        assert_eq!(find("input_len").unwrap().signature(), "() -> i32");
        assert_eq!(find("abort").unwrap().signature(), "(i32, i32) -> ()");
        assert!(find("allocate").is_none());
        assert_eq!(
            find("storage_remove").unwrap().declaration(),
            "(key: i32, key_len: i32) -> ()"
        );
    }

    /// The (name, signature) rows of the function tables in docs/ABI.md's
    /// "Functions" section, in order: rows whose first two cells are code.
    fn documented_functions(doc: &str) -> Vec<(&str, &str)> {
        let Some((_, functions)) = doc.split_once("\n## Functions\n") else {
            return Vec::new();
        };
        let section = functions.split("\n## ").next().unwrap_or(functions);
        fn code(cell: Option<&str>) -> Option<&str> {
            cell?.trim().strip_prefix('`')?.strip_suffix('`')
        }
        section
            .lines()
            .filter_map(|line| {
                let mut cells = line.strip_prefix('|')?.split('|');
                Some((code(cells.next())?, code(cells.next())?))
            })
            .collect()
    }

    /// Where the table and the documented rows first differ, naming the
    /// function.
    fn difference(table: &[HostFunction], documented: &[(&str, &str)]) -> Option<String> {
        for (position, (function, (name, signature))) in table.iter().zip(documented).enumerate() {
            if function.name != *name {
                return Some(format!(
                    "row {position}: the table has `{}`, docs/ABI.md has `{name}`",
                    function.name
                ));
            }
            if function.declaration() != *signature {
                return Some(format!(
                    "`{name}`: the table says `{}`, docs/ABI.md says `{signature}`",
                    function.declaration()
                ));
            }
        }
        if let Some(missing) = table.get(documented.len()) {
            return Some(format!("`{}` is not in docs/ABI.md", missing.name));
        }
        if let Some((extra, _)) = documented.get(table.len()) {
            return Some(format!("`{extra}` is in docs/ABI.md but not in the table"));
        }
        None
    }

    #[test]
    fn docs_abi_lists_exactly_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ABI.md");
        let doc = std::fs::read_to_string(path).expect("docs/ABI.md is readable");
        let documented = documented_functions(&doc);
        assert!(!documented.is_empty(), "no function rows found in {path}");
        if let Some(difference) = difference(HOST_FUNCTIONS, &documented) {
            panic!("docs/ABI.md and the host table differ: {difference}");
        }
    }

    #[test]
    fn the_doc_check_names_what_differs() {
        let doc = "# ABI\n## Functions\n| function | signature | does |\n|---|---|---|\n\
                   | `input_len` | `() -> i32` | length |\n\
                   | `input_read` | `(dst: i64) -> ()` | copies |\n## Status codes\n\
                   | `ok` | `0` |\n";
        let documented = documented_functions(doc);
        assert_eq!(
            documented,
            [
                ("input_len", "() -> i32"),
                ("input_read", "(dst: i64) -> ()")
            ]
        );
        let table = &HOST_FUNCTIONS[..2];
        assert_eq!(
            difference(table, &documented).unwrap(),
            "`input_read`: the table says `(dst: i32) -> ()`, docs/ABI.md says `(dst: i64) -> ()`"
        );
        assert_eq!(
            difference(&HOST_FUNCTIONS[1..3], &documented).unwrap(),
            "row 0: the table has `input_read`, docs/ABI.md has `input_len`"
        );
        assert_eq!(
            difference(&HOST_FUNCTIONS[..3], &documented[..1]).unwrap(),
            "`input_read` is not in docs/ABI.md"
        );
        assert_eq!(
            difference(&HOST_FUNCTIONS[..1], &documented).unwrap(),
            "`input_read` is in docs/ABI.md but not in the table"
        );
        assert_eq!(difference(&HOST_FUNCTIONS[..1], &documented[..1]), None);
    }
}
