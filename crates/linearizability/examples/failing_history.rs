//! Checks a small key/value history with a lost append, prints what the checker found and
//! writes the page of the history: `cargo run -p linearizability --example failing_history
//! [PATH]` (default: a file in the system's temporary directory).

use linearizability::models::kv::KvModel;
use linearizability::{CheckOptions, check_operations, describe_failure, write_html};

fn main() -> std::io::Result<()> {
    let history = vec![
        KvModel::put(0, "x", "", 0, 8),
        KvModel::append(0, "x", "x 0 0 y", 10, 40),
        KvModel::append(1, "x", "x 1 0 y", 12, 30),
        KvModel::get(2, "x", "x 1 0 y", 20, 35),
        KvModel::append(1, "x", "x 1 1 y", 32, 60),
        KvModel::get(2, "x", "x 1 0 yx 0 0 y", 42, 50),
        // Client 1's second append completed at 60; this read misses it.
        KvModel::get(0, "x", "x 1 0 yx 0 0 y", 70, 80),
        KvModel::put(2, "y", "1", 0, 20),
        KvModel::get(0, "y", "1", 50, 55),
    ];
    let options = CheckOptions {
        stop_at_first_illegal: false,
        ..CheckOptions::default()
    };
    let report = check_operations(&KvModel, &history, &options).expect("a well-formed history");
    print!("{}", describe_failure(&KvModel, &history, &report));
    let path = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("linearizability-example.html"),
        Into::into,
    );
    let path = write_html(path, &KvModel, &history, &report)?;
    println!("info: wrote history visualization to {}", path.display());
    Ok(())
}
