//! `execute`: see [`cairn_fuzz::oracles::execute`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::oracles::execute(data));
