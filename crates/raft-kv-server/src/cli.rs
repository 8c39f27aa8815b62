//! The `raftkv` command line: parsing (clap), the `--config` file merged under the flags,
//! and each subcommand's run with its exit code.
//!
//! Exit codes: 0 done; 1 a runtime error (one line on stderr saying what); 2 a usage error
//! (clap's, or a flag missing from both the command line and the config file); 3 a client
//! call given up without an answer after reaching a server, so the operation may or may not
//! have taken effect.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use raft_kv::{Clerk, GaveUp};

use crate::client::{self, TcpClerkTransport};
use crate::config::{self, PEER_SECRET_ENV, SECRET_ENV};
use crate::node::{self, ServeConfig};
use raft_tcp::Identity;

/// Exit code: done.
pub const EXIT_OK: u8 = 0;
/// Exit code: a runtime error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: a usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a client call given up without an answer; it may or may not have taken effect.
pub const EXIT_GAVE_UP: u8 = 3;

/// The default `--timeout` of client commands, in seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 10.0;

/// The longest `status` waits for one server (it asks them all at once).
pub const STATUS_TIMEOUT_MAX: Duration = Duration::from_secs(2);

/// The variable that ties `serve` to its parent process: set (to anything but "" or "0"),
/// `serve` stops, as on SIGTERM, once its parent process has exited (its parent process id
/// changes). A test harness sets it so that its nodes do not outlive it when it dies without
/// stopping them (SIGKILL, say). A node stopped by SIGSTOP notices only once continued.
pub const EXIT_WITH_PARENT_ENV: &str = "RAFTKV_EXIT_WITH_PARENT";

/// How often the parent watchdog of [`EXIT_WITH_PARENT_ENV`] looks at the parent process id.
pub const PARENT_POLL: Duration = Duration::from_millis(100);

/// `serve --help`'s epilogue.
const SERVE_AFTER_HELP: &str = "Environment: RAFTKV_SECRET and RAFTKV_PEER_SECRET stand in for \
the secret files; RAFTKV_EXIT_WITH_PARENT=1 makes serve stop (as on SIGTERM) once its parent \
process has exited, for test harnesses whose nodes must not outlive them.";

