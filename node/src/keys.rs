//! Key files: an ed25519 private key, which is a validator's consensus key,
//! a node's network identity, or an account's signing key.

use std::path::Path;

use anyhow::{Context, bail};
use malachitebft_signing_ed25519::PrivateKey;
use serde::{Deserialize, Serialize};

use crate::types::Address;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    /// The public key, which is also the account address; for reading only.
    address: String,
    private_key: String,
}

pub fn generate() -> PrivateKey {
    PrivateKey::generate(rand::rngs::OsRng)
}

pub fn address(key: &PrivateKey) -> Address {
    Address(*key.public_key().as_bytes())
}

/// Writes `key` to a new file readable only by its owner.
pub fn save(key: &PrivateKey, path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} exists; refusing to overwrite a key", path.display());
    }
    let file = KeyFile {
        address: address(key).to_string(),
        private_key: hex::encode(key.inner().as_bytes()),
    };
    let text = serde_json::to_string_pretty(&file)? + "\n";
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut handle| handle.write_all(text.as_bytes()))
        .with_context(|| format!("writing the key file {}", path.display()))
}

pub fn load(path: &Path) -> anyhow::Result<PrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the key file {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .with_context(|| format!("parsing the key file {}", path.display()))?;
    let bytes: [u8; 32] = hex::decode(file.private_key.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .with_context(|| format!("{}: private_key must be 64 hex digits", path.display()))?;
    let key = PrivateKey::from(bytes);
    if address(&key).to_string() != file.address.trim_start_matches("0x") {
        bail!(
            "{}: the address does not belong to the private key",
            path.display()
        );
    }
    Ok(key)
}

/// The libp2p identity of a node with this key: the same ed25519 key, so a
/// validator's peer id follows from its public key.
pub fn libp2p_keypair(key: &PrivateKey) -> libp2p::identity::Keypair {
    let mut secret = key.inner().to_bytes();
    libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
        .expect("an ed25519 secret key is 32 bytes")
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
        assert!(save(&generate(), &path).is_err());
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
}
