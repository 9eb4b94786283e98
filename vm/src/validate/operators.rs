//! Which feature, if any, an instruction needs beyond the accepted subset.
//!
//! Generated from wasmparser's own list of every instruction and the
//! proposal it comes from, so a new instruction in a wasmparser upgrade is
//! classified by its proposal instead of slipping through.

use wasmparser::{Operator, ValType};

use super::rejection::Feature;

/// The rejected feature an instruction uses, or `None` if it is in the
/// accepted subset.
pub(crate) fn operator_feature(op: &Operator<'_>) -> Option<Feature> {
    macro_rules! classify {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
            match op {
                $( Operator::$op { .. } => classify!(one @$proposal $op), )*
                _ => Some(Feature::Other("an instruction unknown to Cairn")),
            }
        };
        (one @mvp $op:ident) => { float_in_name(stringify!($op)) };
        (one @sign_extension $op:ident) => { None };
        (one @saturating_float_to_int $op:ident) => { Some(Feature::Floats) };
        (one @bulk_memory $op:ident) => { bulk_memory(stringify!($op)) };
        (one @reference_types $op:ident) => { reference_types(stringify!($op)) };
        (one @simd $op:ident) => { Some(Feature::Simd) };
        (one @relaxed_simd $op:ident) => { Some(Feature::Simd) };
        (one @threads $op:ident) => { Some(Feature::Threads) };
        (one @shared_everything_threads $op:ident) => { Some(Feature::Threads) };
        (one @acquire_release_atomics $op:ident) => { Some(Feature::Threads) };
        (one @exceptions $op:ident) => { Some(Feature::Exceptions) };
        (one @legacy_exceptions $op:ident) => { Some(Feature::Exceptions) };
        (one @tail_call $op:ident) => { Some(Feature::TailCalls) };
        (one @function_references $op:ident) => { Some(Feature::Gc) };
        (one @gc $op:ident) => { Some(Feature::Gc) };
        (one @custom_descriptors $op:ident) => { Some(Feature::Gc) };
        (one @wide_arithmetic $op:ident) => { Some(Feature::WideArithmetic) };
        (one @stack_switching $op:ident) => { Some(Feature::StackSwitching) };
        (one @$proposal:ident $op:ident) => { Some(Feature::Other(stringify!($proposal))) };
    }
    wasmparser::for_each_operator!(classify)
}

fn float_in_name(name: &str) -> Option<Feature> {
    (name.contains("F32") || name.contains("F64")).then_some(Feature::Floats)
}

fn bulk_memory(name: &str) -> Option<Feature> {
    match name {
        "MemoryInit" | "DataDrop" | "MemoryCopy" | "MemoryFill" => None,
        _ => Some(Feature::TableInstructions),
    }
}

fn reference_types(name: &str) -> Option<Feature> {
    if name.starts_with("Table") {
        Some(Feature::TableInstructions)
    } else {
        Some(Feature::ReferenceTypes)
    }
}

/// The feature a value type needs, if it is not `i32` or `i64`.
pub(crate) fn val_type_feature(ty: ValType) -> Option<Feature> {
    match ty {
        ValType::I32 | ValType::I64 => None,
        ValType::F32 | ValType::F64 => Some(Feature::Floats),
        ValType::V128 => Some(Feature::Simd),
        ValType::Ref(_) => Some(Feature::ReferenceTypes),
    }
}

/// The text name of an instruction for error messages, e.g. `f32.add`.
pub(crate) fn operator_name(op: &Operator<'_>) -> String {
    // Debug gives `F32Add` or `Call { function_index: 3 }`: turn the variant
    // name into the text format's spelling.
    let debug = format!("{op:?}");
    let variant = debug.split([' ', '{', '(']).next().unwrap_or(&debug);
    let mut name = String::with_capacity(variant.len() + 4);
    let mut first_boundary = true;
    for (index, ch) in variant.char_indices() {
        if ch.is_ascii_uppercase() && index > 0 {
            let namespace = first_boundary
                && matches!(
                    &variant[..index],
                    "I32"
                        | "I64"
                        | "F32"
                        | "F64"
                        | "V128"
                        | "I8x16"
                        | "I16x8"
                        | "I32x4"
                        | "I64x2"
                        | "F32x4"
                        | "F64x2"
                        | "Memory"
                        | "Table"
                        | "Local"
                        | "Global"
                        | "Ref"
                        | "Data"
                        | "Elem"
                );
            name.push(if namespace { '.' } else { '_' });
            first_boundary = false;
        }
        name.push(ch.to_ascii_lowercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_proposal() {
        assert_eq!(operator_feature(&Operator::I32Add), None);
        assert_eq!(operator_feature(&Operator::I64Extend32S), None);
        assert_eq!(operator_feature(&Operator::MemoryFill { mem: 0 }), None);
        assert_eq!(operator_feature(&Operator::F64Add), Some(Feature::Floats));
        assert_eq!(
            operator_feature(&Operator::F32Load {
                memarg: wasmparser::MemArg {
                    align: 2,
                    max_align: 2,
                    offset: 0,
                    ordering: None,
                    target: wasmparser::MemArgTarget::Memory(0),
                }
            }),
            Some(Feature::Floats)
        );
        assert_eq!(
            operator_feature(&Operator::I32TruncSatF32S),
            Some(Feature::Floats)
        );
        assert_eq!(
            operator_feature(&Operator::I64ReinterpretF64),
            Some(Feature::Floats)
        );
        assert_eq!(
            operator_feature(&Operator::TableGrow { table: 0 }),
            Some(Feature::TableInstructions)
        );
        assert_eq!(
            operator_feature(&Operator::ElemDrop { elem_index: 0 }),
            Some(Feature::TableInstructions)
        );
        assert_eq!(
            operator_feature(&Operator::RefIsNull),
            Some(Feature::ReferenceTypes)
        );
        assert_eq!(
            operator_feature(&Operator::ReturnCall { function_index: 0 }),
            Some(Feature::TailCalls)
        );
        assert_eq!(
            operator_feature(&Operator::AtomicFence {
                ordering: wasmparser::Ordering::SeqCst
            }),
            Some(Feature::Threads)
        );
        assert_eq!(
            operator_feature(&Operator::I8x16Swizzle),
            Some(Feature::Simd)
        );
    }

    #[test]
    fn names_read_like_the_text_format() {
        assert_eq!(operator_name(&Operator::F32Add), "f32.add");
        assert_eq!(
            operator_name(&Operator::I64TruncSatF64U),
            "i64.trunc_sat_f64_u"
        );
        assert_eq!(
            operator_name(&Operator::TableGrow { table: 0 }),
            "table.grow"
        );
        assert_eq!(operator_name(&Operator::RefIsNull), "ref.is_null");
        assert_eq!(operator_name(&Operator::I32x4Add), "i32x4.add");
        assert_eq!(
            operator_name(&Operator::CallIndirect {
                type_index: 0,
                table_index: 0
            }),
            "call_indirect"
        );
    }
}
