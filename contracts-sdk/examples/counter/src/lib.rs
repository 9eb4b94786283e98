//! Cairn's hello world: a counter anyone can increment by a step, up to a
//! limit fixed at deployment, that remembers who touched it last.

#![no_std]
// parity-scale-codec's derives cast enum variant indices to u8.
#![allow(clippy::cast_possible_truncation)]

use cairn_sdk::prelude::*;

#[contract]
pub struct Counter {
    count: Value<u64>,
    limit: Value<u64>,
    last_caller: Value<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum CounterError {
    /// The increment would go past the limit.
    LimitReached { limit: u64 },
    /// A step of zero changes nothing.
    ZeroStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Event, Encode, Decode)]
pub struct Incremented {
    pub by: Address,
    pub step: u64,
    pub count: u64,
}

#[contract]
impl Counter {
    /// Deploys a counter at zero that never goes past `limit`.
    #[init]
    pub fn init(&mut self, limit: u64) {
        self.limit.set(&limit);
    }

    /// Adds `step` and returns the new count.
    pub fn increment(&mut self, step: u64) -> Result<u64, CounterError> {
        if step == 0 {
            return Err(CounterError::ZeroStep);
        }
        let limit = self.limit.get_or_default();
        let count = self
            .count
            .get_or_default()
            .checked_add(step)
            .filter(|count| *count <= limit)
            .ok_or(CounterError::LimitReached { limit })?;
        self.count.set(&count);
        self.last_caller.set(&caller());
        emit(&Incremented {
            by: caller(),
            step,
            count,
        });
        Ok(count)
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.count.get_or_default()
    }

    /// Who incremented last, if anyone has.
    pub fn last_caller(&self) -> Option<Address> {
        self.last_caller.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_sdk::testing;

    #[test]
    fn counts_up_to_the_limit() {
        testing::reset();
        testing::set_caller(Address([1; 32]));
        let mut counter = Counter::load();
        counter.init(10);
        assert_eq!(counter.increment(4), Ok(4));
        assert_eq!(counter.increment(6), Ok(10));
        assert_eq!(
            counter.increment(1),
            Err(CounterError::LimitReached { limit: 10 })
        );
        assert_eq!(counter.increment(0), Err(CounterError::ZeroStep));
        assert_eq!(counter.get(), 10);
        assert_eq!(counter.last_caller(), Some(Address([1; 32])));
        assert_eq!(testing::events().len(), 2);
    }

    #[test]
    fn queries_cannot_write() {
        testing::reset();
        let mut counter = Counter::load();
        counter.init(10);
        // What the entry point of a `&self` method does natively too.
        cairn_sdk::runtime::entry(cairn_sdk::runtime::Mutability::ReadOnly, |_| {});
        let ended = testing::catch(|| {
            let mut writer = Counter::load();
            writer.increment(1)
        });
        assert!(
            matches!(ended, Err(testing::Ended::Aborted(message)) if message.contains("read-only"))
        );
    }
}
