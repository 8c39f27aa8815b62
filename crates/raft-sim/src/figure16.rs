//! Figure 16 of the Raft paper, by simulation: how long a five-peer cluster takes to elect a
//! new leader after its leader crashes, for several election-timeout ranges.
//!
//! Setup of one trial (as the paper's section 9.3 states it, mapped onto the simulator):
//! five peers (started apart, see [`START_STAGGER_DIVISOR`]), a 1 ms tick, a fixed one-way message delay of [`ONE_WAY_DELAY_US`] (7.5 ms, so a
//! round trip is the paper's 15 ms broadcast time; the simulator has no disk write), no drops.
//! A stable leader is elected, then proposes one entry. The network between the leader and two
//! of its four followers (the two lowest-numbered) strips the entries from its AppendEntries
//! and loses those followers' replies: they receive every heartbeat (and reset their timers
//! with the others) but never the entry, so their logs are shorter and they cannot win the
//! next election. Once the other two hold the entry and know it committed, the trial waits for
//! the leader's next heartbeat, crashes the leader at a uniformly random time within the
//! heartbeat interval after it, and measures the virtual time until another peer leads. A
//! trial still without a leader after the cap is reported as censored.
//!
//! Every trial is seeded by its index, so a run is reproducible bit for bit.

use raft_core::PeerId;
use raft_core::message::{Reply, Request};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{FaultProfile, SimConfig, US_PER_MS, US_PER_S};
use crate::service::command_bytes;
use crate::sim::Simulation;
use crate::world::Event;

/// Peers in the cluster, as in the paper.
pub const PEERS: usize = 5;
/// Virtual length of one tick.
pub const TICK_US: u64 = US_PER_MS;
/// One-way message delay: a round trip of 15 ms, the paper's broadcast time.
pub const ONE_WAY_DELAY_US: u64 = 7_500;
/// Trials per line by default, as in the paper.
pub const TRIALS_DEFAULT: usize = 1000;
/// The paper ran a tenth as many trials for the line without randomness (150-150 ms).
pub const NO_RANDOMNESS_TRIALS_DIVISOR: usize = 10;
/// Virtual time after the crash at which a trial without a new leader is censored.
pub const CENSOR_CAP_US_DEFAULT: u64 = 10 * US_PER_S;
/// Most events the setup (first election, the entry, the heartbeat) may take.
pub const SETUP_EVENTS_MAX: u64 = 1_000_000;
/// How long the client waits between actions: effectively never (the trial proposes itself).
const CLIENT_IDLE_US: u64 = 1_000 * US_PER_S;
/// Mixed into a trial's seed for the draw of the crash time, apart from the simulator's RNG.
const CRASH_DRAW_SALT: u64 = 0xf16_f16f_16f1_6f16;
/// The peers start apart by the shortest election timeout divided by this (peer k at k times
/// the gap: 10 ms at 150 ms), so that the first election converges even without randomness
/// (150-150 ms would otherwise split votes forever), and all are up before it.
pub const START_STAGGER_DIVISOR: u64 = 15;

/// One line of the paper's figure: numbers read off its plots, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperRow {
    /// Fastest trial.
    pub min_ms: f64,
    /// Median.
    pub median_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest trial.
    pub max_ms: f64,
}

/// One timing setting (a line of the figure).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    /// Shortest election timeout.
    pub timeout_ms_min: u32,
    /// Longest election timeout.
    pub timeout_ms_max: u32,
    /// Leader heartbeat interval.
    pub heartbeat_ms: u32,
    /// The paper's numbers for this line.
    pub paper: PaperRow,
}

impl Setting {
    /// "150–300 ms".
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}–{} ms", self.timeout_ms_min, self.timeout_ms_max)
    }

    /// Trials for this line when lines get `trials` each (the no-randomness line a tenth).
    #[must_use]
    pub fn trials(&self, trials: usize) -> usize {
        if self.timeout_ms_min == self.timeout_ms_max {
            (trials / NO_RANDOMNESS_TRIALS_DIVISOR).max(1)
        } else {
            trials
        }
    }

    /// The simulator config of trial `seed` at this setting.
    #[must_use]
    pub fn config(&self, seed: u64) -> SimConfig {
        SimConfig {
            peers: PEERS,
            faults: FaultProfile::None,
            tick_us: TICK_US,
            election_timeout_ticks_min: self.timeout_ms_min,
            election_timeout_ticks_max: self.timeout_ms_max,
            heartbeat_interval_ticks: self.heartbeat_ms,
            delay_us_min: ONE_WAY_DELAY_US,
            delay_us_max: ONE_WAY_DELAY_US,
            long_delay_us_max: 0,
            fault_duration_us: 0,
            client_interval_us_min: CLIENT_IDLE_US,
            client_interval_us_max: CLIENT_IDLE_US,
            ..SimConfig::new(seed)
        }
    }
}