/// A replicated key/value store on Raft, over TCP.
#[derive(Debug, Parser)]
#[command(name = "raftkv", version, about = "A replicated key/value store on Raft, over TCP", long_about = None)]
pub struct Cli {
    /// A file of `key = value` lines whose keys are long flag names (`client-listen = ...`);
    /// flags given on the command line win.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a node's data directory (once, before its first `serve`).
    Init(InitArgs),
    /// Run a node until SIGTERM or SIGINT (peers prove the peer secret, clients the client
    /// secret).
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// Print the value of KEY ("" if missing).
    Get {
        /// The key.
        key: String,
        /// How to reach the cluster.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set KEY to VALUE.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
        /// How to reach the cluster.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Append VALUE to the value of KEY.
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
        /// How to reach the cluster.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print each server's Raft state, one line per server.
    Status {
        /// How to reach the cluster.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `raftkv init`'s flags.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The data directory to make (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The cluster this node belongs to.
    #[arg(long, value_name = "C")]
    pub cluster_id: Option<String>,
    /// This node's id: its position in the cluster's peer list.
    #[arg(long, value_name = "N")]
    pub id: Option<usize>,
}

/// `raftkv serve`'s flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// This node's id: its position in --peers.
    #[arg(long, value_name = "N")]
    pub id: Option<usize>,
    /// Where to accept peer connections.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The addresses this node dials to reach each peer, in id order (its own is ignored).
    #[arg(long, value_name = "A0,A1,..", value_delimiter = ',')]
    pub peers: Option<Vec<String>>,
    /// Where to accept client connections.
    #[arg(long, value_name = "ADDR")]
    pub client_listen: Option<String>,
    /// The data directory `raftkv init` made.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The cluster id peers and clients must present.
    #[arg(long, value_name = "C")]
    pub cluster_id: Option<String>,
    /// A file holding the client secret (else the RAFTKV_SECRET variable), 16 bytes or
    /// more: clients must prove it on --client-listen, so every client holds it too.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// A file holding the peer secret (else the RAFTKV_PEER_SECRET variable), 16 bytes or
    /// more: the nodes prove it to each other on --listen. Give it to the nodes alone; it must
    /// differ from the client secret, or any client could pose as a peer.
    #[arg(long, value_name = "FILE")]
    pub peer_secret_file: Option<PathBuf>,
    /// Snapshot when Raft's persisted state reaches this many bytes (default: never).
    #[arg(long, value_name = "BYTES")]
    pub maxraftstate: Option<usize>,
    /// Whether the leader sends new entries before its own write of them, so that the writes
    /// run side by side (thesis section 10.2.1) [default: true]; false keeps Figure 2's order
    /// (every message after the writes).
    #[arg(long, value_name = "BOOL")]
    pub send_before_write: Option<bool>,
}

/// The flags of the client subcommands.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The servers' client addresses.
    #[arg(long, value_name = "C0,C1,..", value_delimiter = ',')]
    pub servers: Option<Vec<String>>,
    /// The cluster id the servers expect.
    #[arg(long, value_name = "C")]
    pub cluster_id: Option<String>,
    /// A file holding the client secret (else the RAFTKV_SECRET variable): the servers'
    /// --secret-file, not their --peer-secret-file.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Give up after this many seconds without an answer (exit 3) [default: 10].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

/// Every key a config file may hold: the long flag names.
const CONFIG_KEYS: &[&str] = &[
    "dir",
    "cluster-id",
    "id",
    "listen",
    "peers",
    "client-listen",
    "secret-file",
    "peer-secret-file",
    "maxraftstate",
    "send-before-write",
    "servers",
    "timeout",
];

/// A failed subcommand: its exit code and the line to print.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What went wrong, one line.
    pub message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    fn error(message: impl ToString) -> Self {
        Failure {
            code: EXIT_ERROR,
            message: message.to_string(),
        }
    }
}

/// The config file's values, looked up by flag name.
#[derive(Debug, Default)]
pub struct ConfigValues {
    path: Option<PathBuf>,
    values: BTreeMap<String, String>,
}

impl ConfigValues {
    /// Reads `path` (none: an empty config).
    ///
    /// # Errors
    /// A usage failure if the file cannot be read, does not parse, or has an unknown key.
    pub fn load(path: Option<&Path>) -> Result<ConfigValues, Failure> {
        let Some(path) = path else {
            return Ok(ConfigValues::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| Failure::usage(format!("cannot read --config {}: {error}", path.display())))?;
        ConfigValues::parse(&text, path)
    }

    /// Parses a config file's text (`path` names it in errors).
    ///
    /// # Errors
    /// A usage failure if it does not parse or has an unknown key.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigValues, Failure> {
        let values = config::parse_key_values(text)
            .map_err(|error| Failure::usage(format!("--config {}: {error}", path.display())))?;
        if let Some(key) = values.keys().find(|key| !CONFIG_KEYS.contains(&key.as_str())) {
            return Err(Failure::usage(format!(
                "--config {}: unknown key `{key}` (keys are long flag names: {})",
                path.display(),
                CONFIG_KEYS.join(", ")
            )));
        }
        Ok(ConfigValues {
            path: Some(path.to_path_buf()),
            values,
        })
    }

    /// Fills `flag` from the config's `key` when the command line did not give it.
    fn fill<T: FromStr>(&self, flag: &mut Option<T>, key: &str) -> Result<(), Failure>
    where
        T::Err: std::fmt::Display,
    {
        if flag.is_some() {
            return Ok(());
        }
        if let Some(text) = self.values.get(key) {
            let value = text.parse::<T>().map_err(|error| {
                let path = self.path.as_deref().unwrap_or(Path::new("?"));
                Failure::usage(format!("--config {}: `{key} = {text}`: {error}", path.display()))
            })?;
            *flag = Some(value);
        }
        Ok(())
    }

