//! Hashes and signature checks, computed by the host (docs/ABI.md,
//! "Hashing and signatures"): far cheaper in gas than the same code
//! compiled into the contract.
//!
//! ```
//! use cairn_sdk::crypto::{keccak256, sha256};
//!
//! assert_eq!(sha256(b"abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
//! assert_eq!(keccak256(b"")[..4], [0xc5, 0xd2, 0x46, 0x01]);
//! ```
//!
//! Signature checks answer `true` or `false`: a malformed key or signature
//! is `false`, never a trap. ed25519 follows ZIP-215's rules, the same on
//! every node; secp256k1 refuses high-S (malleable) signatures, as
//! CosmWasm does. Natively (unit tests) the same libraries compute the
//! same answers.

pub use crate::env::blake2b_256;
use crate::env::length;
use crate::host;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hash = [0; 32];
    // SAFETY: valid input buffer and a 32-byte output buffer.
    unsafe { host::sha256(data.as_ptr(), length(data), hash.as_mut_ptr()) };
    hash
}

/// Keccak-256 of `data`, as Ethereum uses it (not NIST SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut hash = [0; 32];
    // SAFETY: valid input buffer and a 32-byte output buffer.
    unsafe { host::keccak256(data.as_ptr(), length(data), hash.as_mut_ptr()) };
    hash
}

/// Whether `signature` is a valid ed25519 signature of `message` under
/// `public_key`.
pub fn ed25519_verify(signature: &[u8; 64], message: &[u8], public_key: &[u8; 32]) -> bool {
    // SAFETY: a 64-byte signature, a message of its length, a 32-byte key.
    let valid = unsafe {
        host::ed25519_verify(
            signature.as_ptr(),
            message.as_ptr(),
            length(message),
            public_key.as_ptr(),
        )
    };
    valid == 1
}

/// The uncompressed SEC1 key (`04 ‖ x ‖ y`) whose secp256k1 signature
/// `signature` (`r ‖ s`) of the 32-byte `hash` is, with `recovery_id`
/// (0 to 3), or `None` if none is (a high-S signature included). An
/// Ethereum address is the last 20 bytes of the Keccak-256 of `x ‖ y`.
///
/// # Panics
///
/// Aborts the call if `recovery_id` is over 3.
pub fn secp256k1_recover(
    hash: &[u8; 32],
    signature: &[u8; 64],
    recovery_id: u8,
) -> Option<[u8; 65]> {
    let mut key = [0; 65];
    // SAFETY: a 32-byte hash, a 64-byte signature and a 65-byte buffer.
    let recovered = unsafe {
        host::secp256k1_recover(
            hash.as_ptr(),
            signature.as_ptr(),
            u32::from(recovery_id),
            key.as_mut_ptr(),
        )
    };
    (recovered == 1).then_some(key)
}

/// Whether `signature` (`r ‖ s`, low S) is a valid secp256k1 signature of
/// the 32-byte `hash` under the SEC1 `public_key` (33 bytes compressed or
/// 65 uncompressed; any other length is `false`, over 65 aborts the call).
pub fn secp256k1_verify(hash: &[u8; 32], signature: &[u8; 64], public_key: &[u8]) -> bool {
    // SAFETY: a 32-byte hash, a 64-byte signature, a key of its length.
    let valid = unsafe {
        host::secp256k1_verify(
            hash.as_ptr(),
            signature.as_ptr(),
            public_key.as_ptr(),
            length(public_key),
        )
    };
    valid == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_hashes_match_known_vectors() {
        assert_eq!(
            sha256(b""),
            *b"\xe3\xb0\xc4\x42\x98\xfc\x1c\x14\x9a\xfb\xf4\xc8\x99\x6f\xb9\x24\
               \x27\xae\x41\xe4\x64\x9b\x93\x4c\xa4\x95\x99\x1b\x78\x52\xb8\x55"
        );
        assert_eq!(
            keccak256(b"abc"),
            *b"\x4e\x03\x65\x7a\xea\x45\xa9\x4f\xc7\xd4\x7b\xa8\x26\xc8\xd6\x67\
               \xc0\xd1\xe6\xe3\x3a\x64\xa0\x36\xec\x44\xf5\x8f\xa1\x2d\x6c\x45"
        );
    }

    #[test]
    fn native_ed25519_checks_like_the_host() {
        let key = ed25519_consensus::SigningKey::from([3; 32]);
        let public = key.verification_key().to_bytes();
        let signature = key.sign(b"message").to_bytes();
        assert!(ed25519_verify(&signature, b"message", &public));
        assert!(!ed25519_verify(&signature, b"massage", &public));
        let mut unreduced = signature;
        unreduced[63] |= 0xf0;
        assert!(!ed25519_verify(&unreduced, b"message", &public));
    }

    #[test]
    fn native_secp256k1_recovers_and_refuses_high_s() {
        let key = k256::ecdsa::SigningKey::from_bytes(&[5; 32].into()).unwrap();
        let hash = sha256(b"message");
        let (signature, id) = key.sign_prehash_recoverable(&hash).unwrap();
        let bytes: [u8; 64] = signature.to_bytes().into();
        let expected = key.verifying_key().to_encoded_point(false);
        let recovered = secp256k1_recover(&hash, &bytes, id.to_byte()).unwrap();
        assert_eq!(recovered.as_slice(), expected.as_bytes());
        let compressed = key.verifying_key().to_encoded_point(true);
        assert!(secp256k1_verify(&hash, &bytes, compressed.as_bytes()));
        assert!(secp256k1_verify(&hash, &bytes, &recovered));

        let high = k256::ecdsa::Signature::from_scalars(signature.r(), -signature.s()).unwrap();
        let high: [u8; 64] = high.to_bytes().into();
        assert_eq!(secp256k1_recover(&hash, &high, id.to_byte() ^ 1), None);
        assert!(!secp256k1_verify(&hash, &high, compressed.as_bytes()));
    }
}
