//! LOCALIO handshake and fd passing against the real `nfsl serve`: the
//! handshake succeeds on the same host and fails (staying on RPC) against
//! Ganesha, with `--no-localio`, with a forged or replayed nonce and with
//! AUTH_NONE; opens honour `ro`, file permissions and the peer's real uid;
//! data written through a LOCALIO fd reads back identical over RPC.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use nfsl_client::localio::client::Connected;
use nfsl_client::localio::{Access, Creds, LocalioError, Nonce};
use nfsl_client::nfs3::Nfsstat3;
use nfsl_client::{ClientConfig, ErrorKind, Nfs, NotLocal, RpcError};
use nfsl_proto::localio::{LOCALIO_PROGRAM, LOCALIO_V1};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(uid: u32, gid: u32) -> ClientConfig {
    ClientConfig {
        uid,
        gid,
        gids: vec![],
        timeout: Duration::from_secs(20),
        retries: 2,
        ..ClientConfig::default()
    }
}

async fn mount(port: u16, export: &str, uid: u32) -> Nfs {
    Nfs::mount("127.0.0.1", port, port, export, config(uid, uid))
        .await
        .expect("mount")
}

fn root() -> Creds {
    Creds {
        uid: 0,
        gid: 0,
        gids: vec![],
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Skips (saying so) a test that needs root: credential switching, a
/// setuid helper process.
fn need_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("NFSL_REQUIRE_PEERS").is_none(),
        "{test} needs root"
    );
    eprintln!("SKIP {test}: needs root");
    false
}

#[test]
fn handshake_and_read_open_against_nfsl_serve() {
    let dir = tempdir();
    let data = pseudo_random_bytes(100_000, 1);
    std::fs::write(dir.path().join("data"), &data).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    // The log line comes right after `listening on`.
    let logged = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        server.stderr_text().contains(&sock.display().to_string())
    });
    assert!(
        logged,
        "serve logs the socket path:\n{}",
        server.stderr_text()
    );
    rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 0).await;
        let chan = nfs.localio_probe(Some(&sock)).await.expect("local");
        let (fh, meta) = nfs.lookup("/data").await.unwrap();
        let f = chan
            .open(fh.as_bytes(), Access::Read, &nfs.localio_creds())
            .await
            .expect("open");
        assert_eq!(f.size, meta.size);
        assert_eq!(f.access, Access::Read);
        if let Some(d) = &f.direct {
            let flags = rustix::fs::fcntl_getfl(d).unwrap();
            assert!(flags.contains(rustix::fs::OFlags::DIRECT));
        }
        let mut got = Vec::new();
        std::fs::File::from(f.buffered)
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == data, "contents through the LOCALIO fd");
        // Directories are not opened; forged handles are refused.
        let (dh, _) = nfs.lookup("/sub").await.unwrap();
        let e = chan
            .open(dh.as_bytes(), Access::Read, &root())
            .await
            .unwrap_err();
        assert_eq!(e.nfsstat(), Some(Nfsstat3::Inval), "{e}");
        let mut forged = fh.as_bytes().to_vec();
        *forged.last_mut().unwrap() ^= 1;
        let e = chan.open(&forged, Access::Read, &root()).await.unwrap_err();
        assert_eq!(e.nfsstat(), Some(Nfsstat3::Badhandle), "{e}");
    });
}

#[test]
fn not_local_without_localio_on_the_server() {
    let dir = tempdir();
    let server = NfslServer::start_with_args(dir.path(), "rw,no_root_squash", &["--no-localio"]);
    assert!(!server.localio_socket().exists());
    rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 0).await;
        let e = nfs.uuid_is_local(&Nonce::random()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Rpc, "{e}");
        assert!(matches!(
            e,
            nfsl_client::Error::Rpc {
                error: RpcError::ProgUnavail,
                ..
            }
        ));
        let e = nfs
            .localio_probe(Some(&server.localio_socket()))
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            NotLocal::Channel(LocalioError::Unreachable { .. })
        ));
        // The NFS side still works.
        nfs.stat("/").await.unwrap();
    });
}