    /// Fills a comma-separated list flag.
    fn fill_list(&self, flag: &mut Option<Vec<String>>, key: &str) {
        if flag.is_none()
            && let Some(text) = self.values.get(key)
        {
            *flag = Some(text.split(',').map(|item| item.trim().to_string()).collect());
        }
    }
}

/// The value of a flag that must be given, on the command line or in the config.
fn required<T>(value: Option<T>, flag: &str) -> Result<T, Failure> {
    value.ok_or_else(|| {
        Failure::usage(format!(
            "--{flag} is required (on the command line or in --config)"
        ))
    })
}

/// Which tracing level a subcommand logs at when RUST_LOG is not set.
#[must_use]
pub fn default_log_level(command: &Command) -> &'static str {
    match command {
        Command::Init(_) | Command::Serve(_) => "info",
        _ => "warn",
    }
}

/// Runs a parsed command line: the exit code, and on failure the line to print.
///
/// # Errors
/// A [`Failure`] with its exit code and message.
pub fn run(cli: Cli, stop: Arc<AtomicBool>) -> Result<(), Failure> {
    let config = ConfigValues::load(cli.config.as_deref())?;
    match cli.command {
        Command::Init(args) => run_init(args, &config),
        Command::Serve(args) => run_serve(args, &config, stop),
        Command::Get { key, client } => {
            let value = run_op(&client, &config, |clerk| clerk.try_get(&key))?;
            println!("{value}");
            Ok(())
        }
        Command::Put { key, value, client } => {
            run_op(&client, &config, |clerk| clerk.try_put(&key, &value)).map(drop)
        }
        Command::Append { key, value, client } => {
            run_op(&client, &config, |clerk| clerk.try_append(&key, &value)).map(drop)
        }
        Command::Status { client } => run_status(&client, &config),
    }
}

fn run_init(mut args: InitArgs, config: &ConfigValues) -> Result<(), Failure> {
    config.fill(&mut args.dir, "dir")?;
    config.fill(&mut args.cluster_id, "cluster-id")?;
    config.fill(&mut args.id, "id")?;
    let dir = required(args.dir, "dir")?;
    let cluster_id = required(args.cluster_id, "cluster-id")?;
    let id = required(args.id, "id")?;
    node::init(&dir, &cluster_id, id).map_err(Failure::error)?;
    tracing::info!(
        dir = %dir.display(),
        cluster = %cluster_id,
        id,
        "initialised the data directory of node {id}"
    );
    Ok(())
}

fn run_serve(mut args: ServeArgs, config: &ConfigValues, stop: Arc<AtomicBool>) -> Result<(), Failure> {
    config.fill(&mut args.id, "id")?;
    config.fill(&mut args.listen, "listen")?;
    config.fill_list(&mut args.peers, "peers");
    config.fill(&mut args.client_listen, "client-listen")?;
    config.fill(&mut args.dir, "dir")?;
    config.fill(&mut args.cluster_id, "cluster-id")?;
    config.fill(&mut args.secret_file, "secret-file")?;
    config.fill(&mut args.peer_secret_file, "peer-secret-file")?;
    config.fill(&mut args.maxraftstate, "maxraftstate")?;
    config.fill(&mut args.send_before_write, "send-before-write")?;
    let id = required(args.id, "id")?;
    let listen = required(args.listen, "listen")?;
    let peers = required(args.peers, "peers")?;
    let client_listen = required(args.client_listen, "client-listen")?;
    let dir = required(args.dir, "dir")?;
    let cluster_id = required(args.cluster_id, "cluster-id")?;
    config::check_cluster_id(&cluster_id).map_err(Failure::usage)?;
    let secrets = config::load_node_secrets(
        args.peer_secret_file.as_deref(),
        std::env::var_os(PEER_SECRET_ENV),
        args.secret_file.as_deref(),
        std::env::var_os(SECRET_ENV),
    )
    .map_err(Failure::error)?;
    let serve = ServeConfig {
        id,
        listen,
        peers,
        client_listen,
        dir,
        cluster_id,
        secrets,
        maxraftstate: args.maxraftstate,
        send_before_write: args.send_before_write.unwrap_or(true),
    };
    if exit_with_parent(std::env::var_os(EXIT_WITH_PARENT_ENV).as_deref()) {
        watch_parent(Arc::clone(&stop))
            .map_err(|error| Failure::error(format!("cannot start the parent watchdog: {error}")))?;
    }
    node::serve(serve, stop).map_err(Failure::error)
}

