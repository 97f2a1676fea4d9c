//! The client authenticates the LOCALIO socket's server (issue 11, item 2):
//! a fake listener on the socket path that answers the handshake as
//! "confirmed" and hands out its own fds never gets the client to read its
//! data or write its files; the client falls back to RPC and stays correct.
//!
//! Two fakes: one run by another user (this test binary re-run as a child
//! that the kernel switches to uid 65534), refused by the socket checks
//! (`SO_PEERCRED`, StrictModes); and one run by root itself, trusted as a
//! process but refused by the check of each received fd against the
//! file's attributes fetched over NFS.

mod common;

use std::io::{BufRead, BufReader, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use nfsl_client::localio::codec::{
    decode_body, encode_frame, FrameDecoder, OpenReply, RegisterStatus, Reply, Request,
};
use nfsl_client::localio::DioAlignment;
use nfsl_client::{LocalioMode, Nfs, OpenOptions};

/// What the fake's own file holds.
const FAKE: &[u8] = b"FAKE DATA FROM THE IMPOSTOR";

/// Serves one connection as a LOCALIO server that confirms everything and
/// answers every open with `file`'s fd; reports each request on stdout.
fn fake_session(mut s: UnixStream, file: &Path) {
    let mut dec = FrameDecoder::new();
    let mut buf = [0u8; 2048];
    loop {
        let body = loop {
            match dec.next_frame() {
                Ok(Some(b)) => break b,
                Ok(None) => {}
                Err(_) => return,
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => dec.push(&buf[..n]),
            }
        };
        let Ok(req) = decode_body::<Request>(&body) else {
            return;
        };
        say(&format!(
            "FAKE-REQUEST {}",
            match &req {
                Request::Register(_) => "register",
                Request::Confirmed(_) => "confirmed",
                Request::Open { .. } => "open",
            }
        ));
        let (reply, fd) = match req {
            Request::Register(_) => (Reply::Register(RegisterStatus::Ok), None),
            Request::Confirmed(_) => (Reply::Confirmed(true), None),
            Request::Open { .. } => {
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(file)
                    .unwrap();
                let size = f.metadata().unwrap().len();
                let reply = Reply::Open(OpenReply::Ok {
                    alignment: DioAlignment::default(),
                    size,
                    has_direct: false,
                });
                (reply, Some(OwnedFd::from(f)))
            }
        };
        let frame = encode_frame(&reply);
        let fds: Vec<_> = fd.iter().map(|f| f.as_fd()).collect();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() {
            assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)));
        }
        let n = rustix::net::sendmsg(
            &s,
            &[IoSlice::new(&frame)],
            &mut control,
            rustix::net::SendFlags::NOSIGNAL,
        );
        if n.map(|n| n != frame.len()).unwrap_or(true) {
            return;
        }
        s.flush().ok();
    }
}

/// Binds `sock` and serves [`fake_session`]s on it forever.
fn run_fake(sock: &Path, file: &Path) {
    let l = UnixListener::bind(sock).unwrap();
    std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    say("FAKE-READY");
    for s in l.incoming() {
        let Ok(s) = s else { continue };
        let file = file.to_path_buf();
        std::thread::spawn(move || fake_session(s, &file));
    }
}

/// Environment variable that turns [`fake_listener_child`] into the child.
const FAKE_ENV: &str = "NFSL_FAKE_LOCALIO_SOCKET";

/// The child side of [`fake_listener_of_another_user_gets_nothing`]:
/// runs as uid 65534 (set by the parent's `Command::uid`); does nothing
/// when run as an ordinary test.
#[test]
fn fake_listener_child() {
    let Some(sock) = std::env::var_os(FAKE_ENV) else {
        return;
    };
    let sock = PathBuf::from(sock);
    let file = sock.parent().unwrap().join("fake-file");
    run_fake(&sock, &file);
}

/// Mounts with LOCALIO `auto` through `sock`, reads `/data` whole, writes
/// `new` over its start and closes it; returns what it read and the
/// mount.
async fn read_then_write(server: &NfslServer, sock: &Path, new: &[u8]) -> (Vec<u8>, Nfs) {
    let nfs = mount(server, localio_config(LocalioMode::Auto, sock)).await;
    let f = nfs
        .open("/data", &OpenOptions::new().read(true).write(true))
        .await
        .unwrap();
    let mut got = Vec::new();
    f.read_to_end(&mut got).await.unwrap();
    f.write_at(new, 0).await.unwrap();
    f.close().await.unwrap();
    (got, nfs)
}

/// A file the export holds.
fn real_data() -> Vec<u8> {
    pseudo_random_bytes(200_000, 11)
}

