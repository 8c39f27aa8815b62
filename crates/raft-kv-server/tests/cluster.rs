//! `raftkv serve` processes on loopback: what they refuse (a second process on a data
//! directory, a client without the client secret, a client posing as a peer with it, a peer
//! of another cluster), a 3-node cluster
//! serving the client commands, a clean stop on SIGTERM that keeps the data, and a node
//! that stops when its parent exits if RAFTKV_EXIT_WITH_PARENT asks it to.

mod common;

use common::{
    Node, NodeSpec, SECRET, Secrets, client, client_args, cluster_specs, field, init, secret_file, secrets,
    serve_args, text,
};
use std::time::{Duration, Instant};

/// How long a node may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts every node of `specs` (already initialised) and waits until each is serving.
fn start_all(specs: &[NodeSpec], cluster: &str, secrets: &Secrets) -> Vec<Node> {
    let mut nodes: Vec<Node> = specs
        .iter()
        .map(|spec| Node::spawn(&serve_args(spec, specs, cluster, secrets), &[]))
        .collect();
    for node in &mut nodes {
        node.wait_serving();
    }
    nodes
}

/// The status lines of a cluster, one per server.
fn status_lines(client_flags: &[String]) -> (Option<i32>, Vec<String>, String) {
    let output = client(&["status"], client_flags);
    let lines = text(&output.stdout).lines().map(str::to_string).collect();
    (output.status.code(), lines, text(&output.stderr))
}

/// Polls `status` (at most `timeout`) until `done` holds of its lines; the last lines.
fn poll_status(client_flags: &[String], timeout: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, lines, _) = status_lines(client_flags);
        if done(&lines) || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_second_process_on_a_data_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 1);
    init(&specs[0], "c");
    let mut first = Node::spawn(&serve_args(&specs[0], &specs, "c", &secrets), &[]);
    first.wait_serving();
    // The same directory, other ports: the lock refuses it before any socket is bound.
    let mut second_spec = specs[0].clone();
    second_spec.listen = common::free_addr();
    second_spec.client = common::free_addr();
    let mut second = Node::spawn(
        &serve_args(&second_spec, std::slice::from_ref(&second_spec), "c", &secrets),
        &[],
    );
    let status = second
        .wait_exit(STOP_TIMEOUT)
        .expect("the second serve did not exit");
    assert_eq!(status.code(), Some(1), "stderr:\n{}", second.stderr());
    assert!(second.stderr().contains("in use"), "stderr:\n{}", second.stderr());
    assert!(
        first.try_status().is_none(),
        "the first node died:\n{}",
        first.stderr()
    );
    // The first still serves.
    let flags = client_args(&specs, "c", &secrets.client, 10);
    let output = client(&["put", "k", "v"], &flags);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn a_client_without_the_secret_is_refused_and_counted() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let wrong = secret_file(root.path(), "wrong", "not the secret, but long enough");
    let specs = cluster_specs(root.path(), 1);
    init(&specs[0], "c");
    let _node = start_all(&specs, "c", &secrets);
    let started = Instant::now();
    let output = client(&["put", "k", "stolen"], &client_args(&specs, "c", &wrong, 10));
    assert_eq!(output.status.code(), Some(1), "stderr: {}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    // Refusal is known at once: the client does not wait out its 10 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    // A status with the wrong secret is refused too.
    let (code, lines, _) = status_lines(&client_args(&specs, "c", &wrong, 5));
    assert_eq!(code, Some(1));
    assert!(lines[0].contains("unreachable"), "{lines:?}");
    // The peer secret does not open the client port either: each port takes only its own.
    let output = client(
        &["put", "k", "stolen"],
        &client_args(&specs, "c", &secrets.peer, 10),
    );
    assert_eq!(output.status.code(), Some(1), "stderr: {}", text(&output.stderr));
    // The node counted the refusals, and nothing was written.
    let flags = client_args(&specs, "c", &secrets.client, 10);
    let (code, lines, stderr) = status_lines(&flags);
    assert_eq!(code, Some(0), "{stderr}");
    let refused: u64 = field(&lines[0], "refused_auth").unwrap().parse().unwrap();
    assert!(refused >= 3, "{lines:?}");
    let output = client(&["get", "k"], &flags);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "\n");
}

