//! LOCALIO handshake and fd passing against the real `nfsl serve`: the
//! handshake succeeds on the same host and fails (staying on RPC) against
//! Ganesha, with `--no-localio`, with a forged or replayed nonce and with
//! AUTH_NONE; opens honour `ro`, file permissions and the peer's real uid;
//! data written through a LOCALIO fd reads back identical over RPC.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use nfsl_client::localio::client::{Connected, Registered};
use nfsl_client::localio::{Access, Creds, LocalFile, LocalioChannel, LocalioError, Nonce};
use nfsl_client::nfs3::Nfsstat3;
use nfsl_client::{ClientConfig, ErrorKind, FileHandle, Nfs, NotLocal, RpcError};
use nfsl_proto::localio::{LOCALIO_PROGRAM, LOCALIO_V1};

/// Mounts as `uid` (and gid `uid`, no other groups).
fn config(uid: u32) -> ClientConfig {
    ClientConfig {
        uid,
        gid: uid,
        gids: vec![],
        retries: 2,
        ..client_config()
    }
}

/// `nfsl serve` over a fresh export directory, filled before it starts.
struct Served {
    dir: tempfile::TempDir,
    server: NfslServer,
}

impl Served {
    /// Starts `nfsl serve` exporting, with `options`, a directory that
    /// `fill` has put the test's files in.
    fn new(options: &str, fill: impl FnOnce(&Path)) -> Served {
        let dir = tempdir();
        fill(dir.path());
        let server = NfslServer::start(dir.path(), options);
        Served { dir, server }
    }

    /// The server's LOCALIO socket.
    fn sock(&self) -> PathBuf {
        self.server.localio_socket()
    }

    /// Mounts the export as `uid`.
    async fn mount(&self, uid: u32) -> Nfs {
        mount(&self.server, config(uid)).await
    }

    /// Mounts the export as `uid` and completes a LOCALIO handshake
    /// through the server's socket.
    async fn local(&self, uid: u32) -> (Nfs, LocalioChannel) {
        let nfs = self.mount(uid).await;
        let chan = nfs.localio_probe(Some(&self.sock())).await.expect("local");
        (nfs, chan)
    }
}

/// Looks `path` up over NFS and opens its handle through `chan`.
async fn open_path(
    nfs: &Nfs,
    chan: &LocalioChannel,
    path: &str,
    access: Access,
    creds: &Creds,
) -> (FileHandle, Result<LocalFile, LocalioError>) {
    let (fh, _) = nfs.lookup(path).await.unwrap();
    let opened = chan.open(fh.as_bytes(), access, creds).await;
    (fh, opened)
}

/// Connects to the LOCALIO socket and registers a fresh nonce.
async fn register(sock: &Path) -> Registered {
    Connected::connect(sock)
        .await
        .unwrap()
        .register()
        .await
        .unwrap()
}

/// Fills an export directory (mode 0755) with `secret`, a file only root
/// may read.
fn root_only_secret(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, b"root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn root() -> Creds {
    Creds {
        uid: 0,
        gid: 0,
        gids: vec![],
    }
}

