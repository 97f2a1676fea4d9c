//! `nfsl mount` by an ordinary user: the mount goes through the setuid
//! fusermount3 (the user cannot open /dev/fuse nor call mount(2)), the
//! user reads and writes through it, passthrough is reported off (it needs
//! CAP_SYS_ADMIN) while the daemon serves the IO, and the user's own
//! `nfsl umount` unmounts it. The server runs as root; the user is
//! `nobody` (65534), switched to with setpriv.
//!
//! fusermount3 opens /dev/fuse as the user, so that user needs access to
//! it: distributions ship it mode 0666; this machine has it 0600. The test
//! leaves the host's device alone and runs in a private mount namespace
//! where a 0666 node of the same device covers /dev/fuse.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::*;

const NOBODY: u32 = 65534;

/// A private mount namespace in which /dev/fuse is a mode 0666 node of
/// the FUSE device, kept alive by a sleeping holder process.
struct FuseNamespace {
    holder: Child,
    _node_dir: tempfile::TempDir,
}

impl FuseNamespace {
    /// `mode`: of the node that covers /dev/fuse.
    fn new(mode: u32) -> FuseNamespace {
        let node_dir = tempfile::tempdir().unwrap();
        let node = node_dir.path().join("fuse");
        let ok = Command::new("mknod")
            .arg(&node)
            .args(["c", "10", "229"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "mknod");
        fs::set_permissions(&node, fs::Permissions::from_mode(mode)).unwrap();
        // "ready" only once the bind is made inside the new namespace.
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind '{}' /dev/fuse && echo ready && exec sleep 100000",
                node.display()
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "setting up the mount namespace");
        FuseNamespace {
            holder,
            _node_dir: node_dir,
        }
    }

    /// `program` run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()))
            .arg("--")
            .arg(program);
        c
    }

    /// The namespace's /proc/mounts line of `mnt`, if mounted.
    fn mount_line(&self, mnt: &Path) -> Option<String> {
        let want = mnt.to_string_lossy().into_owned();
        fs::read_to_string(format!("/proc/{}/mounts", self.holder.id()))
            .unwrap()
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(want.as_str()))
            .map(str::to_string)
    }
}

impl Drop for FuseNamespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// `nfsl ARGS` as nobody in `ns`, with `state` as its mount state directory.
fn nfsl_as_nobody(ns: &FuseNamespace, state: &Path, args: &[&str]) -> Output {
    ns.command("setpriv")
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(env!("CARGO_BIN_EXE_nfsl"))
        .args(args)
        .env("NFSL_MOUNT_DIR", state)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("running setpriv nfsl")
}

/// `sh -c script` as nobody in `ns`; (success, stdout + stderr).
fn sh_as_nobody(ns: &FuseNamespace, script: &str) -> (bool, String) {
    let out = ns
        .command("setpriv")
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .args(["sh", "-c", script])
        .output()
        .expect("setpriv sh");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Whether fusermount3 is installed; prints SKIP (or panics under
/// `NFSL_REQUIRE_PEERS=1`) when it is not.
fn fusermount3_available() -> bool {
    let found = Command::new("fusermount3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = "SKIP: fusermount3 is missing (apt-get install fuse3)";
        assert!(
            std::env::var("NFSL_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{msg}"
        );
        eprintln!("{msg}");
    }
    found
}

/// Detaches the mount if the test fails before its own umount.
struct Detach<'a>(&'a FuseNamespace, PathBuf);

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        if self.0.mount_line(&self.1).is_some() {
            let _ = self.0.command("umount").arg("-l").arg(&self.1).status();
        }
    }
}

fn owned_by_nobody(p: &Path) {
    chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
}

