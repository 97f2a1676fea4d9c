//! `nfsl serve` run by an ordinary user (here `nobody`, through setpriv):
//! a warning at start says what that means; by default every client acts
//! as that user (as unfs3 does), so other uids are served instead of
//! failing with NFS3ERR_SERVERFAULT; `--unprivileged own-uid` serves only
//! the server's own uid and refuses the rest with a permission error.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{chown, MetadataExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::cli::{fails, ok, ok_text};
use common::*;

const NOBODY: u32 = 65534;

/// `nfsl serve DIR` as uid/gid 65534; the child and its port.
struct AsNobody(Child, u16);

impl AsNobody {
    fn start(dir: &Path, state: &Path, extra: &[&str]) -> AsNobody {
        let mut child = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_nfsl"))
            .args([
                "serve",
                dir.to_str().unwrap(),
                "-o",
                "rw,no_root_squash,insecure",
            ])
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--no-rpcbind",
                "--no-localio",
            ])
            .arg("--state-dir")
            .arg(state)
            .args(extra)
            .env_remove("XDG_RUNTIME_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("setpriv");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "no listening line: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        AsNobody(child, port)
    }

    fn url(&self, dir: &Path, path: &str, uid: u32) -> String {
        format!(
            "nfs://127.0.0.1{}{path}?version=3&nfsport={p}&mountport={p}&uid={uid}&gid={uid}&localio=off",
            canonical(dir),
            p = self.1
        )
    }

    /// Stops the server; everything it wrote to stderr.
    fn stop(mut self) -> String {
        let _ = self.0.kill();
        let out = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap());
        String::from_utf8_lossy(&out.wait_with_output().unwrap().stderr).into_owned()
    }
}

/// A directory tree owned by nobody: (export, state).
fn nobodys_dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    let (export, state) = (tempdir(), tempdir());
    for d in [export.path(), state.path()] {
        chown(d, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    (export, state)
}

#[test]
fn every_client_acts_as_the_servers_user() {
    if !rustix::process::geteuid().is_root() || !require_peer("setpriv") {
        eprintln!("SKIP: needs root to run the server as nobody");
        return;
    }
    let (export, state) = nobodys_dirs();
    let server = AsNobody::start(export.path(), state.path(), &[]);
    let local = tempdir();
    let f = local.path().join("f");
    std::fs::write(&f, b"from uid 1000").unwrap();
    // uid 1000 is not the server's user: mapped to it, not SERVERFAULT.
    ok(&[
        "cp",
        "-q",
        f.to_str().unwrap(),
        &server.url(export.path(), "/f", 1000),
    ]);
    let meta = std::fs::metadata(export.path().join("f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
    assert_eq!(
        ok_text(&["cat", &server.url(export.path(), "/f", 0)]),
        "from uid 1000"
    );
    let log = server.stop();
    assert!(
        log.contains("not running as root") && log.contains("every client acts as this user"),
        "{log}"
    );
}

#[test]
fn own_uid_mode_refuses_other_users_clearly() {
    if !rustix::process::geteuid().is_root() || !require_peer("setpriv") {
        eprintln!("SKIP: needs root to run the server as nobody");
        return;
    }
    let (export, state) = nobodys_dirs();
    std::fs::write(export.path().join("f"), b"nobody's").unwrap();
    chown(export.path().join("f"), Some(NOBODY), Some(NOBODY)).unwrap();
    let server = AsNobody::start(export.path(), state.path(), &["--unprivileged", "own-uid"]);
    assert_eq!(
        ok_text(&["cat", &server.url(export.path(), "/f", NOBODY)]),
        "nobody's"
    );
    let err = fails(&["cat", &server.url(export.path(), "/f", 1000)]);
    assert!(err.contains("permission denied"), "{err}");
    assert!(!err.contains("SERVERFAULT"), "{err}");
    let log = server.stop();
    assert!(log.contains("only clients sending uid 65534"), "{log}");
}