const fn row(min_ms: f64, median_ms: f64, mean_ms: f64, p90_ms: f64, p99_ms: f64, max_ms: f64) -> PaperRow {
    PaperRow {
        min_ms,
        median_ms,
        mean_ms,
        p90_ms,
        p99_ms,
        max_ms,
    }
}

const fn setting(timeout_ms_min: u32, timeout_ms_max: u32, heartbeat_ms: u32, paper: PaperRow) -> Setting {
    Setting {
        timeout_ms_min,
        timeout_ms_max,
        heartbeat_ms,
        paper,
    }
}

/// The top panel: varying randomness, minimum 150 ms, heartbeat 75 ms.
pub const TOP_PANEL: [Setting; 6] = [
    setting(
        150,
        150,
        75,
        row(9_900.0, 41_000.0, 55_000.0, 85_000.0, 528_000.0, 528_000.0),
    ),
    setting(
        150,
        151,
        75,
        row(86.0, 1_200.0, 1_540.0, 3_130.0, 6_010.0, 8_230.0),
    ),
    setting(150, 155, 75, row(85.0, 287.0, 345.0, 609.0, 1_240.0, 2_140.0)),
    setting(150, 175, 75, row(84.0, 141.0, 164.0, 291.0, 467.0, 610.0)),
    setting(150, 200, 75, row(87.0, 146.0, 156.0, 194.0, 352.0, 512.0)),
    setting(150, 300, 75, row(93.0, 171.0, 181.0, 244.0, 415.0, 603.0)),
];

/// The bottom panel: scaling the minimum timeout T, range [T, 2T], heartbeat T/2.
pub const BOTTOM_PANEL: [Setting; 5] = [
    setting(12, 24, 6, row(15.0, 30.0, 35.0, 53.0, 87.0, 152.0)),
    setting(25, 50, 12, row(24.0, 43.0, 48.0, 74.0, 119.0, 276.0)),
    setting(50, 100, 25, row(37.0, 67.0, 71.0, 96.0, 169.0, 253.0)),
    setting(100, 200, 50, row(66.0, 120.0, 125.0, 166.0, 277.0, 335.0)),
    setting(150, 300, 75, row(93.0, 171.0, 181.0, 244.0, 415.0, 603.0)),
];

/// What one trial measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trial {
    /// The crashed leader.
    pub old_leader: PeerId,
    /// The peer elected after it, unless censored.
    pub new_leader: Option<PeerId>,
    /// Virtual time from the crash to the new leader, unless censored.
    pub elected_after_us: Option<u64>,
    /// Offset of the crash after the last heartbeat.
    pub crash_offset_us: u64,
    /// The run's trace fingerprint at the end.
    pub trace_hash: u64,
}

/// The peers whose links from `leader` lose entries: its two lowest-numbered followers.
fn behind_of(leader: usize) -> [usize; 2] {
    let mut behind = (0..PEERS).filter(|p| *p != leader);
    let first = behind.next().unwrap_or(0);
    [first, behind.next().unwrap_or(0)]
}

/// Applies the lossy links to the events due next: AppendEntries from `leader` to a peer in
/// `behind` lose their entries; replies from those peers to `leader` are lost.
fn filter_due(sim: &mut Simulation, leader: usize, behind: [usize; 2]) -> Result<(), String> {
    let lossy = |event| match event {
        Event::Request {
            caller,
            to,
            incarnation,
            message: Request::AppendEntries(mut args),
        } if caller.node == leader && behind.contains(&to) => {
            args.entries.clear();
            Some(Event::Request {
                caller,
                to,
                incarnation,
                message: Request::AppendEntries(args),
            })
        }
        Event::Reply {
            from,
            caller,
            message: Reply::AppendEntries(_),
        } if caller.node == leader && behind.contains(&from) => None,
        other => Some(other),
    };
    sim.world.map_due(lossy).map_err(|b| format!("\n{b}"))
}

