//! `node_transaction`: see [`cairn_fuzz::node::transaction`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::node::transaction(data));
