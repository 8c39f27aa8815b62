//! # What a write costs on a real cluster, and what the machine allows
//!
//! A benchmark, not a test: it asserts nothing about speed, it measures and prints.
//! [`run_bench`] starts a [`ProcessCluster`] of three `raftkv` processes on loopback (every
//! node's log fsynced by its `FilePersister`, the data under the run directory), and through
//! the harness's own clerks ([`ProcessCluster::clerk`]) measures:
//!
//! 1. the latency of one client's sequential Puts of 16-byte values, after a warm-up;
//! 2. the throughput at 1, 8 and 64 concurrent clients, each with a clerk of its own doing
//!    sequential Puts to a key of its own: after a warm-up, the Puts acknowledged within a
//!    measured window, and their latencies;
//! 3. the floors under those figures, in the same run (before the cluster starts and after it
//!    stops): an append of a small record and its
//!    `fdatasync` in a file beside the nodes' data (same filesystem), a loopback round trip of
//!    a small message over a plain TCP socket, and one over raft-tcp's authenticated client
//!    connection against an echo [`ClientServer`] (the transport a write crosses).
//!
//! [`BenchReport`] prints as markdown, with the floor of one write put together from the
//! floors (see [`BenchReport::write_floor`]) beside what a write took.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use raft_tcp::{ClientConn, ClientServer, Identity, TcpStats};

use super::run::{NODES, median_max, percentile};
use super::{ClusterOptions, ProcessCluster};

/// Bytes of every value written (and of every floor's message).
pub const VALUE_BYTES: usize = 16;

/// How long a bench call may go unanswered before its clerk gives it up (counted as failed).
const OP_DEADLINE: Duration = Duration::from_secs(10);

/// How long the cluster may take to elect its first leader.
const LEADER_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a floor's socket may wait for its peer.
const FLOOR_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How a benchmark runs.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The `raftkv` binary (a release build, for figures that mean anything).
    pub raftkv: PathBuf,
    /// The run's directory (must not exist): the nodes' data, their logs, the fsync floor's file.
    pub run_dir: PathBuf,
    /// Sequential Puts before the single-client latency is measured.
    pub latency_warm_up_ops: usize,
    /// Sequential Puts measured for the single-client latency.
    pub latency_ops: usize,
    /// The concurrency levels of the throughput measurement.
    pub client_levels: Vec<usize>,
    /// How long each level's clients run before the measured window.
    pub warm_up: Duration,
    /// Each level's measured window.
    pub window: Duration,
    /// Appends and `fdatasync`s of the disk floor.
    pub fsync_samples: usize,
    /// Round trips of each network floor.
    pub rtt_samples: usize,
    /// Whether the nodes reach each other through the harness's proxies (one more loopback
    /// hop per message) rather than directly; see [`ClusterOptions::peer_proxies`].
    pub peer_proxies: bool,
    /// `--send-before-write` of every node, or raftkv's default.
    pub send_before_write: Option<bool>,
    /// Print each step to stderr as it starts.
    pub verbose: bool,
}

impl BenchConfig {
    /// The defaults: 100 warm-up and 1,000 measured Puts for the latency, levels 1, 8 and 64
    /// with 1 s of warm-up and `window` measured each, 200 fsyncs and 2,000 round trips for
    /// the floors, nodes dialing each other directly.
    #[must_use]
    pub fn new(raftkv: PathBuf, run_dir: PathBuf, window: Duration) -> BenchConfig {
        BenchConfig {
            raftkv,
            run_dir,
            latency_warm_up_ops: 100,
            latency_ops: 1_000,
            client_levels: vec![1, 8, 64],
            warm_up: Duration::from_secs(1),
            window,
            fsync_samples: 200,
            rtt_samples: 2_000,
            peer_proxies: false,
            send_before_write: None,
            verbose: true,
        }
    }
}

/// Order statistics of some timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// How many timings.
    pub count: usize,
    /// The median ([`median_max`]).
    pub p50: Duration,
    /// The 99th percentile by nearest rank ([`percentile`]).
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

