//! Shared helpers for the process tests: `raftkv` children under test-support's
//! [`ChildGuard`] (killed by their own pid when dropped), bounded waits, stderr captured line
//! by line, and the secrets and free loopback ports of test-support.
#![allow(dead_code, missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use test_support::{ChildGuard, ListenPorts};

/// The binary under test.
pub const RAFTKV: &str = env!("CARGO_BIN_EXE_raftkv");

/// The client secret: long enough for raft-tcp.
pub const SECRET: &str = "correct horse battery staple";

/// The peer secret, which differs from the client secret as serve requires.
pub const PEER_SECRET: &str = "a secret for the nodes alone";

/// How long a node may take to log "serving".
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a client command may run before the test calls it hung.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A loopback address for a node to listen on: below the ephemeral range (so a restart on
/// it never finds it taken by an outgoing connection), never handed out twice in this
/// process, free when handed out.
pub fn free_addr() -> String {
    static PORTS: Mutex<Option<ListenPorts>> = Mutex::new(None);
    let mut ports = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    ports
        .get_or_insert_with(ListenPorts::from_clock)
        .next_addr()
        .expect("a free loopback port")
        .to_string()
}

/// A new secret file in `dir` holding `secret`, readable by its owner only.
pub fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let path = dir.join(name);
    test_support::write_secret(&path, secret).expect("write secret file");
    path
}

/// A node's two secret files.
#[derive(Clone, Debug)]
pub struct Secrets {
    /// The client secret's file (`--secret-file`), which clients use too.
    pub client: PathBuf,
    /// The peer secret's file (`--peer-secret-file`).
    pub peer: PathBuf,
}

/// Writes [`SECRET`] and [`PEER_SECRET`] into files in `dir`.
pub fn secrets(dir: &Path) -> Secrets {
    Secrets {
        client: secret_file(dir, "secret", SECRET),
        peer: secret_file(dir, "peer-secret", PEER_SECRET),
    }
}

/// A `raftkv` command with RUST_LOG, RAFTKV_SECRET and RAFTKV_PEER_SECRET cleared, so the
/// test decides.
pub fn raftkv() -> Command {
    let mut command = Command::new(RAFTKV);
    command
        .env_remove("RUST_LOG")
        .env_remove("RAFTKV_SECRET")
        .env_remove("RAFTKV_PEER_SECRET");
    command
}

/// Runs a short `raftkv` command to its end (killed if it outlives `CLIENT_TIMEOUT`).
pub fn run(args: &[&str]) -> Output {
    run_command(raftkv().args(args))
}

