//! `raft-cluster`: a real cluster of three `raftkv` processes on loopback, with clients whose
//! every call is recorded, faults injected by signals and TCP proxies, a read-back of every
//! acknowledged write and a linearizability check at the end.
//!
//! ```text
//! raft-cluster demo [OPTIONS]
//!     a short scripted run: SIGKILL of the leader and its restart, a follower paused and
//!     resumed, a link cut and healed, clients throughout; ends with the summary.
//! raft-cluster cluster [--seconds N] [--faults] [OPTIONS]
//!     clients for N seconds (default 30), with fault rounds throughout if --faults.
//! raft-cluster jepsen --rounds N [OPTIONS]
//!     N fault rounds, every kind in turn: SIGKILL of the leader or of any node, pause,
//!     the leader isolated, a partial partition, a link cut, SIGTERM and restart.
//! raft-cluster bench [--seconds N] [--through-proxies] [--send-before-write BOOL] [--raftkv PATH] [--dir DIR] [--keep] [--quiet]
//!     no faults, no checks: the latency of one client's Puts, the throughput at 1, 8 and
//!     64 clients (N measured seconds each, default 3), and the floors under them (fsync,
//!     loopback TCP, raft-tcp), as a markdown table.
//!
//! OPTIONS:
//!     --raftkv PATH   the raftkv binary (else the RAFTKV_BIN variable)
//!     --seed S        the clients' and the nemesis's choices (default: from the clock)
//!     --clients N     client threads (default 4)
//!     --keys N        keys (default 3)
//!     --op-deadline S a client gives a call up after S seconds without an answer (default
//!                     10); a write given up may or may not take effect, and is checked so
//!     --dir DIR       where the run's directory is made (default: <target>/cluster)
//!     --keep          keep the run's data and logs even when it passes
//!     --quiet         print only the summary
//! ```
//!
//! Exit status: 0 if the run passed (bench: if it ran), 1 if it failed or could not start, 2
//! on a usage error, 130 if SIGINT or SIGTERM stopped it (every node is killed first; a
//! second signal exits at once, and the nodes then stop on their own as they see the harness
//! gone).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use raft_tests::cluster::bench::{BenchConfig, run_bench};
use raft_tests::cluster::interrupt::{self, EXIT_INTERRUPTED};
use raft_tests::cluster::run::{Plan, RunConfig, run};

const USAGE: &str = "\
usage: raft-cluster <demo|cluster|jepsen|bench> [OPTIONS]

  demo                       a short scripted run: SIGKILL of the leader and its restart,
                             a follower paused and resumed, a link cut and healed, clients
                             throughout; ends with the summary
  cluster [--seconds N] [--faults]
                             clients for N seconds (default 30), with fault rounds
                             throughout if --faults
  jepsen --rounds N          N fault rounds, every kind in turn (SIGKILL of the leader or of
                             any node, pause, leader isolated, partial partition, link cut,
                             SIGTERM and restart)
  bench [--seconds N] [--through-proxies] [--send-before-write BOOL]
                             a benchmark, no faults and no checks: one client's sequential
                             Puts (latency), then 1, 8 and 64 clients for N measured
                             seconds each (default 3; throughput), and the floors measured
                             beside them (append + fdatasync in the data's filesystem,
                             loopback TCP and raft-tcp round trips); a markdown table. The
                             nodes dial each other directly unless --through-proxies;
                             --send-before-write goes to every node (raftkv's default
                             unless given).
                             Build raftkv with --release for figures that mean anything.
                             Takes --raftkv, --dir, --keep and --quiet only.

Every run starts 3 `raftkv serve` processes on loopback, each peer link through a proxy the
run can cut, and ends by healing everything, stopping every node with SIGTERM, starting them
again, reading every key back (every acknowledged write must be there) and checking the
whole history for linearizability.

