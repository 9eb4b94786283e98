//! The cryptography behind the hashing and signature host functions, on
//! plain bytes: what `sha256`, `keccak256`, `ed25519_verify`,
//! `secp256k1_recover` and `secp256k1_verify` compute once their arguments
//! are out of guest memory (and what the `crypto` benchmark times).
//!
//! Every check answers the same on every node for every input: a malformed
//! key or signature is an invalid one, never an error the caller could
//! observe differently.
//!
//! - ed25519 follows ZIP-215 (`ed25519-consensus`): the validation rules
//!   are fully specified (cofactored equation, non-canonical point
//!   encodings accepted, `s` required canonical), so single verification
//!   never depends on which library or version a node runs, unlike the
//!   "strict" or legacy rules other libraries pick between.
//! - secp256k1 (`k256`) refuses high-S signatures (`s > n/2`), as CosmWasm
//!   and Ethereum's transactions do: for every valid signature `(r, s)` the
//!   signature `(r, n - s)` is valid too, and accepting both lets anyone
//!   change a signature's bytes without the key.

use ed25519_consensus::{Signature as Ed25519Signature, VerificationKey};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha2::Digest;

/// An ed25519 signature: `R ‖ s`.
pub const ED25519_SIGNATURE_BYTES: usize = 64;
/// An ed25519 public key.
pub const ED25519_KEY_BYTES: usize = 32;
/// What secp256k1 signs: a 32-byte hash the contract computed.
pub const SECP256K1_HASH_BYTES: usize = 32;
/// A secp256k1 signature: `r ‖ s`, 32 bytes each, big-endian.
pub const SECP256K1_SIGNATURE_BYTES: usize = 64;
/// A SEC1 uncompressed secp256k1 key: `04 ‖ x ‖ y`.
pub const SECP256K1_UNCOMPRESSED_KEY_BYTES: usize = 65;
/// The largest recovery id: bit 0 is the parity of `y`, bit 1 whether `x`
/// overflowed the group order.
pub const MAX_RECOVERY_ID: u8 = 3;

/// SHA-256 (FIPS 180-4).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// Keccak-256 as Ethereum uses it (the original padding, not NIST
/// SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    sha3::Keccak256::digest(data).into()
}

/// Whether `signature` is a valid ed25519 signature of `message` under
/// `key`, by ZIP-215's rules. A key that is not a curve point is invalid.
pub fn ed25519_verify(
    signature: &[u8; ED25519_SIGNATURE_BYTES],
    message: &[u8],
    key: &[u8; ED25519_KEY_BYTES],
) -> bool {
    let Ok(key) = VerificationKey::try_from(*key) else {
        return false;
    };
    key.verify(&Ed25519Signature::from(*signature), message)
        .is_ok()
}

/// A low-S signature, or `None` for a malformed or high-S one.
fn low_s_signature(signature: &[u8; SECP256K1_SIGNATURE_BYTES]) -> Option<Signature> {
    let signature = Signature::from_slice(signature).ok()?;
    // `normalize_s` answers only for a high S.
    match signature.normalize_s() {
        Some(_) => None,
        None => Some(signature),
    }
}

/// The SEC1 uncompressed key that signed `hash` with `signature` and
/// `recovery_id` (at most [`MAX_RECOVERY_ID`]), or `None` if none does, the
/// signature is malformed or it is high-S.
pub fn secp256k1_recover(
    hash: &[u8; SECP256K1_HASH_BYTES],
    signature: &[u8; SECP256K1_SIGNATURE_BYTES],
    recovery_id: u8,
) -> Option<[u8; SECP256K1_UNCOMPRESSED_KEY_BYTES]> {
    let signature = low_s_signature(signature)?;
    let recovery_id = RecoveryId::from_byte(recovery_id)?;
    let key = VerifyingKey::recover_from_prehash(hash, &signature, recovery_id).ok()?;
    key.to_encoded_point(false).as_bytes().try_into().ok()
}

/// Whether `signature` is a valid low-S secp256k1 signature of `hash` under
/// the SEC1 `key` (compressed or uncompressed).
pub fn secp256k1_verify(
    hash: &[u8; SECP256K1_HASH_BYTES],
    signature: &[u8; SECP256K1_SIGNATURE_BYTES],
    key: &[u8],
) -> bool {
    let Some(signature) = low_s_signature(signature) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_sec1_bytes(key) else {
        return false;
    };
    key.verify_prehash(hash, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        hex::encode(bytes)
    }

    #[test]
    fn digests_of_known_inputs() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn a_recovery_id_over_three_recovers_nothing() {
        let signature = [1; SECP256K1_SIGNATURE_BYTES];
        assert_eq!(secp256k1_recover(&[2; 32], &signature, 4), None);
    }
}
