//! LOCALIO routing in nfsl-client against the real `nfsl serve`: READ,
//! WRITE and COMMIT go local on the same host and agree byte for byte with
//! RPC (a second client with `localio=off`, libnfs `nfs-cat`, the file on
//! disk); the mount stays on RPC against Ganesha and `--no-localio`
//! (`localio=on` fails clearly); misaligned IO with `direct=always` is
//! byte-exact; permission and read-only refusals surface as over RPC; a
//! server killed during a LOCALIO write workload loses nothing that was
//! synced and the client carries on over RPC, then goes local again.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nfsl_client::{ClientConfig, DirectPolicy, ErrorKind, LocalioMode, OpenOptions};

#[test]
fn local_io_agrees_with_rpc_both_ways() {
    let dir = disk_tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    let data = pseudo_random_bytes(3 * 1024 * 1024 + 123, 7);
    let other = pseudo_random_bytes(1_500_000, 8);
    rt().block_on(async {
        let local = mount(&server, localio_config(LocalioMode::Auto, &sock)).await;
        let remote = mount(&server, localio_config(LocalioMode::Off, &sock)).await;
        assert!(local.stats().local_active, "{:?}", local.stats());
        assert!(!remote.stats().local_active);
        assert_eq!(remote.stats().localio_probes, 0, "localio=off never probes");

        // Written through LOCALIO, read back over RPC.
        let f = local.create("/via-local").await.unwrap();
        f.write_at(&data[..1_000_000], 0).await.unwrap();
        f.write_at_bytes(data[1_000_000..].to_vec().into(), 1_000_000)
            .await
            .unwrap();
        f.close().await.unwrap();
        let s = local.stats();
        assert!(
            s.local_writes > 0 && s.local_write_bytes == data.len() as u64,
            "{s:?}"
        );
        assert!(s.local_commits >= 1 && s.rpc_writes == 0, "{s:?}");
        // direct=auto: through the host's page cache (the client has none).
        assert!(s.direct_bytes == 0 && s.buffered_bytes > 0, "{s:?}");
        let g = remote
            .open("/via-local", &OpenOptions::new().read(true))
            .await
            .unwrap();
        let mut back = Vec::new();
        g.read_to_end(&mut back).await.unwrap();
        assert!(back == data, "LOCALIO write read back over RPC differs");
        assert_eq!(remote.stats().local_reads, 0);
        assert!(std::fs::read(dir.path().join("via-local")).unwrap() == data);
        if require_peer("nfs-cat") {
            assert!(
                nfs_cat(&server.url("/via-local")) == data,
                "nfs-cat differs"
            );
        }

        // Written over RPC, read back through LOCALIO.
        let w = remote.create("/via-rpc").await.unwrap();
        w.write_at(&other, 0).await.unwrap();
        w.close().await.unwrap();
        let r = local
            .open("/via-rpc", &OpenOptions::new().read(true))
            .await
            .unwrap();
        let before = local.stats().local_read_bytes;
        let mut buf = vec![0u8; other.len() + 1000];
        let n = r.read_at(&mut buf, 0).await.unwrap();
        assert_eq!(n, other.len(), "short only at end of file");
        assert!(buf[..n] == other[..]);
        let parts = r.read_at_bytes(4095, 70_000).await.unwrap();
        let joined: Vec<u8> = parts.iter().flat_map(|b| b.iter().copied()).collect();
        assert!(joined == other[4095..74_095]);
        let s = local.stats();
        assert!(s.local_read_bytes - before == (n + 70_000) as u64, "{s:?}");
        assert_eq!(s.rpc_reads, 0, "{s:?}");
        assert_eq!(s.localio_fallbacks, 0, "{s:?}");

        // A file opened read-only locally is re-opened read-write on its
        // first write.
        let (fh, _) = local.lookup("/via-rpc").await.unwrap();
        let h = local.open_handle(fh);
        let mut one = [0u8; 1];
        h.read_at(&mut one, 10).await.unwrap();
        let opens = local.stats().localio_opens;
        h.write_at(b"patched", 10).await.unwrap();
        h.close().await.unwrap();
        let s = local.stats();
        assert_eq!(s.localio_opens, opens + 1, "{s:?}");
        assert_eq!(s.rpc_writes, 0, "{s:?}");
        let mut want = other.clone();
        want[10..17].copy_from_slice(b"patched");
        assert!(std::fs::read(dir.path().join("via-rpc")).unwrap() == want);
    });
}