options:
  --raftkv PATH   the raftkv binary (else the RAFTKV_BIN variable)
  --seed S        seeds the clients' and the nemesis's choices (default: from the clock)
  --clients N     client threads (default 4)
  --keys N        keys (default 3)
  --op-deadline S a client gives a call up after S seconds without an answer (default
                  10); a write given up may or may not take effect, and is checked so
  --dir DIR       where the run's directory is made (default: <target>/cluster)
  --keep          keep the run's data and logs even when it passes
  --quiet         print only the summary

exit status: 0 passed (bench: ran), 1 failed (or could not start), 2 usage error, 130
stopped by SIGINT or SIGTERM (every node killed first)
";

/// The default measured window of each `bench` level, in seconds.
const BENCH_SECONDS: u64 = 3;

/// The arguments of `bench`.
#[derive(Debug, PartialEq, Eq)]
struct BenchArgs {
    seconds: u64,
    through_proxies: bool,
    send_before_write: Option<bool>,
    raftkv: Option<PathBuf>,
    dir: Option<PathBuf>,
    keep: bool,
    quiet: bool,
}

/// Parses `bench`'s arguments (those after the command), as [`parse`] does the others'.
fn parse_bench(args: &[String]) -> Result<BenchArgs, Option<String>> {
    let mut out = BenchArgs {
        seconds: BENCH_SECONDS,
        through_proxies: false,
        send_before_write: None,
        raftkv: None,
        dir: None,
        keep: false,
        quiet: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Some(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => return Err(None),
            "--seconds" => out.seconds = positive(flag, &value()?)? as u64,
            "--through-proxies" => out.through_proxies = true,
            "--send-before-write" => {
                let text = value()?;
                let on = text
                    .parse()
                    .map_err(|_| Some(format!("--send-before-write: expected true or false, got {text}")))?;
                out.send_before_write = Some(on);
            }
            "--raftkv" => out.raftkv = Some(PathBuf::from(value()?)),
            "--dir" => out.dir = Some(PathBuf::from(value()?)),
            "--keep" => out.keep = true,
            "--quiet" => out.quiet = true,
            other => return Err(Some(format!("unknown argument {other} for bench"))),
        }
    }
    Ok(out)
}

struct Args {
    plan: Plan,
    raftkv: Option<PathBuf>,
    seed: Option<u64>,
    clients: usize,
    keys: usize,
    op_deadline: Option<Duration>,
    dir: Option<PathBuf>,
    keep: bool,
    quiet: bool,
}

/// Parses the command line; `Err(None)` asks for the usage (exit 0), `Err(Some(msg))` is a
/// usage error.
fn parse(args: &[String]) -> Result<Args, Option<String>> {
    let Some(command) = args.first() else {
        return Err(Some("a command is needed".to_owned()));
    };
    let mut seconds = 30u64;
    let mut faults = false;
    let mut rounds: Option<usize> = None;
    let mut out = Args {
        plan: Plan::Demo,
        raftkv: None,
        seed: None,
        clients: 4,
        keys: 3,
        op_deadline: None,
        dir: None,
        keep: false,
        quiet: false,
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        return Err(None);
    }
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Some(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => return Err(None),
            "--raftkv" => out.raftkv = Some(PathBuf::from(value()?)),
            "--seed" => out.seed = Some(number(flag, &value()?)?),
            "--clients" => out.clients = positive(flag, &value()?)?,
            "--keys" => out.keys = positive(flag, &value()?)?,
            "--op-deadline" => out.op_deadline = Some(Duration::from_secs(positive(flag, &value()?)? as u64)),
            "--dir" => out.dir = Some(PathBuf::from(value()?)),
            "--keep" => out.keep = true,
            "--quiet" => out.quiet = true,
            "--seconds" if command == "cluster" => seconds = number(flag, &value()?)?,
            "--faults" if command == "cluster" => faults = true,
            "--rounds" if command == "jepsen" => rounds = Some(positive(flag, &value()?)?),
            other => return Err(Some(format!("unknown argument {other} for {command}"))),
        }
    }
    out.plan = match command.as_str() {
        "demo" => Plan::Demo,
        "cluster" => Plan::Steady {
            duration: Duration::from_secs(seconds),
            faults,
        },
        "jepsen" => Plan::Jepsen {
            rounds: rounds.ok_or_else(|| Some("jepsen needs --rounds N".to_owned()))?,
        },
        other => return Err(Some(format!("unknown command {other}"))),
    };
    Ok(out)
}

