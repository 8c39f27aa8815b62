//! Benchmarks of the persist calls on a peer's hot path: appending one 16-byte entry (memory
//! and file backends) and saving term and vote (file backend). Each file operation includes
//! its fsyncs, so the file numbers measure the disk as much as the code.

use criterion::{Criterion, criterion_group, criterion_main};
use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{FilePersister, HardState, MemoryPersister, Storage};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Appends per measured run before the log is emptied (outside the timing), bounding memory.
const APPENDS_PER_RESET_MAX: u64 = 10_000;

/// Times `iters` appends of one 16-byte entry, emptying the log untimed every
/// [`APPENDS_PER_RESET_MAX`] appends.
fn time_appends(storage: &mut impl Storage, iters: u64) -> Duration {
    let mut entry = Entry {
        index: LogIndex(1),
        term: Term(1),
        command: vec![0xAB; 16].into(),
    };
    let mut elapsed = Duration::ZERO;
    let mut remaining = iters;
    while remaining > 0 {
        let chunk = remaining.min(APPENDS_PER_RESET_MAX);
        storage.truncate_suffix(LogIndex(1)).expect("reset the log");
        let start = Instant::now();
        for index in 1..=chunk {
            entry.index = LogIndex(index);
            storage
                .append(black_box(std::slice::from_ref(&entry)))
                .expect("append");
        }
        elapsed += start.elapsed();
        remaining -= chunk;
    }
    elapsed
}

fn storage_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("memory/append_1", |b| {
        let mut storage = MemoryPersister::new();
        b.iter_custom(|iters| time_appends(&mut storage, iters));
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    group.bench_function("file/append_1", |b| {
        b.iter_custom(|iters| time_appends(&mut storage, iters));
    });

    let mut term = 0;
    group.bench_function("file/save_hard_state", |b| {
        b.iter(|| {
            term += 1; // a new term each time: saving an unchanged state is skipped
            let hard_state = HardState {
                current_term: Term(term),
                voted_for: Some(PeerId(1)),
            };
            storage.save_hard_state(black_box(&hard_state)).expect("save");
        });
    });
    group.finish();
}

criterion_group!(benches, storage_benches);
criterion_main!(benches);
