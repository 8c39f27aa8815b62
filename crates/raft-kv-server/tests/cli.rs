//! The `raftkv` command line as a process: help, usage errors, `init`, and what `serve`
//! refuses before it ever opens a socket (each with exit code 1 and one clear line).

mod common;

use common::{NodeSpec, SECRET, init, run, secret_file, serve_args, text};
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
    let secret = secret_file(root.path(), "secret", SECRET);
    let spec = spec(root.path());
    let args = serve_args(&spec, std::slice::from_ref(&spec), "c", &secret);
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
    let secret = secret_file(root.path(), "secret", SECRET);
    let spec = spec(root.path());
    init(&spec, "blue");
    let args = serve_args(&spec, std::slice::from_ref(&spec), "green", &secret);
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
    let args = serve_args(&other, &specs, "blue", &secret);
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

#[test]
fn serve_refuses_a_short_or_missing_secret() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path());
    init(&spec, "c");
    let short = secret_file(root.path(), "short", "fifteen bytes!!");
    let args = serve_args(&spec, std::slice::from_ref(&spec), "c", &short);
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("at least 16"),
        "{}",
        text(&output.stderr)
    );
    // No --secret-file and no RAFTKV_SECRET.
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let without_secret = &args[..args.len() - 2];
    let output = run(without_secret);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("RAFTKV_SECRET"),
        "{}",
        text(&output.stderr)
    );
    // A short secret from the environment is refused the same way.
    let output = common::run_command(
        common::raftkv()
            .args(without_secret)
            .env("RAFTKV_SECRET", "short"),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("at least 16"),
        "{}",
        text(&output.stderr)
    );
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
