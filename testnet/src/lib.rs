//! `cairn-testnet` as a library: the client side of Cairn's adversary
//! ([`attack`]), which floods a local network of real node processes
//! through their JSON-RPC and measures what honest users and consensus go
//! through meanwhile. The `cairn-testnet` binary starts and stops those
//! networks.

pub mod attack;
