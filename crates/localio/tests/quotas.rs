//! One unprivileged local user cannot deny LOCALIO to others (issue 11,
//! item 6): neither by holding the listener's connections nor by flooding
//! the nonce registry. The attacker is a thread of this test that drops
//! its own credentials to uid 65534 (credentials are per thread for raw
//! syscalls, so `SO_PEERCRED` of its sockets says 65534); needs root.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::confirmed;
use nfsl_localio::codec::{
    decode_body, encode_frame, FrameDecoder, RegisterStatus, Reply, Request,
};
use nfsl_localio::{
    Authorizer, ListenerConfig, LocalioListener, Nonce, NonceRegistry, OpenRefusal, OpenRequest,
    OpenedFile,
};
use nfsl_proto::nfs3::Nfsstat3;

struct NoFiles;

impl Authorizer for NoFiles {
    fn open(&self, _: &OpenRequest) -> Result<OpenedFile, OpenRefusal> {
        Err(OpenRefusal::Nfs(Nfsstat3::Stale))
    }
}

/// A guard against a hang (the failure these tests look for), not a
/// timing assertion: a working listener answers in microseconds.
const HANG: Duration = Duration::from_secs(20);

/// Switches the calling thread (only) to `uid`/`uid`, no groups.
fn become_user(uid: u32) {
    use rustix::process::{Gid, Uid};
    rustix::thread::set_thread_groups(&[]).unwrap();
    let g = Gid::from_raw(uid);
    rustix::thread::set_thread_res_gid(g, g, g).unwrap();
    let u = Uid::from_raw(uid);
    rustix::thread::set_thread_res_uid(u, u, u).unwrap();
}

/// What a REGISTER on a fresh blocking connection gets: `Some(status)`,
/// or `None` if the server closed the connection instead.
fn register_raw(s: &mut UnixStream) -> Option<RegisterStatus> {
    s.set_read_timeout(Some(HANG)).unwrap();
    s.write_all(&encode_frame(&Request::Register(Nonce::random())))
        .ok()?;
    let mut dec = FrameDecoder::new();
    let mut buf = [0u8; 256];
    loop {
        if let Some(body) = dec.next_frame().unwrap() {
            return match decode_body::<Reply>(&body).unwrap() {
                Reply::Register(st) => Some(st),
                other => panic!("{other:?}"),
            };
        }
        match s.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => dec.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("no answer to REGISTER (the listener hangs): {e}"),
        }
    }
}

/// A listener at a socket every user may reach, serving until dropped.
fn start(
    config: impl FnOnce(&mut ListenerConfig),
    registry: Arc<NonceRegistry>,
) -> (tempfile::TempDir, PathBuf, tokio::sync::oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.path().join("localio.sock");
    let mut c = ListenerConfig::new(&sock);
    config(&mut c);
    let listener = LocalioListener::bind(&c, registry, NoFiles).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(listener.run(async {
        let _ = rx.await;
    }));
    (dir, sock, tx)
}

/// In a thread running as `uid`: `f` on the socket path.
fn as_user<T: Send + 'static>(
    uid: u32,
    sock: &Path,
    f: impl FnOnce(&Path) -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let sock = sock.to_path_buf();
    std::thread::spawn(move || {
        become_user(uid);
        f(&sock)
    })
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_holding_connections_does_not_hang_others() {
    if !is_root() {
        eprintln!("SKIP one_user_holding_connections_does_not_hang_others: needs root");
        return;
    }
    let registry = Arc::new(NonceRegistry::default());
    let (_dir, sock, _stop) = start(
        |c| {
            c.max_connections = 8;
            c.max_connections_per_uid = 4;
        },
        registry.clone(),
    );
    // The attacker opens 20 connections and keeps them.
    let attacker = as_user(65534, &sock, |sock| {
        let mut held = Vec::new();
        let mut answered = 0;
        for _ in 0..20 {
            let mut s = UnixStream::connect(sock).unwrap();
            if register_raw(&mut s) == Some(RegisterStatus::Ok) {
                answered += 1;
            }
            held.push(s);
        }
        (answered, held)
    });
    let (answered, held) = tokio::task::spawn_blocking(move || attacker.join().unwrap())
        .await
        .unwrap();
    assert_eq!(answered, 4, "its share, the rest closed at once");
    // Another user and root still complete their handshakes.
    let other = as_user(65533, &sock, |sock| {
        let mut s = UnixStream::connect(sock).unwrap();
        register_raw(&mut s)
    });
    let other = tokio::task::spawn_blocking(move || other.join().unwrap())
        .await
        .unwrap();
    assert_eq!(other, Some(RegisterStatus::Ok));
    let chan = tokio::time::timeout(HANG, confirmed(&sock, &registry))
        .await
        .expect("root's handshake hangs behind the attacker's connections");
    drop(chan);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_flood_does_not_lock_others_out() {
    if !is_root() {
        eprintln!("SKIP a_nonce_flood_does_not_lock_others_out: needs root");
        return;
    }
    // A small registry so that the flood is quick; the default TTL.
    let registry = Arc::new(NonceRegistry::new(nfsl_localio::registry::DEFAULT_TTL, 256));
    let (_dir, sock, _stop) = start(|_| {}, registry.clone());
    let flood = as_user(65534, &sock, |sock| {
        let mut ok = 0;
        for _ in 0..600 {
            let mut s = UnixStream::connect(sock).unwrap();
            if register_raw(&mut s) == Some(RegisterStatus::Ok) {
                ok += 1;
            }
        }
        ok
    });
    let ok = tokio::task::spawn_blocking(move || flood.join().unwrap())
        .await
        .unwrap();
    assert!(ok > 0);
    let other = as_user(65533, &sock, |sock| {
        let mut s = UnixStream::connect(sock).unwrap();
        register_raw(&mut s)
    });
    let other = tokio::task::spawn_blocking(move || other.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        other,
        Some(RegisterStatus::Ok),
        "another user is locked out"
    );
    tokio::time::timeout(HANG, confirmed(&sock, &registry))
        .await
        .expect("root's handshake hangs");
}