impl Spread {
    /// The spread of `samples`; `None` if there are none.
    #[must_use]
    pub fn of(samples: &[Duration]) -> Option<Spread> {
        let (p50, max) = median_max(samples)?;
        Some(Spread {
            count: samples.len(),
            p50,
            p99: percentile(samples, 99.0)?,
            max,
        })
    }
}

/// One concurrency level of the throughput measurement.
#[derive(Clone, Debug)]
pub struct Level {
    /// Concurrent clients.
    pub clients: usize,
    /// The measured window.
    pub window: Duration,
    /// Puts acknowledged within the window (their latencies are in `latency`).
    pub acknowledged: usize,
    /// Puts given up by their clerk (no answer within the deadline) during the whole level.
    pub failed: usize,
    /// The latencies of the acknowledged Puts.
    pub latency: Option<Spread>,
}

impl Level {
    /// Acknowledged Puts per second of the window.
    #[must_use]
    pub fn ops_per_sec(&self) -> f64 {
        if self.window.is_zero() {
            return 0.0;
        }
        self.acknowledged as f64 / self.window.as_secs_f64()
    }
}

/// The floors measured once, beside the cluster; each an error message if it could not be
/// measured.
#[derive(Clone, Debug)]
pub struct Floors {
    /// Append [`VALUE_BYTES`] + 8 bytes to a file in the data's filesystem, then `fdatasync`.
    pub fsync: Result<Spread, String>,
    /// One round trip of [`VALUE_BYTES`] over a plain loopback TCP socket (no delay).
    pub tcp_rtt: Result<Spread, String>,
    /// One call of [`VALUE_BYTES`] over an authenticated raft-tcp client connection to an
    /// echo [`ClientServer`].
    pub raft_tcp_rtt: Result<Spread, String>,
}

/// One floor of a [`Floors`].
type PickFloor = fn(&Floors) -> &Result<Spread, String>;

/// What a benchmark measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// The nodes.
    pub nodes: usize,
    /// Where the data lives, and on what filesystem.
    pub data: DataPlace,
    /// Whether the nodes dialed each other through the harness's proxies.
    pub peer_proxies: bool,
    /// Whether the nodes' leaders sent AppendEntries before their own write was durable.
    pub send_before_write: bool,
    /// The single client's sequential Puts, after the warm-up.
    pub latency: Option<Spread>,
    /// Of those, the Puts given up.
    pub latency_failed: usize,
    /// Wall time of the single client's measured Puts.
    pub latency_elapsed: Duration,
    /// The throughput levels.
    pub levels: Vec<Level>,
    /// The floors measured before the cluster starts and after it stops: on a machine shared
    /// with other work they drift (a build that just wrote its binaries makes the first
    /// fsyncs wait for its writeback), and the two show how much.
    pub floors: [Floors; 2],
    /// Wall time of the whole benchmark.
    pub elapsed: Duration,
}

/// A directory and the filesystem it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPlace {
    /// The run directory.
    pub dir: PathBuf,
    /// Its filesystem as `/proc/self/mounts` names it: type, device, mount point; or why
    /// that is unknown.
    pub filesystem: String,
}

impl BenchReport {
    /// The floor of one acknowledged write, from the p50 floors: a follower appends the entry
    /// (one `fdatasync`, raft-storage writes an append's records and the previous append's
    /// durable end under one) before it answers, and the write crosses raft-tcp twice (client
    /// to leader and back, leader to follower and back). The leader's own append runs beside
    /// its sends with `send_before_write`, and before them (one more `fdatasync` in the path)
    /// without. `None` if a floor is missing.
    /// Each floor's p50 is the lower of its two measurements (the floor is the best the
    /// machine did).
    #[must_use]
    pub fn write_floor(&self) -> Option<Duration> {
        let best = |pick: PickFloor| {
            self.floors
                .iter()
                .filter_map(|floors| pick(floors).as_ref().ok().map(|s| s.p50))
                .min()
        };
        let fsync = best(|f| &f.fsync)?;
        let rtt = best(|f| &f.raft_tcp_rtt)?;
        let fsyncs = if self.send_before_write { 1 } else { 2 };
        Some(fsync * fsyncs + rtt * 2)
    }
}

