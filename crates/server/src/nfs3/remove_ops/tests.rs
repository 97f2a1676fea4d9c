//! REMOVE, RMDIR and RENAME through the NFSv3 dispatcher.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use crate::testkit::*;

fn remove(s: &Kit, dir: &NfsFh3, name: &str) -> Nfsstat3 {
    let r: Remove3Res = s.nfs(
        Nfs3Procedure::Remove,
        &Remove3Args {
            object: dirop(dir, name),
        },
    );
    r.status()
}

fn rmdir(s: &Kit, dir: &NfsFh3, name: &str) -> Nfsstat3 {
    let r: Rmdir3Res = s.nfs(
        Nfs3Procedure::Rmdir,
        &Rmdir3Args {
            object: dirop(dir, name),
        },
    );
    r.status()
}

fn rename(s: &Kit, from: &NfsFh3, fname: &str, to: &NfsFh3, tname: &str) -> Rename3Res {
    s.nfs(
        Nfs3Procedure::Rename,
        &Rename3Args {
            from: dirop(from, fname),
            to: dirop(to, tname),
        },
    )
}

#[test]
fn remove_and_rmdir() {
    let s = Kit::new(RW, |_| {});
    let root = s.root();
    fs::write(s.path().join("f"), b"").unwrap();
    fs::create_dir_all(s.path().join("d/sub")).unwrap();
    let r: Remove3Res = s.nfs(
        Nfs3Procedure::Remove,
        &Remove3Args {
            object: dirop(&root, "f"),
        },
    );
    let NfsResult::Ok(ok) = r else {
        panic!("REMOVE: {r:?}")
    };
    assert!(ok.dir_wcc.before.is_some() && ok.dir_wcc.after.is_some());
    assert!(!s.path().join("f").exists());
    assert_eq!(remove(&s, &root, "f"), Nfsstat3::Noent);
    assert_eq!(remove(&s, &root, "d"), Nfsstat3::Isdir);
    assert_eq!(remove(&s, &root, "."), Nfsstat3::Inval);
    assert_eq!(remove(&s, &root, "a/b"), Nfsstat3::Acces);
    assert_eq!(remove(&s, &root, &"n".repeat(256)), Nfsstat3::Nametoolong);

    assert_eq!(rmdir(&s, &root, "d"), Nfsstat3::Notempty);
    let d = s.handle("d");
    assert_eq!(rmdir(&s, &d, "."), Nfsstat3::Inval);
    assert_eq!(rmdir(&s, &d, ".."), Nfsstat3::Inval);
    assert_eq!(rmdir(&s, &d, "sub"), Nfsstat3::Ok);
    fs::write(s.path().join("d/file"), b"").unwrap();
    assert_eq!(rmdir(&s, &d, "file"), Nfsstat3::Notdir);
    assert_eq!(remove(&s, &d, "file"), Nfsstat3::Ok);
    assert_eq!(rmdir(&s, &root, "d"), Nfsstat3::Ok);
    assert_eq!(fs::read_dir(s.path()).unwrap().count(), 0);
}

#[test]
fn sticky_directories_protect_other_users_files() {
    let s = Kit::new(RW, |_| {});
    fs::set_permissions(s.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(s.path().join("roots"), b"").unwrap();
    let args = Remove3Args {
        object: dirop(&s.root(), "roots"),
    };
    let r: Remove3Res = s.nfs_as(1000, 1000, Nfs3Procedure::Remove, &args);
    assert_eq!(r.status(), Nfsstat3::Perm);
    assert!(s.path().join("roots").exists());
}

#[test]
fn rename_within_and_across_exports() {
    let s = Kit::with_exports(&[RW, RW]);
    let root = s.root();
    fs::write(s.path().join("a"), b"A").unwrap();
    fs::write(s.path().join("b"), b"B").unwrap();
    fs::create_dir_all(s.path().join("d/full")).unwrap();
    fs::create_dir(s.path().join("empty")).unwrap();
    fs::write(s.path().join("d/full/x"), b"").unwrap();

    let r = rename(&s, &root, "a", &s.handle("d"), "moved");
    let NfsResult::Ok(wcc) = r else {
        panic!("RENAME: {r:?}")
    };
    assert!(wcc.fromdir_wcc.after.is_some() && wcc.todir_wcc.before.is_some());
    assert_eq!(fs::read(s.path().join("d/moved")).unwrap(), b"A");
    // Over an existing file, and onto itself (via a second link).
    assert_eq!(
        rename(&s, &root, "b", &s.handle("d"), "moved").status(),
        Nfsstat3::Ok
    );
    assert_eq!(fs::read(s.path().join("d/moved")).unwrap(), b"B");
    fs::hard_link(s.path().join("d/moved"), s.path().join("same")).unwrap();
    assert_eq!(
        rename(&s, &root, "same", &s.handle("d"), "moved").status(),
        Nfsstat3::Ok
    );
    assert_eq!(rename(&s, &root, "d", &root, "d").status(), Nfsstat3::Ok);

    assert_eq!(
        rename(&s, &root, "empty", &s.handle("d"), "full").status(),
        Nfsstat3::Notempty
    );
    assert_eq!(
        rename(&s, &root, "d", &s.handle("d/full"), "loop").status(),
        Nfsstat3::Inval
    );
    assert_eq!(
        rename(&s, &root, "nope", &root, "x").status(),
        Nfsstat3::Noent
    );
    assert_eq!(rename(&s, &root, ".", &root, "x").status(), Nfsstat3::Inval);
    assert_eq!(
        rename(&s, &root, "empty", &root, "..").status(),
        Nfsstat3::Inval
    );
    assert_eq!(
        rename(&s, &root, "empty", &root, "a/b").status(),
        Nfsstat3::Acces
    );

    let r = rename(&s, &root, "empty", &s.root_of(1), "empty");
    assert!(matches!(
        r,
        NfsResult::Err(
            Nfsstat3::Xdev,
            Rename3Wcc {
                fromdir_wcc: WccData {
                    before: Some(_),
                    ..
                },
                ..
            }
        )
    ));
    assert!(s.path().join("empty").exists());
}

#[test]
fn read_only_exports_refuse_removal() {
    let s = Kit::new("ro,no_root_squash,insecure", |_| {});
    let root = s.root();
    fs::write(s.path().join("f"), b"").unwrap();
    fs::create_dir(s.path().join("d")).unwrap();
    assert_eq!(remove(&s, &root, "f"), Nfsstat3::Rofs);
    assert_eq!(rmdir(&s, &root, "d"), Nfsstat3::Rofs);
    assert_eq!(rename(&s, &root, "f", &root, "g").status(), Nfsstat3::Rofs);
    assert!(s.path().join("f").exists() && s.path().join("d").exists());
}
