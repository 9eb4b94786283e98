//! `validate`: see [`cairn_fuzz::oracles::validate`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::oracles::validate(data));
