//! `gas_oracle`: see [`cairn_fuzz::oracles::gas_oracle`] for the property.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz::oracles::gas_oracle(data));
