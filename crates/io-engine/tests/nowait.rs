//! `IoEngine::read_into`: a read the page cache holds is done in the
//! caller, one that would block goes to the workers (seen in the engine's
//! counters), and the data is right both ways.

mod common;

use std::sync::Arc;

use common::{create, direct_dir, pattern, pread};
use nfsl_io_engine::{DirectPolicy, EngineConfig, IoEngine, IoFile};
use rustix::fs::{fadvise, Advice};

const SIZE: usize = 64 * 4096 + 100;

/// Drops the file's pages from the page cache (they are clean: synced).
fn uncache(file: &IoFile) {
    fadvise(file.buffered_fd(), 0, None, Advice::DontNeed).unwrap();
}

fn engine() -> IoEngine {
    IoEngine::start(EngineConfig::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_stay_in_the_caller_and_uncached_ones_go_to_the_workers() {
    let Some(dir) = direct_dir() else { return };
    let path = dir.path().join("f");
    let data = pattern(14, SIZE);
    create(&path, &data);
    std::fs::File::open(&path).unwrap().sync_all().unwrap();
    let file = Arc::new(IoFile::open(&path, false).unwrap());
    // No kernel read-ahead through this fd: each read caches only its pages.
    fadvise(file.buffered_fd(), 0, None, Advice::Random).unwrap();
    let engine = engine();
    let mut buf = vec![0u8; 4096];

    // Not cached: the caller's attempt would block, so the workers read it.
    uncache(&file);
    let before = engine.stats();
    let n = engine
        .read_into(&file, 8192, &mut buf, DirectPolicy::Never)
        .await
        .unwrap();
    let after = engine.stats();
    assert_eq!(&buf[..n], &data[8192..8192 + 4096]);
    assert_eq!(after.nowait_refusals, before.nowait_refusals + 1);
    assert_eq!(after.reads, before.reads + 1);
    assert_eq!(after.nowait_reads, before.nowait_reads);

    // Now cached: done in the caller, no worker involved.
    buf.fill(0);
    let n = engine
        .read_into(&file, 8192, &mut buf, DirectPolicy::Never)
        .await
        .unwrap();
    let again = engine.stats();
    assert_eq!(&buf[..n], &data[8192..8192 + 4096]);
    assert_eq!(again.nowait_reads, after.nowait_reads + 1);
    assert_eq!(again.nowait_bytes, after.nowait_bytes + 4096);
    assert_eq!(again.reads, after.reads);
    assert_eq!(again.nowait_refusals, after.nowait_refusals);

    // Half cached: the cached head is read here, the rest by a worker.
    let mut two = vec![0u8; 8192];
    let n = engine
        .read_into(&file, 8192, &mut two, DirectPolicy::Never)
        .await
        .unwrap();
    let half = engine.stats();
    assert_eq!(n, 8192);
    assert_eq!(&two[..], &data[8192..8192 + 8192]);
    assert_eq!(half.nowait_refusals, again.nowait_refusals + 1);
    assert_eq!(half.reads, again.reads + 1);
    assert_eq!(half.bytes_read, again.bytes_read + 4096);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_into_matches_pread_at_the_end_and_under_every_policy() {
    let Some(dir) = direct_dir() else { return };
    let path = dir.path().join("g");
    let data = pattern(15, SIZE);
    create(&path, &data);
    let file = Arc::new(IoFile::open(&path, false).unwrap());
    let engine = engine();
    for policy in [
        DirectPolicy::Never,
        DirectPolicy::Auto,
        DirectPolicy::Always,
    ] {
        for (offset, len) in [
            (0u64, 1usize),
            (4095, 4097),
            (SIZE as u64 - 100, 4096),
            (SIZE as u64 + 5, 10),
            (0, SIZE + 1000),
            (3, 0),
        ] {
            let mut buf = vec![0xeeu8; len];
            let n = engine
                .read_into(&file, offset, &mut buf, policy)
                .await
                .unwrap();
            assert_eq!(
                &buf[..n],
                &pread(&path, offset, len)[..],
                "{policy:?} {offset} {len}"
            );
        }
    }
    // A direct read never is a caller's page-cache copy.
    let before = engine.stats();
    let mut buf = vec![0u8; 4096];
    engine
        .read_into(&file, 0, &mut buf, DirectPolicy::Always)
        .await
        .unwrap();
    let after = engine.stats();
    assert_eq!(after.nowait_reads, before.nowait_reads);
    assert_eq!(after.reads, before.reads + 1);
    assert_eq!(after.direct_bytes, before.direct_bytes + 4096);
}
