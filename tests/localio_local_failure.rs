//! A LOCALIO write that fails on the local path while the NFS connection
//! stays up: the client writes it over RPC instead, falls back, and loses
//! nothing, whether the write was answered at once (write-behind) or
//! waited for.
//!
//! The failure is real: this test process lowers its own file-size limit
//! (RLIMIT_FSIZE), so the client's local writes past it fail with EFBIG
//! in the kernel, while the server (another process, started before)
//! writes the same ranges over RPC without trouble. The limit is
//! process-wide, hence a test binary of its own with one test.

mod common;

use std::path::Path;

use common::*;
use nfsl_client::{ClientConfig, LocalioMode, Nfs, OpenOptions};

const KIB: usize = 1024;
const LIMIT: u64 = 2 * 1024 * 1024;

fn config(socket: &Path, write_behind: usize) -> ClientConfig {
    ClientConfig {
        write_behind,
        ..localio_config(LocalioMode::On, socket)
    }
}

/// Lowers this process's file-size limit; past it, writes fail with EFBIG
/// (SIGXFSZ, which would kill the process, is ignored).
fn limit_file_size(bytes: u64) {
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to
    // be unsafe about.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit for this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
}

async fn write_past_the_limit(nfs: &Nfs, name: &str, seed: u64) -> Vec<u8> {
    // 4 MiB in 256 KiB writes, the second half past the limit.
    let data = pseudo_random_bytes(4 * 1024 * KIB, seed);
    let f = nfs.create(name).await.unwrap();
    for (i, chunk) in data.chunks(256 * KIB).enumerate() {
        f.write_at_bytes(chunk.to_vec().into(), (i * 256 * KIB) as u64)
            .await
            .unwrap_or_else(|e| panic!("{name}: write {i}: {e}"));
    }
    // Read back through the same file (waits for written-behind writes),
    // then made durable.
    let mut back = vec![0u8; data.len()];
    assert_eq!(f.read_at(&mut back, 0).await.unwrap(), data.len());
    assert!(back == data, "{name}: read back differs");
    f.close().await.unwrap();
    data
}

#[test]
fn local_write_failures_go_over_rpc_and_lose_nothing() {
    let dir = disk_tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    rt().block_on(async {
        // A 1 MiB window: the 4 MiB written fill it again and again, so
        // full windows are drained (at half, one wake-up) while the
        // queued writes past the limit fail.
        let behind = mount(&server, config(&sock, 1 << 20)).await;
        let waiting = mount(&server, config(&sock, 0)).await;
        assert!(behind.stats().local_active && waiting.stats().local_active);

        limit_file_size(LIMIT);
        let a = write_past_the_limit(&behind, "/behind", 1).await;
        let b = write_past_the_limit(&waiting, "/waiting", 2).await;
        limit_file_size(libc::RLIM_INFINITY);

        for (nfs, what) in [(&behind, "write-behind"), (&waiting, "waiting")] {
            let s = nfs.stats();
            assert!(s.local_writes > 0, "{what}: some writes went local: {s:?}");
            assert!(s.localio_fallbacks >= 1, "{what}: fell back: {s:?}");
            assert!(
                s.rpc_writes > 0,
                "{what}: the failed part went over RPC: {s:?}"
            );
        }
        // What the server has, read by a client that never goes local,
        // and the files themselves.
        let rpc = mount(
            &server,
            ClientConfig {
                localio: LocalioMode::Off,
                ..ClientConfig::default()
            },
        )
        .await;
        for (name, data) in [("/behind", &a), ("/waiting", &b)] {
            let f = rpc
                .open(name, &OpenOptions::new().read(true))
                .await
                .unwrap();
            let mut back = Vec::new();
            f.read_to_end(&mut back).await.unwrap();
            assert!(&back == data, "{name}: the server's copy differs");
            let on_disk = std::fs::read(dir.path().join(&name[1..])).unwrap();
            assert!(&on_disk == data, "{name}: the file on disk differs");
        }
    });
}