#[test]
fn an_ordinary_user_mounts_reads_writes_and_unmounts_through_fusermount3() {
    if !fuse_available() || !need_root("mount_fusermount") || !fusermount3_available() {
        return;
    }
    let ns = FuseNamespace::new(0o666);
    let export = disk_tempdir();
    fs::set_permissions(export.path(), fs::Permissions::from_mode(0o755)).unwrap();
    owned_by_nobody(export.path());
    fs::write(export.path().join("hello"), b"hello from the server\n").unwrap();
    fs::set_permissions(
        export.path().join("hello"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // Root squash (the default) is fine: the user is not root.
    let server = NfslServer::start(export.path(), "rw,insecure");
    let url = format!(
        "{}&localio-socket={}",
        server.url(""),
        server.localio_socket().display()
    );

    let top = tempfile::tempdir().unwrap();
    fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mnt = top.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    owned_by_nobody(&mnt);
    let state = top.path().join("state");
    fs::create_dir(&state).unwrap();
    owned_by_nobody(&state);
    let log = || {
        fs::read_dir(&state)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    let _detach = Detach(&ns, mnt.clone());

    let mnt_s = mnt.to_str().unwrap();
    let out = nfsl_as_nobody(&ns, &state, &["mount", &url, mnt_s]);
    assert!(
        out.status.success(),
        "nfsl mount as nobody: {}{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    // Mounted by fusermount3 for that user.
    let line = ns.mount_line(&mnt).expect("the mount is in /proc/mounts");
    assert!(line.contains(" fuse.nfsl "), "{line}");
    assert!(line.contains(&format!("user_id={NOBODY}")), "{line}");

    // The user reads the server's file and writes a new one.
    let q = |p: &str| format!("'{}'", mnt.join(p).display());
    let (ok, text) = sh_as_nobody(&ns, &format!("cat {}", q("hello")));
    assert!(
        ok && text == "hello from the server\n",
        "read: {text}\n{}",
        log()
    );
    let (ok, text) = sh_as_nobody(
        &ns,
        &format!(
            "printf 'written by nobody\\n' > {w} && cat {w}",
            w = q("new")
        ),
    );
    assert!(
        ok && text == "written by nobody\n",
        "write: {text}\n{}",
        log()
    );
    let made = export.path().join("new");
    assert_eq!(fs::read(&made).unwrap(), b"written by nobody\n");
    assert_eq!(fs::metadata(&made).unwrap().uid(), NOBODY);

    // Passthrough is off, said why, and the daemon served the IO.
    let out = nfsl_as_nobody(&ns, &state, &["stats", mnt_s]);
    let stats = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "nfsl stats: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stats.contains("passthrough off (an unprivileged mount: the daemon lacks CAP_SYS_ADMIN)"),
        "{stats}"
    );
    let counter = |k: &str| -> u64 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap_or_else(|| panic!("no {k} in {stats}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(counter("passthrough_opens"), 0, "{stats}");
    assert!(counter("daemon_opens") >= 2, "{stats}");
    let logged = log();
    assert!(logged.contains("through fusermount3"), "{logged}");
    assert_eq!(
        logged.matches("passthrough not used").count(),
        1,
        "reported once: {logged}"
    );

    // The user's own umount: fusermount3 -u, then the daemon exits.
    let out = nfsl_as_nobody(&ns, &state, &["umount", mnt_s]);
    assert!(
        out.status.success(),
        "nfsl umount as nobody: {}{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    assert!(ns.mount_line(&mnt).is_none(), "still mounted");
    assert!(log().contains("unmounted"), "{}", log());
}

#[test]
fn an_ordinary_user_cannot_mount_on_a_directory_of_someone_else() {
    if !fuse_available() || !need_root("mount_fusermount") || !fusermount3_available() {
        return;
    }
    let ns = FuseNamespace::new(0o666);
    let export = disk_tempdir();
    let server = NfslServer::start(export.path(), "rw,insecure");
    let top = tempfile::tempdir().unwrap();
    fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // Root's directory: fusermount3 refuses, and says so in one line.
    let mnt = top.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    fs::set_permissions(&mnt, fs::Permissions::from_mode(0o755)).unwrap();
    let state = top.path().join("state");
    fs::create_dir(&state).unwrap();
    owned_by_nobody(&state);
    let _detach = Detach(&ns, mnt.clone());
    let out = nfsl_as_nobody(
        &ns,
        &state,
        &["mount", &server.url(""), mnt.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "mounted on root's directory");
    assert!(err.contains("fusermount3"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(ns.mount_line(&mnt).is_none());
}

#[test]
fn an_ordinary_user_is_told_when_dev_fuse_is_closed_to_users() {
    if !fuse_available() || !need_root("mount_fusermount") || !fusermount3_available() {
        return;
    }
    let ns = FuseNamespace::new(0o600);
    let export = disk_tempdir();
    let server = NfslServer::start(export.path(), "rw,insecure");
    let top = tempfile::tempdir().unwrap();
    fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mnt = top.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    owned_by_nobody(&mnt);
    let state = top.path().join("state");
    fs::create_dir(&state).unwrap();
    owned_by_nobody(&state);
    let _detach = Detach(&ns, mnt.clone());
    let out = nfsl_as_nobody(
        &ns,
        &state,
        &["mount", &server.url(""), mnt.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "mounted without /dev/fuse access");
    assert!(
        err.contains("failed to open /dev/fuse") && err.contains("not open to this user"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(ns.mount_line(&mnt).is_none());
}

#[test]
fn sigterm_to_an_ordinary_users_daemon_unmounts_through_fusermount3() {
    if !fuse_available() || !need_root("mount_fusermount") || !fusermount3_available() {
        return;
    }
    let ns = FuseNamespace::new(0o666);
    let export = disk_tempdir();
    owned_by_nobody(export.path());
    let server = NfslServer::start(export.path(), "rw,insecure");
    let top = tempfile::tempdir().unwrap();
    fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mnt = top.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    owned_by_nobody(&mnt);
    let state = top.path().join("state");
    fs::create_dir(&state).unwrap();
    owned_by_nobody(&state);
    let _detach = Detach(&ns, mnt.clone());
    let out = nfsl_as_nobody(
        &ns,
        &state,
        &["mount", &server.url(""), mnt.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, text) = sh_as_nobody(&ns, &format!("echo kept > '{}'", mnt.join("f").display()));
    assert!(ok, "{text}");
    let pid: i32 = fs::read_dir(&state)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "pid"))
        .map(|e| {
            fs::read_to_string(e.path())
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .expect("the daemon's pid file");
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    // The daemon unmounts (fusermount3 -u), makes the data durable, exits:
    // its pid file goes last.
    let pid_gone = (0..600).any(|_| {
        let gone = !fs::read_dir(&state)
            .unwrap()
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "pid"));
        if !gone {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        gone
    });
    assert!(pid_gone, "the daemon did not finish after SIGTERM");
    assert!(ns.mount_line(&mnt).is_none(), "still mounted after SIGTERM");
    assert_eq!(fs::read(export.path().join("f")).unwrap(), b"kept\n");
}
