//! `node_rpc`: see [`cairn_fuzz::node::rpc_request`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::node::rpc_request(data));
