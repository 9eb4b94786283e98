//! Key files (defined in `cairn-types`), and the node's two other uses of
//! the same ed25519 key: its Malachite consensus key and its libp2p
//! identity.

pub use cairn_types::keys::*;

/// The key as Malachite's signing scheme takes it: the same 32-byte seed,
/// the same ed25519-consensus key underneath, so signatures are identical.
pub fn consensus_key(key: &PrivateKey) -> malachitebft_signing_ed25519::PrivateKey {
    malachitebft_signing_ed25519::PrivateKey::from(key.to_bytes())
}

/// A key whose 32-byte ed25519 seed the node can read: Cairn's own and
/// Malachite's (the consensus engine holds the latter).
pub trait Ed25519Seed {
    fn seed(&self) -> [u8; 32];
}

impl Ed25519Seed for PrivateKey {
    fn seed(&self) -> [u8; 32] {
        self.to_bytes()
    }
}

impl Ed25519Seed for malachitebft_signing_ed25519::PrivateKey {
    fn seed(&self) -> [u8; 32] {
        self.inner().to_bytes()
    }
}

/// The libp2p identity of a node with this key: the same ed25519 key, so a
/// validator's peer id follows from its public key.
pub fn libp2p_keypair(key: &impl Ed25519Seed) -> libp2p::identity::Keypair {
    let mut secret = key.seed();
    libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
        .expect("an ed25519 secret key is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consensus_key_is_the_same_key() {
        let key = PrivateKey::from([5; 32]);
        let consensus = consensus_key(&key);
        assert_eq!(
            consensus.public_key().as_bytes(),
            key.public_key().as_bytes()
        );
        assert_eq!(consensus.sign(b"vote").to_bytes(), key.sign(b"vote"));
        assert_eq!(
            libp2p_keypair(&key).public().to_peer_id(),
            libp2p_keypair(&consensus).public().to_peer_id()
        );
    }

    #[test]
    fn a_key_file_written_by_the_node_loads_as_its_consensus_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node_key.json");
        let key = generate();
        save(&key, &path).unwrap();
        let loaded = consensus_key(&load(&path).unwrap());
        assert_eq!(loaded.public_key().as_bytes(), &address(&key).0);
    }
}
