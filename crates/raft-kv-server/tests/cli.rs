//! The `raftkv` command line as a process: help, usage errors, `init`, and what `serve`
//! refuses before it ever opens a socket (each with exit code 1 and one clear line), among
//! them a peer secret equal to the client secret.

mod common;

use common::{
    NodeSpec, PEER_SECRET, SECRET, init, run, secret_file, secrets, serve_args, text, with_flag, without_flag,
};
use std::path::Path;

#[test]
fn help_exits_zero_and_names_every_subcommand() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    for word in ["init", "serve", "get", "put", "append", "status"] {
        assert!(help.contains(word), "--help does not mention {word}:\n{help}");
    }
    for sub in ["init", "serve", "get", "put", "append", "status"] {
        assert_eq!(run(&[sub, "--help"]).status.code(), Some(0), "{sub} --help");
    }
    let serve = text(&run(&["serve", "--help"]).stdout);
    assert!(serve.contains("RAFTKV_EXIT_WITH_PARENT=1"), "{serve}");
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["serve", "--id", "not-a-number"]).status.code(), Some(2));
    let output = run(&["init", "--dir", "x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--cluster-id is required"),
        "{}",
        text(&output.stderr)
    );
}

fn spec(root: &Path) -> NodeSpec {
    NodeSpec {
        id: 0,
        listen: "127.0.0.1:1".into(),
        client: "127.0.0.1:1".into(),
        dir: root.join("node0"),
    }
}

#[test]
fn serve_refuses_a_directory_never_initialised() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let spec = spec(root.path());
    let args = serve_args(&spec, std::slice::from_ref(&spec), "c", &secrets);
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("not an initialised data directory"), "{stderr}");
    assert!(stderr.contains("raftkv init"), "{stderr}");
    // An empty directory (made by hand, not by init) is refused too, and left empty.
    std::fs::create_dir(&spec.dir).unwrap();
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("never initialised"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(std::fs::read_dir(&spec.dir).unwrap().count(), 0);
}

#[test]
fn serve_refuses_a_directory_of_another_node_or_cluster() {
    let root = tempfile::tempdir().unwrap();
    let secrets = secrets(root.path());
    let spec = spec(root.path());
    init(&spec, "blue");
    let args = serve_args(&spec, std::slice::from_ref(&spec), "green", &secrets);
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("belongs to node 0 of cluster \"blue\""),
        "{}",
        text(&output.stderr)
    );
    let mut other = spec.clone();
    other.id = 1;
    let specs = [spec.clone(), other.clone()];
    let args = serve_args(&other, &specs, "blue", &secrets);
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("not to node 1"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn init_twice_is_refused_and_the_directory_kept() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path());
    init(&spec, "c");
    let identity = std::fs::read(spec.dir.join("node.id")).unwrap();
    let output = run(&[
        "init",
        "--dir",
        spec.dir.to_str().unwrap(),
        "--cluster-id",
        "d",
        "--id",
        "3",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("not empty"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(std::fs::read(spec.dir.join("node.id")).unwrap(), identity);
}

/// Runs `raftkv` with `args` and `env`; asserts exit code 1 and a stderr containing each of
/// `needles`.
fn assert_refused(args: &[String], env: &[(&str, &str)], needles: &[&str]) {
    let mut command = common::raftkv();
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = common::run_command(&mut command);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?} {env:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?} {env:?}: no {needle:?} in {stderr}"
        );
    }
}

#[test]
fn serve_refuses_a_short_or_missing_secret_of_either_kind() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path());
    init(&spec, "c");
    let secrets = secrets(root.path());
    let short = secret_file(root.path(), "short", "fifteen bytes!!");
    let args = serve_args(&spec, std::slice::from_ref(&spec), "c", &secrets);
    let short_path = short.to_str().unwrap();
    for flag in ["--secret-file", "--peer-secret-file"] {
        assert_refused(&with_flag(&args, flag, short_path), &[], &["at least 16"]);
    }
    // Neither the flag nor the variable: the line names both.
    let no_client = without_flag(&args, "--secret-file");
    assert_refused(
        &no_client,
        &[],
        &["no client secret", "--secret-file", "RAFTKV_SECRET"],
    );
    let no_peer = without_flag(&args, "--peer-secret-file");
    assert_refused(
        &no_peer,
        &[],
        &["no peer secret", "--peer-secret-file", "RAFTKV_PEER_SECRET"],
    );
    // A short secret from the environment is refused the same way.
    assert_refused(&no_client, &[("RAFTKV_SECRET", "short")], &["at least 16"]);
    assert_refused(&no_peer, &[("RAFTKV_PEER_SECRET", "short")], &["at least 16"]);
    // The variable of one kind does not stand in for the other.
    assert_refused(&no_peer, &[("RAFTKV_SECRET", PEER_SECRET)], &["no peer secret"]);
}

#[test]
fn serve_refuses_one_secret_for_peers_and_clients() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path());
    init(&spec, "c");
    let secrets = secrets(root.path());
    let args = serve_args(&spec, std::slice::from_ref(&spec), "c", &secrets);
    let needles = [
        "the peer secret",
        "the client secret",
        "are the same",
        "pose as a peer",
    ];
    // The same file for both.
    let same_file = with_flag(&args, "--peer-secret-file", secrets.client.to_str().unwrap());
    assert_refused(&same_file, &[], &needles);
    // Another file with the same bytes, and a trailing newline that is not part of a secret.
    let copy = secret_file(root.path(), "copy", &format!("{SECRET}\n"));
    assert_refused(
        &with_flag(&args, "--peer-secret-file", copy.to_str().unwrap()),
        &[],
        &needles,
    );
    // Both from the environment.
    let no_files = without_flag(&without_flag(&args, "--peer-secret-file"), "--secret-file");
    assert_refused(
        &no_files,
        &[("RAFTKV_SECRET", SECRET), ("RAFTKV_PEER_SECRET", SECRET)],
        &needles,
    );
    // Through the config file's `peer-secret-file` key.
    let config = root.path().join("node.conf");
    std::fs::write(
        &config,
        format!("peer-secret-file = {}\n", secrets.client.display()),
    )
    .unwrap();
    let mut from_config = without_flag(&args, "--peer-secret-file");
    from_config.extend(["--config".to_string(), config.to_str().unwrap().to_string()]);
    assert_refused(&from_config, &[], &needles);
}

#[test]
fn a_config_file_supplies_flags_and_the_command_line_wins() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("from-config");
    let config = root.path().join("node.conf");
    std::fs::write(
        &config,
        format!(
            "# node settings\ndir = {}\ncluster-id = conf\nid = 4\n",
            dir.display()
        ),
    )
    .unwrap();
    let output = run(&["init", "--config", config.to_str().unwrap(), "--id", "5"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let identity = std::fs::read_to_string(dir.join("node.id")).unwrap();
    assert!(identity.contains("cluster-id = conf"), "{identity}");
    assert!(identity.contains("id = 5"), "{identity}");
    std::fs::write(&config, "colour = red\n").unwrap();
    let output = run(&["init", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("unknown key `colour`"),
        "{}",
        text(&output.stderr)
    );
}