#[test]
fn not_local_against_ganesha() {
    if !ganesha_available() {
        return;
    }
    let gdir = tempdir();
    let ganesha = Ganesha::start(gdir.path());
    // Our own server's channel, so the client has a nonce to show.
    let dir = tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    rt().block_on(async {
        let nfs = Nfs::mount(
            "127.0.0.1",
            ganesha.nfs_port(),
            ganesha.mount_port(),
            ganesha.export(),
            config(0, 0),
        )
        .await
        .expect("mount ganesha");
        let e = nfs
            .call_raw(LOCALIO_PROGRAM, LOCALIO_V1, 0, &[])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Rpc, "Ganesha has no LOCALIO: {e}");
        let e = nfs.localio_probe(None).await.unwrap_err();
        assert!(matches!(e, NotLocal::Channel(_)), "{e}");
        // A nonce shown to nfsl and sent to Ganesha is never confirmed.
        let reg = Connected::connect(server.localio_socket())
            .await
            .unwrap()
            .register()
            .await
            .unwrap();
        assert!(nfs.uuid_is_local(&reg.nonce()).await.is_err());
        assert!(matches!(
            reg.confirm().await,
            Err(LocalioError::NotConfirmed)
        ));
        let e = nfs
            .localio_probe(Some(&server.localio_socket()))
            .await
            .unwrap_err();
        assert!(matches!(e, NotLocal::Rpc(_)), "{e}");
        nfs.stat("/").await.expect("Ganesha still serves over RPC");
    });
}

#[test]
fn forged_replayed_and_auth_none_nonces_never_confirm() {
    let dir = tempdir();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let sock = server.localio_socket();
    rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 0).await;
        // NULL answers.
        nfs.call_raw(LOCALIO_PROGRAM, LOCALIO_V1, 0, &[])
            .await
            .unwrap();

        // Forged: UUID_IS_LOCAL names a nonce nobody registered.
        let reg = Connected::connect(&sock)
            .await
            .unwrap()
            .register()
            .await
            .unwrap();
        nfs.uuid_is_local(&Nonce::random()).await.unwrap();
        assert!(matches!(
            reg.confirm().await,
            Err(LocalioError::NotConfirmed)
        ));

        // Replayed: a nonce used in a completed handshake.
        let reg = Connected::connect(&sock)
            .await
            .unwrap()
            .register()
            .await
            .unwrap();
        let used = reg.nonce();
        nfs.uuid_is_local(&used).await.unwrap();
        let _chan = reg.confirm().await.expect("first use confirms");
        nfs.uuid_is_local(&used).await.unwrap();
        let again = Connected::connect(&sock)
            .await
            .unwrap()
            .register_nonce(used)
            .await;
        assert!(matches!(again, Err(LocalioError::Register(_))), "{again:?}");
        let other = Connected::connect(&sock)
            .await
            .unwrap()
            .register()
            .await
            .unwrap();
        nfs.uuid_is_local(&used).await.unwrap();
        assert!(matches!(
            other.confirm_nonce(used).await,
            Err(LocalioError::NotConfirmed)
        ));

        // AUTH_NONE: the call succeeds (void, as Linux) but confirms nothing.
        let reg = Connected::connect(&sock)
            .await
            .unwrap()
            .register()
            .await
            .unwrap();
        let nonce = reg.nonce();
        let port = server.port();
        let reply = tokio::task::spawn_blocking(move || {
            let mut c = RpcClient::connect(port);
            c.cred = Cred::None;
            c.call_raw(LOCALIO_PROGRAM, LOCALIO_V1, 1, &nonce.0)
        })
        .await
        .unwrap();
        assert!(reply.results().is_empty());
        assert!(matches!(
            reg.confirm().await,
            Err(LocalioError::NotConfirmed)
        ));
    });
}