/// One step with the lossy links of `lossy` (leader, behind) applied first.
fn step(sim: &mut Simulation, lossy: Option<(usize, [usize; 2])>) -> Result<(), String> {
    if let Some((leader, behind)) = lossy {
        filter_due(sim, leader, behind)?;
    }
    sim.step().map_err(|v| format!("\n{v}"))
}

/// Most setups a trial tries (short timeouts can depose the first leader mid-setup).
pub const SETUP_ATTEMPTS_MAX: u64 = 50;
/// Attempt k of trial i runs seed i + k times this.
pub const SETUP_SEED_STRIDE: u64 = 1 << 32;

/// Runs one trial of `setting` for trial seed `seed`, censored `cap_us` after the crash. A
/// setup that does not hold (the leader deposed before the crash) is redone with seed
/// `seed + k * SETUP_SEED_STRIDE`, k = 1, 2, ...
///
/// # Errors
/// A violation of an invariant, or no setup that held in [`SETUP_ATTEMPTS_MAX`] attempts.
pub fn trial(setting: &Setting, seed: u64, cap_us: u64) -> Result<Trial, String> {
    let mut last = String::new();
    for attempt in 0..SETUP_ATTEMPTS_MAX {
        match attempt_trial(setting, seed.wrapping_add(attempt * SETUP_SEED_STRIDE), cap_us) {
            Ok(Some(trial)) => return Ok(trial),
            Ok(None) => last = format!("seed {seed}: no setup held in {SETUP_ATTEMPTS_MAX} attempts"),
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// One attempt: `None` if the setup did not hold.
fn attempt_trial(setting: &Setting, seed: u64, cap_us: u64) -> Result<Option<Trial>, String> {
    let mut sim = Simulation::new(setting.config(seed)).map_err(|v| format!("\n{v}"))?;
    let mut events = 0u64;
    let mut budget = |sim: &Simulation| {
        events += 1;
        if events > SETUP_EVENTS_MAX {
            let commits: Vec<u64> = sim.peers().iter().flatten().map(|r| r.commit_index().0).collect();
            Err(format!(
                "seed {seed}: setup took more than {SETUP_EVENTS_MAX} events (at {} us, leader {:?}, commits {commits:?})",
                sim.now_us(),
                sim.leader()
            ))
        } else {
            Ok(())
        }
    };
    // 1. A first leader, with the peers started apart (after the end of faults at time
    // zero, which would restart them all at once).
    while sim.world.peek_time() == Some(0) {
        step(&mut sim, None)?;
    }
    for peer in 1..PEERS {
        sim.crash(peer).map_err(|v| format!("\n{v}"))?;
    }
    for peer in 1..PEERS {
        let start_us = peer as u64 * u64::from(setting.timeout_ms_min) * US_PER_MS / START_STAGGER_DIVISOR;
        while sim.world.peek_time().is_some_and(|t| t < start_us) {
            budget(&sim)?;
            step(&mut sim, None)?;
        }
        sim.world.advance_to(start_us);
        sim.restart(peer).map_err(|v| format!("\n{v}"))?;
    }
    // 2. One entry, held by the leader and two others, known committed by them. A leader
    // deposed before that (short timeouts) is replaced: the entry is proposed again to the
    // next one (raft-core appends no no-op, so an old term's entry would never commit).
    let mut command_id = 0;
    let mut target: Option<(PeerId, raft_core::Term, raft_core::LogIndex)> = None;
    let (leader, index) = loop {
        let current = sim
            .leader()
            .and_then(|id| sim.peers()[id.as_usize()].as_ref().map(|r| (id, r.term())));
        match (current, target) {
            (Some((id, term)), Some((t_id, t_term, index))) if id == t_id && term == t_term => {
                let l = id.as_usize();
                let behind = behind_of(l);
                let committed = (0..PEERS)
                    .filter(|p| *p != l && !behind.contains(p))
                    .all(|p| sim.peers()[p].as_ref().is_some_and(|r| r.commit_index() >= index));
                if committed {
                    break (id, index);
                }
            }
            (Some((id, term)), _) => {
                command_id += 1;
                let proposed = sim
                    .world
                    .propose(id.as_usize(), command_bytes(command_id))
                    .map_err(|b| format!("\n{b}"))?;
                let Some((index, _)) = proposed else {
                    return Err(format!("seed {seed}: the leader refused the entry"));
                };
                target = Some((id, term, index));
            }
            (None, _) => {}
        }
        budget(&sim)?;
        step(
            &mut sim,
            target.map(|(id, _, _)| (id.as_usize(), behind_of(id.as_usize()))),
        )?;
    };
    let l = leader.as_usize();
    let behind = behind_of(l);
    let lossy = Some((l, behind));
    // 3. The leader's next heartbeat: a step in which it sends to every follower.
    let heartbeat_us = loop {
        budget(&sim)?;
        let sent_before = sim.world.messages_sent();
        step(&mut sim, lossy)?;
        if sim.world.messages_sent() - sent_before >= (PEERS - 1) as u64 {
            break sim.now_us();
        }
    };
    if sim.leader() != Some(leader)
        || behind.iter().any(|p| {
            sim.peers()[*p]
                .as_ref()
                .is_none_or(|r| r.log().last_index() >= index)
        })
    {
        return Ok(None);
    }
    // 4. The crash, uniformly within the heartbeat interval after that heartbeat.
    let mut draw = SmallRng::seed_from_u64(seed ^ CRASH_DRAW_SALT);
    let crash_offset_us = draw.random_range(0..u64::from(setting.heartbeat_ms) * US_PER_MS);
    let crash_us = heartbeat_us + crash_offset_us;
    while sim.world.peek_time().is_some_and(|t| t < crash_us) {
        budget(&sim)?;
        step(&mut sim, lossy)?;
    }
    if sim.leader() != Some(leader) {
        return Ok(None);
    }
    sim.world.advance_to(crash_us);
    sim.crash(l).map_err(|v| format!("\n{v}"))?;
    // 5. Until another peer leads, or the cap.
    let (new_leader, elected_after_us) = loop {
        if let Some(id) = sim.leader().filter(|id| *id != leader) {
            break (Some(id), Some(sim.now_us() - crash_us));
        }
        if sim.world.peek_time().is_none_or(|t| t > crash_us + cap_us) {
            break (None, None);
        }
        step(&mut sim, lossy)?;
    };
    Ok(Some(Trial {
        old_leader: leader,
        new_leader,
        elected_after_us,
        crash_offset_us,
        trace_hash: sim.world.trace().hash(),
    }))
}

/// The measurements of one line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// The setting.
    pub setting: Setting,
    /// Times to elect, sorted, in microseconds (censored trials left out).
    pub elected_us: Vec<u64>,
    /// Trials run (elected plus censored).
    pub trials: usize,
    /// The censoring cap.
    pub cap_us: u64,
}

/// Runs `trials` trials of `setting` (trial i has seed i) on `threads` threads.
///
/// # Errors
/// The first trial that failed.
pub fn run_line(setting: &Setting, trials: usize, cap_us: u64, threads: usize) -> Result<Line, String> {
    let threads = threads.clamp(1, trials.max(1));
    let results: Vec<Result<Vec<Trial>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    (k..trials)
                        .step_by(threads)
                        .map(|i| trial(setting, i as u64, cap_us))
                        .collect::<Result<Vec<Trial>, String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a trial thread panicked".into())))
            .collect()
    });
    let mut elected_us = Vec::with_capacity(trials);
    for result in results {
        elected_us.extend(result?.iter().filter_map(|t| t.elected_after_us));
    }
    elected_us.sort_unstable();
    Ok(Line {
        setting: *setting,
        elected_us,
        trials,
        cap_us,
    })
}