#[test]
fn fake_listener_of_another_user_gets_nothing() {
    if !need_root("fake_listener_of_another_user_gets_nothing") {
        return;
    }
    let export = tempdir();
    std::fs::write(export.path().join("data"), real_data()).unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    // The impostor's own directory (as an inherited XDG_RUNTIME_DIR would
    // be): owned by it, mode 0755, its file and its socket inside.
    let outer = tempdir();
    std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake_dir = outer.path().join("runtime");
    std::fs::create_dir(&fake_dir).unwrap();
    let nobody = rustix::fs::Uid::from_raw(65534);
    let nogroup = rustix::fs::Gid::from_raw(65534);
    rustix::fs::chown(&fake_dir, Some(nobody), Some(nogroup)).unwrap();
    let fake_file = fake_dir.join("fake-file");
    std::fs::write(&fake_file, FAKE).unwrap();
    rustix::fs::chown(&fake_file, Some(nobody), Some(nogroup)).unwrap();
    let sock = fake_dir.join("localio.sock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "fake_listener_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FAKE_ENV, &sock)
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("fake output").unwrap();
        if line.contains("FAKE-READY") {
            break;
        }
    }
    let (got, nfs) = rt().block_on(read_then_write(&server, &sock, b"WRITTEN"));
    let s = nfs.stats();
    child.kill().unwrap();
    child.wait().unwrap();
    let requests: Vec<String> = lines
        .map_while(|l| l.ok())
        .filter(|l| l.contains("FAKE-REQUEST"))
        .collect();
    assert!(got == real_data(), "the client read the impostor's data");
    assert_eq!(
        std::fs::read(&fake_file).unwrap(),
        FAKE,
        "impostor's file written"
    );
    let mut want = real_data();
    want[..7].copy_from_slice(b"WRITTEN");
    assert!(std::fs::read(export.path().join("data")).unwrap() == want);
    assert!(!s.local_active && s.localio_opens == 0, "{s:?}");
    assert!(s.rpc_reads > 0 && s.rpc_writes > 0, "{s:?}");
    assert_eq!(requests, Vec::<String>::new(), "nothing is sent to it");
}

#[test]
fn fds_of_another_file_from_a_trusted_socket_are_never_used() {
    let export = tempdir();
    std::fs::write(export.path().join("data"), real_data()).unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    // The fake runs as this very user (so it passes the socket checks),
    // as a second server on this host would.
    let fake_dir = tempdir();
    std::fs::set_permissions(fake_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake_file = fake_dir.path().join("fake-file");
    std::fs::write(&fake_file, FAKE).unwrap();
    let sock = fake_dir.path().join("localio.sock");
    let (s2, f2) = (sock.clone(), fake_file.clone());
    std::thread::spawn(move || run_fake(&s2, &f2));
    while !sock.exists() {
        std::thread::yield_now();
    }
    let (got, nfs) = rt().block_on(read_then_write(&server, &sock, b"WRITTEN"));
    let s = nfs.stats();
    assert!(got == real_data(), "the client read the fake fd's data");
    assert_eq!(std::fs::read(&fake_file).unwrap(), FAKE, "fake fd written");
    let mut want = real_data();
    want[..7].copy_from_slice(b"WRITTEN");
    assert!(std::fs::read(export.path().join("data")).unwrap() == want);
    assert_eq!(s.localio_opens, 0, "{s:?}");
    assert!(s.localio_fallbacks >= 1 && !s.local_active, "{s:?}");
    assert_eq!(s.local_reads + s.local_writes, 0, "{s:?}");
}

/// A line straight to the process's stdout (the harness's capture only
/// catches `print!`), flushed for the parent to read.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).unwrap();
}

/// A socket whose server accepts and then never answers (busy, stopped,
/// or hostile) costs a mount a bounded wait: the probe gives up and the
/// mount works over RPC.
#[test]
fn a_silent_socket_leaves_the_mount_on_rpc() {
    let export = tempdir();
    std::fs::write(export.path().join("data"), real_data()).unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let dir = tempdir();
    let sock = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let held = std::thread::spawn(move || {
        // Accept and keep every connection, answering nothing.
        let mut kept = Vec::new();
        for s in listener.incoming().flatten() {
            kept.push(s);
        }
    });
    let (got, nfs) = rt().block_on(read_then_write(&server, &sock, b"WRITTEN"));
    let s = nfs.stats();
    assert!(got == real_data());
    assert!(!s.local_active && s.rpc_reads > 0, "{s:?}");
    drop(held);
}

/// StrictModes: even a process of a trusted user is not used when its
/// socket sits in a directory others may write (they could have put it
/// there): the probe refuses before any session exists.
#[test]
fn a_socket_in_a_world_writable_directory_is_refused() {
    let export = tempdir();
    std::fs::write(export.path().join("data"), real_data()).unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let fake_dir = tempdir();
    std::fs::set_permissions(fake_dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let fake_file = fake_dir.path().join("fake-file");
    std::fs::write(&fake_file, FAKE).unwrap();
    let sock = fake_dir.path().join("localio.sock");
    let (s2, f2) = (sock.clone(), fake_file.clone());
    std::thread::spawn(move || run_fake(&s2, &f2));
    while !sock.exists() {
        std::thread::yield_now();
    }
    let rt = rt();
    let (got, nfs) = rt.block_on(read_then_write(&server, &sock, b"WRITTEN"));
    let s = nfs.stats();
    assert!(got == real_data());
    assert_eq!(std::fs::read(&fake_file).unwrap(), FAKE);
    // No session was ever made (an fd check would have ended one).
    assert_eq!((s.localio_opens, s.localio_fallbacks), (0, 0), "{s:?}");
    assert!(!s.local_active && s.rpc_reads > 0, "{s:?}");
    let e = rt
        .block_on(nfs.localio_probe(Some(&sock)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("writable"), "{e}");
}