#[test]
fn read_only_export_gives_read_only_fds() {
    let dir = tempdir();
    std::fs::write(dir.path().join("f"), b"read only").unwrap();
    let server = NfslServer::start(dir.path(), "ro,no_root_squash");
    rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 0).await;
        let chan = nfs
            .localio_probe(Some(&server.localio_socket()))
            .await
            .unwrap();
        let (fh, _) = nfs.lookup("/f").await.unwrap();
        let f = chan
            .open(fh.as_bytes(), Access::Read, &root())
            .await
            .unwrap();
        let file = std::fs::File::from(f.buffered);
        let e = file.write_at(b"x", 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        let e = chan
            .open(fh.as_bytes(), Access::ReadWrite, &root())
            .await
            .unwrap_err();
        assert_eq!(e.nfsstat(), Some(Nfsstat3::Rofs), "{e}");
    });
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"read only");
}

#[test]
fn unreadable_file_is_denied_through_both_paths() {
    if !need_root("unreadable_file_is_denied_through_both_paths") {
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 65534).await;
        let chan = nfs
            .localio_probe(Some(&server.localio_socket()))
            .await
            .unwrap();
        let (fh, _) = nfs.lookup("/secret").await.unwrap();
        let creds = nfs.localio_creds();
        assert_eq!(creds.uid, 65534);
        let e = chan
            .open(fh.as_bytes(), Access::Read, &creds)
            .await
            .unwrap_err();
        assert!(e.is_permission_denied(), "{e}");
        let rpc = nfs.open_handle(fh.clone());
        let mut buf = [0u8; 4];
        let e = rpc.read_at(&mut buf, 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        // root (no_root_squash) may.
        chan.open(fh.as_bytes(), Access::Read, &root())
            .await
            .unwrap();
    });
}

#[test]
fn local_writes_read_back_identical_over_rpc() {
    let dir = tempdir();
    std::fs::write(dir.path().join("w"), b"").unwrap();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let data = pseudo_random_bytes(300_001, 7);
    rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 0).await;
        let chan = nfs
            .localio_probe(Some(&server.localio_socket()))
            .await
            .unwrap();
        let (fh, _) = nfs.lookup("/w").await.unwrap();
        let f = chan
            .open(fh.as_bytes(), Access::ReadWrite, &root())
            .await
            .unwrap();
        let file = std::fs::File::from(f.buffered);
        file.write_all_at(&data, 0).unwrap();
        file.sync_all().unwrap();
        let rpc = nfs.open_handle(fh);
        let mut back = Vec::new();
        rpc.read_to_end(&mut back).await.unwrap();
        assert!(back == data, "RPC reads what LOCALIO wrote");
        // And the other way: RPC writes, the LOCALIO fd sees them.
        rpc.write_at(b"RPC", 10).await.unwrap();
        rpc.sync().await.unwrap();
        let mut three = [0u8; 3];
        file.read_exact_at(&mut three, 10).unwrap();
        assert_eq!(&three, b"RPC");
    });
}

/// Environment variable that turns [`setuid_helper`] into the child.
const HELPER_ENV: &str = "NFSL_LOCALIO_HELPER_SOCKET";

