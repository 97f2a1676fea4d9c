//! A LOCALIO read allocates no buffer of its own: a read the page cache
//! holds is copied straight into the caller's buffer, and one that goes
//! to the IO engine's workers reads into a buffer the file recycles. The
//! process's allocations are counted around the reads (this test binary
//! has a counting global allocator, so it is alone in its file).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use nfsl_client::{LocalioMode, OpenOptions};

/// Counts the bytes allocated (by any thread) while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated while `f` ran.
async fn allocated_during<F: std::future::Future<Output = ()>>(f: F) -> u64 {
    let before = ALLOCATED.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f.await;
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATED.load(Ordering::SeqCst) - before
}

const PAGE: usize = 4096;

#[test]
fn local_reads_allocate_no_buffer_per_read() {
    let dir = disk_tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    let data = pseudo_random_bytes(4 * 1024 * 1024, 15);
    let path = dir.path().join("f");
    std::fs::write(&path, &data).unwrap();
    let local = std::fs::File::open(&path).unwrap();
    local.sync_all().unwrap();
    rt().block_on(async {
        let nfs = mount(&server, localio_config(LocalioMode::On, &sock)).await;
        let f = nfs
            .open("/f", &OpenOptions::new().read(true))
            .await
            .unwrap();
        let mut buf = vec![0u8; PAGE];
        // Opens the fds, caches the file, and gives the file a spare
        // buffer (one read that goes to the workers).
        drop_cached_pages(&local);
        assert_eq!(f.read_at(&mut buf, PAGE as u64).await.unwrap(), PAGE);
        let mut all = Vec::new();
        f.read_to_end(&mut all).await.unwrap();
        assert!(all == data);

        // Reads 4 KiB at every other page (never continuing the previous
        // read, so nothing is read ahead), checking each.
        let reads = 200;
        let offsets = (1..=reads).map(|i| (i * 2 * PAGE) % (data.len() - PAGE));
        let cached = allocated_during(async {
            for off in offsets.clone() {
                assert_eq!(f.read_at(&mut buf, off as u64).await.unwrap(), PAGE);
                assert!(buf == data[off..off + PAGE]);
            }
        })
        .await;
        let s = nfs.stats();
        assert!(s.local_cached_reads >= reads as u64, "{s:?}");
        assert!(
            cached < (reads * 64) as u64,
            "{reads} cached reads allocated {cached} bytes"
        );

        let uncached_reads = 20;
        let before = nfs.stats().local_uncached_reads;
        let uncached = allocated_during(async {
            for off in offsets.clone().take(uncached_reads) {
                drop_cached_pages(&local);
                assert_eq!(f.read_at(&mut buf, off as u64).await.unwrap(), PAGE);
                assert!(buf == data[off..off + PAGE]);
            }
        })
        .await;
        let s = nfs.stats();
        assert_eq!(
            s.local_uncached_reads,
            before + uncached_reads as u64,
            "each went to the engine: {s:?}"
        );
        // A buffer per read would be at least PAGE bytes each; what is
        // left is the engine's small per-request bookkeeping.
        assert!(
            uncached < (uncached_reads * PAGE / 2) as u64,
            "{uncached_reads} uncached reads allocated {uncached} bytes"
        );
        assert_eq!(s.rpc_reads, 0, "{s:?}");
        f.close().await.unwrap();
    });
}
