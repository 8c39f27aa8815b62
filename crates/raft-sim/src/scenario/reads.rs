//! The scenarios of reads without a log write (thesis sections 6.4 and 6.4.1; section 8 of
//! the production-raft reference, 17 and 23). Every read a script asks is checked when it is
//! decided by [`crate::checkers::ReadsSeeWrites`]: answered at an index below a commit any
//! peer had reached when it was asked, the run fails. The scenarios make a stale read likely
//! where a rule is missing: an old leader asked to read while the majority commits without
//! it, a lease leader whose clock runs slow.
//!
//! | scenario | section 8 | claim |
//! | --- | --- | --- |
//! | `stale-read-partition` | 17 | an old leader cut off with one follower serves no read for 4 ET; after the heal it fails every read it held within 2 ET; the new leader serves reads |
//! | `lease-read-drift` | 23 | a lease leader whose ticks are 20% longer than its voters' (the bound it is configured with) serves reads under its lease after a cut, and none stale |
//!
//! The mutants of raft-core they catch: `read-without-round` (a read served without a
//! heartbeat round) by `stale-read-partition`; `lease-ignores-drift` (a lease of a whole
//! election timeout, no drift margin) by `lease-read-drift`.

use raft_core::ReadMode;

use super::production::{leads, others, settle};
use super::{Failure, Figures, ScriptConfig, Switches};
use crate::config::US_PER_MS;

/// How often the client writes: often enough that a lease leader's rounds are confirmed every
/// few ticks, so its lease is fresh when the cut comes.
const WRITE_EVERY_US: u64 = 20 * US_PER_MS;
/// `stale-read-partition`'s bound on the majority's first commit after the cut, in ET. Three
/// of five must all agree on one candidate, so split votes are common; the bound leaves room
/// for many (it is not what the scenario is about).
const MAJORITY_COMMIT_ET: u64 = 20;
/// How often the old leader is asked to read after the cut.
const READ_EVERY_US: u64 = 10 * US_PER_MS;
/// `lease-read-drift`'s election timeouts: the shortest plus at most this many ticks.
const TIMEOUT_SPREAD_TICKS: u32 = 3;
/// `lease-read-drift`'s bound on the new leader's first commit, in ET from the cut.
const NEW_LEADER_ET: u64 = 10;
/// The drift bound of `lease-read-drift`, and the drift it gives the leader's clock.
const DRIFT_PPM: u32 = 200_000;

/// Section 8, scenario 17: 5 peers with writes, ReadIndex; the leader L and one follower are
/// cut off from the other three, which elect a leader and commit. L is asked to read every
/// 10 ms for 4 ET, and on until the majority has committed (within 20 ET): no round of its
/// can reach a majority, so it serves none (and any it served would be stale, which the
/// checker catches). After the heal L learns the new term (at once
/// with check-quorum, which deposed it already) and fails every read it still held within
/// 2 ET; then, with pre-vote, the leader serves reads again within 2 ET (without it the two
/// come back at higher terms and may hold elections for longer: not checked).
///
/// # Errors
/// A [`Failure`] if a claim fails, a read is stale, or an invariant breaks.
pub fn stale_read_partition(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let mut config = ScriptConfig::new(seed, 5, switches).writing(WRITE_EVERY_US);
    config.full_trace = full_trace;
    let (mut s, old) = settle("stale-read-partition", config)?;
    let (f, [a, b, c]) = match others(old, 5)[..] {
        [f, a, b, c] => (f, [a, b, c]),
        _ => return Err(s.fail("five peers make four followers".to_owned())),
    };
    s.links().only(&[(old, f), (a, b), (a, c), (b, c)]);
    s.note(&format!("n{old} and n{f} cut off from n{a} n{b} n{c}"));
    s.mark();
    let cut = s.now_us();
    let bound = cut + MAJORITY_COMMIT_ET * s.et_us();
    while s.now_us() < bound && (s.now_us() < cut + 4 * s.et_us() || s.figures().commits == 0) {
        s.read(old)?;
        s.run_for(READ_EVERY_US)?;
    }
    let mut figures = s.figures();
    s.check(figures.commits > 0, || {
        format!("the majority committed nothing within {MAJORITY_COMMIT_ET} ET of the cut")
    })?;
    s.check(figures.reads_served == 0, || {
        format!(
            "n{old} served {} reads cut off from the majority",
            figures.reads_served
        )
    })?;
    s.links().heal();
    s.note("heal");
    let healed = s.now_us();
    let settled = s.run_until(healed + 2 * s.et_us(), |r| !leads(r, old))?;
    s.run_for(s.heartbeat_us())?;
    s.check(settled.is_some() && s.reads_waiting(old) == 0, || {
        format!(
            "n{old} still holds {} reads 2 ET after the heal",
            s.reads_waiting(old)
        )
    })?;
    let served_before = s.reads_served();
    let back = s.now_us();
    while s.now_us() < back + 2 * s.et_us() {
        if let Some(leader) = s.leader() {
            s.read(leader.as_usize())?;
        }
        s.run_for(5 * READ_EVERY_US)?;
    }
    s.check(!switches.pre_vote || s.reads_served() > served_before, || {
        "no read served in 2 ET after the heal".to_owned()
    })?;
    figures.event_us = settled.map(|t| t - healed);
    Ok(figures)
}

