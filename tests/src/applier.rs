//! The appliers of config.go, shared by both clusters: what every peer applied, and the checks
//! made of each apply.
//!
//! `applier` (2A-2C) checks every applied command against every other peer's at the same
//! index, and that indices arrive in order; `applierSnap` (2D) also requires each command to
//! follow the last one (or the snapshot) exactly, ingests snapshots, and asks for a snapshot
//! after every tenth command. A failure is recorded and fails the test at its next check, as
//! Go's `log.Fatalf` in the applier goroutine would end the run.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use raft_node::ApplyMsg;

use crate::config::as_int;

/// config.go's `SnapShotInterval`: the 2D applier snapshots after indices 9, 19, 29, ...
pub(crate) const SNAPSHOT_INTERVAL: u64 = 10;

/// What the appliers record: each peer's applied commands by index, and the first error.
#[derive(Default)]
pub(crate) struct Applied {
    pub(crate) logs: Vec<HashMap<u64, Vec<u8>>>,
    /// The last index each peer applied (2D: commands must follow it exactly).
    last_applied: Vec<u64>,
    pub(crate) apply_err: Option<String>,
    pub(crate) max_index: u64,
}

/// The appliers of every peer of one cluster.
pub(crate) struct Applier {
    /// 2D: snapshot every `SNAPSHOT_INTERVAL` commands and check the strict order.
    snapshot: bool,
    applied: Mutex<Applied>,
}

/// A snapshot the 2D applier asks its peer to take: the index it covers and the data.
pub(crate) type SnapshotRequest = (u64, Vec<u8>);

impl Applier {
    pub(crate) fn new(n: usize, snapshot: bool) -> Applier {
        Applier {
            snapshot,
            applied: Mutex::new(Applied {
                logs: vec![HashMap::new(); n],
                last_applied: vec![0; n],
                ..Applied::default()
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One message from peer `i`'s apply channel. Returns the snapshot the service wants
    /// the peer to take, if any.
    pub(crate) fn apply(&self, i: usize, msg: ApplyMsg) -> Option<SnapshotRequest> {
        let mut a = self.lock();
        let (err, snap) = match msg {
            ApplyMsg::Command { index, command, .. } => {
                apply_command(&mut a, i, index.0, command, self.snapshot)
            }
            ApplyMsg::Snapshot { index, data, .. } if self.snapshot => {
                (ingest_snap(&mut a, i, &data, Some(index.0)).err(), None)
            }
            ApplyMsg::Snapshot { .. } => (None, None),
        };
        if err.is_some() && a.apply_err.is_none() {
            eprintln!("apply error: {}", err.as_deref().unwrap_or_default());
            a.apply_err = err;
        }
        snap
    }

    /// start1's "mimic KV server and process snapshot now": peer `i`'s service restarts from
    /// the snapshot it persisted (empty data: from nothing).
    pub(crate) fn restart(&self, i: usize, snapshot: Option<&[u8]>) {
        let mut a = self.lock();
        a.last_applied[i] = 0;
        if let Some(data) = snapshot.filter(|d| !d.is_empty()) {
            if let Err(err) = ingest_snap(&mut a, i, data, None) {
                panic!("{err}");
            }
        }
    }
}

/// One command at the applier: `applierSnap`'s strict order check in 2D, then checkLogs; in
/// 2D, the snapshot to take when the index is the ninth of ten.
fn apply_command(
    a: &mut Applied,
    i: usize,
    index: u64,
    command: Vec<u8>,
    snapshot: bool,
) -> (Option<String>, Option<SnapshotRequest>) {
    if !snapshot {
        return (check_logs(a, i, index, command), None);
    }
    let expected = a.last_applied[i] + 1;
    let mut err = (index != expected)
        .then(|| format!("server {i} apply out of order, expected index {expected}, got {index}"));
    if err.is_none() {
        err = check_logs(a, i, index, command);
    }
    a.last_applied[i] = index;
    let snap = ((index + 1) % SNAPSHOT_INTERVAL == 0).then(|| {
        let xlog: Vec<Option<Vec<u8>>> = (0..=index).map(|j| a.logs[i].get(&j).cloned()).collect();
        let data = postcard::to_stdvec(&(index, xlog)).expect("a snapshot encodes");
        (index, data)
    });
    (err, snap)
}

/// ingestSnap: the service's state becomes the snapshot's: the commands through its last
/// included index, which must match `index` when the snapshot came on the apply channel.
fn ingest_snap(a: &mut Applied, i: usize, data: &[u8], index: Option<u64>) -> Result<(), String> {
    let (last_included_index, xlog): (u64, Vec<Option<Vec<u8>>>) =
        postcard::from_bytes(data).map_err(|e| format!("snapshot Decode() error: {e}"))?;
    if index.is_some_and(|index| index != last_included_index) {
        return Err(format!("server {i} snapshot doesn't match m.SnapshotIndex"));
    }
    a.logs[i] = xlog
        .into_iter()
        .enumerate()
        .filter_map(|(j, c)| c.map(|c| (j as u64, c)))
        .collect();
    a.last_applied[i] = last_included_index;
    Ok(())
}

/// checkLogs: records peer `i`'s apply of `command` at `index`; an error if another peer
/// applied something else there, or if `index` arrived before `index - 1`.
fn check_logs(a: &mut Applied, i: usize, index: u64, command: Vec<u8>) -> Option<String> {
    for (j, log) in a.logs.iter().enumerate() {
        if let Some(old) = log.get(&index) {
            if *old != command {
                return Some(format!(
                    "commit index={index} server={i} {} != server={j} {}",
                    show(&command),
                    show(old)
                ));
            }
        }
    }
    let prev_ok = index <= 1 || a.logs[i].contains_key(&(index - 1));
    a.logs[i].insert(index, command);
    a.max_index = a.max_index.max(index);
    (!prev_ok).then(|| format!("server {i} apply out of order {index}"))
}

/// A command for messages: the integer if it is one, else its length.
pub(crate) fn show(command: &[u8]) -> String {
    as_int(command).map_or_else(|| format!("<{} bytes>", command.len()), |x| x.to_string())
}