#[test]
fn a_peer_of_another_cluster_is_refused_and_counted() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 2);
    init(&specs[0], "blue");
    init(&specs[1], "green");
    let mut blue = Node::spawn(&serve_args(&specs[0], &specs, "blue", &secrets), &[]);
    let mut green = Node::spawn(&serve_args(&specs[1], &specs, "green", &secrets), &[]);
    blue.wait_serving();
    green.wait_serving();
    // Green dials blue (and blue dials green): each refuses the other's cluster id.
    let flags = client_args(&specs[..1], "blue", &secrets.client, 5);
    let lines = poll_status(&flags, Duration::from_secs(10), |lines| {
        lines
            .first()
            .and_then(|line| field(line, "refused_cluster"))
            .is_some_and(|count| count != "0")
    });
    let refused: u64 = field(&lines[0], "refused_cluster")
        .unwrap_or_else(|| panic!("no status: {lines:?}"))
        .parse()
        .unwrap();
    assert!(refused >= 1, "{lines:?}");
    // Two nodes that never talk cannot elect a leader.
    assert!(
        field(&lines[0], "role").is_some_and(|role| role != "leader"),
        "{lines:?}"
    );
    assert!(blue.try_status().is_none() && green.try_status().is_none());
}

/// The number in `key=` of a status line, if it has one.
fn count(line: &str, key: &str) -> Option<u64> {
    field(line, key).and_then(|value| value.parse().ok())
}

#[test]
fn a_client_posing_as_a_peer_is_refused_and_the_others_serve() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 3);
    for spec in &specs {
        init(spec, "trio");
    }
    // Node 2 holds only what any client holds: the client secret, which it presents as its
    // peer secret when it dials the others' peer ports as peer 2. Its own client port gets a
    // third secret (serve refuses a peer secret equal to the client secret).
    let impostor_secrets = Secrets {
        client: secret_file(root.path(), "impostor-client", "the impostor's own client secret"),
        peer: secrets.client.clone(),
    };
    let mut honest: Vec<Node> = specs[..2]
        .iter()
        .map(|spec| Node::spawn(&serve_args(spec, &specs, "trio", &secrets), &[]))
        .collect();
    let mut impostor = Node::spawn(&serve_args(&specs[2], &specs, "trio", &impostor_secrets), &[]);
    for node in &mut honest {
        node.wait_serving();
    }
    impostor.wait_serving();
    // The two honest nodes refuse it (counted as refused_auth) and still make a majority of
    // three: one of them leads, and both know which.
    let flags = client_args(&specs[..2], "trio", &secrets.client, 10);
    let settled = |lines: &[String]| {
        lines.len() == 2
            && lines
                .iter()
                .all(|line| count(line, "refused_auth").is_some_and(|refused| refused >= 1))
            && lines
                .iter()
                .filter(|line| field(line, "role").as_deref() == Some("leader"))
                .count()
                == 1
            && lines.iter().all(|line| {
                matches!(field(line, "leader").as_deref(), Some("0" | "1"))
                    && field(line, "leader") == field(&lines[0], "leader")
            })
    };
    let lines = poll_status(&flags, Duration::from_secs(15), settled);
    assert!(
        settled(&lines),
        "{lines:?}\nnode 0:\n{}\nnode 1:\n{}",
        honest[0].stderr(),
        honest[1].stderr()
    );
    // They serve: writes commit and read back.
    for words in [["put", "k", "a"], ["append", "k", "b"]] {
        let output = client(&words, &flags);
        assert!(output.status.success(), "{words:?}: {}", text(&output.stderr));
    }
    let output = client(&["get", "k"], &flags);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ab\n");
    // Each honest node logged the refusal, and never accepted a connection from peer 2.
    for (id, node) in honest.iter().enumerate() {
        let log = node.stderr();
        assert!(
            log.lines()
                .any(|line| line.contains("refused a peer connection")
                    && line.contains("authentication failed")),
            "node {id}:\n{log}"
        );
        assert!(
            !log.lines()
                .any(|line| line.contains("accepted a peer connection") && line.contains("from=2")),
            "node {id} took the impostor for peer 2:\n{log}"
        );
    }
    // The impostor, cut off, never leads and never learns of a leader; it refused the honest
    // nodes' dials in turn (they prove the peer secret, which it does not hold).
    let impostor_flags = client_args(&specs[2..], "trio", &impostor_secrets.client, 5);
    let (code, lines, stderr) = status_lines(&impostor_flags);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        field(&lines[0], "role").is_some_and(|role| role != "leader"),
        "{lines:?}"
    );
    assert_eq!(field(&lines[0], "leader").as_deref(), Some("none"), "{lines:?}");
    assert_eq!(count(&lines[0], "applied"), Some(0), "{lines:?}");
    assert!(
        count(&lines[0], "refused_auth").is_some_and(|refused| refused >= 1),
        "{lines:?}"
    );
    assert!(impostor.try_status().is_none() && honest.iter_mut().all(|node| node.try_status().is_none()));
}