fn number(flag: &str, text: &str) -> Result<u64, Option<String>> {
    text.parse()
        .map_err(|_| Some(format!("{flag} takes a number, not {text:?}")))
}

fn positive(flag: &str, text: &str) -> Result<usize, Option<String>> {
    match usize::try_from(number(flag, text)?) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Some(format!("{flag} takes a positive number, not {text:?}"))),
    }
}

/// The default base of run directories: `<target>/cluster`, the target directory being the
/// one this binary was built into (`<target>/<profile>/raft-cluster`), or CARGO_TARGET_DIR.
fn default_base() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("cluster");
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("cluster")
}

/// Logs to stderr if RUST_LOG asks for them.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// The raftkv binary: `given`, else RAFTKV_BIN; the exit code if there is none.
fn find_raftkv(given: Option<&PathBuf>) -> Result<PathBuf, ExitCode> {
    let Some(raftkv) = given
        .cloned()
        .or_else(|| std::env::var_os("RAFTKV_BIN").map(PathBuf::from))
    else {
        eprintln!("raft-cluster: give the raftkv binary with --raftkv PATH or RAFTKV_BIN\n\n{USAGE}");
        return Err(ExitCode::from(2));
    };
    if !raftkv.is_file() {
        eprintln!("raft-cluster: no raftkv binary at {}", raftkv.display());
        return Err(ExitCode::FAILURE);
    }
    Ok(raftkv)
}

