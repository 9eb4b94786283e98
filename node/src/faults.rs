//! Faults a test can make a real node process suffer: dying at a named step
//! of deciding and committing a block, and a clock that is off. Only with
//! the `test-utils` feature; in any other build every function here is
//! the plain behaviour (no crash, the system clock).
//!
//! - `CAIRN_CRASH_AT=<point>` or `<point>@<height>`: the process kills
//!   itself with SIGKILL (no destructors, no flushing: `kill -9`) the first
//!   time it reaches `point` at a height at or above `height`. The points
//!   are [`CRASH_POINTS`].
//! - `CAIRN_CLOCK_OFFSET_MS=<milliseconds>` (negative for a clock behind):
//!   the node's clock, for the block times it proposes and the checks it
//!   makes of others', is shifted by that much.

use std::time::SystemTime;

/// Every step at which a test can crash a node, in the order a block goes
/// through them.
pub const CRASH_POINTS: &[&str] = &[
    // A received proposal is durable, consensus not yet told.
    "proposal.stored",
    // This node's own proposal is durable, not yet streamed.
    "propose.stored",
    // A synced block is durable, consensus not yet told.
    "synced.stored",
    // A vote's signature is recorded, not yet returned to consensus.
    "vote.signed",
    // Consensus decided; nothing committed yet.
    "decided",
    // The commit's write is prepared, not written.
    "commit.before_write",
    // The block is on disk; consensus not yet told.
    "commit.after_write",
    // The height is finalized; the next one not yet started.
    "finalized",
];

/// Dies here if the test asked for it (feature `test-utils`).
#[cfg(feature = "test-utils")]
pub fn crash_point(point: &str, height: u64) {
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    let target = TARGET.get_or_init(|| {
        let value = std::env::var("CAIRN_CRASH_AT").ok()?;
        Some(match value.split_once('@') {
            Some((point, height)) => (point.to_owned(), height.parse().unwrap_or(0)),
            None => (value, 0),
        })
    });
    if let Some((name, from)) = target
        && name == point
        && height >= *from
    {
        eprintln!("CAIRN_CRASH_AT: killing this process at {point}, height {height}");
        // SAFETY: kill(2) on this process's own id has no memory effects;
        // SIGKILL ends the process before the call returns.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // Not reached; if the signal were somehow not delivered, die anyway.
        std::process::abort();
    }
}

/// Dies here if the test asked for it (feature `test-utils`).
#[cfg(not(feature = "test-utils"))]
#[inline(always)]
pub fn crash_point(_point: &str, _height: u64) {}

/// This node's clock: the system's, shifted in tests that need a node whose
/// clock is off.
pub fn now() -> SystemTime {
    #[cfg(feature = "test-utils")]
    {
        use std::sync::OnceLock;
        use std::time::Duration;
        static OFFSET_MS: OnceLock<i64> = OnceLock::new();
        let offset = *OFFSET_MS.get_or_init(|| {
            std::env::var("CAIRN_CLOCK_OFFSET_MS")
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(0)
        });
        let shift = Duration::from_millis(offset.unsigned_abs());
        let now = SystemTime::now();
        if offset >= 0 {
            now.checked_add(shift).unwrap_or(now)
        } else {
            now.checked_sub(shift).unwrap_or(now)
        }
    }
    #[cfg(not(feature = "test-utils"))]
    SystemTime::now()
}