/// A non-root peer (this test binary re-run as a child that drops to
/// uid 65534 before connecting) may open as itself but not as root.
#[test]
fn non_root_peer_cannot_claim_root() {
    if !need_root("non_root_peer_cannot_claim_root") {
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("pub"), b"anyone").unwrap();
    std::fs::set_permissions(
        dir.path().join("pub"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = NfslServer::start(dir.path(), "rw,no_root_squash");
    let fh = rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 0).await;
        nfs.lookup("/pub").await.unwrap().0
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "setuid_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, server.localio_socket())
        .env("NFSL_LOCALIO_HELPER_FH", hex(fh.as_bytes()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let nonce = loop {
        let line = lines.next().expect("helper output").unwrap();
        // libtest prints `test setuid_helper ... ` without a newline first.
        if let Some((_, n)) = line.split_once("NONCE ") {
            break n.trim().to_string();
        }
    };
    let nonce = Nonce(unhex(&nonce).try_into().unwrap());
    rt().block_on(async {
        let nfs = mount(server.port(), server.export(), 65534).await;
        nfs.uuid_is_local(&nonce).await.unwrap();
    });
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let results: Vec<String> = lines
        .map_while(|l| l.ok())
        .filter_map(|l| l.find("RESULT ").map(|i| l[i..].to_string()))
        .collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        results,
        [
            "RESULT as-self ok anyone",
            "RESULT as-root refused Some(Perm)"
        ],
        "helper output"
    );
}

/// The child side of [`non_root_peer_cannot_claim_root`]; does nothing
/// when run as an ordinary test.
#[test]
fn setuid_helper() {
    let Some(sock) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let fh = unhex(&std::env::var("NFSL_LOCALIO_HELPER_FH").unwrap());
    use rustix::process::{Gid, Uid};
    // This thread only (credentials are per thread for raw syscalls);
    // the runtime below runs on it, so the socket's SO_PEERCRED is 65534.
    rustix::thread::set_thread_groups(&[]).unwrap();
    let nobody_g = Gid::from_raw(65534);
    rustix::thread::set_thread_res_gid(nobody_g, nobody_g, nobody_g).unwrap();
    let nobody = Uid::from_raw(65534);
    rustix::thread::set_thread_res_uid(nobody, nobody, nobody).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let reg = Connected::connect(Path::new(&sock))
            .await
            .unwrap()
            .register()
            .await
            .unwrap();
        say(&format!("NONCE {}", hex(&reg.nonce().0)));
        let mut go = String::new();
        std::io::stdin().read_line(&mut go).unwrap();
        let chan = reg.confirm().await.expect("confirmed");
        let me = Creds {
            uid: 65534,
            gid: 65534,
            gids: vec![],
        };
        match chan.open(&fh, Access::Read, &me).await {
            Ok(f) => {
                let mut s = String::new();
                std::fs::File::from(f.buffered)
                    .read_to_string(&mut s)
                    .unwrap();
                say(&format!("RESULT as-self ok {s}"));
            }
            Err(e) => say(&format!("RESULT as-self error {e}")),
        }
        match chan.open(&fh, Access::Read, &root()).await {
            Ok(_) => say("RESULT as-root opened"),
            Err(e) => say(&format!("RESULT as-root refused {:?}", e.nfsstat())),
        }
    });
}

/// A line straight to the process's stdout (the test harness's output
/// capture only catches `print!`), flushed for the parent to read.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `root_squash` maps a claimed root to the anonymous uid, which may not
/// read a root-only file; `secure` needs the confirming NFS connection to
/// come from a privileged port, as for RPC.
#[test]
fn root_squash_and_secure_apply_to_opens() {
    if !need_root("root_squash_and_secure_apply_to_opens") {
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = NfslServer::start(dir.path(), "rw,root_squash,secure");
    let sock = server.localio_socket();
    let port = server.port();
    rt().block_on(async {
        let nfs = mount(port, server.export(), 0).await;
        let chan = nfs.localio_probe(Some(&sock)).await.expect("local");
        let (fh, _) = nfs.lookup("/secret").await.unwrap();
        let e = chan
            .open(fh.as_bytes(), Access::Read, &root())
            .await
            .unwrap_err();
        assert!(e.is_permission_denied(), "root is squashed: {e}");

        // Confirmed from an unprivileged port: opens refused (PERM).
        let reg = Connected::connect(&sock)
            .await
            .unwrap()
            .register()
            .await
            .unwrap();
        let nonce = reg.nonce();
        tokio::task::spawn_blocking(move || {
            let mut c = RpcClient::connect(port);
            assert!(c.local_port() >= 1024);
            c.call_raw(LOCALIO_PROGRAM, LOCALIO_V1, 1, &nonce.0)
        })
        .await
        .unwrap();
        let chan = reg.confirm().await.expect("confirmed");
        let e = chan
            .open(fh.as_bytes(), Access::Read, &root())
            .await
            .unwrap_err();
        assert_eq!(e.nfsstat(), Some(Nfsstat3::Perm), "{e}");
    });
}
