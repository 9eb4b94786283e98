//! `cairn-testnet` as a library: Cairn's adversary. [`attack`] is its
//! client side and its peer on the consensus network: floods through the
//! nodes' JSON-RPC, a junk peer, and the honest client that measures what
//! users and consensus go through meanwhile. [`adversary`] (feature
//! `adversary`) runs them all, and attacks on validators' processes,
//! against a local network of real node processes it starts itself; the
//! `cairn-adversary` binary is its command line. The `cairn-testnet`
//! binary starts and stops local networks for people.

#[cfg(feature = "adversary")]
pub mod adversary;
pub mod attack;
