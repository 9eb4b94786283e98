//! Ed25519 keys and key files. One key is an account's signing key, a
//! validator's consensus key or a node's network identity.
//!
//! Signing and verification are ed25519-consensus's: ZIP-215 verification
//! rules, the same library Malachite's ed25519 scheme wraps, so a key here
//! and the node's consensus key made from the same 32 bytes sign alike.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_consensus::{Signature, SigningKey, VerificationKey};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// An ed25519 private key.
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        PrivateKey(SigningKey::new(rand::rngs::OsRng))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verification_key())
    }

    /// The signature of `message`: deterministic, 64 bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The 32-byte seed the key is made from (what a key file stores).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn inner(&self) -> &SigningKey {
        &self.0
    }
}

impl From<[u8; 32]> for PrivateKey {
    fn from(seed: [u8; 32]) -> Self {
        PrivateKey(SigningKey::from(seed))
    }
}

/// Shows the public half only: a private key must not reach a log.
impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey(public {})",
            hex::encode(self.public_key().as_bytes())
        )
    }
}

/// An ed25519 public key: a point on the curve.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PublicKey(VerificationKey);

/// The 32 bytes are not the encoding of a curve point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an ed25519 public key")]
pub struct InvalidPublicKey;

/// The signature does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify")]
pub struct InvalidSignature;

impl PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, InvalidPublicKey> {
        VerificationKey::try_from(bytes)
            .map(PublicKey)
            .map_err(|_| InvalidPublicKey)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Verifies with ZIP-215's rules (canonical `s`, cofactored equation).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), InvalidSignature> {
        self.0
            .verify(&Signature::from(*signature), message)
            .map_err(|_| InvalidSignature)
    }
}

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{} exists; refusing to overwrite a key", .path.display())]
    Exists { path: PathBuf },
    #[error("writing the key file {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the key file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing the key file {}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: private_key must be 64 hex digits", .path.display())]
    BadPrivateKey { path: PathBuf },
    #[error("{}: the address does not belong to the private key", .path.display())]
    ForeignAddress { path: PathBuf },
}

/// A key file's JSON. Existing networks' files must keep loading: the
/// fields, their order and their spelling are fixed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    /// The public key, which is also the account address; for reading only.
    address: String,
    private_key: String,
}

pub fn generate() -> PrivateKey {
    PrivateKey::generate()
}

pub fn address(key: &PrivateKey) -> Address {
    Address(*key.public_key().as_bytes())
}

/// The text of `key`'s key file.
fn key_file_text(key: &PrivateKey) -> String {
    let file = KeyFile {
        address: address(key).to_string(),
        private_key: hex::encode(key.to_bytes()),
    };
    // Two strings: serializing cannot fail.
    serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
}

/// Writes `key` to a new file readable only by its owner.
pub fn save(key: &PrivateKey, path: &Path) -> Result<(), KeyError> {
    if path.exists() {
        return Err(KeyError::Exists {
            path: path.to_owned(),
        });
    }
    let text = key_file_text(key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut handle| handle.write_all(text.as_bytes()))
        .map_err(|source| KeyError::Write {
            path: path.to_owned(),
            source,
        })
}

pub fn load(path: &Path) -> Result<PrivateKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<PrivateKey, KeyError> {
    let file: KeyFile = serde_json::from_str(text).map_err(|source| KeyError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let seed: [u8; 32] = hex::decode(file.private_key.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| KeyError::BadPrivateKey {
            path: path.to_owned(),
        })?;
    let key = PrivateKey::from(seed);
    if address(&key).to_string() != file.address.trim_start_matches("0x") {
        return Err(KeyError::ForeignAddress {
            path: path.to_owned(),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_key_loads_back_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let key = generate();
        save(&key, &path).unwrap();
        assert_eq!(address(&load(&path).unwrap()), address(&key));
        assert!(matches!(
            save(&generate(), &path),
            Err(KeyError::Exists { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_file_with_a_foreign_address_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        save(&generate(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut file: KeyFile = serde_json::from_str(&text).unwrap();
        file.address = address(&generate()).to_string();
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        assert!(
            load(&path)
                .unwrap_err()
                .to_string()
                .contains("does not belong")
        );
    }

    /// The key file of seed [1; 32], byte for byte as the node has always
    /// written it: existing testnets' key files must load unchanged.
    const PINNED_KEY_FILE: &str = "{\n  \"address\": \"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\",\n  \"private_key\": \"0101010101010101010101010101010101010101010101010101010101010101\"\n}\n";

    #[test]
    fn the_key_file_format_is_pinned() {
        let key = PrivateKey::from([1; 32]);
        assert_eq!(key_file_text(&key), PINNED_KEY_FILE);
        let loaded = parse(PINNED_KEY_FILE, Path::new("pinned.json")).unwrap();
        assert_eq!(loaded.to_bytes(), [1; 32]);
        // `0x` before the address and whitespace around the key are read.
        let loose = PINNED_KEY_FILE
            .replace("\"8a88", "\"0x8a88")
            .replace("\"0101", "\" 0101");
        assert_eq!(
            parse(&loose, Path::new("loose.json")).unwrap().to_bytes(),
            [1; 32]
        );
        // Unknown fields are refused.
        let extra = PINNED_KEY_FILE.replace("{\n", "{\n  \"comment\": \"x\",\n");
        assert!(matches!(
            parse(&extra, Path::new("extra.json")),
            Err(KeyError::Parse { .. })
        ));
        let short = PINNED_KEY_FILE.replace("0101\"", "01\"");
        assert!(matches!(
            parse(&short, Path::new("short.json")),
            Err(KeyError::BadPrivateKey { .. })
        ));
    }

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let key = PrivateKey::from([3; 32]);
        let signature = key.sign(b"message");
        assert_eq!(signature, key.sign(b"message"));
        let public = PublicKey::from_bytes(*key.public_key().as_bytes()).unwrap();
        public.verify(b"message", &signature).unwrap();
        assert_eq!(public.verify(b"other", &signature), Err(InvalidSignature));
        let stranger = PrivateKey::from([4; 32]).public_key();
        assert_eq!(
            stranger.verify(b"message", &signature),
            Err(InvalidSignature)
        );
        assert!(format!("{key:?}").starts_with("PrivateKey(public "));
        assert!(!format!("{key:?}").contains(&hex::encode([3u8; 32])));
    }
}
