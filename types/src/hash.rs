//! Hashes: blake2b-256 everywhere, written as 64 hex digits.

use blake2::{Blake2b, Digest, digest::consts::U32};

pub type Hash = [u8; 32];

/// blake2b with a 32-byte output: the hash of transactions, blocks,
/// receipts, contract code and addresses. The same function as
/// `cairn_vm::blake2b_256` (the node checks that they agree).
pub fn blake2b_256(data: &[u8]) -> Hash {
    Blake2b::<U32>::digest(data).into()
}

/// Parses 32 bytes written as 64 hex digits, with or without `0x`.
pub fn parse_hash(text: &str) -> Result<Hash, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits).map_err(|error| format!("`{text}` is not hex: {error}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("`{text}` is {} bytes; 32 expected", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake2b_256_matches_the_reference_vectors() {
        // blake2b-256 of "" and of "abc" (RFC 7693's test input).
        assert_eq!(
            hex::encode(blake2b_256(b"")),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
        assert_eq!(
            hex::encode(blake2b_256(b"abc")),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }

    #[test]
    fn hashes_parse_with_or_without_prefix_and_bad_ones_say_why() {
        let text = "11".repeat(32);
        assert_eq!(parse_hash(&text).unwrap(), [0x11; 32]);
        assert_eq!(parse_hash(&format!("0x{text}")).unwrap(), [0x11; 32]);
        assert!(parse_hash("zz").unwrap_err().contains("not hex"));
        assert!(
            parse_hash("1122")
                .unwrap_err()
                .contains("2 bytes; 32 expected")
        );
    }
}