#[test]
fn a_three_node_cluster_serves_the_client_commands_with_one_leader() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 3);
    for spec in &specs {
        init(spec, "trio");
    }
    let _nodes = start_all(&specs, "trio", &secrets);
    let flags = client_args(&specs, "trio", &secrets.client, 20);
    for words in [["put", "k", "a"], ["append", "k", "b"], ["append", "k", "c"]] {
        let output = client(&words, &flags);
        assert!(output.status.success(), "{words:?}: {}", text(&output.stderr));
        assert!(output.stdout.is_empty());
    }
    let output = client(&["get", "k"], &flags);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "abc\n");
    let output = client(&["get", "missing"], &flags);
    assert_eq!(text(&output.stdout), "\n");
    // Once the cluster settled: every node answers, one says leader, all name the same one,
    // and every node applied the writes.
    let one_leader = |lines: &[String]| {
        let leaders: Vec<_> = lines.iter().filter_map(|line| field(line, "leader")).collect();
        lines.len() == 3
            && lines
                .iter()
                .filter(|line| field(line, "role").as_deref() == Some("leader"))
                .count()
                == 1
            && leaders.len() == 3
            && leaders
                .iter()
                .all(|leader| *leader == leaders[0] && leader != "none")
            && lines.iter().all(|line| {
                field(line, "applied").is_some_and(|applied| applied.parse::<u64>().unwrap_or(0) >= 3)
            })
    };
    let lines = poll_status(&flags, Duration::from_secs(10), one_leader);
    assert!(one_leader(&lines), "{lines:?}");
}

#[test]
fn sigterm_stops_cleanly_and_a_restart_keeps_the_data() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 1);
    init(&specs[0], "solo");
    let flags = client_args(&specs, "solo", &secrets.client, 10);
    let args = serve_args(&specs[0], &specs, "solo", &secrets);
    let mut node = Node::spawn(&args, &[]);
    node.wait_serving();
    for words in [["put", "k", "kept"], ["append", "k", "!"]] {
        let output = client(&words, &flags);
        assert!(output.status.success(), "{words:?}: {}", text(&output.stderr));
    }
    node.terminate();
    let status = node.wait_exit(STOP_TIMEOUT).expect("no exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "stderr:\n{}", node.stderr());
    drop(node);
    // With the node down, a client gives up after its timeout: exit 1 (nothing reached a
    // server, so the put did not happen).
    let output = client(
        &["put", "k", "lost"],
        &client_args(&specs, "solo", &secrets.client, 1),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    // The restarted node (same directory: its lock was released) has the data.
    let mut node = Node::spawn(&args, &[]);
    node.wait_serving();
    let output = client(&["get", "k"], &flags);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "kept!\n");
}

#[test]
fn a_client_whose_call_reached_a_server_but_got_no_answer_exits_three() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 3);
    init(&specs[0], "c");
    // One node of three: it answers, but can never commit (no majority).
    let mut node = Node::spawn(&serve_args(&specs[0], &specs, "c", &secrets), &[]);
    node.wait_serving();
    let started = Instant::now();
    let output = client(&["put", "k", "v"], &client_args(&specs, "c", &secrets.client, 2));
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    // It waited out its --timeout, and not much more.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "took {took:?}"
    );
    assert!(
        text(&output.stderr).contains("may or may not"),
        "{}",
        text(&output.stderr)
    );
    assert!(node.try_status().is_none(), "the node died:\n{}", node.stderr());
}

#[test]
fn an_address_in_use_is_refused_and_the_directory_released() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 1);
    init(&specs[0], "c");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut busy = specs[0].clone();
    busy.client = taken.local_addr().unwrap().to_string();
    let output = common::run(
        &serve_args(&busy, std::slice::from_ref(&busy), "c", &secrets)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot listen for client connections on"),
        "{stderr}"
    );
    // The refused process released the directory: a node on free ports serves it.
    let mut node = Node::spawn(&serve_args(&specs[0], &specs, "c", &secrets), &[]);
    node.wait_serving();
}