#[test]
fn handshake_and_read_open_against_nfsl_serve() {
    let data = pseudo_random_bytes(100_000, 1);
    let served = Served::new("rw,no_root_squash", |dir| {
        std::fs::write(dir.join("data"), &data).unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
    });
    let server = &served.server;
    let sock = served.sock();
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
        let (nfs, chan) = served.local(0).await;
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
        let nfs = mount(&server, config(0)).await;
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
        let nfs = try_mount_ganesha(&ganesha, config(0))
            .await
            .expect("mount ganesha");
        let e = nfs
            .call_raw(LOCALIO_PROGRAM, LOCALIO_V1, 0, &[])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Rpc, "Ganesha has no LOCALIO: {e}");
        let e = nfs.localio_probe(None).await.unwrap_err();
        assert!(matches!(e, NotLocal::NoSocket { .. }), "{e}");
        // A nonce shown to nfsl and sent to Ganesha is never confirmed.
        let reg = register(&server.localio_socket()).await;
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
    let served = Served::new("rw,no_root_squash", |_| {});
    let sock = served.sock();
    rt().block_on(async {
        let nfs = served.mount(0).await;
        // NULL answers.
        nfs.call_raw(LOCALIO_PROGRAM, LOCALIO_V1, 0, &[])
            .await
            .unwrap();

        // Forged: UUID_IS_LOCAL names a nonce nobody registered.
        let reg = register(&sock).await;
        nfs.uuid_is_local(&Nonce::random()).await.unwrap();
        assert!(matches!(
            reg.confirm().await,
            Err(LocalioError::NotConfirmed)
        ));

        // Replayed: a nonce used in a completed handshake.
        let reg = register(&sock).await;
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
        let other = register(&sock).await;
        nfs.uuid_is_local(&used).await.unwrap();
        assert!(matches!(
            other.confirm_nonce(used).await,
            Err(LocalioError::NotConfirmed)
        ));

        // AUTH_NONE: the call succeeds (void, as Linux) but confirms nothing.
        let reg = register(&sock).await;
        let nonce = reg.nonce();
        let port = served.server.port();
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
    let served = Served::new("ro,no_root_squash", |dir| {
        std::fs::write(dir.join("f"), b"read only").unwrap();
    });
    rt().block_on(async {
        let (nfs, chan) = served.local(0).await;
        let (fh, f) = open_path(&nfs, &chan, "/f", Access::Read, &root()).await;
        let f = f.unwrap();
        let file = std::fs::File::from(f.buffered);
        let e = file.write_at(b"x", 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        let e = chan
            .open(fh.as_bytes(), Access::ReadWrite, &root())
            .await
            .unwrap_err();
        assert_eq!(e.nfsstat(), Some(Nfsstat3::Rofs), "{e}");
    });
    assert_eq!(
        std::fs::read(served.dir.path().join("f")).unwrap(),
        b"read only"
    );
}

#[test]
fn unreadable_file_is_denied_through_both_paths() {
    if !need_root("unreadable_file_is_denied_through_both_paths") {
        return;
    }
    let served = Served::new("rw,no_root_squash", root_only_secret);
    rt().block_on(async {
        let (nfs, chan) = served.local(65534).await;
        let creds = nfs.localio_creds();
        assert_eq!(creds.uid, 65534);
        let (fh, e) = open_path(&nfs, &chan, "/secret", Access::Read, &creds).await;
        let e = e.unwrap_err();
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
    let served = Served::new("rw,no_root_squash", |dir| {
        std::fs::write(dir.join("w"), b"").unwrap();
    });
    let data = pseudo_random_bytes(300_001, 7);
    rt().block_on(async {
        let (nfs, chan) = served.local(0).await;
        let (fh, f) = open_path(&nfs, &chan, "/w", Access::ReadWrite, &root()).await;
        let f = f.unwrap();
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
/// uid 65534 before connecting) may open as itself but not as root, nor
/// as itself with a group it is not in (primary or supplementary).
#[test]
fn non_root_peer_cannot_claim_root() {
    if !need_root("non_root_peer_cannot_claim_root") {
        return;
    }
    let served = Served::new("rw,no_root_squash", |dir| {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("pub"), b"anyone").unwrap();
        std::fs::set_permissions(dir.join("pub"), std::fs::Permissions::from_mode(0o644)).unwrap();
    });
    let fh = rt().block_on(async {
        let nfs = served.mount(0).await;
        nfs.lookup("/pub").await.unwrap().0
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "setuid_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, served.sock())
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
        let nfs = served.mount(65534).await;
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
            "RESULT as-root refused Some(Perm)",
            "RESULT gid-0 refused Some(Perm)",
            "RESULT groups-0 refused Some(Perm)"
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
        let reg = register(Path::new(&sock)).await;
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
        // Its own uid with groups it is not in (SO_PEERGROUPS says none).
        for (what, gid, gids) in [("gid-0", 0, vec![]), ("groups-0", 65534, vec![0])] {
            let claim = Creds {
                uid: 65534,
                gid,
                gids,
            };
            match chan.open(&fh, Access::Read, &claim).await {
                Ok(_) => say(&format!("RESULT {what} opened")),
                Err(e) => say(&format!("RESULT {what} refused {:?}", e.nfsstat())),
            }
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
/// come from a privileged port, as for RPC (`UUID_IS_LOCAL` from another
/// port confirms nothing).
#[test]
fn root_squash_and_secure_apply_to_opens() {
    if !need_root("root_squash_and_secure_apply_to_opens") {
        return;
    }
    let served = Served::new("rw,root_squash,secure", root_only_secret);
    let sock = served.sock();
    let port = served.server.port();
    rt().block_on(async {
        let (nfs, chan) = served.local(0).await;
        let (fh, e) = open_path(&nfs, &chan, "/secret", Access::Read, &root()).await;
        let e = e.unwrap_err();
        assert!(e.is_permission_denied(), "root is squashed: {e}");

        // UUID_IS_LOCAL from an unprivileged port obeys `secure` like any
        // other call: it confirms nothing.
        let reg = register(&sock).await;
        let nonce = reg.nonce();
        tokio::task::spawn_blocking(move || {
            let mut c = RpcClient::connect(port);
            assert!(c.local_port() >= 1024);
            c.call_raw(LOCALIO_PROGRAM, LOCALIO_V1, 1, &nonce.0)
        })
        .await
        .unwrap();
        let e = reg.confirm().await.unwrap_err();
        assert!(matches!(e, LocalioError::NotConfirmed), "{e}");
        let _ = fh;
    });
}