#[test]
fn misaligned_io_is_byte_exact_with_direct_always() {
    let dir = disk_tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    rt().block_on(async {
        // The URL form of the knobs.
        let url = format!("{}&localio=on&direct=always", server.url("/"));
        let (nfs, _) = connect_url(&url, localio_config(LocalioMode::Auto, &sock)).await;
        assert_eq!(nfs.config().direct, DirectPolicy::Always);
        let mut model = pseudo_random_bytes(256 * 1024, 1);
        let f = nfs.create("/odd").await.unwrap();
        f.write_at(&model, 0).await.unwrap();
        let cases: [(u64, usize); 8] = [
            (0, 1),
            (1, 511),
            (511, 4097),
            (4095, 2),
            (8191, 65_537),
            (12_345, 4096),
            (65_536, 131_072),
            (200_001, 60_000),
        ];
        for (i, (off, len)) in cases.iter().enumerate() {
            let chunk = pseudo_random_bytes(*len, 100 + i as u64);
            f.write_at(&chunk, *off).await.unwrap();
            let end = *off as usize + len;
            if model.len() < end {
                model.resize(end, 0);
            }
            model[*off as usize..end].copy_from_slice(&chunk);
        }
        f.sync().await.unwrap();
        for (off, len) in cases.iter().chain(&[(3, 300_000), (262_143, 10)]) {
            let mut buf = vec![0u8; *len];
            let n = f.read_at(&mut buf, *off).await.unwrap();
            let want =
                &model[(*off as usize).min(model.len())..(*off as usize + len).min(model.len())];
            assert!(buf[..n] == *want, "read of {len} at {off} differs");
        }
        f.close().await.unwrap();
        let s = nfs.stats();
        assert!(
            s.local_active && s.rpc_writes == 0 && s.rpc_reads == 0,
            "{s:?}"
        );
        assert!(s.direct_bytes > 0, "direct IO was used: {s:?}");
        assert!(
            s.misaligned_splits > 0,
            "misaligned requests were split: {s:?}"
        );
        assert!(std::fs::read(dir.path().join("odd")).unwrap() == model);
    });
}

#[test]
fn stays_on_rpc_with_no_localio_server() {
    let dir = tempdir();
    let server = NfslServer::start_with_args(dir.path(), "rw,no_root_squash", &["--no-localio"]);
    let sock = server.localio_socket();
    rt().block_on(async {
        let nfs = mount(&server, localio_config(LocalioMode::Auto, &sock)).await;
        let f = nfs.create("/f").await.unwrap();
        f.write_at(b"over rpc", 0).await.unwrap();
        f.close().await.unwrap();
        let mut buf = [0u8; 8];
        let f = nfs
            .open("/f", &OpenOptions::new().read(true))
            .await
            .unwrap();
        assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), 8);
        assert_eq!(&buf, b"over rpc");
        let s = nfs.stats();
        assert!(!s.local_active && s.localio_probes == 1, "{s:?}");
        assert!(
            s.local_writes == 0 && s.rpc_writes > 0 && s.rpc_reads > 0,
            "{s:?}"
        );

        nfs.unmount().await.unwrap();
        let e = try_mount_export(
            &server,
            server.export(),
            localio_config(LocalioMode::On, &sock),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotLocal, "{e}");
        assert!(e.to_string().contains("localio=on"), "{e}");
        // The refused mount was undone on the server (UMNT), as was the first.
        let mounts = RpcClient::connect(server.port()).dump();
        assert!(mounts.0.is_empty(), "server still lists {mounts:?}");
    });
}