/// Whether a value of [`EXIT_WITH_PARENT_ENV`] asks for the parent watchdog: set, and
/// neither empty nor "0".
#[must_use]
pub fn exit_with_parent(value: Option<&OsStr>) -> bool {
    value.is_some_and(|value| !value.is_empty() && value != "0")
}

/// Starts the parent watchdog: a thread that sets `stop` (what SIGTERM does) once the parent
/// process id differs from what it is now, that is once the parent has exited and this
/// process has been handed to another. It ends when `stop` is set. A parent that exits
/// before this is called goes unnoticed.
///
/// # Errors
/// If the thread cannot be started.
pub fn watch_parent(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let parent = std::os::unix::process::parent_id();
    std::thread::Builder::new()
        .name("parent-watchdog".into())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let now = std::os::unix::process::parent_id();
                if now != parent {
                    tracing::warn!(parent, now, "the parent process exited: stopping");
                    stop.store(true, Ordering::Release);
                    return;
                }
                std::thread::sleep(PARENT_POLL);
            }
        })
        .map(drop)
}

/// A client's identity from a cluster id and the client secret's source.
fn load_identity(cluster_id: String, secret_file: Option<&Path>) -> Result<Identity, Failure> {
    config::check_cluster_id(&cluster_id).map_err(Failure::usage)?;
    let secret = config::load_secret(secret_file, std::env::var_os(SECRET_ENV)).map_err(Failure::error)?;
    Ok(config::identity(&cluster_id, secret))
}

/// A client subcommand's settings, merged and checked.
struct ClientSettings {
    servers: Vec<String>,
    identity: Identity,
    timeout: Duration,
}

fn client_settings(args: &ClientArgs, config: &ConfigValues) -> Result<ClientSettings, Failure> {
    let mut servers = args.servers.clone();
    let mut cluster_id = args.cluster_id.clone();
    let mut secret_file = args.secret_file.clone();
    let mut timeout = args.timeout;
    config.fill_list(&mut servers, "servers");
    config.fill(&mut cluster_id, "cluster-id")?;
    config.fill(&mut secret_file, "secret-file")?;
    config.fill(&mut timeout, "timeout")?;
    let servers = required(servers, "servers")?;
    if servers.is_empty() || servers.iter().any(String::is_empty) {
        return Err(Failure::usage(
            "--servers needs one or more addresses, comma-separated",
        ));
    }
    let seconds = timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    let timeout = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| Failure::usage(format!("--timeout {seconds}: give a positive number of seconds")))?;
    let identity = load_identity(required(cluster_id, "cluster-id")?, secret_file.as_deref())?;
    Ok(ClientSettings {
        servers,
        identity,
        timeout,
    })
}

/// Runs one clerk operation with the give-up deadline; maps its end to an exit code.
fn run_op<O>(
    args: &ClientArgs,
    config: &ConfigValues,
    op: impl FnOnce(&mut Clerk<TcpClerkTransport>) -> Result<O, GaveUp>,
) -> Result<O, Failure> {
    let settings = client_settings(args, config)?;
    let transport = TcpClerkTransport::new(settings.servers.clone(), settings.identity)
        .with_deadline(Some(settings.timeout));
    let mut clerk = Clerk::new(client::random_client_id(), settings.servers.len(), transport)
        .map_err(|error| Failure::usage(error.to_string()))?;
    if let Ok(output) = op(&mut clerk) {
        return Ok(output);
    }
    let transport = clerk.transport();
    Err(gave_up(
        transport.gave_up_after_reaching_a_server(),
        transport.refused_by_all(),
        &transport.failures().join("; "),
        settings.timeout,
    ))
}

