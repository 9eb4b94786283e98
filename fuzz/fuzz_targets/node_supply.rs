//! `node_supply`: see [`cairn_fuzz::node::supply`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::node::supply(data));
