//! `nfsl mount` on the server's host: opens are FUSE passthrough files
//! backed by the LOCALIO fd, so reads, writes and mmap reach the server's
//! file without the daemon (its READ/WRITE counters stay at zero), while
//! close and fsync still make the data durable (counted COMMITs) and
//! visible to another client. With `passthrough=off` the daemon serves
//! the IO (through its LOCALIO engine).

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;

use common::*;

fn local_url(server: &NfslServer) -> String {
    format!(
        "{}&localio-socket={}",
        server.url(""),
        server.localio_socket().display()
    )
}

/// The file's bytes read over RPC by an independent client session
/// (nfsl's library with LOCALIO off).
fn read_over_rpc(server: &NfslServer, name: &str) -> Vec<u8> {
    rt().block_on(async {
        let mut config = client_config();
        config.localio = nfsl_client::LocalioMode::Off;
        let nfs = mount(server, config).await;
        let f = nfs
            .open(
                &format!("/{name}"),
                &nfsl_client::OpenOptions::new().read(true),
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        f.read_to_end(&mut out).await.unwrap();
        out
    })
}

#[test]
fn passthrough_reads_and_writes_bypass_the_daemon() {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    let data = pseudo_random_bytes(4 << 20, 7);
    fs::write(export.path().join("in"), &data).unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let mount = FuseMount::mount(&local_url(&server), "");
    assert!(
        mount.stats().starts_with("passthrough available"),
        "{}",
        mount.stats()
    );

    // Read: the server's bytes, none of them through the daemon.
    assert_eq!(fs::read(mount.join("in")).unwrap(), data);
    // mmap of the same file.
    let f = fs::File::open(mount.join("in")).unwrap();
    // SAFETY: a private read-only map of a file nobody truncates here.
    let map = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            data.len(),
            rustix::mm::ProtFlags::READ,
            rustix::mm::MapFlags::PRIVATE,
            f.as_fd(),
            0,
        )
    }
    .unwrap();
    // SAFETY: the map is data.len() bytes long and readable.
    let mapped = unsafe { std::slice::from_raw_parts(map.cast::<u8>(), data.len()) };
    assert!(mapped == data.as_slice(), "mmap through the mount differs");
    // SAFETY: unmapping what was mapped above.
    unsafe { rustix::mm::munmap(map, data.len()).unwrap() };

    // Write through the mount: lands in the server's file.
    let commits_before = mount.stat("commits");
    let written = pseudo_random_bytes(3 << 20, 8);
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(mount.join("out"))
        .unwrap();
    out.write_all(&written).unwrap();
    out.sync_all().unwrap(); // fsync: a COMMIT
    let after_fsync = mount.stat("commits");
    assert!(after_fsync > commits_before, "fsync made no COMMIT");
    out.seek(SeekFrom::Start(10)).unwrap();
    out.write_all(b"patched").unwrap();
    drop(out); // close: flush, a COMMIT
    assert!(mount.stat("commits") > after_fsync, "close made no COMMIT");
    let mut expected = written.clone();
    expected[10..17].copy_from_slice(b"patched");
    assert_eq!(fs::read(export.path().join("out")).unwrap(), expected);
    // Close-to-open: another client sees it at once, over RPC.
    assert_eq!(read_over_rpc(&server, "out"), expected);

    assert_eq!(mount.stat("passthrough_opens"), 3, "{}", mount.stats());
    assert_eq!(mount.stat("daemon_opens"), 0, "{}", mount.stats());
    assert_eq!(mount.stat("daemon_reads"), 0, "{}", mount.stats());
    assert_eq!(mount.stat("daemon_writes"), 0, "{}", mount.stats());
}

#[test]
fn passthrough_off_is_served_by_the_daemon_through_localio() {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    let data = pseudo_random_bytes(2 << 20, 9);
    fs::write(export.path().join("in"), &data).unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let mount = FuseMount::mount(&local_url(&server), "passthrough=off");
    let mut got = Vec::new();
    fs::File::open(mount.join("in"))
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, data);
    fs::write(mount.join("out"), &data).unwrap();
    assert_eq!(fs::read(export.path().join("out")).unwrap(), data);
    let stats = mount.stats();
    assert!(
        stats.starts_with("passthrough off (passthrough=off)"),
        "{stats}"
    );
    assert_eq!(mount.stat("passthrough_opens"), 0);
    assert!(mount.stat("daemon_reads") > 0, "{stats}");
    assert!(mount.stat("daemon_writes") > 0, "{stats}");
    // The daemon's IO went through its LOCALIO engine, not RPC.
    assert!(mount.stat("local_reads") > 0, "{stats}");
    assert_eq!(mount.stat("rpc_reads"), 0, "{stats}");
}

