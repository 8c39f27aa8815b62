//! The fault model of labrpc (`processReq` in labrpc.go, 2021-2023), as pure decisions.
//!
//! Each function takes the random source and the flags sampled at the start of the call and
//! returns what happens to one request or one reply, in whole milliseconds. They read no
//! clock, start no thread and draw nothing when the knob that needs the draw is off, so a
//! deterministic simulator can replay the same decisions from the same seed. The
//! [`Network`](crate::Network) turns the returned delays into timer tasks.
//!
//! | knob | labrpc.go | here |
//! |---|---|---|
//! | request delay, unreliable | `rand.Int() % 27` ms | 0..=[`REQUEST_DELAY_MS_MAX`] |
//! | request drop, unreliable | `rand.Int() % 1000 < 100` | [`REQUEST_DROP_PER_MILLE`] / 1000 |
//! | reply drop, unreliable | `rand.Int() % 1000 < 100` | [`REPLY_DROP_PER_MILLE`] / 1000 |
//! | reply reordered, long reordering | `rand.Intn(900) < 600` | [`REORDER_CHANCE_NUMERATOR`] / [`REORDER_CHANCE_DENOMINATOR`] |
//! | reordered reply delay | `200 + rand.Intn(1 + rand.Intn(2000))` ms | [`REORDER_DELAY_MS_MIN`] + 0..=(0..=[`REORDER_EXTRA_MS_MAX`]) |
//! | dead end, long delays | `rand.Int() % 7000` ms | 0..=[`DEAD_END_LONG_DELAY_MS_MAX`] |
//! | dead end, short delays | `rand.Int() % 100` ms | 0..=[`DEAD_END_SHORT_DELAY_MS_MAX`] |

use rand::Rng;

/// Longest request delay on an unreliable network, inclusive (labrpc: `rand.Int() % 27`).
pub const REQUEST_DELAY_MS_MAX: u64 = 26;
/// Chance, in thousandths, that an unreliable network drops a request before its handler.
pub const REQUEST_DROP_PER_MILLE: u32 = 100;
/// Chance, in thousandths, that an unreliable network drops a reply after its handler ran.
pub const REPLY_DROP_PER_MILLE: u32 = 100;
/// Numerator of the chance that long reordering delays a delivered reply (600/900 = 2/3).
pub const REORDER_CHANCE_NUMERATOR: u32 = 600;
/// Denominator of the chance that long reordering delays a delivered reply.
pub const REORDER_CHANCE_DENOMINATOR: u32 = 900;
/// Shortest delay of a reordered reply.
pub const REORDER_DELAY_MS_MIN: u64 = 200;
/// Largest extra delay of a reordered reply, inclusive: a bound is drawn uniformly in
/// 0..=this, then the extra uniformly in 0..=bound (labrpc: `rand.Intn(1 + rand.Intn(2000))`),
/// so delays span 200..=2199 ms, skewed low, with a mean near 700 ms.
pub const REORDER_EXTRA_MS_MAX: u64 = 1999;
/// Longest delay before a call through a dead end fails, with long delays on, inclusive
/// (labrpc: `rand.Int() % 7000`, "let Raft tests check that leader doesn't send RPCs
/// synchronously").
pub const DEAD_END_LONG_DELAY_MS_MAX: u64 = 6999;
/// Longest delay before a call through a dead end fails, with long delays off, inclusive
/// (labrpc: `rand.Int() % 100`, so kv clients retry quickly).
pub const DEAD_END_SHORT_DELAY_MS_MAX: u64 = 99;

const PER_MILLE: u32 = 1000;

/// What happens to a request that reached a live, enabled, connected end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFate {
    /// How long the request travels before it is dropped or handed to the handler.
    pub delay_ms: u64,
    /// Whether the request is lost after the delay: the call fails and no handler runs.
    pub dropped: bool,
}

/// What happens to a reply from a handler whose server is still alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyFate {
    /// The reply is lost; the call fails, but the handler's effects stand.
    Dropped,
    /// The reply reaches the caller after `delay_ms` (0 unless reordered).
    Delivered {
        /// Milliseconds before delivery.
        delay_ms: u64,
    },
}

/// Decides a request's delay and drop. A reliable network draws nothing and delivers at once.
pub fn request_fate<G: Rng + ?Sized>(rng: &mut G, reliable: bool) -> RequestFate {
    if reliable {
        return RequestFate {
            delay_ms: 0,
            dropped: false,
        };
    }
    let delay_ms = rng.random_range(0..=REQUEST_DELAY_MS_MAX);
    let dropped = rng.random_range(0..PER_MILLE) < REQUEST_DROP_PER_MILLE;
    RequestFate { delay_ms, dropped }
}

/// Decides a reply's drop (unreliable) and then its reordering delay (long reordering), in
/// labrpc's order. Draws nothing for a knob that is off.
pub fn reply_fate<G: Rng + ?Sized>(rng: &mut G, reliable: bool, long_reordering: bool) -> ReplyFate {
    if !reliable && rng.random_range(0..PER_MILLE) < REPLY_DROP_PER_MILLE {
        return ReplyFate::Dropped;
    }
    if long_reordering && rng.random_range(0..REORDER_CHANCE_DENOMINATOR) < REORDER_CHANCE_NUMERATOR {
        let bound_ms = rng.random_range(0..=REORDER_EXTRA_MS_MAX);
        let extra_ms = rng.random_range(0..=bound_ms);
        return ReplyFate::Delivered {
            delay_ms: REORDER_DELAY_MS_MIN + extra_ms,
        };
    }
    ReplyFate::Delivered { delay_ms: 0 }
}