/// A statistic of a line: a time, or more than the cap (it falls among censored trials).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    /// Milliseconds.
    Ms(f64),
    /// Beyond the cap, in milliseconds.
    Above(f64),
    /// At least this many milliseconds (a mean with censored trials counted at the cap).
    AtLeast(f64),
}

impl Line {
    /// Trials without a new leader by the cap.
    #[must_use]
    pub fn censored(&self) -> usize {
        self.trials - self.elected_us.len()
    }

    /// The `q` quantile (nearest rank), 0.0..=1.0.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Stat {
        let rank = ((q * self.trials as f64).ceil() as usize).clamp(1, self.trials.max(1));
        match self.elected_us.get(rank - 1) {
            Some(us) => Stat::Ms(*us as f64 / US_PER_MS as f64),
            None => Stat::Above(self.cap_us as f64 / US_PER_MS as f64),
        }
    }

    /// The mean (censored trials counted at the cap, so then a lower bound).
    #[must_use]
    pub fn mean(&self) -> Stat {
        let total: u64 = self.elected_us.iter().sum::<u64>() + self.censored() as u64 * self.cap_us;
        let ms = total as f64 / self.trials.max(1) as f64 / US_PER_MS as f64;
        if self.censored() > 0 {
            Stat::AtLeast(ms)
        } else {
            Stat::Ms(ms)
        }
    }

    /// min, median, mean, p90, p99, max.
    #[must_use]
    pub fn stats(&self) -> [Stat; 6] {
        [
            self.quantile(0.0),
            self.quantile(0.5),
            self.mean(),
            self.quantile(0.9),
            self.quantile(0.99),
            self.quantile(1.0),
        ]
    }
}

