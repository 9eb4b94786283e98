//! Building Cairn contracts for the VM: what `cargo cairn build` does, as a
//! library (the test harness builds contracts with it too).

mod abi;
mod build;
pub mod scaffold;

pub use build::{Built, LockChange, LockMode, build, run};
