use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Barrier};

use super::switch_probe::{fsgid, fsuid};
use super::*;
use crate::testkit::root_or_skip;

fn opts(list: &str) -> ExportOptions {
    ExportOptions::parse_list(list).unwrap()
}

fn unix(uid: u32, gid: u32, groups: &[u32]) -> CallerIdentity {
    CallerIdentity::Unix {
        uid,
        gid,
        groups: groups.to_vec(),
    }
}

fn creds(uid: u32, gid: u32, groups: &[u32]) -> Credentials {
    Credentials {
        uid,
        gid,
        groups: groups.to_vec(),
    }
}

/// A caller's or a credential's `(uid, gid, groups)`.
type Ids<'a> = (u32, u32, &'a [u32]);

/// Asserts that export `options` give each AUTH_SYS caller the
/// credentials paired with it.
fn assert_maps(options: &str, cases: &[(Ids, Ids)]) {
    let o = opts(options);
    for &((uid, gid, groups), want) in cases {
        assert_eq!(
            o.credentials_for(&unix(uid, gid, groups)),
            creds(want.0, want.1, want.2),
            "{options}: caller {uid}/{gid}/{groups:?}"
        );
    }
}

#[test]
fn root_squash_maps_root_and_group_zero() {
    assert_maps(
        "anonuid=99,anongid=98",
        &[
            ((0, 0, &[0, 5, 0]), (99, 98, &[98, 5, 98])),
            ((1000, 0, &[10]), (1000, 98, &[10])),
            ((0, 100, &[]), (99, 100, &[])),
            ((1000, 100, &[4, 24]), (1000, 100, &[4, 24])),
        ],
    );
}

#[test]
fn no_root_squash_passes_through() {
    assert_maps("no_root_squash", &[((0, 0, &[0, 1]), (0, 0, &[0, 1]))]);
}

#[test]
fn all_squash_and_anonymous() {
    assert_maps(
        "all_squash,anonuid=7,anongid=8",
        &[
            ((1000, 100, &[1, 2]), (7, 8, &[])),
            ((0, 0, &[]), (7, 8, &[])),
        ],
    );
    for list in ["no_root_squash", "root_squash", "all_squash"] {
        let o = opts(list);
        assert_eq!(
            o.credentials_for(&CallerIdentity::Anonymous),
            creds(65534, 65534, &[])
        );
    }
}

#[test]
fn invalid_ids_become_anonymous() {
    let m = u32::MAX;
    assert_maps("no_root_squash", &[((m, m, &[m, 3]), (65534, 65534, &[3]))]);
}

