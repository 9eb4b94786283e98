//! Integration tests of the VM, as one binary (wasmtime's `tests/all`).

// Helpers are `pub` for the test modules; nothing outside uses this crate.
// Test values (status codes, small lengths) fit every integer type they are
// cast to.
#![allow(
    unreachable_pub,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod adversarial;
mod cache;
mod compile_bounds;
mod cross_contract;
mod execution;
mod host_calls;
mod instantiation;
mod limits;
mod pooled_memory;
mod support;
mod validation;
mod value;
