//! Exports reloaded while clients are connected (`nfsl serve --exports
//! FILE` and SIGHUP, the NFS connection staying up), seen through a client
//! that goes local: an export turned `ro` gives the same `ReadOnly` as RPC
//! at the next write, reads carry on, local writes made before are still
//! synced, and the client goes local again after its re-probe; a removed
//! export's handles are `Stale` (locally and over RPC) and it can no
//! longer be mounted; an invalid file changes nothing, an empty one
//! unexports everything until the export is back; and a revocation
//! in the middle of a write/read workload loses or corrupts nothing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use nfsl_client::{ClientStats, ErrorKind, File, LocalioMode, Nfs, OpenOptions};
use tempfile::TempDir;

/// How long a client may take to notice a revocation or to re-probe
/// (the first re-probe comes after a 1 s backoff, the next after 2 s).
const WAIT: Duration = Duration::from_secs(30);

/// Mounts `export` of `server` with LOCALIO `mode`.
async fn mount_at(server: &NfslServer, export: &str, mode: LocalioMode) -> Nfs {
    mount_export(
        server,
        export,
        localio_config(mode, &server.localio_socket()),
    )
    .await
}

/// Writes an exports file giving each `(dir, options)` to every client.
fn write_exports(file: &Path, entries: &[(&Path, &str)]) {
    let text: String = entries
        .iter()
        .map(|(dir, options)| format!("{} *({options})\n", canonical(dir)))
        .collect();
    std::fs::write(file, text).unwrap();
}

/// A server exporting one directory, which holds `f` with `content`,
/// through an exports file: (the directory and the file's folder, the
/// exports file, the server).
fn one_export(content: &[u8]) -> ((TempDir, TempDir), PathBuf, NfslServer) {
    let dir = tempdir();
    std::fs::write(dir.path().join("f"), content).unwrap();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    write_exports(&exports, &[(dir.path(), RW)]);
    let server = NfslServer::start_with_exports(&exports);
    ((dir, conf), exports, server)
}

/// Mounts the server's export and opens `f` for reading, read once.
async fn mount_and_open_f(server: &NfslServer, mode: LocalioMode) -> (Nfs, File) {
    let nfs = mount_at(server, server.export(), mode).await;
    let f = nfs
        .open("/f", &OpenOptions::new().read(true))
        .await
        .unwrap();
    f.read_at(&mut [0u8; 64], 0).await.unwrap();
    (nfs, f)
}

const RW: &str = "rw,no_root_squash,insecure";
const RO: &str = "ro,no_root_squash,insecure";

/// Waits (doing `io` meanwhile, which is what triggers a re-probe) until
/// `done` holds for the client's counters.
async fn wait_for<F: std::future::Future<Output = ()>>(
    nfs: &Nfs,
    what: &str,
    mut io: impl FnMut() -> F,
    done: impl Fn(&ClientStats) -> bool,
) -> ClientStats {
    let deadline = Instant::now() + WAIT;
    loop {
        io().await;
        let s = nfs.stats();
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the client has seen the server close its channel.
async fn noticed(nfs: &Nfs) {
    let deadline = Instant::now() + WAIT;
    while nfs.stats().local_active {
        assert!(Instant::now() < deadline, "revocation not noticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn export_turned_ro_falls_back_then_reads_go_local_again() {
    let dir = disk_tempdir();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    write_exports(&exports, &[(dir.path(), RW)]);
    let server = NfslServer::start_with_exports(&exports);
    let data = pseudo_random_bytes(300_000, 11);
    rt().block_on(async {
        let nfs = mount_at(&server, server.export(), LocalioMode::On).await;
        let f = nfs.create("/f").await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        let s = nfs.stats();
        assert!(
            s.local_active && s.local_write_bytes == data.len() as u64,
            "{s:?}"
        );
        assert_eq!((s.rpc_writes, s.local_commits), (0, 0), "{s:?}");

        // The export becomes read-only; the NFS connection stays up.
        write_exports(&exports, &[(dir.path(), RO)]);
        let line = server.sighup();
        assert!(
            line.contains("1 changed") && line.contains("revoked"),
            "{line}"
        );
        // The client sees its channel closed without any IO failing.
        noticed(&nfs).await;
        let before = nfs.stats();

        // The next write gets RPC's answer, not a local error.
        let e = f.write_at(b"more", 5).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReadOnly, "{e}");
        let s = nfs.stats();
        assert_eq!(s.localio_fallbacks, before.localio_fallbacks + 1, "{s:?}");
        assert_eq!(s.local_writes, before.local_writes, "{s:?}");
        // Local writes made before the revocation are still fsynced.
        f.sync().await.unwrap();
        assert_eq!(nfs.stats().local_commits, 1, "{:?}", nfs.stats());
        // Reads go on and return what was written.
        let mut buf = vec![0u8; data.len() + 10];
        assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), data.len());
        assert!(buf[..data.len()] == data[..]);
        let s = nfs.stats();
        assert!(s.rpc_reads > before.rpc_reads && !s.local_active, "{s:?}");

        // After the backoff the client re-probes; reads go local again
        // (a read-only open), writes still get ReadOnly.
        let mut one = [0u8; 1];
        let s = wait_for(
            &nfs,
            "no re-probe",
            || async { f.read_at(&mut [0u8; 1], 0).await.map(drop).unwrap() },
            |s| s.local_active && s.localio_reprobes >= 1,
        )
        .await;
        f.read_at(&mut one, 7).await.unwrap();
        assert_eq!(one[0], data[7]);
        let after = nfs.stats();
        assert!(after.local_reads > s.local_reads, "local again: {after:?}");
        let e = f.write_at(b"more", 5).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReadOnly, "{e}");
        let s = nfs.stats();
        assert!(s.local_active && s.localio_denied >= 1, "{s:?}");
        assert_eq!(s.localio_fallbacks, after.localio_fallbacks, "{s:?}");
        assert!(std::fs::read(dir.path().join("f")).unwrap() == data);
    });
}