/// A 0755 directory holding a root-owned 0600 `secret`, a 0640 root:4242
/// `group-file`, and a 0777 `pub` directory.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(d.join("secret"), b"s").unwrap();
    fs::set_permissions(d.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(d.join("group-file"), b"g").unwrap();
    fs::set_permissions(d.join("group-file"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(d.join("group-file"), Some(0), Some(4242)).unwrap();
    fs::create_dir(d.join("pub")).unwrap();
    fs::set_permissions(d.join("pub"), fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn read_err(p: &Path) -> Option<ErrorKind> {
    fs::read(p).err().map(|e| e.kind())
}

#[test]
fn assume_switches_this_thread_only() {
    if !root_or_skip() {
        return;
    }
    let dir = fixture();
    let d = dir.path().to_path_buf();
    let barrier = Arc::new(Barrier::new(2));
    let b2 = barrier.clone();
    let d2 = d.clone();
    let user = std::thread::spawn(move || {
        let groups_before = rustix::process::getgroups().unwrap();
        let guard = creds(65534, 65534, &[]).assume().unwrap();
        assert_eq!((fsuid(), fsgid()), (65534, 65534));
        assert_eq!(
            read_err(&d2.join("secret")),
            Some(ErrorKind::PermissionDenied)
        );
        assert_eq!(
            read_err(&d2.join("group-file")),
            Some(ErrorKind::PermissionDenied)
        );
        fs::write(d2.join("pub/new"), b"x").unwrap();
        let m = fs::metadata(d2.join("pub/new")).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
        b2.wait(); // the other thread checks its root access now
        b2.wait();
        drop(guard);
        assert_eq!((fsuid(), fsgid()), (0, 0));
        assert_eq!(rustix::process::getgroups().unwrap(), groups_before);
        assert_eq!(fs::read(d2.join("secret")).unwrap(), b"s");
    });
    barrier.wait();
    // Meanwhile, this thread is still root.
    assert_eq!(fs::read(d.join("secret")).unwrap(), b"s");
    assert_eq!(fsuid(), 0);
    barrier.wait();
    user.join().unwrap();
}

#[test]
fn supplementary_groups_are_applied() {
    if !root_or_skip() {
        return;
    }
    let dir = fixture();
    let d = dir.path().to_path_buf();
    std::thread::spawn(move || {
        {
            let _g = creds(1000, 1000, &[7, 4242]).assume().unwrap();
            assert_eq!(fs::read(d.join("group-file")).unwrap(), b"g");
        }
        {
            let _g = creds(1000, 4242, &[]).assume().unwrap();
            assert_eq!(fs::read(d.join("group-file")).unwrap(), b"g");
        }
        let _g = creds(1000, 1000, &[7]).assume().unwrap();
        assert_eq!(
            read_err(&d.join("group-file")),
            Some(ErrorKind::PermissionDenied)
        );
    })
    .join()
    .unwrap();
}

#[test]
fn root_credentials_keep_capabilities() {
    if !root_or_skip() {
        return;
    }
    let dir = fixture();
    let d = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let _g = creds(0, 0, &[]).assume().unwrap();
        // Owner root, mode 0600: fine for root, and so is a 0000 file.
        fs::set_permissions(d.join("secret"), fs::Permissions::from_mode(0o000)).unwrap();
        assert_eq!(fs::read(d.join("secret")).unwrap(), b"s");
    })
    .join()
    .unwrap();
}

#[test]
fn nested_guards_restore_in_order() {
    if !root_or_skip() {
        return;
    }
    std::thread::spawn(|| {
        let outer = creds(1000, 1001, &[5]).assume().unwrap();
        {
            let _inner = creds(2000, 2001, &[]).assume().unwrap();
            assert_eq!((fsuid(), fsgid()), (2000, 2001));
        }
        assert_eq!((fsuid(), fsgid()), (1000, 1001));
        let g: Vec<u32> = rustix::process::getgroups()
            .unwrap()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        assert_eq!(g, [5]);
        drop(outer);
        assert_eq!((fsuid(), fsgid()), (0, 0));
    })
    .join()
    .unwrap();
}

/// Runs `f` on a thread whose effective set lacks `drop`.
fn without_caps(drop: rustix::thread::CapabilitySet, f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut caps = rustix::thread::capabilities(None).unwrap();
            caps.effective.remove(drop);
            rustix::thread::set_capabilities(None, caps).unwrap();
            f();
        });
    });
}

#[test]
fn assume_fails_cleanly_without_privilege() {
    use rustix::thread::CapabilitySet as Cap;
    if !root_or_skip() {
        return;
    }
    let groups = || rustix::process::getgroups().unwrap();
    // No CAP_SETGID: setgroups fails first; nothing to undo.
    without_caps(Cap::SETGID | Cap::SETUID, || {
        let before = groups();
        let e = creds(1000, 1000, &[5]).assume().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert_eq!((fsuid(), fsgid(), groups()), (0, 0, before));
    });
    // No CAP_SETUID: groups and fsgid change, setfsuid silently does not;
    // the half-done switch is undone.
    without_caps(Cap::SETUID, || {
        let before = groups();
        let e = creds(1000, 1000, &[5]).assume().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!((fsuid(), fsgid(), groups()), (0, 0, before));
    });
}

#[test]
fn assuming_the_current_credentials_needs_no_privilege() {
    use rustix::thread::CapabilitySet as Cap;
    if !root_or_skip() {
        return;
    }
    let current: Vec<u32> = rustix::process::getgroups()
        .unwrap()
        .into_iter()
        .map(|g| g.as_raw())
        .rev()
        .collect();
    // Nothing differs, so nothing is changed (in any order of the groups),
    // and no capability is needed; a real change still fails.
    without_caps(Cap::SETGID | Cap::SETUID, || {
        let g = creds(0, 0, &current).assume().unwrap();
        assert_eq!((fsuid(), fsgid()), (0, 0));
        drop(g);
        let other = (4242..).find(|g| !current.contains(g)).unwrap();
        assert!(creds(0, 0, &[other]).assume().is_err());
    });
}
