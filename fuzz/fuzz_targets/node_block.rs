//! `node_block`: see [`cairn_fuzz::node::block`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::node::block(data));