/// Runs the benchmark; see the [module](self) documentation.
///
/// # Errors
/// If the run directory cannot be made, the cluster does not start or elect a leader, or a
/// client thread cannot be started. A floor that cannot be measured is reported in
/// [`Floors`] instead.
pub fn run_bench(config: &BenchConfig) -> io::Result<BenchReport> {
    let started = Instant::now();
    let say = |what: &str| {
        if config.verbose {
            eprintln!("raft-cluster bench: {what}");
        }
    };
    // The floors first, while nothing else of ours runs; the fsync floor's file is made in
    // the run directory, so the directory is made here and the cluster's data goes below it.
    std::fs::create_dir_all(&config.run_dir)?;
    let data = DataPlace {
        dir: config.run_dir.clone(),
        filesystem: filesystem_of(&config.run_dir),
    };
    say(&format!(
        "floors: {} appends + fdatasync in {} ({}), {} round trips over TCP and raft-tcp",
        config.fsync_samples,
        config.run_dir.display(),
        data.filesystem,
        config.rtt_samples
    ));
    let secret = raft_tcp::Secret::new(random_bytes::<32>()?.to_vec()).map_err(io::Error::other)?;
    let identity = Identity::new("raft-cluster-bench-floor", secret).map_err(io::Error::other)?;
    let before = measure_floors(config, &identity);

    let mut cluster = ProcessCluster::start(&ClusterOptions {
        raftkv: config.raftkv.clone(),
        run_dir: config.run_dir.join("cluster"),
        nodes: NODES,
        maxraftstate: None,
        send_before_write: config.send_before_write,
        env: Vec::new(),
        peer_proxies: config.peer_proxies,
    })?;
    let leader = cluster
        .wait_leader(LEADER_TIMEOUT)
        .ok_or_else(|| io::Error::other(format!("no leader within {LEADER_TIMEOUT:?}")))?;
    say(&format!(
        "{NODES} nodes up, n{leader} leads; single-client latency: {} warm-up Puts, then {}",
        config.latency_warm_up_ops, config.latency_ops
    ));
    let (latency, latency_failed, latency_elapsed) = single_client(&cluster, config);

    let mut levels = Vec::with_capacity(config.client_levels.len());
    for &clients in &config.client_levels {
        say(&format!(
            "{clients} client(s): {:.1} s warm-up, {:.1} s measured",
            config.warm_up.as_secs_f64(),
            config.window.as_secs_f64()
        ));
        levels.push(level(&cluster, clients, config.warm_up, config.window)?);
    }
    drop(cluster);
    say("floors again, the cluster stopped");
    let after = measure_floors(config, &identity);
    Ok(BenchReport {
        nodes: NODES,
        data,
        peer_proxies: config.peer_proxies,
        send_before_write: config
            .send_before_write
            .unwrap_or(raft_node::NodeOptions::default().send_before_write),
        latency,
        latency_failed,
        latency_elapsed,
        levels,
        floors: [before, after],
        elapsed: started.elapsed(),
    })
}

/// Every floor, once.
fn measure_floors(config: &BenchConfig, identity: &Identity) -> Floors {
    Floors {
        fsync: fsync_floor(&config.run_dir.join("fsync-floor"), config.fsync_samples)
            .map_err(|e| e.to_string()),
        tcp_rtt: tcp_floor(config.rtt_samples).map_err(|e| e.to_string()),
        raft_tcp_rtt: raft_tcp_floor(identity, config.rtt_samples).map_err(|e| e.to_string()),
    }
}

/// The value of client `client`'s `n`th Put: [`VALUE_BYTES`] hex digits.
fn value(client: usize, n: u64) -> String {
    format!("{:016x}", ((client as u64) << 40) | (n & ((1 << 40) - 1)))
}