#[test]
fn an_undecodable_request_is_answered_and_counted() {
    use raft_kv_server::protocol::{ClientReply, decode};
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let specs = cluster_specs(root.path(), 1);
    init(&specs[0], "c");
    let _nodes = start_all(&specs, "c", &secrets);
    let identity = raft_tcp::Identity::new("c", raft_tcp::Secret::new(SECRET.into()).unwrap()).unwrap();
    let timeout = Duration::from_secs(5);
    let mut conn = raft_tcp::ClientConn::connect(&specs[0].client, &identity, timeout).unwrap();
    for garbage in [&b""[..], &[0xff; 9][..], &[7, 1, 2, 3][..]] {
        let reply = conn.call(garbage, timeout).unwrap();
        assert!(
            matches!(decode::<ClientReply>(&reply), Ok(ClientReply::Undecodable(_))),
            "{garbage:?}"
        );
    }
    let report = raft_kv_server::client::status(&specs[0].client, &identity, timeout).unwrap();
    assert_eq!(report.undecodable_requests, 3);
    assert_eq!(report.id, 0);
    // The server still serves good requests after the bad ones.
    let transport = raft_kv_server::client::TcpClerkTransport::new(vec![specs[0].client.clone()], identity)
        .with_deadline(Some(Duration::from_secs(10)));
    let mut clerk = raft_kv::Clerk::new(raft_kv_server::client::random_client_id(), 1, transport).unwrap();
    clerk.try_put("k", "v").unwrap();
    assert_eq!(clerk.try_get("k").unwrap(), "v");
}

/// A process the test did not start itself (a grandchild), SIGKILLed by its pid when dropped,
/// should the test fail before it ends.
struct KillPid(i32);

impl Drop for KillPid {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// True once process `pid` is gone or a zombie (it has exited; its new parent may not reap it).
fn has_exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].trim_start().chars().next())
            .is_none_or(|state| matches!(state, 'Z' | 'X')),
    }
}

/// Starts a node as the child of a shell (the test's child), with `exit_with_parent` as
/// RAFTKV_EXIT_WITH_PARENT if given, waits until it serves, then kills the shell with
/// SIGKILL. Returns the node's pid (guarded) and its log file.
fn orphan_a_node(root: &std::path::Path, exit_with_parent: Option<&str>) -> (KillPid, std::path::PathBuf) {
    use std::io::BufRead;
    let secrets = secrets(root);
    let specs = cluster_specs(root, 1);
    init(&specs[0], "solo");
    let args = serve_args(&specs[0], &specs, "solo", &secrets);
    let log = root.join("serve.log");
    let mut shell = std::process::Command::new("sh");
    shell
        .arg("-c")
        .arg(r#"log="$1"; shift; "$@" 2>"$log" & echo $!; exec sleep 60"#)
        .arg("sh")
        .arg(&log)
        .arg(common::RAFTKV)
        .args(&args)
        .env_remove("RUST_LOG")
        .env_remove("RAFTKV_SECRET")
        .env_remove("RAFTKV_PEER_SECRET")
        .env_remove(raft_kv_server::cli::EXIT_WITH_PARENT_ENV)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    if let Some(value) = exit_with_parent {
        shell.env(raft_kv_server::cli::EXIT_WITH_PARENT_ENV, value);
    }
    let mut child = shell.spawn().expect("spawn sh");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut shell = test_support::ChildGuard::adopt("sh", child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the node's pid");
    let node = KillPid(line.trim().parse().expect("a pid"));
    let deadline = Instant::now() + common::START_TIMEOUT;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("serving")
    {
        assert!(
            Instant::now() < deadline && !has_exited(node.0),
            "the node did not serve: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    shell.kill9().expect("kill the shell");
    (node, log)
}

#[test]
fn serve_stops_when_its_parent_exits_only_if_asked() {
    let root = tempfile::tempdir().unwrap();
    let (node, log) = orphan_a_node(root.path(), Some("1"));
    let deadline = Instant::now() + STOP_TIMEOUT;
    while !has_exited(node.0) {
        assert!(Instant::now() < deadline, "the orphaned node still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("the parent process exited: stopping"), "{text}");
    assert!(text.contains("stopped"), "{text}");

    // Without the variable, an orphaned node goes on serving (until its guard kills it).
    let root = tempfile::tempdir().unwrap();
    let (node, _log) = orphan_a_node(root.path(), None);
    std::thread::sleep(raft_kv_server::cli::PARENT_POLL * 10);
    assert!(
        !has_exited(node.0),
        "a node without the variable stopped with its parent"
    );
}
