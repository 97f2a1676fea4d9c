//! Reads and writes at odd offsets and lengths are byte-exact under every
//! direct-IO policy, compared with plain pread on the real file system.

mod common;

use std::sync::Arc;

use common::{create, direct_dir, odd_ranges, pattern, pread};
use nfsl_io_engine::buffer::COPY_ALIGN;
use nfsl_io_engine::{DirectPolicy, EngineConfig, IoEngine, IoFile, Read, Write};

const SIZE: u64 = 3 * 65_536 + 123;
const POLICIES: [DirectPolicy; 3] = [
    DirectPolicy::Always,
    DirectPolicy::Auto,
    DirectPolicy::Never,
];

fn engine(direct: DirectPolicy) -> IoEngine {
    IoEngine::start(EngineConfig {
        direct,
        ..EngineConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_match_pread() {
    let Some(dir) = direct_dir() else { return };
    let path = dir.path().join("r");
    create(&path, &pattern(1, SIZE as usize));
    let file = Arc::new(IoFile::open(&path, false).unwrap());
    for policy in POLICIES {
        let engine = engine(policy);
        for (offset, len) in odd_ranges(SIZE) {
            let got = engine.read(&file, offset, len).await.unwrap();
            let want = pread(&path, offset, len);
            assert!(
                got[..] == want[..],
                "{policy:?} read at {offset} len {len}: {} bytes, want {}",
                got.len(),
                want.len()
            );
            if policy == DirectPolicy::Never && len > 0 {
                // Where the kernel's copy to user memory is fastest.
                assert_eq!(got.as_ptr().align_offset(COPY_ALIGN), 0, "at {offset}");
            }
        }
        let stats = engine.stats();
        assert_eq!(stats.errors, 0);
        match policy {
            DirectPolicy::Never => assert_eq!(stats.direct_bytes, 0),
            _ => assert!(
                stats.direct_bytes > 0 && stats.misaligned_splits > 0,
                "{policy:?}: {stats:?}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_match_a_model() {
    let Some(dir) = direct_dir() else { return };
    for (i, policy) in POLICIES.into_iter().enumerate() {
        let path = dir.path().join(format!("w{i}"));
        let mut model = pattern(2, SIZE as usize);
        create(&path, &model);
        let file = Arc::new(IoFile::open(&path, true).unwrap());
        let engine = engine(policy);
        let mut unstable = 0;
        for (n, (offset, len)) in odd_ranges(SIZE).into_iter().enumerate() {
            let data = pattern(100 + n as u64, len);
            let stable = n % 3 == 0;
            unstable += u64::from(!stable);
            let written = engine
                .write(&file, offset, data.clone(), stable)
                .await
                .unwrap();
            assert_eq!(written, len);
            let end = offset as usize + len;
            if model.len() < end {
                model.resize(end, 0);
            }
            model[offset as usize..end].copy_from_slice(&data);
            // Each write is visible at once, through both the engine and pread.
            let back = engine.read(&file, offset, len).await.unwrap();
            assert!(
                back[..] == data[..],
                "{policy:?} write at {offset} len {len} read back differently"
            );
        }
        assert!(
            std::fs::read(&path).unwrap() == model,
            "{policy:?}: file differs from the model"
        );
        let stats = engine.stats();
        assert_eq!(stats.errors, 0);
        assert!(stats.dsync_writes > 0);
        // Unstable buffered parts are written by the workers themselves,
        // each in one pwrite here (small writes to a regular file).
        if policy == DirectPolicy::Never {
            assert_eq!(stats.sync_writes, unstable, "{policy:?}");
        } else {
            assert!(stats.sync_writes > 0, "{policy:?}");
        }
    }
}

#[tokio::test]
async fn split_counters_are_exact() {
    let Some(dir) = direct_dir() else { return };
    let path = dir.path().join("s");
    create(&path, &pattern(3, 1 << 20));
    let file = Arc::new(IoFile::open(&path, true).unwrap());
    let align = file.alignment();
    assert!(align.supports_direct(), "{align:?}");
    let a = align.read_align() as u64;
    let engine = engine(DirectPolicy::Always);

    // head [100, a), middle [a, 8a), tail [8a, 8a + 5): one split.
    let len = (8 * a + 5 - 100) as usize;
    let got = engine.read(&file, 100, len).await.unwrap();
    assert!(got[..] == pread(&path, 100, len)[..]);
    let s = engine.stats();
    assert_eq!((s.misaligned_splits, s.misaligned_buffered), (1, 0));
    assert_eq!(s.direct_bytes, 7 * a);
    assert_eq!(s.buffered_bytes, a - 100 + 5);

    // Nothing aligned inside: all buffered, counted as such.
    engine.read(&file, 1, 10).await.unwrap();
    let s = engine.stats();
    assert_eq!((s.misaligned_splits, s.misaligned_buffered), (1, 1));

    // Aligned: all direct, no split.
    engine.read(&file, 0, 4 * a as usize).await.unwrap();
    let s = engine.stats();
    assert_eq!(s.misaligned_splits, 1);
    assert_eq!(s.direct_bytes, 11 * a);

    // Auto: a small aligned read stays buffered, a large one goes direct.
    let auto = engine_with_min(64 * 1024);
    auto.read(&file, 0, 4096).await.unwrap();
    assert_eq!(auto.stats().direct_bytes, 0);
    auto.read(&file, 0, 65_536).await.unwrap();
    assert_eq!(auto.stats().direct_bytes, 65_536);
    // A per-request override wins over the engine's policy.
    auto.submit(Read::new(file.clone(), 0, 4096).direct(DirectPolicy::Always))
        .await
        .await
        .unwrap();
    assert_eq!(auto.stats().direct_bytes, 65_536 + 4096);
    auto.submit(Write::new(file.clone(), 0, vec![1u8; 65_536]).direct(DirectPolicy::Never))
        .await
        .await
        .unwrap();
    assert_eq!(auto.stats().direct_bytes, 65_536 + 4096);
}

fn engine_with_min(auto_direct_min: usize) -> IoEngine {
    IoEngine::start(EngineConfig {
        direct: DirectPolicy::Auto,
        auto_direct_min,
        ..EngineConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn misaligned_write_memory_goes_through_a_bounce_buffer() {
    let Some(dir) = direct_dir() else { return };
    let path = dir.path().join("b");
    create(&path, &[]);
    let file = Arc::new(IoFile::open(&path, true).unwrap());
    let engine = engine(DirectPolicy::Always);
    // An aligned file range from memory at an odd address.
    let buf = bytes::Bytes::from(pattern(4, 8192 + 1));
    let data = buf.slice(1..);
    assert_ne!(data.as_ptr() as usize % 512, 0);
    engine.write(&file, 0, data.clone(), false).await.unwrap();
    assert_eq!(engine.stats().direct_bytes, 8192);
    assert!(std::fs::read(&path).unwrap() == data[..]);
}

#[tokio::test]
async fn reads_into_recycled_buffers() {
    let Some(dir) = direct_dir() else { return };
    let path = dir.path().join("recycle");
    create(&path, &pattern(8, SIZE as usize));
    let file = Arc::new(IoFile::open(&path, false).unwrap());
    let engine = engine(DirectPolicy::Always);
    // A buffer with leftover content, one too small, one advanced (front space).
    let mut advanced = bytes::BytesMut::from(&pattern(9, 10_000)[..]);
    let _ = advanced.split_to(777);
    let buffers = [
        bytes::BytesMut::from(&b"stale bytes"[..]),
        bytes::BytesMut::with_capacity(3),
        advanced,
    ];
    let mut buf = bytes::BytesMut::new();
    for (i, given) in buffers.into_iter().enumerate() {
        for (offset, len) in odd_ranges(SIZE) {
            let req = Read::new(file.clone(), offset, len).buffer(if offset == 0 {
                given.clone()
            } else {
                buf
            });
            buf = engine.submit(req).await.await.unwrap();
            assert!(
                buf[..] == pread(&path, offset, len)[..],
                "buffer {i}: read at {offset} len {len}"
            );
        }
    }
}
