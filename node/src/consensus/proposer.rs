//! Who proposes at a height and round: CometBFT's proposer priority.
//!
//! Round 0 of each height follows CometBFT's weighted round robin
//! (`IncrementProposerPriority`): every step, each validator's priority
//! grows by its power, the highest priority proposes (ties to the lowest
//! address) and pays the total power back. Over any window of `total power`
//! heights a validator proposes exactly `power` of them, spread out rather
//! than back to back. Within a height, later rounds walk that same sequence
//! with repeats collapsed, so the proposer of a round never proposes the
//! next one when another validator exists: a validator that is down costs
//! the chain one round per height it is due, whatever its power.
//!
//! The sequence of a fixed validator set is periodic (priorities are back
//! at zero after `total power` steps), so one cycle is computed once and
//! every lookup is a table read: Malachite asks for the proposer of rounds
//! taken from messages (a sync response's certificate, before it is
//! verified), which must cost the same for round 2^31 as for round 1.

use std::sync::Arc;

/// The longest cycle tabulated. A set whose powers (divided by their
/// greatest common divisor) add up to more is scheduled on powers scaled to
/// this total, each at least 1: shares within 1/65536 of the powers, and a
/// table of at most a few hundred kilobytes.
const MAX_CYCLE: u64 = 1 << 16;

/// One cycle of proposers, as indices into the validator list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProposerSchedule {
    inner: Arc<Cycle>,
}

#[derive(Debug, PartialEq, Eq)]
struct Cycle {
    /// `slots[k]` proposes round 0 of the heights `k + 1` modulo the cycle.
    slots: Vec<u32>,
    /// The positions whose proposer differs from the previous position's,
    /// cyclically, ascending: where each run of one proposer starts.
    run_starts: Vec<u32>,
}

impl ProposerSchedule {
    /// The schedule of validators with these powers, in the set's order
    /// (sorted by address, which breaks ties). Every power is positive.
    pub(crate) fn new(powers: &[u64]) -> Self {
        let weights = cycle_weights(powers);
        let total: u64 = weights.iter().sum();
        let total_priority = i128::from(total);
        let mut priorities = vec![0i128; weights.len()];
        let mut slots = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for _ in 0..total {
            for (priority, weight) in priorities.iter_mut().zip(&weights) {
                *priority += i128::from(*weight);
            }
            let chosen = argmax(&priorities);
            priorities[chosen] -= total_priority;
            slots.push(u32::try_from(chosen).unwrap_or(u32::MAX));
        }
        let run_starts = (0..slots.len())
            .filter(|&k| slots[k] != slots[(k + slots.len() - 1) % slots.len()])
            .map(|k| u32::try_from(k).unwrap_or(u32::MAX))
            .collect();
        ProposerSchedule {
            inner: Arc::new(Cycle { slots, run_starts }),
        }
    }

    /// The index of the proposer of `round` at `height`.
    pub(crate) fn proposer(&self, height: u64, round: u32) -> usize {
        let Cycle { slots, run_starts } = &*self.inner;
        let cycle = slots.len() as u64;
        let position = usize::try_from(height.saturating_sub(1) % cycle).unwrap_or(0);
        if round == 0 || run_starts.is_empty() {
            return slots[position] as usize;
        }
        // The run `position` belongs to: the last start at or before it, or
        // the cycle's last run when that one wraps around the end.
        let runs = run_starts.len();
        let run = match run_starts.binary_search(&u32::try_from(position).unwrap_or(u32::MAX)) {
            Ok(run) => run,
            Err(0) => runs - 1,
            Err(next) => next - 1,
        };
        let later = (run + usize::try_from(round).unwrap_or(usize::MAX) % runs) % runs;
        slots[run_starts[later] as usize] as usize
    }
}

/// The index of the highest priority; the lowest index among equals.
fn argmax(priorities: &[i128]) -> usize {
    let mut chosen = 0;
    for (index, priority) in priorities.iter().enumerate().skip(1) {
        if *priority > priorities[chosen] {
            chosen = index;
        }
    }
    chosen
}

