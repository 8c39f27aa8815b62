//! # A real cluster of `raftkv` processes, under a test's control
//!
//! [`ProcessCluster`] runs three `raftkv serve` processes on loopback, each made by `raftkv
//! init` in a directory of its own under `<base>/cluster/<run>/nN`, all sharing a cluster id,
//! a client secret file (clients hold it too) and a peer secret file (the nodes' alone), and
//! all running one copy of the `raftkv` binary made in the run directory at the start. Node
//! `i` reaches node `j` through a [`LinkProxy`] of its own (its `--peers` entry `j` is the
//! proxy's address, which forwards to `j`'s `--listen`), so the test can cut any directed
//! link, isolate a node or partition the cluster partially while the processes run (unless
//! [`ClusterOptions::peer_proxies`] is off: then the nodes dial each other directly, as the
//! benchmark wants, and no link can be cut); clients talk to the `--client-listen` addresses
//! directly (a partition
//! between servers leaves clients connected, as in Lab 3). Each process runs under a
//! [`ChildGuard`]: SIGKILL, SIGSTOP/SIGCONT, SIGTERM, restart on the same directory; dropping
//! the cluster kills every process and closes every proxy.
//!
//! On top of it: [`workload`] (clients whose every call is recorded in the Lab 3 history),
//! [`nemesis`] (fault rounds), [`verify`] (the read-back of every acknowledged write) and
//! [`run`] (a whole run, ending with the linearizability check and a [`run::Summary`]);
//! beside them, [`bench`](mod@bench) (what a write costs on the cluster, with the floors under it).

pub mod bench;
pub mod interrupt;
pub mod nemesis;
pub mod process;
pub mod proxy;
pub mod run;
pub mod verify;
pub mod workload;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use raft_kv::{Clerk, KvOp};
use raft_kv_server::cli::EXIT_WITH_PARENT_ENV;
use raft_kv_server::client::{self, TcpClerkTransport};
use raft_kv_server::config;
use raft_kv_server::protocol::StatusReport;
use raft_tcp::Identity;
use test_support::{ListenPorts, write_random_secret};

pub use process::{ChildGuard, Stopped, describe_status, free_addr};
pub use proxy::{LinkProxy, LinkState, ProxyStats};
pub use verify::{ReadBack, verify_read_back, write_value};
pub use workload::{Clients, KvClient, OpCounts, Outcome, Recorder, WorkloadConfig, key_name};

/// How long a node may take from its start to answering a status request.
pub const NODE_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The name of the copy of the `raftkv` binary in the run directory, which the run runs.
pub const RAFTKV_COPY: &str = "raftkv";

/// How long `raftkv init` may take.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one status request may take (a paused node never answers).
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a SIGTERMed node may take to stop before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often a wait for a leader or a node asks again.
const POLL: Duration = Duration::from_millis(50);

/// What a [`ProcessCluster`] is made of.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The `raftkv` binary: copied into the run directory at the start, and the copy run
    /// (every restart runs the same binary, whatever a build does to this path meanwhile).
    pub raftkv: PathBuf,
    /// The run's directory (made; must not exist yet): data, secret and logs go there.
    pub run_dir: PathBuf,
    /// How many nodes (3 in every run of the harness).
    pub nodes: usize,
    /// `--maxraftstate` of every node (snapshots), or none.
    pub maxraftstate: Option<usize>,
    /// `--send-before-write` of every node, or raftkv's default.
    pub send_before_write: Option<bool>,
    /// Variables set for every `raftkv` process (beside RUST_LOG).
    pub env: Vec<(String, String)>,
    /// Whether node `i` dials node `j` through a [`LinkProxy`] (what every fault between
    /// nodes needs), or straight to `j`'s `--listen` (the benchmark's cluster: no extra hop;
    /// [`ProcessCluster::set_link`] and the like then do nothing).
    pub peer_proxies: bool,
}

/// One node: where it lives and listens, and its process while it runs.
struct Node {
    dir: PathBuf,
    listen: SocketAddr,
    client: SocketAddr,
    process: Option<ChildGuard>,
}

