//! What a rejected deploy's receipt says: a fixed code, not text.
//!
//! A deploy whose code the VM refuses gets status
//! [`STATUS_DEPLOY_REJECTED`](crate::STATUS_DEPLOY_REJECTED) and, as its
//! output, the rejection's code as a little-endian `u16`
//! (`cairn_vm::Rejection::code`). The receipt goes into the receipts root,
//! so it holds nothing a parser's wording could change; the explanation is
//! what `cairn-vm check` (or the node's log) prints for the same code.

/// Every rejection code and its name, as `cairn_vm::validate::rejection_codes`
/// lists them (docs/ABI.md, "Rejected code"), copied so that clients can
/// name a code without the VM; the node tests that the two agree.
pub const REJECTION_NAMES: [(u16, &str); 40] = [
    (0x0101, "floating point"),
    (0x0102, "SIMD"),
    (0x0103, "threads and atomics"),
    (0x0104, "exception handling"),
    (0x0105, "tail calls"),
    (0x0106, "GC and typed function references"),
    (0x0107, "reference types"),
    (0x0108, "table instructions"),
    (0x0109, "memory64"),
    (0x010a, "multiple memories"),
    (0x010b, "multiple tables"),
    (0x010c, "start function"),
    (0x010d, "extended constant expressions"),
    (0x010e, "custom page sizes"),
    (0x010f, "wide arithmetic"),
    (0x0110, "stack switching"),
    (0x0111, "component model"),
    (0x01ff, "another proposal"),
    (0x0201, "MAX_CODE_BYTES"),
    (0x0202, "MAX_TYPES"),
    (0x0203, "MAX_FUNCTIONS"),
    (0x0204, "MAX_FUNCTION_PARAMS"),
    (0x0205, "MAX_FUNCTION_RESULTS"),
    (0x0206, "MAX_LOCALS_PER_FUNCTION"),
    (0x0207, "MAX_TOTAL_LOCALS"),
    (0x0208, "MAX_NESTING_DEPTH"),
    (0x0209, "MAX_BR_TABLE_TARGETS"),
    (0x020a, "MAX_EXPORTS"),
    (0x020b, "MAX_EXPORT_NAME_BYTES"),
    (0x020c, "MAX_GLOBALS"),
    (0x020d, "MAX_DATA_SEGMENTS"),
    (0x020e, "MAX_ELEMENT_SEGMENTS"),
    (0x020f, "MAX_ELEMENT_ENTRIES"),
    (0x0210, "MAX_OPERAND_STACK_HEIGHT"),
    (0x0211, "MAX_COMPILE_WORK"),
    (0x0212, "MAX_TABLE_ELEMENTS"),
    (0x0213, "MAX_MEMORY_PAGES"),
    (0x0300, "import"),
    (0x0400, "contract rule"),
    (0x0500, "invalid module"),
];

/// The rejection code a rejected deploy's output holds, if it is one.
pub fn rejection_code(output: &[u8]) -> Option<u16> {
    Some(u16::from_le_bytes(output.try_into().ok()?))
}

/// The name of a rejection code, or `"unknown"`.
pub fn rejection_name(code: u16) -> &'static str {
    REJECTION_NAMES
        .iter()
        .find(|(known, _)| *known == code)
        .map_or("unknown", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decode_from_a_receipts_output_and_have_names() {
        assert_eq!(rejection_code(&[0x01, 0x01]), Some(0x0101));
        assert_eq!(rejection_name(0x0101), "floating point");
        assert_eq!(rejection_code(&[0x11, 0x02]), Some(0x0211));
        assert_eq!(rejection_name(0x0211), "MAX_COMPILE_WORK");
        assert_eq!(rejection_code(b"uses floating point"), None);
        assert_eq!(rejection_code(&[]), None);
        assert_eq!(rejection_name(0x7777), "unknown");
    }
}
