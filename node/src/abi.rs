//! Calling contracts by name through their ABI: the codec lives in
//! `cairn-client`.

pub use cairn_client::abi::*;