/// A cluster of `raftkv` processes; see the [module](self) documentation.
pub struct ProcessCluster {
    // Dropped first: every process is killed and reaped before the proxies close.
    nodes: Vec<Node>,
    /// `links[i][j]`: the proxy node `i` dials node `j` through (none for `i == j`, and none
    /// at all without [`ClusterOptions::peer_proxies`]).
    links: Vec<Vec<Option<LinkProxy>>>,
    raftkv: PathBuf,
    run_dir: PathBuf,
    cluster_id: String,
    /// The client secret (clients and nodes hold it).
    secret_file: PathBuf,
    /// The peer secret (the nodes alone hold it).
    peer_secret_file: PathBuf,
    identity: Identity,
    maxraftstate: Option<usize>,
    send_before_write: Option<bool>,
    env: Vec<(String, String)>,
}

impl ProcessCluster {
    /// Makes the run directory, the secrets and a cluster id, runs `raftkv init` for every node,
    /// starts the proxies and every node, and waits until each answers a status request.
    ///
    /// # Errors
    /// If the directory exists or cannot be made, `init` fails, or a node does not become
    /// ready within [`NODE_READY_TIMEOUT`] (the error quotes the end of its log).
    pub fn start(options: &ClusterOptions) -> io::Result<ProcessCluster> {
        if options.nodes == 0 {
            return Err(io::Error::other("a cluster needs at least one node"));
        }
        std::fs::create_dir_all(options.run_dir.parent().unwrap_or(Path::new(".")))?;
        std::fs::create_dir(&options.run_dir).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot make {}: {err}", options.run_dir.display()),
            )
        })?;
        let run_name = options
            .run_dir
            .file_name()
            .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned());
        let cluster_id: String = format!("raft-cluster-{run_name}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        // The binary the whole run uses: a `cargo build` during a long run replaces the
        // original, and a restart must not pick up another server.
        let raftkv = options.run_dir.join(RAFTKV_COPY);
        std::fs::copy(&options.raftkv, &raftkv).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "cannot copy {} to {}: {err}",
                    options.raftkv.display(),
                    raftkv.display()
                ),
            )
        })?;
        let secret_file = options.run_dir.join("secret");
        write_random_secret(&secret_file)?;
        // The nodes' own secret for the peer port, which clients never hold.
        let peer_secret_file = options.run_dir.join("peer-secret");
        write_random_secret(&peer_secret_file)?;
        let secret = config::load_secret(Some(&secret_file), None).map_err(io::Error::other)?;
        let identity = config::identity(&cluster_id, secret);
        // Listening ports below the ephemeral range, so that no outgoing connection takes a
        // node's port while it is down (its restart would fail); drawn from the run directory's
        // name, which names the run (its seed, time and pid for raft-cluster's runs).
        let mut ports = ListenPorts::new(port_seed(&options.run_dir));
        let mut nodes = Vec::with_capacity(options.nodes);
        for id in 0..options.nodes {
            nodes.push(Node {
                dir: options.run_dir.join(format!("n{id}")),
                listen: ports.next_addr()?,
                client: ports.next_addr()?,
                process: None,
            });
        }
        let mut links = Vec::with_capacity(options.nodes);
        for i in 0..options.nodes {
            let mut row = Vec::with_capacity(options.nodes);
            for (j, node) in nodes.iter().enumerate() {
                row.push(if i == j || !options.peer_proxies {
                    None
                } else {
                    Some(LinkProxy::start(node.listen)?)
                });
            }
            links.push(row);
        }
        let mut cluster = ProcessCluster {
            nodes,
            links,
            raftkv,
            run_dir: options.run_dir.clone(),
            cluster_id,
            secret_file,
            peer_secret_file,
            identity,
            maxraftstate: options.maxraftstate,
            send_before_write: options.send_before_write,
            env: options.env.clone(),
        };
        for id in 0..options.nodes {
            cluster.init(id)?;
        }
        for id in 0..options.nodes {
            cluster.spawn(id)?;
        }
        for id in 0..options.nodes {
            cluster.wait_ready(id)?;
        }
        Ok(cluster)
    }

    /// A `raftkv` command with the cluster's variables. Every node stops on its own once
    /// this process has exited (the parent watchdog of `raftkv serve`), so that no node
    /// outlives a harness killed without the chance to stop it.
    fn raftkv(&self) -> Command {
        let mut command = Command::new(&self.raftkv);
        command.env_remove(config::SECRET_ENV);
        command.env_remove(config::PEER_SECRET_ENV);
        command.env(EXIT_WITH_PARENT_ENV, "1");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// `raftkv init` of node `id`, run to its end.
    fn init(&self, id: usize) -> io::Result<()> {
        let mut command = self.raftkv();
        command.arg("init").arg("--dir").arg(&self.nodes[id].dir).args([
            "--cluster-id",
            &self.cluster_id,
            "--id",
            &id.to_string(),
        ]);
        let name = format!("n{id}-init");
        let mut child = ChildGuard::spawn(command, &self.run_dir, &name)?;
        match child.wait_bounded(INIT_TIMEOUT)? {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "raftkv init of node {id} failed ({}): {}",
                describe_status(status),
                tail(&child.stderr_text())
            ))),
            None => Err(io::Error::other(format!("raftkv init of node {id} did not end"))),
        }
    }

    /// The `raftkv serve` command of node `id`.
    fn serve_command(&self, id: usize) -> Command {
        let peers: Vec<String> = (0..self.nodes.len())
            .map(|j| match &self.links[id][j] {
                Some(proxy) => proxy.addr().to_string(),
                None => self.nodes[j].listen.to_string(),
            })
            .collect();
        let node = &self.nodes[id];
        let mut command = self.raftkv();
        command
            .arg("serve")
            .args(["--id", &id.to_string()])
            .args(["--listen", &node.listen.to_string()])
            .args(["--peers", &peers.join(",")])
            .args(["--client-listen", &node.client.to_string()])
            .arg("--dir")
            .arg(&node.dir)
            .args(["--cluster-id", &self.cluster_id])
            .arg("--secret-file")
            .arg(&self.secret_file)
            .arg("--peer-secret-file")
            .arg(&self.peer_secret_file);
        if let Some(bytes) = self.maxraftstate {
            command.args(["--maxraftstate", &bytes.to_string()]);
        }
        if let Some(on) = self.send_before_write {
            command.args(["--send-before-write", &on.to_string()]);
        }
        // The nodes log at info unless the harness is told otherwise.
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        command
    }

    /// Starts node `id`'s process (it must not be running). A process that has exited on
    /// its own is replaced (its end is logged here; [`ProcessCluster::exited`] is how the
    /// harness reports it).
    fn spawn(&mut self, id: usize) -> io::Result<()> {
        if let Some(process) = self.nodes[id].process.as_mut() {
            if process.is_running() {
                return Err(io::Error::other(format!("node {id} is already running")));
            }
            tracing::warn!(node = id, status = %process.describe(), "replacing a node that exited");
            self.nodes[id].process = None;
        }
        let child = ChildGuard::spawn(self.serve_command(id), &self.run_dir, &format!("n{id}"))?;
        self.nodes[id].process = Some(child);
        Ok(())
    }

    /// Waits until node `id` answers a status request (an [`io::ErrorKind::Interrupted`]
    /// error if a signal stops the run meanwhile: see [`interrupt`]).
    fn wait_ready(&mut self, id: usize) -> io::Result<()> {
        let deadline = Instant::now() + NODE_READY_TIMEOUT;
        loop {
            if self.status(id).is_ok() {
                return Ok(());
            }
            if interrupt::interrupted() {
                return Err(interrupt::error());
            }
            let Some(process) = self.nodes[id].process.as_mut() else {
                return Err(io::Error::other(format!("node {id} is not running")));
            };
            if !process.is_running() {
                let status = process.describe();
                let log = tail(&process.stderr_text());
                return Err(io::Error::other(format!(
                    "node {id} exited ({status}) before serving: {log}"
                )));
            }
            if Instant::now() >= deadline {
                let log = tail(&process.stderr_text());
                return Err(io::Error::other(format!(
                    "node {id} did not answer within {NODE_READY_TIMEOUT:?}: {log}"
                )));
            }
            thread::sleep(POLL);
        }
    }

    /// The number of nodes.
    #[must_use]
    pub fn n(&self) -> usize {
        self.nodes.len()
    }

    /// The `raftkv` binary the cluster runs: its copy in the run directory.
    #[must_use]
    pub fn raftkv_path(&self) -> &Path {
        &self.raftkv
    }

    /// The run's directory: data, secret, logs (`nN.stderr.log`).
    #[must_use]
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The cluster id the nodes were made with.
    #[must_use]
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The identity clients prove.
    #[must_use]
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The nodes' client addresses, in id order.
    #[must_use]
    pub fn client_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.client.to_string()).collect()
    }

    /// A clerk over every node that gives a call up `give_up_after` after its first attempt.
    #[must_use]
    pub fn clerk(&self, give_up_after: Duration) -> Clerk<TcpClerkTransport> {
        let transport = TcpClerkTransport::new(self.client_addrs(), self.identity.clone())
            .with_deadline(Some(give_up_after));
        Clerk::new(client::random_client_id(), self.n(), transport).expect("a cluster has nodes")
    }

    /// A [`KvClient`] over a clerk of its own (see [`ProcessCluster::clerk`]).
    #[must_use]
    pub fn kv_client(&self, give_up_after: Duration) -> Box<dyn KvClient> {
        Box::new(TcpKvClient {
            clerk: self.clerk(give_up_after),
        })
    }

    /// Node `id`'s status report, asked directly (not through a proxy).
    ///
    /// # Errors
    /// A description of why it did not answer (down, paused, refused...).
    pub fn status(&self, id: usize) -> Result<StatusReport, String> {
        self.status_within(id, STATUS_TIMEOUT)
    }

    /// Node `id`'s status report, waited for up to `timeout` (a test on a loaded machine
    /// gives a node that runs more time than [`STATUS_TIMEOUT`]).
    ///
    /// # Errors
    /// A description of why it did not answer (down, paused, refused...).
    pub fn status_within(&self, id: usize, timeout: Duration) -> Result<StatusReport, String> {
        client::status(&self.nodes[id].client.to_string(), &self.identity, timeout).map_err(|e| e.to_string())
    }

    /// True if node `id`'s process runs and is not paused.
    pub fn is_up(&mut self, id: usize) -> bool {
        self.nodes[id]
            .process
            .as_mut()
            .is_some_and(|p| !p.is_paused() && p.is_running())
    }

    /// The node that says it leads, among those up (the highest term's if several do: an
    /// old leader cut off from the others may not know yet); `None` if none does.
    pub fn leader(&mut self) -> Option<usize> {
        self.leader_and_term().map(|(id, _)| id)
    }

    /// Like [`ProcessCluster::leader`], with the term its status report gave: the two come
    /// from one answer, where asking again could find the leader gone or slow to answer.
    pub fn leader_and_term(&mut self) -> Option<(usize, u64)> {
        let mut best: Option<(u64, usize)> = None;
        for id in 0..self.n() {
            if !self.is_up(id) {
                continue;
            }
            if let Ok(report) = self.status(id)
                && report.role.eq_ignore_ascii_case("leader")
                && best.is_none_or(|(term, _)| report.term > term)
            {
                best = Some((report.term, id));
            }
        }
        best.map(|(term, id)| (id, term))
    }

    /// Waits up to `timeout` for a node to lead (`None` at once if a signal stops the run:
    /// see [`interrupt`]).
    pub fn wait_leader(&mut self, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader() {
                return Some(leader);
            }
            if Instant::now() >= deadline || interrupt::interrupted() {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    fn process(&mut self, id: usize) -> io::Result<&mut ChildGuard> {
        self.nodes[id]
            .process
            .as_mut()
            .ok_or_else(|| io::Error::other(format!("node {id} is not running")))
    }

    /// Kills node `id` with SIGKILL (a crash) and reaps it.
    ///
    /// # Errors
    /// If it is not running or cannot be killed.
    pub fn kill9(&mut self, id: usize) -> io::Result<()> {
        self.process(id)?.kill9()?;
        self.nodes[id].process = None;
        Ok(())
    }

    /// Stops node `id` with SIGTERM (killed after [`STOP_GRACE`]) and says how it ended.
    ///
    /// # Errors
    /// If it is not running or a signal fails.
    pub fn terminate(&mut self, id: usize) -> io::Result<Stopped> {
        let stopped = self.process(id)?.terminate(STOP_GRACE)?;
        self.nodes[id].process = None;
        Ok(stopped)
    }

    /// Starts node `id` again on its directory and addresses, and waits until it answers.
    ///
    /// # Errors
    /// If it is running, or does not become ready (see [`ProcessCluster::start`]).
    pub fn restart(&mut self, id: usize) -> io::Result<()> {
        self.spawn(id)?;
        self.wait_ready(id)
    }

    /// Pauses node `id` (SIGSTOP).
    ///
    /// # Errors
    /// If it is not running or the signal fails.
    pub fn pause(&mut self, id: usize) -> io::Result<()> {
        self.process(id)?.pause()
    }

    /// Resumes node `id` (SIGCONT).
    ///
    /// # Errors
    /// If it is not running or the signal fails.
    pub fn resume(&mut self, id: usize) -> io::Result<()> {
        self.process(id)?.resume()
    }

    /// True if node `id` runs but is paused.
    #[must_use]
    pub fn is_paused(&self, id: usize) -> bool {
        self.nodes[id].process.as_ref().is_some_and(ChildGuard::is_paused)
    }

    /// True if node `id` has a process (running, paused, or ended without being reaped).
    #[must_use]
    pub fn has_process(&self, id: usize) -> bool {
        self.nodes[id].process.is_some()
    }

    /// If node `id`'s process has ended though the harness did not stop it (it crashed, or
    /// exited on its own): how it ended and the end of its log. `None` while it runs (or is
    /// paused), and once it has been stopped or replaced.
    pub fn exited(&mut self, id: usize) -> Option<String> {
        let process = self.nodes[id].process.as_mut()?;
        if process.is_running() {
            return None;
        }
        Some(format!(
            "{}; log: {}",
            process.describe(),
            tail(&process.stderr_text())
        ))
    }

    /// Node `id`'s process id while it has a process.
    #[must_use]
    pub fn pid(&self, id: usize) -> Option<u32> {
        self.nodes[id].process.as_ref().map(ChildGuard::pid)
    }

    /// Sets the link `from -> to` (what `from` dials).
    pub fn set_link(&self, from: usize, to: usize, state: LinkState) {
        if let Some(proxy) = &self.links[from][to] {
            proxy.set(state);
        }
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&self, a: usize, b: usize) {
        self.set_link(a, b, LinkState::Cut);
        self.set_link(b, a, LinkState::Cut);
    }

    /// Cuts only what `from` dials to `to`: `to` still reaches `from` (and gets answers).
    pub fn cut_one_way(&self, from: usize, to: usize) {
        self.set_link(from, to, LinkState::Cut);
    }

    /// Cuts `id` from every other node (clients still reach it).
    pub fn isolate(&self, id: usize) {
        for other in 0..self.n() {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Every link passes again.
    pub fn heal(&self) {
        for proxy in self.links.iter().flatten().flatten() {
            proxy.set(LinkState::Pass);
        }
    }

    /// What the proxy of the link `from -> to` has done (none for `from == to`).
    #[must_use]
    pub fn link_stats(&self, from: usize, to: usize) -> Option<ProxyStats> {
        self.links[from][to].as_ref().map(LinkProxy::stats)
    }

    /// The links not passing now, as `i->j: state`.
    #[must_use]
    pub fn faulty_links(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, row) in self.links.iter().enumerate() {
            for (j, proxy) in row.iter().enumerate() {
                if let Some(proxy) = proxy
                    && proxy.state() != LinkState::Pass
                {
                    out.push(format!("n{i}->n{j}: {:?}", proxy.state()));
                }
            }
        }
        out
    }

    /// The end of node `id`'s stderr log, for a failure message.
    #[must_use]
    pub fn log_tail(&self, id: usize) -> String {
        let path = self.run_dir.join(format!("n{id}.stderr.log"));
        tail(&std::fs::read_to_string(path).unwrap_or_default())
    }
}

impl std::fmt::Debug for ProcessCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessCluster")
            .field("run_dir", &self.run_dir)
            .field("cluster_id", &self.cluster_id)
            .field("clients", &self.client_addrs())
            .finish_non_exhaustive()
    }
}

/// The seed of a run's listening ports: a hash of its directory (fixed, unlike the default
/// hasher of a `HashMap`, so one directory always gives the same ports' candidates).
fn port_seed(run_dir: &Path) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    run_dir.hash(&mut hasher);
    hasher.finish()
}

/// The last lines of a log, for an error message.
fn tail(text: &str) -> String {
    const LINES: usize = 8;
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LINES)..].join(" | ")
}

/// A [`KvClient`] over a raft-kv clerk on TCP.
struct TcpKvClient {
    clerk: Clerk<TcpClerkTransport>,
}

impl KvClient for TcpKvClient {
    fn call(&mut self, op: &KvOp) -> Outcome {
        match self.clerk.try_call::<KvOp, String>(op.clone()) {
            Ok(value) => match op {
                KvOp::Get { .. } => Outcome::Done(value),
                KvOp::Put { .. } | KvOp::Append { .. } => Outcome::Done(String::new()),
            },
            Err(_) if self.clerk.transport().gave_up_after_reaching_a_server() => Outcome::Uncertain,
            Err(_) => Outcome::NotSent,
        }
    }
}