/// `raft-cluster bench ARGS`.
fn bench_main(argv: &[String]) -> ExitCode {
    let args = match parse_bench(argv) {
        Ok(args) => args,
        Err(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(Some(message)) => {
            eprintln!("raft-cluster: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_tracing();
    let raftkv = match find_raftkv(args.raftkv.as_ref()) {
        Ok(raftkv) => raftkv,
        Err(code) => return code,
    };
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let base = args.dir.clone().unwrap_or_else(default_base);
    let run_dir = base.join(format!("bench-{}-{}", since_epoch.as_secs(), std::process::id()));
    let mut config = BenchConfig::new(raftkv, run_dir.clone(), Duration::from_secs(args.seconds));
    config.peer_proxies = args.through_proxies;
    config.send_before_write = args.send_before_write;
    config.verbose = !args.quiet;
    let report = match run_bench(&config) {
        Ok(report) => report,
        Err(err) => {
            eprintln!(
                "raft-cluster: the benchmark could not run: {err} (data and logs in {})",
                run_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    println!("{report}");
    if args.keep {
        println!("data and logs in {}", run_dir.display());
    } else if let Err(err) = std::fs::remove_dir_all(&run_dir) {
        eprintln!("raft-cluster: could not remove {}: {err}", run_dir.display());
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // SIGINT and SIGTERM stop a run and kill every node rather than orphan them.
    if let Err(err) = interrupt::install() {
        eprintln!("raft-cluster: cannot handle SIGINT and SIGTERM: {err}");
        return ExitCode::FAILURE;
    }
    if argv.first().is_some_and(|c| c == "bench") {
        return bench_main(&argv[1..]);
    }
    let args = match parse(&argv) {
        Ok(args) => args,
        Err(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(Some(message)) => {
            eprintln!("raft-cluster: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_tracing();
    let raftkv = match find_raftkv(args.raftkv.as_ref()) {
        Ok(raftkv) => raftkv,
        Err(code) => return code,
    };
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = args.seed.unwrap_or(since_epoch.as_secs() % 1_000_000);
    let kind = match args.plan {
        Plan::Demo => "demo",
        Plan::Steady { .. } => "cluster",
        Plan::Jepsen { .. } => "jepsen",
    };
    let base = args.dir.clone().unwrap_or_else(default_base);
    let run_dir = base.join(format!(
        "{kind}-{}-{}-seed{seed}",
        since_epoch.as_secs(),
        std::process::id()
    ));
    let mut config = RunConfig::new(raftkv, run_dir.clone(), seed);
    config.clients = args.clients;
    config.keys = args.keys;
    if let Some(deadline) = args.op_deadline {
        config.op_deadline = deadline;
    }
    config.verbose = !args.quiet;
    let summary = match run(&config, &args.plan) {
        Ok(summary) => summary,
        Err(err) if err.kind() == std::io::ErrorKind::Interrupted && interrupt::interrupted() => {
            eprintln!(
                "raft-cluster: interrupted; every node was killed (data and logs in {})",
                run_dir.display()
            );
            return ExitCode::from(EXIT_INTERRUPTED);
        }
        Err(err) => {
            eprintln!(
                "raft-cluster: the cluster could not run: {err} (data and logs in {})",
                run_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    println!("{summary}");
    if summary.passed() {
        if !args.keep {
            match std::fs::remove_dir_all(&run_dir) {
                Ok(()) => println!("(the run passed: its directory is removed; --keep keeps it)"),
                Err(err) => eprintln!("raft-cluster: could not remove {}: {err}", run_dir.display()),
            }
        }
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, Option<String>> {
        let argv: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&argv)
    }

    #[test]
    fn the_three_commands_parse_with_their_options() {
        let demo = args("demo --raftkv /x/raftkv --seed 7 --keep").expect("demo");
        assert_eq!(demo.plan, Plan::Demo);
        assert_eq!(demo.raftkv, Some(PathBuf::from("/x/raftkv")));
        assert_eq!((demo.seed, demo.keep), (Some(7), true));
        let cluster = args("cluster --seconds 5 --faults --clients 2").expect("cluster");
        assert_eq!(
            cluster.plan,
            Plan::Steady {
                duration: Duration::from_secs(5),
                faults: true
            }
        );
        assert_eq!(cluster.clients, 2);
        let jepsen = args("jepsen --rounds 3 --seed 1 --quiet").expect("jepsen");
        assert_eq!(jepsen.plan, Plan::Jepsen { rounds: 3 });
        assert!(jepsen.quiet);
    }

    #[test]
    fn bench_parses_its_own_options_and_refuses_the_runs() {
        let bench = |line: &str| {
            let argv: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            parse_bench(&argv)
        };
        let defaults = bench("").expect("no options");
        assert_eq!(
            (
                defaults.seconds,
                defaults.through_proxies,
                defaults.send_before_write
            ),
            (BENCH_SECONDS, false, None)
        );
        let given = bench(
            "--seconds 5 --through-proxies --send-before-write false --raftkv /x/raftkv --keep --quiet",
        )
        .expect("options");
        assert_eq!(
            given,
            BenchArgs {
                seconds: 5,
                through_proxies: true,
                send_before_write: Some(false),
                raftkv: Some(PathBuf::from("/x/raftkv")),
                dir: None,
                keep: true,
                quiet: true,
            }
        );
        assert!(matches!(bench("--help"), Err(None)));
        for bad in [
            "--seconds 0",
            "--seconds",
            "--send-before-write maybe",
            "--faults",
            "--rounds 3",
            "--clients 2",
        ] {
            assert!(matches!(bench(bad), Err(Some(_))), "{bad:?} parsed");
        }
        // `bench` is not one of the runs' commands.
        assert!(matches!(args("bench"), Err(Some(_))));
    }

    #[test]
    fn help_is_no_error_and_mistakes_are() {
        assert!(matches!(args("--help"), Err(None)));
        assert!(matches!(args("jepsen --help"), Err(None)));
        for bad in [
            "",
            "jepsen",
            "jepsen --rounds 0",
            "demo --rounds 3",
            "cluster --seconds x",
            "fly",
        ] {
            assert!(matches!(args(bad), Err(Some(_))), "{bad:?} parsed");
        }
    }
}
