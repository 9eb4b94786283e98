//! The host function table: every function a contract may import, with its
//! signature. Validation checks imports against this table, the engine binds
//! exactly these functions (a test keeps the two equal), and docs/ABI.md
//! documents them one by one.

use std::fmt::Write;

use wasmparser::{FuncType, ValType};

/// The import module every host function lives in.
pub const HOST_MODULE: &str = "cairn";

/// One host function's name and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFunction {
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
}

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

macro_rules! host_table {
    ($( $name:ident ( $($param:ident),* ) -> ( $($result:ident),* ); )*) => {
        /// Every host function, in the order of docs/ABI.md.
        pub const HOST_FUNCTIONS: &[HostFunction] = &[
            $( HostFunction {
                name: stringify!($name),
                params: &[$($param),*],
                results: &[$($result),*],
            }, )*
        ];
    };
}

host_table! {
    input_len() -> (I32);
    input_read(I32) -> ();
    output_write(I32, I32) -> ();
    storage_get(I32, I32, I32, I32) -> (I64);
    storage_set(I32, I32, I32, I32) -> ();
    storage_remove(I32, I32) -> ();
    storage_range(I32, I32, I32, I32, I32) -> (I32);
    storage_next(I32, I32, I32, I32, I32) -> (I64);
    storage_close(I32) -> ();
    emit_event(I32, I32, I32, I32) -> ();
    caller(I32) -> ();
    self_address(I32) -> ();
    block_height() -> (I64);
    block_time() -> (I64);
    gas_left() -> (I64);
    blake2b_256(I32, I32, I32) -> ();
    call_contract(I32, I32, I32, I32, I32, I64) -> (I32);
    call_output_len() -> (I32);
    call_output_read(I32) -> ();
    revert(I32, I32) -> ();
    abort(I32, I32) -> ();
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
    text
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
    }
}