/// "287 ms", "1.20 s".
#[must_use]
pub fn format_ms(ms: f64) -> String {
    if ms >= 1_000.0 {
        let s = ms / 1_000.0;
        if s >= 100.0 {
            format!("{s:.0} s")
        } else if s >= 10.0 {
            format!("{s:.1} s")
        } else {
            format!("{s:.2} s")
        }
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn format_stat(stat: Stat) -> String {
    match stat {
        Stat::Ms(ms) => format_ms(ms),
        Stat::Above(ms) => format!("> {}", format_ms(ms)),
        Stat::AtLeast(ms) => format!("≥ {}", format_ms(ms)),
    }
}

/// A markdown table of `lines`, each followed by the paper's row.
#[must_use]
pub fn table(lines: &[Line]) -> String {
    let mut out = String::from(
        "| Timeout range | Source | Trials | Censored | min | median | mean | p90 | p99 | max |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for line in lines {
        let ours: Vec<String> = line.stats().iter().map(|s| format_stat(*s)).collect();
        out += &format!(
            "| {} | sim | {} | {} | {} |\n",
            line.setting.label(),
            line.trials,
            line.censored(),
            ours.join(" | ")
        );
        let p = line.setting.paper;
        let paper: Vec<String> = [p.min_ms, p.median_ms, p.mean_ms, p.p90_ms, p.p99_ms, p.max_ms]
            .iter()
            .map(|ms| format_ms(*ms))
            .collect();
        out += &format!("| | paper | | | {} |\n", paper.join(" | "));
    }
    out
}

/// Colors of the lines, in order.
const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
/// SVG size.
const SVG_WIDTH_PX: f64 = 860.0;
/// Height of one panel, axes and legend included.
const PANEL_HEIGHT_PX: f64 = 330.0;
/// Plot area margins.
const MARGIN_LEFT_PX: f64 = 60.0;
const MARGIN_RIGHT_PX: f64 = 270.0;
const MARGIN_TOP_PX: f64 = 40.0;
const MARGIN_BOTTOM_PX: f64 = 45.0;

/// How a panel maps milliseconds to x.
#[derive(Clone, Copy)]
enum Axis {
    Log { lo_ms: f64, hi_ms: f64 },
    Linear { hi_ms: f64 },
}

impl Axis {
    fn frac(self, ms: f64) -> f64 {
        match self {
            Axis::Log { lo_ms, hi_ms } => (ms.max(lo_ms).ln() - lo_ms.ln()) / (hi_ms.ln() - lo_ms.ln()),
            Axis::Linear { hi_ms } => ms / hi_ms,
        }
        .clamp(0.0, 1.0)
    }

    fn ticks(self) -> Vec<f64> {
        match self {
            Axis::Log { lo_ms, hi_ms } => {
                let mut ticks = Vec::new();
                let mut decade = 10f64.powf(lo_ms.log10().floor());
                while decade <= hi_ms {
                    for m in [1.0, 2.0, 5.0] {
                        let t = decade * m;
                        if t >= lo_ms && t <= hi_ms {
                            ticks.push(t);
                        }
                    }
                    decade *= 10.0;
                }
                ticks
            }
            Axis::Linear { hi_ms } => {
                let step = if hi_ms > 1_000.0 {
                    200.0
                } else if hi_ms > 400.0 {
                    100.0
                } else {
                    50.0
                };
                (0..=(hi_ms / step) as usize).map(|i| i as f64 * step).collect()
            }
        }
    }
}

fn panel_svg(title: &str, lines: &[Line], axis: Axis, y0: f64) -> String {
    let (x0, x1) = (MARGIN_LEFT_PX, SVG_WIDTH_PX - MARGIN_RIGHT_PX);
    let (top, bottom) = (y0 + MARGIN_TOP_PX, y0 + PANEL_HEIGHT_PX - MARGIN_BOTTOM_PX);
    let x = |ms: f64| x0 + axis.frac(ms) * (x1 - x0);
    let y = |pct: f64| bottom - pct / 100.0 * (bottom - top);
    let mut out = format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\">{title}</text>\n",
        x0,
        y0 + 22.0
    );
    out += &format!(
        "<rect x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#000\"/>\n",
        x1 - x0,
        bottom - top
    );
    for t in axis.ticks() {
        let xt = x(t);
        out += &format!(
            "<line x1=\"{xt:.1}\" y1=\"{top:.1}\" x2=\"{xt:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{xt:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n",
            bottom + 15.0,
            format_ms(t).replace(".0 ms", " ms").replace(".00 s", " s")
        );
    }
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let yt = y(pct);
        out += &format!(
            "<line x1=\"{x0:.1}\" y1=\"{yt:.1}\" x2=\"{x1:.1}\" y2=\"{yt:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{pct:.0}%</text>\n",
            x0 - 5.0,
            yt + 4.0
        );
    }
    out += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\">time without leader (ms{})</text>\n",
        (x0 + x1) / 2.0,
        bottom + 32.0,
        if matches!(axis, Axis::Log { .. }) {
            ", log scale"
        } else {
            ""
        }
    );
    out += &format!(
        "<text transform=\"translate({:.1},{:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">cumulative percent</text>\n",
        x0 - 42.0,
        (top + bottom) / 2.0
    );
    for (i, line) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let n = line.trials.max(1) as f64;
        let mut points = Vec::new();
        for (k, us) in line.elected_us.iter().enumerate() {
            let ms = *us as f64 / US_PER_MS as f64;
            points.push(format!("{:.1},{:.1}", x(ms), y(k as f64 / n * 100.0)));
            points.push(format!("{:.1},{:.1}", x(ms), y((k + 1) as f64 / n * 100.0)));
        }
        if !points.is_empty() {
            out += &format!(
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
                points.join(" ")
            );
        }
        let ly = top + 10.0 + i as f64 * 18.0;
        let censored = if line.censored() > 0 {
            format!(" ({} of {} censored)", line.censored(), line.trials)
        } else {
            String::new()
        };
        out += &format!(
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}{censored}</text>\n",
            x1 + 10.0,
            x1 + 30.0,
            x1 + 35.0,
            ly + 4.0,
            line.setting.label()
        );
    }
    out
}

