//! `compile_deterministic`: see [`cairn_fuzz::oracles::compile_deterministic`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::oracles::compile_deterministic(data));
