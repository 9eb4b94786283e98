//! Attacks on a validator's process: [`VICTIM`] killed with SIGKILL and
//! restarted, again and again; [`VICTIM`] running with its clock off.
//! The other validators are the honest ones measured.

use std::time::{Duration, Instant};

use crate::attack::{Budget, Outcomes, Report, Session};

use super::{Adversary, OTHERS, PATIENCE, VICTIM};

/// How long the victim runs between kills, in turn: a kill lands at a
/// different step of a block each time (starting, syncing, voting,
/// committing).
const UP_MS: [u64; 5] = [700, 1_900, 3_100, 1_300, 2_500];
/// How long it stays down.
const DOWN: Duration = Duration::from_secs(1);
/// What a node logs when it refuses a block whose time is too far ahead of
/// its clock.
const AHEAD_OF_CLOCK: &str = "ahead of this node's clock";

/// Kills [`VICTIM`] with SIGKILL and restarts it, for the session's time.
pub(super) async fn kill_restart(
    adversary: &mut Adversary,
    budget: Budget,
) -> anyhow::Result<Report> {
    let session = Session::begin(&adversary.others, &adversary.setup, &budget).await;
    let mut kills = 0u64;
    let mut up = UP_MS.iter().cycle();
    let outcome: anyhow::Result<()> = async {
        while !session.over() {
            let until = Instant::now() + Duration::from_millis(*up.next().unwrap_or(&1_000));
            sleep_until_over(&session, until).await;
            if !session.take(0) {
                break;
            }
            adversary.net.kill(VICTIM);
            kills += 1;
            sleep_until_over(&session, Instant::now() + DOWN).await;
            adversary.net.try_start_with(VICTIM, &[])?;
        }
        Ok(())
    }
    .await;
    // Whatever happened, it runs again; healing waits for it to catch up.
    if !adversary.net.running(VICTIM) {
        adversary.net.try_start_with(VICTIM, &[])?;
    }
    outcome?;
    let mut outcomes = Outcomes::default();
    outcomes.0.insert("kills".into(), kills);
    session
        .end(
            format!("node {VICTIM} killed (SIGKILL) and restarted"),
            outcomes,
        )
        .await
}

/// Restarts [`VICTIM`] with its clock `offset_ms` off (negative: behind),
/// for the session's time and at least until it has caught up and then
/// had its turn to propose at a height the others finalized (so that what
/// it proposes with that clock is seen), within [`PATIENCE`]; then
/// restarts it with the right time.
pub(super) async fn skewed_clock(
    adversary: &mut Adversary,
    offset_ms: i64,
    budget: Budget,
) -> anyhow::Result<Report> {
    let victim = adversary.address(VICTIM)?;
    let victim_before = adversary.net.height(VICTIM).await.unwrap_or(0);
    let refused_before = adversary.log_counts(&[0, 1, 2, VICTIM], AHEAD_OF_CLOCK);
    adversary.net.kill(VICTIM);
    adversary
        .net
        .try_start_with(VICTIM, &[("CAIRN_CLOCK_OFFSET_MS", &offset_ms.to_string())])?;
    let session = Session::begin(&adversary.others, &adversary.setup, &budget).await;
    let started = Instant::now();
    // The height from which the victim had caught up, then the height it
    // was due to propose after that.
    let mut caught_up_at = None;
    let mut had_turn = false;
    loop {
        if session.over() {
            if had_turn || started.elapsed() > PATIENCE {
                break;
            }
            session.extend(Duration::from_secs(1));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let honest = adversary.net.highest(&OTHERS).await;
        let own = adversary.net.height(VICTIM).await.unwrap_or(0);
        match caught_up_at {
            // Caught up, and finalized a block since it restarted: it
            // takes part again.
            None if own >= honest && own > victim_before => caught_up_at = Some(honest),
            Some(from) if !had_turn => {
                had_turn =
                    (from + 1..=honest).any(|height| adversary.proposer(height, 0) == victim);
            }
            _ => {}
        }
    }
    let victim_after = adversary.net.height(VICTIM).await.unwrap_or(0);
    let refused_after = adversary.log_counts(&[0, 1, 2, VICTIM], AHEAD_OF_CLOCK);
    // Back to the right time.
    adversary.net.kill(VICTIM);
    adversary.net.try_start_with(VICTIM, &[])?;

    let mut outcomes = Outcomes::default();
    outcomes.0.insert(
        format!("node {VICTIM} finalized"),
        victim_after.saturating_sub(victim_before),
    );
    outcomes
        .0
        .insert(format!("node {VICTIM} had its turn"), u64::from(had_turn));
    let refused = |nodes: std::ops::Range<usize>| -> u64 {
        nodes
            .map(|index| refused_after[index].saturating_sub(refused_before[index]))
            .sum()
    };
    outcomes
        .0
        .insert("its proposals refused for their time".into(), refused(0..3));
    outcomes
        .0
        .insert("proposals it refused for their time".into(), refused(3..4));
    let (direction, magnitude) = if offset_ms >= 0 {
        ("ahead", offset_ms)
    } else {
        ("behind", -offset_ms)
    };
    session
        .end(
            format!("node {VICTIM}'s clock {} s {direction}", magnitude / 1_000),
            outcomes,
        )
        .await
}

/// Sleeps until `until`, or until the session is over if sooner.
async fn sleep_until_over(session: &Session, until: Instant) {
    while Instant::now() < until && !session.over() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
