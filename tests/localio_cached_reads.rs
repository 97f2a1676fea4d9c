//! A LOCALIO read the server host's page cache holds is done in the
//! caller (`preadv2(RWF_NOWAIT)`, which cannot block); one that would
//! block (the file dropped from the cache with `POSIX_FADV_DONTNEED`) goes
//! to the IO engine's workers. The data is right both ways, and a sequential
//! reader of data the page cache lacks still gets its reads ahead.

mod common;

use common::*;
use nfsl_client::{LocalioMode, OpenOptions};

/// Drops `path`'s (clean) pages from the page cache.
fn uncache(path: &std::path::Path) {
    let f = std::fs::File::open(path).unwrap();
    f.sync_all().unwrap();
    drop_cached_pages(&f);
}

#[test]
fn cached_reads_stay_in_the_caller_uncached_ones_go_to_the_engine() {
    let dir = disk_tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    let data = pseudo_random_bytes(4 * 1024 * 1024, 14);
    let path = dir.path().join("f");
    std::fs::write(&path, &data).unwrap();
    rt().block_on(async {
        let nfs = mount(&server, localio_config(LocalioMode::On, &sock)).await;
        let f = nfs
            .open("/f", &OpenOptions::new().read(true))
            .await
            .unwrap();
        let at = 1024 * 1024;
        let mut buf = vec![0u8; 4096];

        uncache(&path);
        let s0 = nfs.stats();
        assert_eq!(f.read_at(&mut buf, at as u64).await.unwrap(), 4096);
        assert!(buf == data[at..at + 4096], "uncached read differs");
        let s1 = nfs.stats();
        assert_eq!(
            s1.local_uncached_reads,
            s0.local_uncached_reads + 1,
            "{s1:?}"
        );
        assert_eq!(s1.local_cached_reads, s0.local_cached_reads, "{s1:?}");
        assert_eq!(s1.local_reads, s0.local_reads + 1, "{s1:?}");

        // The worker's read cached the page: the same read again is done
        // in the caller.
        buf.fill(0);
        assert_eq!(f.read_at(&mut buf, at as u64).await.unwrap(), 4096);
        assert!(buf == data[at..at + 4096], "cached read differs");
        let s2 = nfs.stats();
        assert_eq!(s2.local_cached_reads, s1.local_cached_reads + 1, "{s2:?}");
        assert_eq!(s2.local_uncached_reads, s1.local_uncached_reads, "{s2:?}");

        // Odd ranges and the end of the file, cached or not, agree with
        // the file; none went over RPC.
        for (i, (off, len)) in [
            (1usize, 4095usize),
            (4095, 9000),
            (data.len() - 10, 4096),
            (0, 300_000),
        ]
        .into_iter()
        .enumerate()
        {
            if i % 2 == 0 {
                uncache(&path);
            }
            let mut buf = vec![0u8; len];
            let n = f.read_at(&mut buf, off as u64).await.unwrap();
            let end = (off + len).min(data.len());
            assert_eq!(n, end - off);
            assert!(buf[..n] == data[off..end], "read at {off}+{len} differs");
        }
        let s = nfs.stats();
        assert_eq!(s.rpc_reads, 0, "{s:?}");
        assert_eq!(s.localio_fallbacks, 0, "{s:?}");

        // A sequential reader of cached data reads in the caller: nothing
        // is read ahead (it would only add a copy and a thread hop)...
        let before = nfs.stats();
        let mut off = 0;
        let mut piece = vec![0u8; 64 * 1024];
        while off < 1024 * 1024 {
            let n = f.read_at(&mut piece, off as u64).await.unwrap();
            assert!(piece[..n] == data[off..off + n]);
            off += n;
        }
        let after = nfs.stats();
        assert_eq!(
            after.local_readahead_reads, before.local_readahead_reads,
            "{after:?}"
        );
        assert_eq!(
            after.local_cached_reads,
            before.local_cached_reads + 16,
            "{after:?}"
        );
        // ...while a sequential reader of small pieces of an uncached file
        // is read ahead.
        uncache(&path);
        let before = nfs.stats().local_readahead_reads;
        let mut off = 0;
        let mut piece = vec![0u8; 64 * 1024];
        while off < 1024 * 1024 {
            let n = f.read_at(&mut piece, off as u64).await.unwrap();
            assert!(piece[..n] == data[off..off + n]);
            off += n;
        }
        assert!(
            nfs.stats().local_readahead_reads > before + 8,
            "{:?}",
            nfs.stats()
        );
        f.close().await.unwrap();
    });
}