#[test]
fn stays_on_rpc_against_ganesha() {
    if !ganesha_available() {
        return;
    }
    let gdir = tempdir();
    std::fs::write(gdir.path().join("g"), b"ganesha data").unwrap();
    let ganesha = Ganesha::start(gdir.path());
    // An nfsl server whose socket is real: the nonce registers there, but
    // Ganesha (PROG_UNAVAIL) cannot confirm it.
    let ndir = tempdir();
    let nfsl = NfslServer::start(ndir.path(), "rw");
    rt().block_on(async {
        for socket in [nfsl.localio_socket(), ndir.path().join("no-such.sock")] {
            let nfs = try_mount_ganesha(&ganesha, localio_config(LocalioMode::Auto, &socket))
                .await
                .expect("mount ganesha");
            let f = nfs
                .open("/g", &OpenOptions::new().read(true))
                .await
                .unwrap();
            let mut buf = [0u8; 64];
            let got = f.read_at(&mut buf, 0).await.unwrap();
            assert_eq!(&buf[..got], b"ganesha data");
            let s = nfs.stats();
            assert!(
                !s.local_active && s.local_reads == 0 && s.rpc_reads > 0,
                "{s:?}"
            );
            let e = try_mount_ganesha(&ganesha, localio_config(LocalioMode::On, &socket))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotLocal, "{e}");
            eprintln!("localio=on against Ganesha: {e}");
        }
    });
}

#[test]
fn permission_denied_alike_through_both_paths() {
    if !need_root("permission_denied_alike_through_both_paths") {
        return;
    }
    let dir = tempdir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(dir.path().join("open"), b"anyone").unwrap();
    let server = NfslServer::start(dir.path(), "rw");
    let sock = server.localio_socket();
    rt().block_on(async {
        for mode in [LocalioMode::Auto, LocalioMode::Off] {
            let cfg = ClientConfig {
                uid: 4321,
                gid: 4321,
                gids: vec![],
                ..localio_config(mode, &sock)
            };
            let nfs = mount(&server, cfg).await;
            assert_eq!(nfs.stats().local_active, mode == LocalioMode::Auto);
            let f = nfs
                .open("/secret", &OpenOptions::new().read(true))
                .await
                .unwrap();
            let mut buf = [0u8; 16];
            let e = f.read_at(&mut buf, 0).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{mode:?}: {e}");
            // Another file is still readable, locally when local.
            let g = nfs
                .open("/open", &OpenOptions::new().read(true))
                .await
                .unwrap();
            let n = g.read_at(&mut buf, 0).await.unwrap();
            assert_eq!(&buf[..n], b"anyone");
            let s = nfs.stats();
            if mode == LocalioMode::Auto {
                assert!(s.localio_denied >= 1 && s.local_reads >= 1, "{s:?}");
                assert!(s.local_active && s.localio_fallbacks == 0, "{s:?}");
            }
        }
    });
}

#[test]
fn ro_export_reads_local_and_writes_get_rofs() {
    let dir = tempdir();
    std::fs::write(dir.path().join("f"), b"read only data").unwrap();
    let server = NfslServer::start(dir.path(), "ro,no_root_squash");
    let sock = server.localio_socket();
    rt().block_on(async {
        for mode in [LocalioMode::Auto, LocalioMode::Off] {
            let nfs = mount(&server, localio_config(mode, &sock)).await;
            let f = nfs
                .open("/f", &OpenOptions::new().read(true).write(true))
                .await
                .unwrap();
            let e = f.write_at(b"x", 0).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ReadOnly, "{mode:?}: {e}");
            let mut buf = [0u8; 64];
            let n = f.read_at(&mut buf, 0).await.unwrap();
            assert_eq!(&buf[..n], b"read only data");
            let s = nfs.stats();
            if mode == LocalioMode::Auto {
                assert!(s.local_active && s.local_reads >= 1, "reads local: {s:?}");
                assert!(s.localio_denied >= 1 && s.local_writes == 0, "{s:?}");
            }
        }
        assert_eq!(
            std::fs::read(dir.path().join("f")).unwrap(),
            b"read only data"
        );
    });
}