/// Decides how long a call through a disabled or unconnected end, or to a missing server,
/// waits before it fails.
pub fn dead_end_delay_ms<G: Rng + ?Sized>(rng: &mut G, long_delays: bool) -> u64 {
    let max_ms = if long_delays {
        DEAD_END_LONG_DELAY_MS_MAX
    } else {
        DEAD_END_SHORT_DELAY_MS_MAX
    };
    rng.random_range(0..=max_ms)
}

#[cfg(test)]
mod tests {
    //! Distribution checks of the pure decisions, from a fixed seed. Tolerances are six
    //! standard deviations of the estimate (computed beside each), so they would hold for
    //! any seed, not only this one.
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    const SAMPLES: u32 = 100_000;

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(0x6824)
    }

    #[test]
    fn reliable_draws_nothing() {
        let mut a = rng();
        let mut b = rng();
        assert_eq!(
            request_fate(&mut a, true),
            RequestFate {
                delay_ms: 0,
                dropped: false
            }
        );
        assert_eq!(
            reply_fate(&mut a, true, false),
            ReplyFate::Delivered { delay_ms: 0 }
        );
        // `a` must still be in step with the untouched `b`.
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }

    #[test]
    fn request_delay_and_drop() {
        let mut rng = rng();
        let (mut dropped, mut delay_sum_ms, mut seen) = (0u32, 0u64, [false; 27]);
        for _ in 0..SAMPLES {
            let fate = request_fate(&mut rng, false);
            assert!(
                fate.delay_ms <= REQUEST_DELAY_MS_MAX,
                "delay {} ms",
                fate.delay_ms
            );
            seen[fate.delay_ms as usize] = true;
            delay_sum_ms += fate.delay_ms;
            dropped += u32::from(fate.dropped);
        }
        assert!(seen.iter().all(|&s| s), "every delay 0..=26 ms occurs");
        // Uniform 0..=26: mean 13, sd sqrt((27^2 - 1) / 12) = 7.79; sd of the mean over
        // 100,000 samples 0.0246; 6 sd = 0.15.
        let mean_ms = delay_sum_ms as f64 / f64::from(SAMPLES);
        assert!((mean_ms - 13.0).abs() < 0.15, "mean request delay {mean_ms} ms");
        // Bernoulli(0.1): sd of the share sqrt(0.09 / 100,000) = 0.00095; 6 sd = 0.0057.
        let share = f64::from(dropped) / f64::from(SAMPLES);
        assert!((share - 0.1).abs() < 0.0057, "request drop share {share}");
    }

    #[test]
    fn reply_drop_and_reordering() {
        let mut rng = rng();
        let (mut dropped, mut reordered, mut extra_sum_ms) = (0u32, 0u32, 0u64);
        for _ in 0..SAMPLES {
            match reply_fate(&mut rng, false, true) {
                ReplyFate::Dropped => dropped += 1,
                ReplyFate::Delivered { delay_ms: 0 } => {}
                ReplyFate::Delivered { delay_ms } => {
                    assert!((REORDER_DELAY_MS_MIN..=2199).contains(&delay_ms), "{delay_ms} ms");
                    reordered += 1;
                    extra_sum_ms += delay_ms - REORDER_DELAY_MS_MIN;
                }
            }
        }
        // Drop: Bernoulli(0.1), 6 sd = 0.0057 (as above).
        let drop_share = f64::from(dropped) / f64::from(SAMPLES);
        assert!((drop_share - 0.1).abs() < 0.0057, "reply drop share {drop_share}");
        // Reordered among the 90,000 or so delivered: Bernoulli(2/3), sd sqrt(2/9 / 90,000)
        // = 0.0016; 6 sd = 0.0094.
        let delivered = SAMPLES - dropped;
        let share = f64::from(reordered) / f64::from(delivered);
        assert!((share - 2.0 / 3.0).abs() < 0.0094, "reordered share {share}");
        // Extra delay: bound B uniform 0..=1999, extra uniform 0..=B; mean E[B]/2 = 499.75,
        // variance E[B(B+2)/12] + Var(B)/4 = 111,194 + 83,333, sd 441; over ~60,000 samples
        // the mean's sd is 1.8; 6 sd = 10.8.
        let mean_ms = extra_sum_ms as f64 / f64::from(reordered);
        assert!(
            (mean_ms - 499.75).abs() < 10.8,
            "mean extra reorder delay {mean_ms} ms"
        );
    }

    #[test]
    fn dead_end_delays() {
        let mut rng = rng();
        for (long, max_ms) in [
            (true, DEAD_END_LONG_DELAY_MS_MAX),
            (false, DEAD_END_SHORT_DELAY_MS_MAX),
        ] {
            let mut sum_ms = 0u64;
            for _ in 0..SAMPLES {
                let delay_ms = dead_end_delay_ms(&mut rng, long);
                assert!(delay_ms <= max_ms, "{delay_ms} ms > {max_ms} ms");
                sum_ms += delay_ms;
            }
            // Uniform 0..=max: sd (max + 1) / sqrt(12); the mean's sd over 100,000 samples is
            // that / 316.2 (6.39 ms long, 0.091 ms short); 6 sd = 38.4 ms / 0.55 ms.
            let mean_ms = sum_ms as f64 / f64::from(SAMPLES);
            let tolerance_ms = 6.0 * (max_ms + 1) as f64 / 12f64.sqrt() / f64::from(SAMPLES).sqrt();
            assert!(
                (mean_ms - max_ms as f64 / 2.0).abs() < tolerance_ms,
                "mean {mean_ms} ms"
            );
        }
    }
}