/// The figure: the top panel on a log axis, the bottom on a linear one, as CDFs.
#[must_use]
pub fn svg(top: &[Line], bottom: &[Line]) -> String {
    let max_ms = |lines: &[Line]| {
        lines
            .iter()
            .flat_map(|l| {
                l.elected_us
                    .last()
                    .copied()
                    .into_iter()
                    .chain((l.censored() > 0).then_some(l.cap_us))
            })
            .max()
            .unwrap_or(US_PER_S) as f64
            / US_PER_MS as f64
    };
    let top_hi = 10f64.powf(max_ms(top).log10().ceil());
    let bottom_hi = (max_ms(bottom) / 100.0).ceil() * 100.0;
    let height = 2.0 * PANEL_HEIGHT_PX;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH_PX}\" height=\"{height}\" \
         viewBox=\"0 0 {SVG_WIDTH_PX} {height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
    );
    out += &panel_svg(
        "Varying randomness (min 150 ms, heartbeat 75 ms)",
        top,
        Axis::Log {
            lo_ms: 50.0,
            hi_ms: top_hi.max(1_000.0),
        },
        0.0,
    );
    out += &panel_svg(
        "Scaling the minimum timeout T (range T–2T, heartbeat T/2)",
        bottom,
        Axis::Linear {
            hi_ms: bottom_hi.max(100.0),
        },
        PANEL_HEIGHT_PX,
    );
    out += "</svg>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_is_deterministic_and_ends_with_a_new_leader() {
        let setting = BOTTOM_PANEL[4];
        let a = trial(&setting, 3, CENSOR_CAP_US_DEFAULT).expect("trial runs");
        let b = trial(&setting, 3, CENSOR_CAP_US_DEFAULT).expect("trial runs");
        assert_eq!(a, b);
        let new = a.new_leader.expect("a new leader");
        assert_ne!(new, a.old_leader);
        assert!(!behind_of(a.old_leader.as_usize()).contains(&new.as_usize()));
        let elected = a.elected_after_us.expect("elected");
        assert!(
            elected >= u64::from(setting.timeout_ms_min) * US_PER_MS / 2,
            "{elected} us"
        );
        assert!(a.crash_offset_us < u64::from(setting.heartbeat_ms) * US_PER_MS);
    }
}