/// A program running on the server's host cannot be opened for writing
/// (ETXTBSY): the LOCALIO open is refused for that file alone, as an RPC
/// WRITE would be, and the mount stays local for everything else.
#[test]
fn a_running_program_refuses_local_writes_without_ending_the_session() {
    let dir = disk_tempdir();
    let program = dir.path().join("sleeper");
    std::fs::copy("/bin/sleep", &program).unwrap();
    std::fs::write(dir.path().join("other"), b"other").unwrap();
    // Another test thread's child may hold the copy's write fd for a
    // moment (between its fork and exec): ETXTBSY until it has exec'd.
    let mut tries = 0;
    let mut running = loop {
        match std::process::Command::new(&program).arg("30").spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            spawned => break spawned.unwrap(),
        }
    };
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    rt().block_on(async {
        let nfs = mount(&server, localio_config(LocalioMode::On, &sock)).await;
        let f = nfs
            .open("/sleeper", &OpenOptions::new().read(true).write(true))
            .await
            .unwrap();
        // Over RPC the write fails too (the server cannot open it for
        // writing either); what matters is that it is this file's refusal.
        let _ = f.write_at(b"x", 0).await;
        let s = nfs.stats();
        assert!(s.localio_denied >= 1, "{s:?}");
        assert_eq!(s.localio_fallbacks, 0, "the session ended: {s:?}");
        assert!(s.local_active, "{s:?}");
        let g = nfs
            .open("/other", &OpenOptions::new().read(true))
            .await
            .unwrap();
        let mut buf = [0u8; 5];
        assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), 5);
        assert_eq!(&buf, b"other");
        assert!(nfs.stats().local_reads >= 1, "{:?}", nfs.stats());
    });
    running.kill().unwrap();
    running.wait().unwrap();
}