/// One client's sequential Puts: the warm-up, then the measured ones; their spread, how
/// many were given up, and the wall time of the measured ones.
fn single_client(cluster: &ProcessCluster, config: &BenchConfig) -> (Option<Spread>, usize, Duration) {
    let mut clerk = cluster.clerk(OP_DEADLINE);
    let mut failed = 0;
    let mut samples = Vec::with_capacity(config.latency_ops);
    let mut measured_from = Instant::now();
    for n in 0..config.latency_warm_up_ops + config.latency_ops {
        if n == config.latency_warm_up_ops {
            measured_from = Instant::now();
        }
        let begun = Instant::now();
        let done = clerk.try_put("bench-latency", &value(0, n as u64)).is_ok();
        let took = begun.elapsed();
        if n < config.latency_warm_up_ops {
            continue;
        }
        if done {
            samples.push(took);
        } else {
            failed += 1;
        }
    }
    (Spread::of(&samples), failed, measured_from.elapsed())
}

/// `clients` threads, each with its clerk and key, Putting one value after another from now
/// until `warm_up + window` from now; what they acknowledged within the window.
fn level(cluster: &ProcessCluster, clients: usize, warm_up: Duration, window: Duration) -> io::Result<Level> {
    let clerks: Vec<_> = (0..clients).map(|_| cluster.clerk(OP_DEADLINE)).collect();
    let begin = Instant::now();
    let from = begin + warm_up;
    let until = from + window;
    let results: Vec<io::Result<(Vec<Duration>, usize)>> = thread::scope(|scope| {
        let mut handles = Vec::with_capacity(clients);
        for (c, mut clerk) in clerks.into_iter().enumerate() {
            let spawned = thread::Builder::new()
                .name(format!("bench-client-{c}"))
                .spawn_scoped(scope, move || {
                    let key = format!("bench-c{c}");
                    let mut samples = Vec::new();
                    let mut failed = 0;
                    // Bounded by time: every call ends within OP_DEADLINE or so.
                    for n in 0u64.. {
                        let begun = Instant::now();
                        if begun >= until {
                            break;
                        }
                        let done = clerk.try_put(&key, &value(c, n)).is_ok();
                        let ended = Instant::now();
                        if !done {
                            failed += 1;
                        } else if ended >= from && ended < until {
                            samples.push(ended - begun);
                        }
                    }
                    (samples, failed)
                });
            handles.push(spawned);
        }
        handles
            .into_iter()
            .map(|handle| match handle {
                Ok(handle) => handle
                    .join()
                    .map_err(|_| io::Error::other("a bench client panicked")),
                Err(err) => Err(err),
            })
            .collect()
    });
    let mut samples = Vec::new();
    let mut failed = 0;
    for result in results {
        let (mine, my_failed) = result?;
        samples.extend(mine);
        failed += my_failed;
    }
    Ok(Level {
        clients,
        window,
        acknowledged: samples.len(),
        failed,
        latency: Spread::of(&samples),
    })
}

/// `samples` appends of a small record to a fresh file at `path`, each followed by
/// `fdatasync`, after ten unmeasured; the file is removed after.
fn fsync_floor(path: &Path, samples: usize) -> io::Result<Spread> {
    let mut file = OpenOptions::new().create_new(true).append(true).open(path)?;
    let record = [0x5au8; VALUE_BYTES + 8];
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + 10 {
        let begun = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        if i >= 10 {
            times.push(begun.elapsed());
        }
    }
    drop(file);
    std::fs::remove_file(path)?;
    Spread::of(&times).ok_or_else(|| io::Error::other("no fsync samples"))
}

/// `samples` round trips of [`VALUE_BYTES`] over a loopback TCP connection (no delay both
/// ends) to an echo thread, after a hundred unmeasured.
fn tcp_floor(samples: usize) -> io::Result<Spread> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::scope(|scope| {
        let echo = scope.spawn(move || echo_one(&listener));
        let timed = tcp_ping(addr, samples);
        // The client's stream is closed by now: the echo thread ends.
        let echoed = echo
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the echo thread panicked")));
        let times = timed?;
        echoed?;
        Spread::of(&times).ok_or_else(|| io::Error::other("no round trips"))
    })
}