/// The failure of a client call given up: exit 3 if any attempt reached a server (it may
/// have taken effect), even if every server refused this client afterwards; else exit 1,
/// saying whether the servers refused this client or could not be reached.
fn gave_up(reached: bool, refused_by_all: bool, failures: &str, timeout: Duration) -> Failure {
    if reached {
        let refused = if refused_by_all {
            "; every server then refused this client"
        } else {
            ""
        };
        return Failure {
            code: EXIT_GAVE_UP,
            message: format!(
                "gave up after {timeout:?} without an answer{refused}; the operation may or may \
                 not have taken effect (last failures: {failures})"
            ),
        };
    }
    if refused_by_all {
        return Failure::error(format!("every server refused this client: {failures}"));
    }
    Failure::error(format!(
        "no server could be reached within {timeout:?}; the operation did not take effect: \
         {failures}"
    ))
}

/// `raftkv status`: asks every server at once; exit 0 if at least one answered.
fn run_status(args: &ClientArgs, config: &ConfigValues) -> Result<(), Failure> {
    let settings = client_settings(args, config)?;
    let timeout = settings.timeout.min(STATUS_TIMEOUT_MAX);
    let identity = &settings.identity;
    let reports: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = settings
            .servers
            .iter()
            .map(|addr| scope.spawn(move || client::status(addr, identity, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(client::ClientError::BadReply("the query thread panicked".into()))
                })
            })
            .collect()
    });
    let mut answered = 0;
    for (addr, report) in settings.servers.iter().zip(&reports) {
        match report {
            Ok(report) => {
                answered += 1;
                println!("{addr} {}", format_status(report));
            }
            Err(error) => println!("{addr} unreachable: {error}"),
        }
    }
    if answered == 0 {
        return Err(Failure::error("no server answered"));
    }
    Ok(())
}

/// One server's status line (after its address).
#[must_use]
pub fn format_status(report: &crate::protocol::StatusReport) -> String {
    let leader = report
        .leader
        .map_or_else(|| "none".to_string(), |leader| leader.to_string());
    let tcp = &report.tcp;
    format!(
        "id={} role={} term={} leader={leader} commit={} applied={} accepted={} \
         refused_version={} refused_cluster={} refused_peer={} refused_auth={} refused_frame={} \
         refused_handshake={} refused_busy={} decode_failures={} undecodable_requests={}",
        report.id,
        report.role,
        report.term,
        report.commit_index,
        report.last_applied,
        tcp.accepted,
        tcp.refused_version,
        tcp.refused_cluster,
        tcp.refused_peer,
        tcp.refused_auth,
        tcp.refused_frame,
        tcp.refused_handshake,
        tcp.refused_busy,
        tcp.decode_failures,
        report.undecodable_requests,
    )
}