#[test]
fn removed_export_is_stale_and_cannot_be_mounted() {
    let keep = tempdir();
    let gone = tempdir();
    std::fs::write(gone.path().join("g"), b"soon unexported").unwrap();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    write_exports(&exports, &[(keep.path(), RW), (gone.path(), RW)]);
    let server = NfslServer::start_with_exports(&exports);
    let gone_path = canonical(gone.path());
    rt().block_on(async {
        let nfs = mount_at(&server, &gone_path, LocalioMode::On).await;
        let g = nfs
            .open("/g", &OpenOptions::new().read(true).write(true))
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = g.read_at(&mut buf, 0).await.unwrap();
        assert_eq!(&buf[..n], b"soon unexported");
        let s = nfs.stats();
        assert!(s.local_reads >= 1 && s.localio_denied == 0, "{s:?}");

        write_exports(&exports, &[(keep.path(), RW)]);
        let line = server.sighup();
        assert!(line.contains("1 removed"), "{line}");
        noticed(&nfs).await;
        // Over RPC while the client is down, then through the local path
        // (the open is refused STALE) once it has re-probed.
        let e = g.read_at(&mut buf, 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Stale, "{e}");
        let e = g.write_at(b"x", 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Stale, "{e}");
        wait_for(
            &nfs,
            "no re-probe",
            || async {
                let e = g.read_at(&mut [0u8; 4], 0).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Stale, "{e}");
            },
            |s| s.local_active && s.localio_reprobes >= 1,
        )
        .await;
        let e = g.read_at(&mut buf, 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Stale, "{e}");
        let after = nfs.stats();
        // The new session's opens of the handle were refused (STALE).
        assert!(
            after.localio_denied >= 1 && after.localio_opens == 1,
            "{after:?}"
        );
        assert!(
            after.local_active && after.localio_fallbacks == 1,
            "{after:?}"
        );

        let config = localio_config(LocalioMode::Off, &server.localio_socket());
        let e = try_mount_export(&server, &gone_path, config)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Mount, "{e}");
        // The kept export still mounts and serves.
        let k = mount_at(&server, &canonical(keep.path()), LocalioMode::Off).await;
        k.create("/new").await.unwrap().close().await.unwrap();
        assert!(keep.path().join("new").exists());
    });
}

#[test]
fn invalid_exports_file_keeps_the_old_exports() {
    let (_dirs, exports, server) = one_export(b"still served");
    rt().block_on(async {
        let (nfs, f) = mount_and_open_f(&server, LocalioMode::On).await;
        let mut buf = [0u8; 64];

        std::fs::write(
            &exports,
            format!("{} *(rw,bogus_option)\n", server.export()),
        )
        .unwrap();
        let line = server.sighup();
        assert!(
            line.contains("not reloaded") && line.contains("bogus_option"),
            "{line}"
        );
        std::fs::write(&exports, "/no/such/dir *(rw)\n").unwrap();
        let line = server.sighup();
        assert!(
            line.contains("not reloaded") && line.contains("/no/such/dir"),
            "{line}"
        );

        let n = f.read_at(&mut buf, 0).await.unwrap();
        assert_eq!(&buf[..n], b"still served");
        let w = nfs.create("/w").await.unwrap();
        w.write_at(b"rw still", 0).await.unwrap();
        w.close().await.unwrap();
        let s = nfs.stats();
        assert!(s.local_active && s.localio_fallbacks == 0, "{s:?}");
        assert!(s.local_reads >= 2 && s.rpc_writes == 0, "{s:?}");
    });
}

