//! `nfsl serve` and the host's rpcbind: NFS and MOUNT v3 over TCP are
//! registered at start (so URLs without ports work), unregistered at exit,
//! and another live server's registration is never taken over nor removed
//! (a dead one's is replaced). A
//! client whose portmapper cannot tell tries the standard port 2049 and
//! says so when nothing answers there either.
//!
//! These tests change the host's rpcbind table, so they run one after
//! another (one test function) and every server they start is stopped.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::{fails, ok_text};
use common::*;
use nfsl_client::nfs3::{NFS_PROGRAM, NFS_V3};
use nfsl_client::{rpcbind_getport, ClientConfig, PortPolicy};

const RW: &str = "rw,no_root_squash,insecure";

/// Starts `rpcbind -w` if none runs; false (after the SKIP line) if it is
/// not installed.
fn ensure_rpcbind() -> bool {
    let socket = Path::new("/run/rpcbind.sock");
    if socket.exists() {
        return true;
    }
    if !require_peer("rpcbind") {
        return false;
    }
    let status = std::process::Command::new("rpcbind")
        .arg("-w")
        .status()
        .unwrap();
    assert!(status.success(), "rpcbind -w: {status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "rpcbind did not create its socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The port rpcbind maps NFS v3/TCP to, if any.
fn registered_nfs_port() -> Option<u16> {
    let config = ClientConfig {
        privileged_port: PortPolicy::Never,
        ..ClientConfig::default()
    };
    rt().block_on(rpcbind_getport("127.0.0.1", NFS_PROGRAM, NFS_V3, &config))
        .ok()
}

/// A server that registers with rpcbind (the harness turns it off).
fn registering_server(dir: &Path) -> NfslServer {
    NfslServer::start_with_args(dir, RW, &["--rpcbind"])
}

#[test]
fn registration_lifecycle() {
    if !ensure_rpcbind() {
        return;
    }
    if let Some(port) = registered_nfs_port() {
        // A dead server's mapping is replaced by the first server below;
        // a live one's belongs to someone else.
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            eprintln!("SKIP: NFS v3 is registered with this host's rpcbind already (port {port}): another server owns it");
            return;
        }
    }
    let a_dir = tempdir();
    std::fs::write(a_dir.path().join("hello"), b"found through rpcbind").unwrap();
    let mut a = registering_server(a_dir.path());
    let log = a.wait_for_stderr("registered with rpcbind");
    assert!(log.contains("registered with rpcbind"), "{log}");
    assert_eq!(registered_nfs_port(), Some(a.port()));
    // A URL without ports finds the server through the portmapper.
    let url = format!("nfs://127.0.0.1{}/hello", a.export());
    assert_eq!(ok_text(&["cat", &url]), "found through rpcbind");

    // A second server leaves the first one's registration alone, and
    // does not remove it when it stops.
    let b_dir = tempdir();
    let mut b = registering_server(b_dir.path());
    let log = b.wait_for_stderr("left alone");
    assert!(log.contains("left alone"), "{log}");
    b.stop();
    assert_eq!(registered_nfs_port(), Some(a.port()));

    // A server killed without unregistering leaves a stale mapping, which
    // the next server takes over; the owner removes its own at exit.
    a.kill9();
    assert_eq!(registered_nfs_port(), Some(a.port()));
    let mut c = registering_server(a_dir.path());
    let log = c.wait_for_stderr("stale");
    assert!(log.contains("stale"), "{log}");
    assert_eq!(registered_nfs_port(), Some(c.port()));
    c.stop();
    assert_eq!(registered_nfs_port(), None);

    // Now the portmapper cannot tell: the client tries port 2049 and says
    // what it tried (nothing of ours listens there).
    let err = fails(&["ls", "nfs://127.0.0.1/nowhere"]);
    assert!(err.contains("2049") && err.contains("nfsport="), "{err}");
}
