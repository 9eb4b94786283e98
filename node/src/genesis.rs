//! The genesis file: what every node of a network must agree on before the
//! first block: chain id, validators and the chain's gas parameters.
//! Defined in `cairn-types`, shared with clients.

pub use cairn_types::genesis::*;