/// Accepts one connection on `listener` (within [`FLOOR_IO_TIMEOUT`]) and echoes every
/// [`VALUE_BYTES`] it reads until the other end closes.
fn echo_one(listener: &TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + FLOOR_IO_TIMEOUT;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(FLOOR_IO_TIMEOUT))?;
    let mut buf = [0u8; VALUE_BYTES];
    loop {
        match stream.read_exact(&mut buf) {
            Ok(()) => stream.write_all(&buf)?,
            // The client closed: done.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Connects to `addr` and times `samples` round trips, after a hundred unmeasured.
fn tcp_ping(addr: SocketAddr, samples: usize) -> io::Result<Vec<Duration>> {
    let mut stream = TcpStream::connect_timeout(&addr, FLOOR_IO_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(FLOOR_IO_TIMEOUT))?;
    let message = [0xa5u8; VALUE_BYTES];
    let mut buf = [0u8; VALUE_BYTES];
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + 100 {
        let begun = Instant::now();
        stream.write_all(&message)?;
        stream.read_exact(&mut buf)?;
        if i >= 100 {
            times.push(begun.elapsed());
        }
    }
    Ok(times)
}

/// `samples` calls of [`VALUE_BYTES`] over an authenticated raft-tcp client connection to a
/// [`ClientServer`] that echoes each on its reader thread, after a hundred unmeasured.
fn raft_tcp_floor(identity: &Identity, samples: usize) -> io::Result<Spread> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let stats = Arc::new(TcpStats::new());
    let _server = ClientServer::start(listener, identity.clone(), stats, |payload, replier| {
        replier.reply(payload);
    })?;
    let mut conn = ClientConn::connect(&addr, identity, FLOOR_IO_TIMEOUT).map_err(io::Error::other)?;
    let message = [0xa5u8; VALUE_BYTES];
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + 100 {
        let begun = Instant::now();
        let reply = conn.call(&message, FLOOR_IO_TIMEOUT).map_err(io::Error::other)?;
        if reply != message {
            return Err(io::Error::other("the echo answered something else"));
        }
        if i >= 100 {
            times.push(begun.elapsed());
        }
    }
    Spread::of(&times).ok_or_else(|| io::Error::other("no round trips"))
}

fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no random source: {e}")))?;
    Ok(bytes)
}

/// The filesystem `path` is on, from `/proc/self/mounts`: "TYPE, DEVICE at MOUNT POINT".
fn filesystem_of(path: &Path) -> String {
    let path = match std::fs::canonicalize(path) {
        Ok(path) => path,
        Err(e) => return format!("unknown ({e})"),
    };
    match std::fs::read_to_string("/proc/self/mounts") {
        Ok(mounts) => match mount_of(&mounts, &path) {
            Some(mount) => format!("{}, {} at {}", mount.fs_type, mount.device, mount.point.display()),
            None => "unknown (no mount holds it)".to_owned(),
        },
        Err(e) => format!("unknown (/proc/self/mounts: {e})"),
    }
}

/// One line of `/proc/self/mounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mount {
    device: String,
    point: PathBuf,
    fs_type: String,
}

/// The mount that holds the absolute `path`: of the lines of `mounts` (in the format of
/// `/proc/self/mounts`) whose mount point is an ancestor of `path`, the longest, and of
/// equals the last (a later mount hides an earlier one at the same point).
fn mount_of(mounts: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(device), Some(point), Some(fs_type)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let point = PathBuf::from(unescape_mount(point));
        if !path.starts_with(&point) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| point.components().count() >= b.point.components().count())
        {
            best = Some(Mount {
                device: unescape_mount(device),
                point,
                fs_type: fs_type.to_owned(),
            });
        }
    }
    best
}

/// A field of `/proc/self/mounts` with its octal escapes (`\040` for a space) undone.
fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match escape.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A timing to a table's precision: µs with a decimal below 100 µs, whole µs below 1 ms,
/// ms with two decimals above.
struct Micros(Duration);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_secs_f64() * 1e6;
        if us >= 1_000.0 {
            write!(f, "{:.2} ms", us / 1e3)
        } else if us >= 100.0 {
            write!(f, "{us:.0} µs")
        } else {
            write!(f, "{us:.1} µs")
        }
    }
}

