//! Gets over a labrpc cluster in each read mode: every mode answers what was written, and
//! only `ReadMode::Log` writes a log entry per Get; with ReadIndex or a lease, a leader that
//! has committed in its term answers Gets without touching the log.

mod common;

use common::{Cluster, SERVERS};
use raft_core::ReadMode;
use raft_node::NodeOptions;

/// Gets made after the write.
const GETS: u64 = 30;

/// The highest commit index and term the servers report.
fn commit_and_term(cluster: &Cluster) -> (u64, u64) {
    (0..SERVERS)
        .filter_map(|i| cluster.status(i))
        .map(|s| (s.node.commit_index.0, s.node.term.0))
        .fold((0, 0), |(c, t), (c2, t2)| (c.max(c2), t.max(t2)))
}

/// Writes, then makes [`GETS`] Gets, each of which must see the write; returns how far the
/// commit index and the term moved during the Gets.
fn gets_after_a_write(reads: ReadMode, check_quorum: bool) -> (u64, u64) {
    let mut cluster = Cluster::with_options(NodeOptions {
        reads,
        check_quorum,
        ..NodeOptions::default()
    });
    let mut clerk = cluster.clerk("clerk", 1);
    clerk.put("k", "v");
    // The Put's entry is committed: the leader has committed in its term.
    clerk.append("k", "w");
    let (commit_before, term_before) = commit_and_term(&cluster);
    for i in 0..GETS {
        assert_eq!(clerk.get("k"), "vw", "{reads}: Get {i} sees the writes");
    }
    assert_eq!(clerk.get("missing"), "", "{reads}");
    let (commit_after, term_after) = commit_and_term(&cluster);
    for i in 0..SERVERS {
        cluster.kill(i);
    }
    cluster.net.cleanup();
    (commit_after - commit_before, term_after - term_before)
}

#[test]
fn through_the_log_every_get_is_an_entry() {
    let (entries, _) = gets_after_a_write(ReadMode::Log, false);
    assert!(
        entries > GETS,
        "{GETS} + 1 Gets through the log committed only {entries} entries"
    );
}

/// A new leader sends its first Get through the log (it has not committed in its term yet):
/// one entry per term change at most, none on a steady cluster.
fn no_entry_but_one_per_new_term(reads: ReadMode, check_quorum: bool) {
    let (entries, terms) = gets_after_a_write(reads, check_quorum);
    assert!(
        entries <= terms,
        "{reads}: {GETS} + 1 Gets committed {entries} entries over {terms} term changes"
    );
}

#[test]
fn read_index_gets_write_nothing() {
    no_entry_but_one_per_new_term(ReadMode::ReadIndex, false);
}

#[test]
fn lease_gets_write_nothing() {
    let lease = ReadMode::Lease {
        clock_drift_ppm: 100_000,
    };
    no_entry_but_one_per_new_term(lease, true);
}