/// Runs the binary: parses the arguments (clap prints help and usage errors itself, exit 0
/// and 2), sets up logging and the stop flag, runs the subcommand.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_level(&cli.command)));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let stop = Arc::new(AtomicBool::new(false));
    // For `serve`, the first SIGTERM or SIGINT asks for a clean stop; a second one, while the
    // stop is under way, exits at once (code 1) in case the clean stop hangs. The other
    // subcommands keep the default: a signal ends them at once.
    let signals = if matches!(cli.command, Command::Serve(_)) {
        &[signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT][..]
    } else {
        &[]
    };
    for &signal in signals {
        let registered = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)));
        if let Err(error) = registered {
            eprintln!("raftkv: error: cannot handle signal {signal}: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    match run(cli, stop) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(failure) => {
            eprintln!("raftkv: error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn a_call_that_reached_a_server_exits_three_even_if_all_refused_later() {
        let timeout = Duration::from_secs(1);
        let after_refusals = gave_up(true, true, "refused", timeout);
        assert_eq!(after_refusals.code, EXIT_GAVE_UP);
        assert!(
            after_refusals.message.contains("may or may not") && after_refusals.message.contains("refused"),
            "{}",
            after_refusals.message
        );
        assert_eq!(gave_up(true, false, "", timeout).code, EXIT_GAVE_UP);
        let refused = gave_up(false, true, "bad secret", timeout);
        assert_eq!(refused.code, EXIT_ERROR);
        assert!(
            refused.message.contains("every server refused"),
            "{}",
            refused.message
        );
        let unreachable = gave_up(false, false, "", timeout);
        assert_eq!(unreachable.code, EXIT_ERROR);
        assert!(
            unreachable.message.contains("did not take effect"),
            "{}",
            unreachable.message
        );
    }

    #[test]
    fn the_parent_watchdog_is_asked_for_by_a_set_nonzero_variable() {
        assert!(!exit_with_parent(None));
        assert!(!exit_with_parent(Some(OsStr::new(""))));
        assert!(!exit_with_parent(Some(OsStr::new("0"))));
        assert!(exit_with_parent(Some(OsStr::new("1"))));
        assert!(exit_with_parent(Some(OsStr::new("yes"))));
    }

    #[test]
    fn the_parent_watchdog_ends_with_the_stop_flag_while_the_parent_lives() {
        let stop = Arc::new(AtomicBool::new(false));
        watch_parent(Arc::clone(&stop)).expect("watchdog");
        std::thread::sleep(PARENT_POLL * 3);
        assert!(!stop.load(Ordering::Acquire), "stopped with the parent alive");
        stop.store(true, Ordering::Release);
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let config = ConfigValues::parse(
            "id = 1\nlisten = 127.0.0.1:1\npeers = a, b ,c\nmaxraftstate = 100\n",
            Path::new("c.conf"),
        )
        .unwrap();
        let mut id = Some(2usize);
        config.fill(&mut id, "id").unwrap();
        assert_eq!(id, Some(2));
        let mut listen: Option<String> = None;
        config.fill(&mut listen, "listen").unwrap();
        assert_eq!(listen.as_deref(), Some("127.0.0.1:1"));
        let mut peers = None;
        config.fill_list(&mut peers, "peers");
        assert_eq!(peers.unwrap(), ["a", "b", "c"]);
        let mut missing: Option<String> = None;
        config.fill(&mut missing, "client-listen").unwrap();
        assert_eq!(required(missing, "client-listen").unwrap_err().code, EXIT_USAGE);
    }

    #[test]
    fn bad_config_files_are_usage_errors() {
        let path = Path::new("c.conf");
        assert_eq!(
            ConfigValues::parse("colour = red", path).unwrap_err().code,
            EXIT_USAGE
        );
        assert_eq!(
            ConfigValues::parse("just words", path).unwrap_err().code,
            EXIT_USAGE
        );
        let config = ConfigValues::parse("id = two", path).unwrap();
        let mut id: Option<usize> = None;
        assert_eq!(config.fill(&mut id, "id").unwrap_err().code, EXIT_USAGE);
    }

    #[test]
    fn config_keys_are_the_long_flags() {
        let command = Cli::command();
        let mut flags: Vec<String> = command
            .get_subcommands()
            .flat_map(|sub| {
                sub.get_arguments()
                    .filter_map(|arg| arg.get_long().map(str::to_string))
            })
            .filter(|long| long != "config" && long != "help" && long != "version")
            .collect();
        flags.sort();
        flags.dedup();
        let mut keys: Vec<String> = CONFIG_KEYS.iter().map(|key| (*key).to_string()).collect();
        keys.sort();
        assert_eq!(flags, keys);
    }
}