/// A row's three timings, or dashes.
fn spread_cells(spread: Option<&Spread>) -> String {
    match spread {
        Some(s) => format!("{} | {} | {}", Micros(s.p50), Micros(s.p99), Micros(s.max)),
        None => "- | - | -".to_owned(),
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "## raft-cluster bench: {} raftkv processes on loopback, fsync on, {VALUE_BYTES}-byte values ({:.0} s)",
            self.nodes,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f)?;
        writeln!(f, "data: {} on {}", self.data.dir.display(), self.data.filesystem)?;
        writeln!(
            f,
            "peers: {}; {} core(s) available",
            if self.peer_proxies {
                "through the harness's proxies (one more loopback hop per message)"
            } else {
                "dialing each other directly"
            },
            thread::available_parallelism().map_or(0, std::num::NonZero::get)
        )?;
        writeln!(f)?;
        writeln!(f, "| measurement | ops | ops/s | p50 | p99 | max | failed |")?;
        writeln!(f, "|---|---|---|---|---|---|---|")?;
        let acknowledged = self.latency.map_or(0, |s| s.count);
        let rate = if self.latency_elapsed.is_zero() {
            0.0
        } else {
            acknowledged as f64 / self.latency_elapsed.as_secs_f64()
        };
        writeln!(
            f,
            "| 1 client, sequential Puts (latency) | {acknowledged} | {rate:.0} | {} | {} |",
            spread_cells(self.latency.as_ref()),
            self.latency_failed
        )?;
        for level in &self.levels {
            writeln!(
                f,
                "| {} client{}, {:.0} s | {} | {:.0} | {} | {} |",
                level.clients,
                if level.clients == 1 { "" } else { "s" },
                level.window.as_secs_f64(),
                level.acknowledged,
                level.ops_per_sec(),
                spread_cells(level.latency.as_ref()),
                level.failed
            )?;
        }
        writeln!(f)?;
        writeln!(f, "| floor | when | samples | p50 | p99 | max |")?;
        writeln!(f, "|---|---|---|---|---|---|")?;
        let kinds: [(String, PickFloor); 3] = [
            (
                format!("append {} bytes + fdatasync (data's filesystem)", VALUE_BYTES + 8),
                |floors| &floors.fsync,
            ),
            (
                format!("loopback TCP round trip, {VALUE_BYTES} bytes (std, nodelay)"),
                |floors| &floors.tcp_rtt,
            ),
            (
                format!("raft-tcp client call to an echo ClientServer, {VALUE_BYTES} bytes"),
                |floors| &floors.raft_tcp_rtt,
            ),
        ];
        for (name, pick) in kinds {
            for (when, floors) in ["before", "after"].iter().zip(&self.floors) {
                match pick(floors) {
                    Ok(s) => writeln!(f, "| {name} | {when} | {} | {} |", s.count, spread_cells(Some(s)))?,
                    Err(e) => writeln!(f, "| {name} | {when} | not measured: {e} | - | - | - |")?,
                }
            }
        }
        writeln!(f)?;
        match (self.write_floor(), self.latency) {
            (Some(floor), Some(latency)) => writeln!(
                f,
                "floor of one write: {}, follower append (fdatasync) before it answers, 2 \
                 raft-tcp round trips (client, peer), each the better p50 of the two = {}; the \
                 single client's p50 is {} ({:.1}x the floor)",
                if self.send_before_write {
                    "leader append beside its sends"
                } else {
                    "leader append (fdatasync) before it sends"
                },
                Micros(floor),
                Micros(latency.p50),
                latency.p50.as_secs_f64() / floor.as_secs_f64()
            ),
            _ => writeln!(
                f,
                "floor of one write: not known (a floor or the latency is missing)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_of_a_path_is_the_deepest_that_holds_it() {
        let mounts = "\
overlay / overlay rw,relatime 0 0
proc /proc proc rw 0 0
/dev/vda /work ext4 rw,relatime 0 0
tmpfs /work/target\\040dir tmpfs rw 0 0
/dev/vdb /work ext4 rw 0 0
";
        let at = |p: &str| mount_of(mounts, Path::new(p)).map(|m| (m.device, m.fs_type));
        assert_eq!(at("/etc/hosts"), Some(("overlay".into(), "overlay".into())));
        // The later of two mounts on one point hides the earlier.
        assert_eq!(at("/work/wt/target"), Some(("/dev/vdb".into(), "ext4".into())));
        // An escaped space in a mount point; a sibling that only shares a prefix is not in it.
        assert_eq!(at("/work/target dir/x"), Some(("tmpfs".into(), "tmpfs".into())));
        assert_eq!(at("/work/target"), Some(("/dev/vdb".into(), "ext4".into())));
        assert_eq!(at("/procfs"), Some(("overlay".into(), "overlay".into())));
        assert_eq!(mount_of("", Path::new("/x")), None);
        assert_eq!(mount_of("garbage\n", Path::new("/x")), None);
    }

    #[test]
    fn octal_escapes_of_mount_fields_are_undone_and_others_kept() {
        assert_eq!(unescape_mount("a\\040b\\011c"), "a b\tc");
        assert_eq!(unescape_mount("\\134"), "\\");
        assert_eq!(unescape_mount("trailing\\04"), "trailing\\04");
        assert_eq!(unescape_mount("not\\999"), "not\\999");
    }

    #[test]
    fn a_spread_has_the_median_p99_and_max() {
        let us = Duration::from_micros;
        let samples: Vec<Duration> = (1..=200).rev().map(us).collect();
        let spread = Spread::of(&samples).expect("samples");
        assert_eq!(spread.count, 200);
        assert_eq!(spread.p50, us(100) + Duration::from_nanos(500));
        assert_eq!(spread.p99, us(198));
        assert_eq!(spread.max, us(200));
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn values_are_sixteen_bytes_and_differ_by_client_and_call() {
        assert_eq!(value(0, 0).len(), VALUE_BYTES);
        assert_eq!(value(63, u64::MAX).len(), VALUE_BYTES);
        assert_ne!(value(1, 2), value(2, 1));
    }

    #[test]
    fn the_write_floor_is_the_fsyncs_in_the_path_and_two_round_trips_at_their_best() {
        let us = Duration::from_micros;
        let spread = |d| Spread {
            count: 1,
            p50: d,
            p99: d,
            max: d,
        };
        let mut report = BenchReport {
            nodes: 3,
            data: DataPlace {
                dir: PathBuf::from("/tmp"),
                filesystem: "ext4".into(),
            },
            peer_proxies: false,
            send_before_write: false,
            latency: Some(spread(us(2_000))),
            latency_failed: 0,
            latency_elapsed: Duration::from_secs(2),
            levels: Vec::new(),
            floors: [
                Floors {
                    fsync: Ok(spread(us(900))),
                    tcp_rtt: Ok(spread(us(30))),
                    raft_tcp_rtt: Ok(spread(us(60))),
                },
                Floors {
                    fsync: Ok(spread(us(250))),
                    tcp_rtt: Ok(spread(us(30))),
                    raft_tcp_rtt: Err("refused".into()),
                },
            ],
            elapsed: Duration::from_secs(1),
        };
        // Without send_before_write: the leader's fsync, then the follower's.
        assert_eq!(report.write_floor(), Some(us(620)));
        let text = report.to_string();
        assert!(
            text.contains("= 620 µs; the single client's p50 is 2.00 ms (3.2x the floor)"),
            "{text}"
        );
        report.send_before_write = true;
        assert_eq!(report.write_floor(), Some(us(370)));
        let text = report.to_string();
        assert!(text.contains("leader append beside its sends"), "{text}");
        assert!(text.contains("| 250 µs | 250 µs | 250 µs |"), "{text}");
        assert!(text.contains("| 60.0 µs |"), "{text}");
        assert!(text.contains("| before | 1 | 900 µs |"), "{text}");
        assert!(text.contains("| after | not measured: refused |"), "{text}");
        for floors in &mut report.floors {
            floors.fsync = Err("read-only".into());
        }
        assert_eq!(report.write_floor(), None);
        assert!(report.to_string().contains("not measured: read-only"));
    }
}