#[test]
fn a_remote_server_says_why_there_is_no_passthrough() {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    fs::write(export.path().join("f"), b"remote").unwrap();
    // No LOCALIO: as a server on another host.
    let server = NfslServer::start_with_args(export.path(), "rw,no_root_squash", &["--no-localio"]);
    let mount = FuseMount::mount(&server.url(""), "");
    assert_eq!(fs::read(mount.join("f")).unwrap(), b"remote");
    let stats = mount.stats();
    assert!(
        stats.starts_with("passthrough off (LOCALIO is not active"),
        "{stats}"
    );
    assert!(mount.stat("rpc_reads") > 0, "{stats}");
    assert!(
        mount
            .log()
            .contains("passthrough not used: LOCALIO is not active"),
        "{}",
        mount.log()
    );
    // passthrough=on with a kernel and privileges that allow it mounts.
    drop(mount);
    let on = FuseMount::mount(&server.url(""), "passthrough=on");
    assert_eq!(fs::read(on.join("f")).unwrap(), b"remote");
    // Where passthrough cannot be, passthrough=on refuses to mount.
    let err = FuseMount::try_mount(&server.url(""), "passthrough=on,localio=off")
        .err()
        .expect("passthrough=on with localio=off mounted");
    assert!(err.contains("passthrough=on: localio=off"), "{err}");
}

/// Writes an exports file exporting `dir` to everyone with `options`.
fn export_as(file: &std::path::Path, dir: &std::path::Path, options: &str) {
    fs::write(file, format!("{} *({options})\n", canonical(dir))).unwrap();
}

#[test]
fn a_revocation_keeps_open_passthrough_files_and_new_opens_follow_the_new_rules() {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    fs::write(export.path().join("f"), b"").unwrap();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    export_as(&exports, export.path(), "rw,no_root_squash,insecure");
    let server = NfslServer::start_with_exports(&exports);
    let mount = FuseMount::mount(&local_url(&server), "");
    let mut open = OpenOptions::new()
        .write(true)
        .open(mount.join("f"))
        .unwrap();
    open.write_all(b"before ").unwrap();
    assert_eq!(mount.stat("passthrough_opens"), 1, "{}", mount.stats());

    // The export turns read-only: the server revokes the LOCALIO session.
    export_as(&exports, export.path(), "ro,no_root_squash,insecure");
    let logged = server.sighup();
    assert!(logged.contains("1 LOCALIO session revoked"), "{logged}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while mount.stats().contains("localio active") {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not see the revocation:\n{}",
            mount.stats()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // The file open through passthrough keeps its fd, as an open file on
    // a local file system keeps working after a chmod...
    open.write_all(b"after").unwrap();
    open.sync_all().unwrap();
    assert_eq!(fs::read(export.path().join("f")).unwrap(), b"before after");
    // ...while new opens are checked under the new rules (ACCESS over
    // RPC): reading is allowed (through the inode's one backing, which
    // the kernel makes every open of it share while it is open)...
    assert_eq!(fs::read(mount.join("f")).unwrap(), b"before after");
    drop(open);
    // ...writing is not.
    let refused = OpenOptions::new()
        .write(true)
        .open(mount.join("f"))
        .and_then(|mut f| {
            f.write_all(b"x")?;
            f.sync_all()
        });
    let err = refused.expect_err("a write on the read-only export succeeded");
    assert!(
        matches!(
            err.raw_os_error(),
            Some(libc::EROFS | libc::EACCES | libc::EPERM)
        ),
        "{err}"
    );
    assert_eq!(fs::read(export.path().join("f")).unwrap(), b"before after");
}

/// The kernel makes every open of an inode open through passthrough use
/// the same backing file (any other open fails with EIO): a reader who
/// may write gets a read-write backing, so a writer can come next.
#[test]
fn a_writer_can_open_a_file_held_open_for_reading_through_passthrough() {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    fs::write(export.path().join("f"), b"old").unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let mount = FuseMount::mount(&local_url(&server), "");
    let mut reader = fs::File::open(mount.join("f")).unwrap();
    let mut got = String::new();
    reader.read_to_string(&mut got).unwrap();
    assert_eq!(got, "old");
    let mut writer = OpenOptions::new()
        .write(true)
        .open(mount.join("f"))
        .unwrap();
    writer.write_all(b"new").unwrap();
    writer.sync_all().unwrap();
    drop(writer);
    assert_eq!(fs::read(export.path().join("f")).unwrap(), b"new");
    let mut again = String::new();
    reader.seek(SeekFrom::Start(0)).unwrap();
    reader.read_to_string(&mut again).unwrap();
    assert_eq!(again, "new");
    assert_eq!(mount.stat("passthrough_opens"), 2, "{}", mount.stats());

    // A program's backing stays read-only (a read-write fd would make
    // running it fail with ETXTBSY on the server's host); a writer that
    // comes while it is open gets ETXTBSY, as on a local file system.
    let tool = export.path().join("tool");
    fs::write(&tool, b"#!/bin/sh\n").unwrap();
    fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let held = fs::File::open(mount.join("tool")).unwrap();
    let err = OpenOptions::new()
        .write(true)
        .open(mount.join("tool"))
        .expect_err("a writer shared a program's read-only backing");
    assert_eq!(err.raw_os_error(), Some(libc::ETXTBSY), "{err}");
    drop(held);
    // Once it is closed, the writer gets its own backing.
    fs::write(mount.join("tool"), b"#!/bin/sh\nexit 0\n").unwrap();
    assert_eq!(fs::read(&tool).unwrap(), b"#!/bin/sh\nexit 0\n");
}
