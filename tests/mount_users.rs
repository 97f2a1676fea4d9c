//! Multi-user correctness of `nfsl mount -o allow_other`: every request
//! goes to the server as the calling process's uid, gid and supplementary
//! groups, so the server's permission checks apply to each user: two
//! users cannot read each other's mode 0600 files, a group member reads a
//! 0640 file and a non-member does not, and files are owned by whoever
//! created them. Run for the passthrough and the daemon IO paths.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;

/// Runs `sh -c script` as `uid`/`gid` with supplementary `groups`;
/// returns (success, stdout + stderr).
fn as_user(uid: u32, gid: u32, groups: &[u32], script: &str) -> (bool, String) {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"));
    if groups.is_empty() {
        cmd.arg("--clear-groups");
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        cmd.arg(format!("--groups={}", list.join(",")));
    }
    let out = cmd.args(["sh", "-c", script]).output().expect("setpriv");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

const ALICE: u32 = 41001;
const BOB: u32 = 41002;
const TEAM: u32 = 43000;

fn check_users(mnt: &Path, export: &Path, mount: &FuseMount) {
    let q = |p: &str| format!("'{}'", mnt.join(p).display());
    // Each creates a private file through the mount.
    let (ok, out) = as_user(
        ALICE,
        ALICE,
        &[],
        &format!("umask 077; echo alice-secret > {}", q("a")),
    );
    assert!(ok, "alice writes: {out}\n{}", mount.log());
    let (ok, out) = as_user(
        BOB,
        BOB,
        &[],
        &format!("umask 077; echo bob-secret > {}", q("b")),
    );
    assert!(ok, "bob writes: {out}");
    // The server made them, as those users.
    let a = fs::metadata(export.join("a")).unwrap();
    assert_eq!((a.uid(), a.gid(), a.mode() & 0o777), (ALICE, ALICE, 0o600));
    let b = fs::metadata(export.join("b")).unwrap();
    assert_eq!((b.uid(), b.gid(), b.mode() & 0o777), (BOB, BOB, 0o600));
    // Each reads their own, not the other's.
    let (ok, out) = as_user(ALICE, ALICE, &[], &format!("cat {}", q("a")));
    assert!(ok && out.contains("alice-secret"), "{out}");
    let (ok, out) = as_user(BOB, BOB, &[], &format!("cat {}", q("a")));
    assert!(
        !ok && out.contains("Permission denied"),
        "bob read alice's file: {out}"
    );
    let (ok, out) = as_user(ALICE, ALICE, &[], &format!("cat {}", q("b")));
    assert!(
        !ok && out.contains("Permission denied"),
        "alice read bob's file: {out}"
    );
    let (ok, out) = as_user(BOB, BOB, &[], &format!("echo x >> {}", q("a")));
    assert!(
        !ok && out.contains("Permission denied"),
        "bob wrote alice's file: {out}"
    );
    let (ok, out) = as_user(
        BOB,
        BOB,
        &[],
        &format!("rm -f {}; chmod 777 {}", q("a"), q("a")),
    );
    assert!(!ok, "bob changed alice's file: {out}");
    assert_eq!(fs::read(export.join("a")).unwrap(), b"alice-secret\n");
    // Supplementary groups: a team file readable by the group only.
    fs::write(export.join("team"), b"team-data").unwrap();
    std::os::unix::fs::chown(export.join("team"), Some(0), Some(TEAM)).unwrap();
    fs::set_permissions(export.join("team"), fs::Permissions::from_mode(0o640)).unwrap();
    let (ok, out) = as_user(ALICE, ALICE, &[TEAM], &format!("cat {}", q("team")));
    assert!(ok && out.contains("team-data"), "a group member: {out}");
    let (ok, out) = as_user(BOB, BOB, &[], &format!("cat {}", q("team")));
    assert!(
        !ok && out.contains("Permission denied"),
        "a non-member: {out}"
    );
    assert!(mount.stat("sessions") >= 3, "{}", mount.stats());
}

fn run(options: &str) {
    if !fuse_available() || !need_root("mount_users") {
        return;
    }
    let export = disk_tempdir();
    // Sticky, as /tmp: only a file's owner may remove it.
    fs::set_permissions(export.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let url = format!(
        "{}&localio-socket={}",
        server.url(""),
        server.localio_socket().display()
    );
    let mount = FuseMount::mount(&url, options);
    check_users(mount.path(), export.path(), &mount);
}

#[test]
fn users_cannot_read_each_others_files_through_passthrough() {
    run("allow_other");
}

#[test]
fn users_cannot_read_each_others_files_through_the_daemon() {
    run("allow_other,passthrough=off");
}

#[test]
fn users_cannot_read_each_others_files_over_rpc() {
    run("allow_other,localio=off");
}
