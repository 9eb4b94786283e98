//! Attackers on the consensus network: a stranger, and a faulty validator
//! in the place of [`VICTIM`], each a [`JunkPeer`].
//!
//! What they cannot be kept from costing (Malachite 0.8.2): gossipsub
//! relays a well-signed `/proposal_parts` message to its mesh before the
//! node's application has seen it, so every junk message is relayed once
//! by each honest node that receives it, refused afterwards. The topic's
//! message size limit bounds each relay.

use std::time::{Duration, Instant};

use crate::attack::junk_peer::{self, JunkPeer};
use crate::attack::{Budget, Outcomes, Report, Session};

use super::{ALL, Adversary, OTHERS, PATIENCE, VICTIM};

/// How often the peer publishes.
const TICK: Duration = Duration::from_millis(100);
/// Streams opened per tick, each one data part of [`PART_BYTES`].
const STREAMS_PER_TICK: usize = 32;
const PART_BYTES: usize = 8 * 1024;
/// A block that does not decode: a node that looked at it would say so in
/// its log (`undecodable proposal`).
const JUNK_BLOCK: &[u8] = b"a block nobody should execute";
/// The rounds of each height the faulty validator proposes out of turn.
const ROUNDS: u32 = 4;
/// What the nodes count refused proposal parts under.
const REFUSED: &str = "cairn_consensus_refused_stream_messages_total";

/// A stranger (a key of no validator) joins every node's consensus swarm
/// and publishes junk streams.
pub(super) async fn junk_streams(
    adversary: &mut Adversary,
    budget: Budget,
) -> anyhow::Result<Report> {
    let peers = ALL
        .iter()
        .map(|&index| adversary.net.consensus_address(index))
        .collect();
    let mut stranger = JunkPeer::start(
        &cairn_node::keys::generate(),
        &adversary.genesis,
        junk_peer::free_address()?,
        peers,
    )
    .await?;
    let session = Session::begin(&adversary.all, &adversary.setup, &budget).await;
    let outcomes = publish(adversary, &ALL, &session, &mut stranger, |_, _| Ok(0)).await;
    stranger.stop();
    session
        .end("a stranger's junk streams".into(), outcomes?)
        .await
}

/// [`VICTIM`] is stopped and a peer with its key takes its place: its
/// junk streams, and for every round of the next height that it does not
/// propose, a signed proposal of a block that does not decode.
pub(super) async fn out_of_turn(
    adversary: &mut Adversary,
    budget: Budget,
) -> anyhow::Result<Report> {
    adversary.net.kill(VICTIM);
    let faulty_address = adversary.address(VICTIM)?;
    let peers = OTHERS
        .iter()
        .map(|&index| adversary.net.consensus_address(index))
        .collect();
    // Where the validator listens: the others dial it as a peer.
    let mut faulty = JunkPeer::start(
        &adversary.net.key(VICTIM)?,
        &adversary.genesis,
        adversary.net.consensus_address(VICTIM),
        peers,
    )
    .await?;
    let undecodable_before: u64 = adversary
        .log_counts(&OTHERS, "undecodable proposal")
        .iter()
        .sum();
    let session = Session::begin(&adversary.others, &adversary.setup, &budget).await;
    let outcomes = publish(adversary, &OTHERS, &session, &mut faulty, |peer, next| {
        let mut published = 0;
        for round in 0..ROUNDS {
            if adversary.proposer(next, round) != faulty_address {
                peer.publish_proposal(next, round, JUNK_BLOCK)?;
                published += 1;
            }
        }
        Ok(published)
    })
    .await;
    faulty.stop();
    let mut outcomes = outcomes?;
    let undecodable_after: u64 = adversary
        .log_counts(&OTHERS, "undecodable proposal")
        .iter()
        .sum();
    // Had a node executed one, it would have found it undecodable.
    outcomes.0.insert(
        "proposals out of turn looked at".into(),
        undecodable_after.saturating_sub(undecodable_before),
    );
    session
        .end(
            "a faulty validator's junk streams and proposals out of turn".into(),
            outcomes,
        )
        .await
}

/// Every [`TICK`]: [`STREAMS_PER_TICK`] junk streams, then `propose(peer,
/// next height)`, which returns the proposals it published. Goes on for
/// the session's time, and at least until each of `nodes` has refused one
/// of the peer's messages (a mesh forming slowly does not end the attack
/// before it began), within [`PATIENCE`].
async fn publish(
    adversary: &Adversary,
    nodes: &[usize],
    session: &Session,
    peer: &mut JunkPeer,
    mut propose: impl FnMut(&mut JunkPeer, u64) -> anyhow::Result<u64>,
) -> anyhow::Result<Outcomes> {
    let refused_before = refused(adversary, nodes).await;
    let started = Instant::now();
    let mut reached = false;
    let mut checked = started;
    let (mut streams, mut proposals) = (0u64, 0u64);
    let tick_bytes = u64::try_from(STREAMS_PER_TICK * PART_BYTES).unwrap_or(u64::MAX);
    loop {
        if session.over() {
            if reached || started.elapsed() > PATIENCE {
                break;
            }
            session.extend(Duration::from_secs(1));
        }
        if !session.take(tick_bytes) {
            break;
        }
        peer.publish_junk_streams(STREAMS_PER_TICK, PART_BYTES)?;
        streams += u64::try_from(STREAMS_PER_TICK).unwrap_or(u64::MAX);
        let next = adversary.net.highest(nodes).await + 1;
        proposals += propose(peer, next)?;
        tokio::time::sleep(TICK).await;
        if !reached && checked.elapsed() >= Duration::from_secs(1) {
            checked = Instant::now();
            let now = refused(adversary, nodes).await;
            reached = now
                .iter()
                .zip(&refused_before)
                .all(|(now, then)| now > then);
        }
    }
    let refused_after = refused(adversary, nodes).await;
    let mut outcomes = Outcomes::default();
    outcomes.0.insert("junk streams published".into(), streams);
    if proposals > 0 {
        outcomes
            .0
            .insert("proposals out of turn published".into(), proposals);
    }
    outcomes.0.insert(
        "parts refused (fewest of a node)".into(),
        refused_after
            .iter()
            .zip(&refused_before)
            .map(|(after, before)| after.saturating_sub(*before))
            .min()
            .unwrap_or(0),
    );
    Ok(outcomes)
}

async fn refused(adversary: &Adversary, nodes: &[usize]) -> Vec<u64> {
    let mut counts = Vec::new();
    for &index in nodes {
        counts.push(adversary.counter(index, REFUSED).await);
    }
    counts
}
