//! `IoEngine::write`: an unstable buffered write is tried in the caller
//! with `RWF_NOWAIT` where the file system supports it (XFS here), goes to
//! the workers where it does not (ext4, tmpfs: remembered per file), never
//! overtakes a write of the same file queued before it, and the data is
//! right every way (seen in the engine's counters and with `pread`).

mod common;

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::loopfs::LoopXfs;
use common::{create, pattern, pread};
use nfsl_io_engine::{EngineConfig, IoEngine, IoFile};

const SIZE: usize = 64 * 4096;

fn engine(workers: usize) -> IoEngine {
    IoEngine::start(EngineConfig {
        workers,
        ..EngineConfig::default()
    })
    .unwrap()
}

/// A file of `SIZE` pattern bytes (its pages cached: just written).
fn warm_file(dir: &Path, name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let data = pattern(21, SIZE);
    create(&path, &data);
    (path, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_writes_on_xfs_are_done_in_the_caller() {
    let Some(xfs) = LoopXfs::new() else { return };
    let (path, mut expect) = warm_file(xfs.path(), "f");
    let file = Arc::new(IoFile::open(&path, true).unwrap());
    assert!(file.direct_capable(), "XFS gives an O_DIRECT fd");
    let engine = engine(2);

    // 4 KiB overwrites, as `nfsl bench` does. A few may go to a worker:
    // XFS answers EAGAIN when a write must update mtime (about once per
    // clock tick); everything else is done here, without a worker.
    let count = 64;
    for i in 0..count {
        let at = (i * 7 % 64) * 4096;
        let piece = pattern(100 + i as u64, 4096);
        let n = engine.write(&file, at as u64, piece.clone(), false).await;
        assert_eq!(n.unwrap(), 4096);
        expect[at..at + 4096].copy_from_slice(&piece);
    }
    let s = engine.stats();
    assert!(
        s.nowait_writes > 0,
        "no write was done in the caller: {s:?}"
    );
    assert_eq!(s.nowait_writes + s.nowait_write_refusals, count as u64);
    assert_eq!(
        s.writes, s.nowait_write_refusals,
        "workers wrote only refusals"
    );
    assert_eq!(s.nowait_write_bytes + s.bytes_written, count as u64 * 4096);
    assert!(!file.nowait_writes_refused());
    assert_eq!(pread(&path, 0, SIZE), expect);

    // A stable write must reach the disk: never tried here.
    let piece = pattern(7, 4096);
    engine
        .write(&file, 8192, piece.clone(), true)
        .await
        .unwrap();
    expect[8192..8192 + 4096].copy_from_slice(&piece);
    // A 64 KiB aligned write goes direct by policy (Auto): not tried here.
    let big = pattern(8, 65536);
    engine
        .write(&file, 65536, big.clone(), false)
        .await
        .unwrap();
    expect[65536..131072].copy_from_slice(&big);
    let t = engine.stats();
    assert_eq!(t.nowait_writes, s.nowait_writes);
    assert_eq!(t.nowait_write_refusals, s.nowait_write_refusals);
    assert_eq!(t.writes, s.writes + 2);
    assert_eq!(t.dsync_writes, s.dsync_writes + 1);
    assert!(t.direct_bytes >= s.direct_bytes + 65536);
    assert_eq!(pread(&path, 0, SIZE), expect);
}

/// ext4 (`EOPNOTSUPP` from `ext4_buffered_write_iter`) and tmpfs (no
/// `FMODE_NOWAIT`) refuse: the first write goes to a worker and the
/// refusal is remembered, so the next is not even tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_remembered_and_the_workers_write() {
    let mut dirs = Vec::new();
    for base in ["/var/tmp", "/dev/shm"] {
        match tempfile::Builder::new()
            .prefix("nfsl-nowait-")
            .tempdir_in(base)
        {
            Ok(d) => dirs.push(d),
            Err(e) => eprintln!("SKIP {base}: {e}"),
        }
    }
    for dir in &dirs {
        let (path, mut expect) = warm_file(dir.path(), "f");
        let file = Arc::new(IoFile::open(&path, true).unwrap());
        if probe_supports_nowait_write(&path) {
            eprintln!(
                "SKIP {}: this file system takes RWF_NOWAIT writes",
                dir.path().display()
            );
            continue;
        }
        let engine = engine(2);
        let first = pattern(1, 4096);
        assert_eq!(
            engine
                .write(&file, 4096, first.clone(), false)
                .await
                .unwrap(),
            4096
        );
        let s = engine.stats();
        assert_eq!(
            (s.nowait_writes, s.nowait_write_refusals, s.writes),
            (0, 1, 1),
            "{s:?}"
        );
        assert!(file.nowait_writes_refused(), "{}", dir.path().display());
        let second = pattern(2, 4096);
        assert_eq!(
            engine
                .write(&file, 12288, second.clone(), false)
                .await
                .unwrap(),
            4096
        );
        let t = engine.stats();
        assert_eq!(
            (t.nowait_writes, t.nowait_write_refusals, t.writes),
            (0, 1, 2),
            "{t:?}"
        );
        expect[4096..8192].copy_from_slice(&first);
        expect[12288..16384].copy_from_slice(&second);
        assert_eq!(pread(&path, 0, SIZE), expect);
    }
}

/// True if a plain `pwritev2(RWF_NOWAIT)` of the file's first byte works.
fn probe_supports_nowait_write(path: &Path) -> bool {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let byte = pread(path, 0, 1);
    let iov = [std::io::IoSlice::new(&byte)];
    rustix::io::pwritev2(&f, &iov, 0, rustix::io::ReadWriteFlags::NOWAIT).is_ok()
}

/// A write submitted while an earlier write of the same file is queued
/// goes to the queue behind it, not into the caller: on a frozen file
/// system the earlier write cannot finish, and the later one, overlapping
/// it, must land after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_never_overtakes_a_queued_write_of_its_file() {
    let Some(xfs) = LoopXfs::new() else { return };
    let (path, mut expect) = warm_file(xfs.path(), "f");
    let file = Arc::new(IoFile::open(&path, true).unwrap());
    // One worker: it takes queued writes in order.
    let engine = engine(1);

    xfs.freeze();
    let first = pattern(3, 8192);
    let w1 = engine
        .submit(nfsl_io_engine::Write::new(
            Arc::clone(&file),
            0,
            first.clone(),
        ))
        .await;
    // The file system is frozen: the first write cannot be done yet.
    assert!(!w1.is_ready());
    let second = pattern(4, 4096);
    let mut w2 = pin!(engine.write(&file, 4096, second.clone(), false));
    // One poll submits it. Tried in the caller, it would block there until
    // the thaw (the watchdog only keeps a wrong engine from hanging the
    // test; the counters below then fail it).
    let (watchdog, done) = mpsc::channel::<()>();
    let mount = xfs.path().to_path_buf();
    let guard = std::thread::spawn(move || {
        if done.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = std::process::Command::new("fsfreeze")
                .arg("-u")
                .arg(&mount)
                .status();
        }
    });
    let polled = w2.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    let _ = watchdog.send(());
    guard.join().unwrap();
    assert!(
        matches!(polled, Poll::Pending),
        "answered while the first write waits"
    );
    let queued = engine.stats();
    xfs.thaw();
    assert_eq!(w1.await.unwrap(), 8192);
    assert_eq!(w2.await.unwrap(), 4096);
    let s = engine.stats();
    assert_eq!(
        (queued.nowait_writes, queued.nowait_write_refusals),
        (0, 0),
        "{queued:?}"
    );
    assert_eq!(
        (s.nowait_writes, s.nowait_write_refusals, s.writes),
        (0, 0, 2),
        "{s:?}"
    );
    expect[..8192].copy_from_slice(&first);
    expect[4096..8192].copy_from_slice(&second);
    assert_eq!(pread(&path, 0, SIZE), expect);
}
