//! `node_consensus`: see [`cairn_fuzz::node::consensus_messages`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::node::consensus_messages(data));
