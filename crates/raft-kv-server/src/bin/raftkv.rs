//! `raftkv`: run a node of the replicated key/value store, or talk to one.
//! `raftkv --help` lists the subcommands; the library's `cli` module documents exit codes.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    raft_kv_server::cli::main()
}