/// Section 8, scenario 23 (tikv #9728 for the tick phase): 3 peers with writes every 20 ms,
/// lease reads with a drift bound of 20% (both switches: a lease needs check-quorum; other
/// switches run ReadIndex as the contrast). The leader's clock is made 20% slower than its
/// voters', the most the bound allows; at a tick phase the seed picks, it is cut off and
/// asked to read every 10 ms for 4 ET, while the other two elect a leader and commit (within
/// 10 ET of the cut: their timeouts are drawn from the shortest plus 0-3 ticks, so that they
/// vote as early as the rules allow, and split votes are likelier).
/// Its lease (the last confirmed round's send tick plus floor(29 / 1.2) = 24 of its 12 ms
/// ticks, 288 ms) ends before either voter, which heard that round no earlier, can vote
/// (after 29 whole ticks of its own, 290 ms): it serves reads after the cut, and none stale.
/// A lease of 29 of its ticks (348 ms, the mutant `lease-ignores-drift`) outlives that.
///
/// # Errors
/// A [`Failure`] if a claim fails, a read is stale, or an invariant breaks.
pub fn lease_read_drift(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let lease = switches.check_quorum;
    let mut config = ScriptConfig::new(seed, 3, switches).writing(WRITE_EVERY_US);
    config.full_trace = full_trace;
    // Voters time out within a few ticks of the shortest timeout: the first moments a lease
    // without its drift margin can be outlived are the ones they reach. (Split votes are
    // likelier so; the liveness bound below leaves room for them.)
    config.election_timeout_ticks_max = config.election_timeout_ticks_min + TIMEOUT_SPREAD_TICKS;
    if lease {
        config.reads = ReadMode::Lease {
            clock_drift_ppm: DRIFT_PPM,
        };
    }
    let tick_us = config.tick_us;
    let (mut s, old) = settle("lease-read-drift", config)?;
    s.set_tick_us(old, tick_us + tick_us * u64::from(DRIFT_PPM) / 1_000_000);
    s.run_for(s.et_us())?;
    s.run_for(seed % tick_us)?;
    s.links().isolate(old);
    s.note(&format!("cut the leader n{old} off"));
    s.mark();
    let cut = s.now_us();
    while s.now_us() < cut + 4 * s.et_us() {
        s.read(old)?;
        s.run_for(READ_EVERY_US)?;
    }
    let elected = s.run_until(cut + NEW_LEADER_ET * s.et_us(), |r| {
        (0..3).any(|i| i != old && leads(r, i))
    })?;
    s.run_for(s.et_us())?;
    let figures = s.figures();
    s.check(elected.is_some() && figures.commits > 0, || {
        format!("no new leader committed within {NEW_LEADER_ET} ET of the cut")
    })?;
    s.check(!lease || figures.reads_served > 0, || {
        format!("n{old} served no read under its lease after the cut")
    })?;
    Ok(figures)
}