/// Runs `command` to its end, bounded by `CLIENT_TIMEOUT` (killed by its guard if it runs
/// over), its stdout and stderr collected.
pub fn run_command(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn raftkv");
    // Both pipes drained meanwhile, so that a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let mut guard = ChildGuard::adopt("raftkv", child);
    let status = guard
        .wait_bounded(CLIENT_TIMEOUT)
        .expect("wait")
        .unwrap_or_else(|| panic!("raftkv {command:?} ran over {CLIENT_TIMEOUT:?}"));
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// A running `raftkv serve` with its stderr collected.
pub struct Node {
    guard: ChildGuard,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    pub args: Vec<String>,
}

impl Node {
    /// Starts `raftkv` with `args` (and optional env), stderr captured.
    pub fn spawn(args: &[String], env: &[(&str, &str)]) -> Node {
        let mut command = raftkv();
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn raftkv serve");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Node {
            guard: ChildGuard::adopt("raftkv serve", child),
            lines,
            reader: Some(reader),
            args: args.to_vec(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Everything the node logged so far.
    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a logged line contains `needle`; false if the node exited first or
    /// `timeout` passed.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(needle))
            {
                return true;
            }
            if Instant::now() >= deadline || self.try_status().is_some() {
                // One last look: the line may have arrived with the exit.
                std::thread::sleep(Duration::from_millis(50));
                return self
                    .lines
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|line| line.contains(needle));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the node logs "serving", panicking with its stderr otherwise.
    pub fn wait_serving(&mut self) {
        assert!(
            self.wait_for_line("serving", START_TIMEOUT),
            "node did not start serving; stderr:\n{}",
            self.stderr()
        );
    }

    /// The exit status if it exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.guard.try_wait().expect("try_wait")
    }

    /// Waits at most `timeout` for the node to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM to this node's own pid.
    pub fn terminate(&mut self) {
        self.guard.sigterm().expect("SIGTERM to the node");
    }
}

/// One node's settings in a test cluster.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub id: usize,
    pub listen: String,
    pub client: String,
    pub dir: PathBuf,
}

/// Addresses and directories for an `n`-node cluster under `root`.
pub fn cluster_specs(root: &Path, n: usize) -> Vec<NodeSpec> {
    (0..n)
        .map(|id| NodeSpec {
            id,
            listen: free_addr(),
            client: free_addr(),
            dir: root.join(format!("node{id}")),
        })
        .collect()
}

/// `raftkv init` for `spec`, asserting it succeeds.
pub fn init(spec: &NodeSpec, cluster: &str) {
    let output = run(&[
        "init",
        "--dir",
        spec.dir.to_str().unwrap(),
        "--cluster-id",
        cluster,
        "--id",
        &spec.id.to_string(),
    ]);
    assert!(
        output.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The arguments of `raftkv serve` for `spec` in a cluster of `specs`; the two secret flags
/// come last.
pub fn serve_args(spec: &NodeSpec, specs: &[NodeSpec], cluster: &str, secrets: &Secrets) -> Vec<String> {
    let peers: Vec<&str> = specs.iter().map(|spec| spec.listen.as_str()).collect();
    vec![
        "serve".into(),
        "--id".into(),
        spec.id.to_string(),
        "--listen".into(),
        spec.listen.clone(),
        "--peers".into(),
        peers.join(","),
        "--client-listen".into(),
        spec.client.clone(),
        "--dir".into(),
        spec.dir.to_str().unwrap().into(),
        "--cluster-id".into(),
        cluster.into(),
        "--peer-secret-file".into(),
        secrets.peer.to_str().unwrap().into(),
        "--secret-file".into(),
        secrets.client.to_str().unwrap().into(),
    ]
}

/// `args` without `flag` and the value after it.
pub fn without_flag(args: &[String], flag: &str) -> Vec<String> {
    let at = args
        .iter()
        .position(|arg| arg == flag)
        .unwrap_or_else(|| panic!("{flag} not in {args:?}"));
    let mut args = args.to_vec();
    args.drain(at..at + 2);
    args
}

/// `args` with the value after `flag` replaced by `value`.
pub fn with_flag(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let at = args
        .iter()
        .position(|arg| arg == flag)
        .unwrap_or_else(|| panic!("{flag} not in {args:?}"));
    let mut args = args.to_vec();
    args[at + 1] = value.to_string();
    args
}

/// The client flags for a cluster of `specs`.
pub fn client_args(specs: &[NodeSpec], cluster: &str, secret: &Path, timeout_secs: u32) -> Vec<String> {
    let servers: Vec<&str> = specs.iter().map(|spec| spec.client.as_str()).collect();
    vec![
        "--servers".into(),
        servers.join(","),
        "--cluster-id".into(),
        cluster.into(),
        "--secret-file".into(),
        secret.to_str().unwrap().into(),
        "--timeout".into(),
        timeout_secs.to_string(),
    ]
}

/// Runs a client subcommand (`words` first, then `client` flags).
pub fn client(words: &[&str], client: &[String]) -> Output {
    let mut args: Vec<&str> = words.to_vec();
    args.extend(client.iter().map(String::as_str));
    run(&args)
}

/// The value of `key=<number>` in a status line.
pub fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// Utf-8 text of a byte stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
