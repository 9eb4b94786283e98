//! CPU-bound work for benchmarks: an iterated blake2b-256 chain computed in
//! wasm (not with the host's hash function) and a sort of pseudo-random
//! integers. The kernels are plain functions in [`kernel`], so the same code
//! runs natively for comparison with the VM.

#![no_std]
// parity-scale-codec's derives cast enum variant indices to u8.
#![allow(clippy::cast_possible_truncation)]

extern crate alloc;

use cairn_sdk::prelude::*;

/// The work itself, independent of the contract.
pub mod kernel {
    use alloc::vec::Vec;
    use blake2::{Blake2b, Digest, digest::consts::U32};

    /// `seed` hashed `rounds` times with blake2b-256.
    pub fn hash_chain(seed: [u8; 32], rounds: u32) -> [u8; 32] {
        let mut state = seed;
        for _ in 0..rounds {
            state = Blake2b::<U32>::digest(state).into();
        }
        state
    }

    /// Sorts `count` xorshift64 numbers from `seed` and returns a checksum
    /// of the sorted order.
    pub fn sort(count: u32, seed: u64) -> u64 {
        // xorshift needs a non-zero state; mixing keeps nearby seeds apart.
        let mut state = (seed ^ 0x9e37_79b9_7f4a_7c15).max(1);
        let mut numbers: Vec<u64> = (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            })
            .collect();
        numbers.sort_unstable();
        numbers
            .iter()
            .enumerate()
            .fold(0u64, |sum, (index, number)| {
                sum.wrapping_mul(31).wrapping_add(number ^ index as u64)
            })
    }
}

#[contract]
pub struct Hasher {
    last: Value<[u8; 32]>,
}

#[contract]
impl Hasher {
    /// Hashes `seed` `rounds` times and remembers the result.
    pub fn hash_chain(&mut self, seed: [u8; 32], rounds: u32) -> [u8; 32] {
        let hash = kernel::hash_chain(seed, rounds);
        self.last.set(&hash);
        hash
    }

    /// Sorts `count` pseudo-random numbers; returns a checksum.
    pub fn sort(&self, count: u32, seed: u64) -> u64 {
        kernel::sort(count, seed)
    }

    pub fn last(&self) -> Option<[u8; 32]> {
        self.last.get()
    }
}

#[cfg(test)]
mod tests {
    use super::kernel;

    #[test]
    fn zero_rounds_is_the_seed() {
        assert_eq!(kernel::hash_chain([7; 32], 0), [7; 32]);
        assert_ne!(kernel::hash_chain([7; 32], 1), [7; 32]);
    }

    #[test]
    fn sorting_is_deterministic() {
        assert_eq!(kernel::sort(1_000, 42), kernel::sort(1_000, 42));
        assert_ne!(kernel::sort(1_000, 42), kernel::sort(1_000, 43));
    }
}