/// The powers the cycle is computed on: divided by their greatest common
/// divisor (which changes no choice), then scaled down to [`MAX_CYCLE`] if
/// still longer.
fn cycle_weights(powers: &[u64]) -> Vec<u64> {
    let divisor = powers.iter().copied().fold(0, gcd).max(1);
    let reduced: Vec<u64> = powers.iter().map(|power| power / divisor).collect();
    let total: u128 = reduced.iter().map(|&power| u128::from(power)).sum();
    if total <= u128::from(MAX_CYCLE) {
        return reduced;
    }
    reduced
        .iter()
        .map(|&power| {
            let scaled = u128::from(power) * u128::from(MAX_CYCLE) / total;
            u64::try_from(scaled).unwrap_or(MAX_CYCLE).max(1)
        })
        .collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CometBFT's `IncrementProposerPriority`, step by step on the real
    /// powers (centering included), from the all-zero start of a new set:
    /// the proposer of round 0 at every height from 1.
    fn cometbft_round_zero(powers: &[u64], heights: usize) -> Vec<usize> {
        let total: i128 = powers.iter().map(|&power| i128::from(power)).sum();
        let count = i128::try_from(powers.len()).unwrap();
        let mut priorities = vec![0i128; powers.len()];
        let mut proposers = Vec::new();
        for _ in 0..heights {
            let average = priorities.iter().sum::<i128>().div_euclid(count);
            for priority in &mut priorities {
                *priority -= average;
            }
            for (priority, &power) in priorities.iter_mut().zip(powers) {
                *priority += i128::from(power);
            }
            let chosen = argmax(&priorities);
            priorities[chosen] -= total;
            proposers.push(chosen);
        }
        proposers
    }

    fn round_zero(schedule: &ProposerSchedule, heights: u64) -> Vec<usize> {
        (1..=heights)
            .map(|height| schedule.proposer(height, 0))
            .collect()
    }

    #[test]
    fn round_zero_is_cometbft_proposer_priority() {
        for powers in [
            vec![1, 1, 1, 1],
            vec![1, 2, 3, 4],
            vec![5, 1, 1, 1],
            vec![10, 20, 30],
            vec![3, 2, 2],
            vec![1_000_000, 3_000_000, 2_000_000],
            vec![7],
        ] {
            let schedule = ProposerSchedule::new(&powers);
            assert_eq!(
                round_zero(&schedule, 500),
                cometbft_round_zero(&powers, 500),
                "powers {powers:?}"
            );
        }
    }

    #[test]
    fn every_window_of_total_power_heights_is_proportional() {
        let powers = [1u64, 2, 3, 4, 7];
        let total: u64 = powers.iter().sum();
        let schedule = ProposerSchedule::new(&powers);
        for start in [1u64, 2, 9, 100, 12_345, u64::MAX - total] {
            let mut counts = vec![0u64; powers.len()];
            for height in start..start + total {
                counts[schedule.proposer(height, 0)] += 1;
            }
            assert_eq!(counts, powers, "heights {start}..");
        }
    }

    #[test]
    fn nobody_proposes_two_rounds_in_a_row() {
        for powers in [
            vec![1, 1, 1, 5],
            vec![1, 2, 3, 4],
            vec![100, 1],
            vec![2, 1, 1],
            vec![1, 1],
        ] {
            let schedule = ProposerSchedule::new(&powers);
            for height in 1..300 {
                for round in 0..40 {
                    assert_ne!(
                        schedule.proposer(height, round),
                        schedule.proposer(height, round + 1),
                        "powers {powers:?}, height {height}, round {round}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_down_validator_costs_one_round_per_height_whatever_its_power() {
        // The rotation this replaces gave a validator of power 5 five
        // consecutive slots: a height it was due cost five timeouts.
        let schedule = ProposerSchedule::new(&[1, 1, 1, 5]);
        let heavy = 3;
        for height in 1..200 {
            let due: Vec<u32> = (0..8)
                .filter(|&round| schedule.proposer(height, round) == heavy)
                .collect();
            assert!(
                due.windows(2).all(|pair| pair[1] > pair[0] + 1),
                "height {height}: rounds {due:?}"
            );
            // It keeps its share of heights.
        }
        let heavy_heights = (1..=800)
            .filter(|&height| schedule.proposer(height, 0) == heavy)
            .count();
        assert_eq!(heavy_heights, 500);
    }

    #[test]
    fn later_rounds_visit_every_validator() {
        let powers = [1u64, 6, 2, 1];
        let schedule = ProposerSchedule::new(&powers);
        for height in 1..50 {
            let mut seen = [false; 4];
            for round in 0..40 {
                seen[schedule.proposer(height, round)] = true;
            }
            assert_eq!(seen, [true; 4], "height {height}");
        }
    }

    #[test]
    fn any_round_and_height_is_a_table_read() {
        let schedule = ProposerSchedule::new(&[3, 1, 4, 1, 5]);
        for (height, round) in [
            (0, u32::MAX),
            (u64::MAX, u32::MAX),
            (1, 1 << 31),
            (u64::MAX, 0),
        ] {
            assert!(schedule.proposer(height, round) < 5);
        }
        // Deterministic: another instance agrees.
        let again = ProposerSchedule::new(&[3, 1, 4, 1, 5]);
        for height in 1..100 {
            for round in [0, 1, 7, 1_000_000] {
                assert_eq!(
                    schedule.proposer(height, round),
                    again.proposer(height, round)
                );
            }
        }
    }

    #[test]
    fn huge_powers_are_scaled_to_a_bounded_cycle() {
        let powers = [u64::MAX / 3, u64::MAX / 3 - 7, 1];
        let weights = cycle_weights(&powers);
        let total: u64 = weights.iter().sum();
        assert!(total <= MAX_CYCLE + 3, "{weights:?}");
        assert_eq!(weights[2], 1);
        let schedule = ProposerSchedule::new(&powers);
        assert!(schedule.proposer(u64::MAX, u32::MAX) < 3);
    }
}