#[test]
fn emptied_exports_file_unexports_everything_until_restored() {
    let ((dir, _conf), exports, server) = one_export(b"served again");
    rt().block_on(async {
        let (_nfs, f) = mount_and_open_f(&server, LocalioMode::Auto).await;
        let mut buf = [0u8; 64];

        // As `exportfs -r` with an empty /etc/exports: nothing is exported.
        std::fs::write(&exports, "# nothing\n").unwrap();
        let line = server.sighup();
        assert!(
            line.contains("1 removed") && line.contains("nothing is exported"),
            "{line}"
        );
        let e = f.read_at(&mut buf, 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Stale, "{e}");
        let config = localio_config(LocalioMode::Off, &server.localio_socket());
        let e = try_mount_export(&server, server.export(), config)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Mount, "{e}");

        // Exported again under the same id: the old handles work again.
        write_exports(&exports, &[(dir.path(), RW)]);
        let line = server.sighup();
        assert!(line.contains("1 added"), "{line}");
        let n = f.read_at(&mut buf, 0).await.unwrap();
        assert_eq!(&buf[..n], b"served again");
    });
}

#[test]
fn sighup_without_an_exports_file_changes_nothing() {
    let dir = tempdir();
    let server = NfslServer::start(dir.path(), RW);
    let line = server.sighup();
    assert!(line.contains("nothing to reload"), "{line}");
    rt().block_on(async {
        let nfs = mount_at(&server, server.export(), LocalioMode::Off).await;
        nfs.create("/after").await.unwrap().close().await.unwrap();
    });
}

/// A revocation (twice) in the middle of a loop of writes and reads from
/// another task: every write is acknowledged, every read agrees, and the
/// file read over RPC afterwards holds exactly the last write of each slot.
#[test]
fn revocation_mid_workload_loses_nothing() {
    const SLOT: usize = 64 * 1024;
    const SLOTS: usize = 16;
    let dir = disk_tempdir();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    write_exports(&exports, &[(dir.path(), RW)]);
    let server = NfslServer::start_with_exports(&exports);
    let rt = rt();
    let nfs = rt.block_on(mount_at(&server, server.export(), LocalioMode::On));
    let done = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (nfs, done, rounds) = (nfs.clone(), done.clone(), rounds.clone());
        rt.spawn(async move {
            let f = nfs.create("/work").await.unwrap();
            let mut last = vec![0u64; SLOTS];
            let mut i = 0u64;
            while !done.load(Ordering::SeqCst) {
                let slot = (i as usize) % SLOTS;
                let piece = pseudo_random_bytes(SLOT, 1000 + i);
                let at = (slot * SLOT) as u64;
                f.write_at(&piece, at).await.expect("write");
                let mut back = vec![0u8; SLOT];
                assert_eq!(f.read_at(&mut back, at).await.expect("read"), SLOT);
                assert!(back == piece, "round {i}: read differs from the write");
                last[slot] = 1000 + i;
                i += 1;
                rounds.store(i as usize, Ordering::SeqCst);
                if i.is_multiple_of(8) {
                    f.sync().await.expect("sync");
                }
            }
            f.close().await.expect("close");
            (i, last)
        })
    };
    let wait_rounds = |n: usize| {
        let deadline = Instant::now() + WAIT;
        while rounds.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "workload stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let wait_stats = |what: &str, ok: &dyn Fn(&ClientStats) -> bool| {
        let deadline = Instant::now() + WAIT;
        while !ok(&nfs.stats()) {
            assert!(Instant::now() < deadline, "{what}: {:?}", nfs.stats());
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_rounds(SLOTS);
    assert!(nfs.stats().local_writes > 0, "{:?}", nfs.stats());
    // Options change (async), then back: each revokes the session.
    write_exports(&exports, &[(dir.path(), &format!("{RW},async"))]);
    let line = server.sighup();
    assert!(
        line.contains("LOCALIO session") && line.contains("revoked"),
        "{line}"
    );
    wait_stats("no fallback", &|s| s.localio_fallbacks >= 1);
    wait_stats("no re-probe", &|s| {
        s.local_active && s.localio_reprobes >= 1
    });
    let r = rounds.load(Ordering::SeqCst);
    wait_rounds(r + 4);
    write_exports(&exports, &[(dir.path(), RW)]);
    let line = server.sighup();
    assert!(
        line.contains("LOCALIO session") && line.contains("revoked"),
        "{line}"
    );
    wait_stats("no second fallback", &|s| s.localio_fallbacks >= 2);
    let r = rounds.load(Ordering::SeqCst);
    wait_rounds(r + 4);
    done.store(true, Ordering::SeqCst);
    let (total, last) = rt
        .block_on(worker)
        .expect("workload ended without an error");
    let s = nfs.stats();
    assert!(
        s.rpc_writes > 0 || s.rpc_reads > 0,
        "RPC used meanwhile: {s:?}"
    );
    eprintln!("{total} rounds; {s:?}");

    // Every acknowledged write, read back over RPC.
    rt.block_on(async {
        let remote = mount_at(&server, server.export(), LocalioMode::Off).await;
        let f = remote
            .open("/work", &OpenOptions::new().read(true))
            .await
            .unwrap();
        let mut all = Vec::new();
        f.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), SLOT * SLOTS);
        for (slot, seed) in last.iter().enumerate() {
            let want = pseudo_random_bytes(SLOT, *seed);
            assert!(
                all[slot * SLOT..(slot + 1) * SLOT] == want[..],
                "slot {slot} differs over RPC"
            );
        }
    });
}

