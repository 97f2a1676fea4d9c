//! `nfsl serve` against hostile network peers (issue 11 items 5 and 10):
//! its connection limits as command-line options, idle reaping, and a
//! duplicate request cache that answers only callers the export admits.
//! (Memory budgets and back-pressure are proven at the transport, where
//! the server's counters can be read: crates/transport/tests/limits.rs.)

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::Duration;

use common::*;
use nfsl_proto::nfs3::*;
use nfsl_xdr::{encode_to_vec, Decoder, Xdr};

/// Whether the server closes `s` (EOF or reset) before the guard.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => {
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
        }
    }
}

/// A plain TCP connection from source address `ip`.
fn connect_from(ip: Ipv4Addr, port: u16) -> TcpStream {
    use rustix::net::{AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    rustix::net::bind(&fd, &SocketAddrV4::new(ip, 0)).unwrap();
    rustix::net::connect(&fd, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).unwrap();
    TcpStream::from(fd)
}

#[test]
fn connection_limit_per_address_leaves_room_for_other_clients() {
    let dir = tempdir();
    let server = NfslServer::start_with_args(
        dir.path(),
        "rw,insecure,no_root_squash",
        &["--max-connections-per-address", "2"],
    );
    // The attacker (127.0.0.1) holds its two connections...
    let mut held = RpcClient::connect(server.port());
    let _held2 = RpcClient::connect(server.port());
    let root = held.mount(server.export());
    // ...a third from the same address is closed at once...
    let mut third = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port())).unwrap();
    assert!(closed_by_server(&mut third), "third connection refused");
    // ...while its held connections and another address are served.
    assert_eq!(held.attrs(&root).ftype, Ftype3::Dir);
    let mut other =
        RpcClient::from_stream(connect_from(Ipv4Addr::new(127, 0, 0, 2), server.port()));
    let root2 = other.mount(server.export());
    assert_eq!(other.attrs(&root2).ftype, Ftype3::Dir);
    assert!(server
        .stderr_text()
        .contains("connection refused: limit reached"));
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let dir = tempdir();
    let server = NfslServer::start_with_args(
        dir.path(),
        "rw,insecure,no_root_squash",
        &["--idle-timeout", "1"],
    );
    let mut idle = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port())).unwrap();
    assert!(closed_by_server(&mut idle), "idle connection reaped");
}

#[test]
fn bad_limit_options_are_one_clear_error() {
    let dir = tempdir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nfsl"))
        .args(["serve", "--port", "0", "--max-connections", "0"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-connections"), "{err}");
}

/// The NFS status at the start of some results.
fn status_of(results: &[u8]) -> Nfsstat3 {
    Nfsstat3::decode(&mut Decoder::new(results)).unwrap()
}

/// A retransmitted CREATE is answered from the duplicate request cache
/// only while the export admits the caller: after a reload that removes
/// the client from the export, the same call (same port, xid and
/// arguments) gets the export's refusal, not the reply cached for it.
#[test]
fn the_reply_cache_answers_only_callers_the_export_admits_now() {
    let dir = tempdir();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    let line = |client: &str| {
        format!(
            "{} {client}(rw,insecure,no_root_squash)\n",
            canonical(dir.path())
        )
    };
    std::fs::write(&exports, line("127.0.0.1")).unwrap();
    let server = NfslServer::start_with_exports(&exports);
    let mut c = RpcClient::connect(server.port());
    let root = c.mount(server.export());
    let args = encode_to_vec(&Create3Args {
        location: diropargs(&root, b"made"),
        how: CreateHow3::Unchecked(Sattr3::default()),
    });
    let create = c.new_call(NFS_PROGRAM, NFS_V3, Nfs3Procedure::Create as u32, args);
    assert_eq!(status_of(c.exchange(&create).results()), Nfsstat3::Ok);
    // A retransmission while admitted: the cached reply.
    assert_eq!(status_of(c.exchange(&create).results()), Nfsstat3::Ok);
    std::fs::write(&exports, line("10.255.255.1")).unwrap();
    server.sighup();
    assert_eq!(status_of(c.exchange(&create).results()), Nfsstat3::Acces);
}

/// With few file descriptors (`prlimit --nofile=320`), `--max-connections`
/// is lowered to what fits, so connections beyond it are closed at once
/// rather than left hanging in the listen backlog while `accept` fails
/// with EMFILE (and floods the log).
#[test]
fn connections_beyond_the_open_file_limit_are_refused_not_left_hanging() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    if !require_peer("prlimit") {
        return;
    }
    let dir = tempdir();
    let state = tempdir();
    let mut child = Command::new("prlimit")
        .arg("--nofile=320:320")
        .arg(env!("CARGO_BIN_EXE_nfsl"))
        .args([
            "serve",
            "-o",
            "rw,insecure",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
        ])
        .args(["--no-localio", "--max-connections-per-address", "1000"])
        .arg("--state-dir")
        .arg(state.path())
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    // 320 - 256 descriptors kept for files: 64 connections fit.
    let held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap())
        .collect();
    let mut late = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    assert!(closed_by_server(&mut late), "refused at once, not hanging");
    drop(held);
    let _ = child.kill();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let _ = child.wait();
    assert!(err.contains("lowered to fit the open-file limit"), "{err}");
}