#[test]
fn server_killed_during_local_writes_loses_nothing_synced() {
    const CHUNK: usize = 256 * 1024;
    const CHUNKS: usize = 24;
    let dir = disk_tempdir();
    let mut server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    let data = Arc::new(pseudo_random_bytes(CHUNK * CHUNKS, 3));
    let synced = Arc::new(Mutex::new(0usize));
    let rt = rt();
    let nfs = rt.block_on(mount(&server, localio_config(LocalioMode::Auto, &sock)));
    assert!(nfs.stats().local_active);
    let writer = {
        let (nfs, data, synced) = (nfs.clone(), Arc::clone(&data), Arc::clone(&synced));
        rt.spawn(async move {
            let f = nfs.create("/big").await.unwrap();
            for i in 0..CHUNKS {
                let piece = &data[i * CHUNK..(i + 1) * CHUNK];
                f.write_at(piece, (i * CHUNK) as u64).await.unwrap();
                f.sync().await.unwrap();
                *synced.lock().unwrap() = i + 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            f.close().await.unwrap();
        })
    };
    // Kill the server once some chunks are known stable.
    let deadline = Instant::now() + Duration::from_secs(30);
    while *synced.lock().unwrap() < 4 {
        assert!(Instant::now() < deadline, "writer made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    let stable_at_kill = *synced.lock().unwrap();
    let on_disk = std::fs::read(dir.path().join("big")).unwrap();
    assert!(
        on_disk.len() >= stable_at_kill * CHUNK
            && on_disk[..stable_at_kill * CHUNK] == data[..stable_at_kill * CHUNK],
        "data synced before the kill is on disk"
    );
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    rt.block_on(writer).expect("writer finished");
    assert!(std::fs::read(dir.path().join("big")).unwrap() == *data);
    // The client noticed the restart, went over RPC, and goes local again.
    rt.block_on(async {
        let f = nfs
            .open("/big", &OpenOptions::new().read(true))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = f.read_at(&mut buf, 0).await.unwrap();
            assert!(buf[..n] == data[..CHUNK]);
            let s = nfs.stats();
            if s.local_active && s.localio_reprobes >= 1 {
                break;
            }
            assert!(Instant::now() < deadline, "no re-probe: {s:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let before = nfs.stats().local_reads;
        f.read_at(&mut buf, CHUNK as u64).await.unwrap();
        let s = nfs.stats();
        assert!(s.local_reads > before, "local again: {s:?}");
        assert!(s.localio_fallbacks >= 1, "{s:?}");
        assert!(
            s.rpc_writes > 0 || s.rpc_reads > 0,
            "RPC used meanwhile: {s:?}"
        );
        eprintln!("after the restart: {s:?}");
    });
}

#[test]
fn sequential_local_reads_are_read_ahead_and_never_stale_after_own_writes() {
    let dir = disk_tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    const PIECE: usize = 256 * 1024;
    let data = pseudo_random_bytes(16 * PIECE + 1000, 21);
    let newer = pseudo_random_bytes(3 * PIECE, 22);
    rt().block_on(async {
        let nfs = mount(
            &server,
            ClientConfig {
                readahead: 4 * PIECE,
                ..localio_config(LocalioMode::On, &sock)
            },
        )
        .await;
        let f = nfs.create("/stream").await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        f.sync().await.unwrap();

        // A reader going through the file one piece at a time: from the
        // second piece on, the data was queued ahead.
        let mut expect = data.clone();
        let mut got = Vec::new();
        let mut offset = 0u64;
        loop {
            if offset == 4 * PIECE as u64 {
                // Rewrite pieces that were already read ahead: the reader
                // must see the new bytes, not the queued old ones.
                f.write_at(&newer, offset).await.unwrap();
                expect[offset as usize..offset as usize + newer.len()].copy_from_slice(&newer);
            }
            let parts = f.read_at_bytes(offset, PIECE).await.unwrap();
            let n: usize = parts.iter().map(|p| p.len()).sum();
            for p in parts {
                got.extend_from_slice(&p);
            }
            offset += n as u64;
            if n < PIECE {
                break;
            }
        }
        assert_eq!(got.len(), expect.len());
        assert!(
            got == expect,
            "sequential read differs from what was written"
        );
        let s = nfs.stats();
        assert_eq!(s.rpc_reads, 0, "{s:?}");
        // 17 reads; the first and the one after the rewrite were not
        // queued ahead, and the read after that only starts a new stream.
        assert!(s.local_readahead_reads >= 12, "{s:?}");

        // Random reads queue nothing ahead.
        let before = nfs.stats().local_readahead_reads;
        for off in [9 * PIECE, 2 * PIECE, 7 * PIECE, 0] {
            let parts = f.read_at_bytes(off as u64, 4096).await.unwrap();
            assert_eq!(parts.concat(), expect[off..off + 4096]);
        }
        assert_eq!(nfs.stats().local_readahead_reads, before);
        f.close().await.unwrap();
    });
}

#[test]
fn overlapping_writes_behind_land_in_order() {
    let dir = disk_tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    const SIZE: usize = 1 << 20;
    rt().block_on(async {
        let nfs = mount(
            &server,
            ClientConfig {
                write_behind: 4 << 20,
                direct: DirectPolicy::Never,
                ..localio_config(LocalioMode::On, &sock)
            },
        )
        .await;
        let f = nfs.create("/overlaps").await.unwrap();
        let mut model = vec![0u8; SIZE];
        f.write_at(&model, 0).await.unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        // Many writes over one small range, answered before they are done:
        // each must land after the ones it overlaps.
        for i in 0..300 {
            // Big and tiny in turn: a tiny write queued behind a big one
            // it overlaps would often finish first if nothing ordered them.
            let len = if i % 2 == 0 {
                256 * 1024 + next(512 * 1024)
            } else {
                1 + next(4096)
            };
            let off = next(SIZE - len);
            let data = pseudo_random_bytes(len, 1000 + i);
            model[off..off + len].copy_from_slice(&data);
            f.write_at_bytes(data.into(), off as u64).await.unwrap();
            if i % 50 == 49 {
                // A read in the middle sees everything written so far.
                let parts = f.read_at_bytes(0, SIZE).await.unwrap();
                assert!(parts.concat() == model, "read after write {i} differs");
            }
        }
        // A write past the end, answered once queued: the size shows it.
        let tail = pseudo_random_bytes(512 * 1024, 7);
        f.write_at_bytes(tail.clone().into(), SIZE as u64)
            .await
            .unwrap();
        assert_eq!(f.metadata().await.unwrap().size, (SIZE + tail.len()) as u64);
        model.extend_from_slice(&tail);
        f.close().await.unwrap();
        let s = nfs.stats();
        assert_eq!((s.rpc_writes, s.localio_fallbacks), (0, 0), "{s:?}");
        let on_disk = std::fs::read(dir.path().join("overlaps")).unwrap();
        assert!(on_disk == model, "the file differs from the model");
    });
}