/// The fds this process holds on `path` (from `/proc/self/fd`).
fn fds_on(path: &Path) -> usize {
    let want = std::fs::canonicalize(path).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| *target == want)
        .count()
}

/// A revocation drops the fds the library cached for files that are still
/// open (issue 11, item 7): nothing of the old session stays in the
/// process. The export turned `nolocalio` then hands out no fds at all:
/// the client re-probes, stays on RPC, and reads the same data.
#[test]
fn revocation_drops_cached_fds_and_nolocalio_hands_out_none() {
    let content = pseudo_random_bytes(4096, 21);
    let ((dir, _conf), exports, server) = one_export(&content);
    let file = dir.path().join("f");
    rt().block_on(async {
        let nfs = mount_at(&server, server.export(), LocalioMode::On).await;
        let f = nfs
            .open("/f", &OpenOptions::new().read(true))
            .await
            .unwrap();
        // Not at offset 0: a lone read, nothing read ahead.
        let mut buf = [0u8; 64];
        f.read_at(&mut buf, 100).await.unwrap();
        assert!(buf[..] == content[100..164]);
        assert_eq!(nfs.stats().local_reads, 1, "{:?}", nfs.stats());
        assert!(fds_on(&file) >= 1, "the open file's fd is cached");

        write_exports(&exports, &[(dir.path(), &format!("{RW},nolocalio"))]);
        let line = server.sighup();
        assert!(line.contains("1 changed"), "{line}");
        noticed(&nfs).await;
        assert_eq!(fds_on(&file), 0, "a revoked session's fd is still held");

        // Re-probes find no export that allows LOCALIO: RPC only, and
        // no fd comes back.
        let s = wait_for(
            &nfs,
            "no re-probe",
            || async { f.read_at(&mut [0u8; 4], 0).await.map(drop).unwrap() },
            |s| s.localio_reprobes >= 1,
        )
        .await;
        f.read_at(&mut buf, 200).await.unwrap();
        assert!(buf[..] == content[200..264]);
        let after = nfs.stats();
        assert!(!after.local_active && after.local_reads == 1, "{after:?}");
        assert!(after.rpc_reads > s.rpc_reads, "{after:?}");
        assert_eq!(fds_on(&file), 0);
        drop(f);
    });
}

/// `nfsl serve -o ...,nolocalio`: a same-host client never gets an fd and
/// does all its IO over RPC.
#[test]
fn nolocalio_export_keeps_clients_on_rpc() {
    let dir = tempdir();
    let content = pseudo_random_bytes(10_000, 22);
    std::fs::write(dir.path().join("f"), &content).unwrap();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash,nolocalio");
    rt().block_on(async {
        let nfs = mount_at(&server, server.export(), LocalioMode::Auto).await;
        let f = nfs
            .open("/f", &OpenOptions::new().read(true).write(true))
            .await
            .unwrap();
        let mut got = Vec::new();
        f.read_to_end(&mut got).await.unwrap();
        assert!(got == content);
        f.write_at(b"over rpc", 0).await.unwrap();
        f.close().await.unwrap();
        let s = nfs.stats();
        assert!(!s.local_active && s.localio_opens == 0, "{s:?}");
        assert!(s.rpc_reads > 0 && s.rpc_writes > 0, "{s:?}");
        assert_eq!(fds_on(&dir.path().join("f")), 0);
        // `localio=on` refuses to run without LOCALIO.
        let on = localio_config(LocalioMode::On, &server.localio_socket());
        let e = try_mount_export(&server, server.export(), on)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("local"), "{e}");
    });
}
