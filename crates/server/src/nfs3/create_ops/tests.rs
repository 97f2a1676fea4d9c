//! CREATE, MKDIR, SYMLINK, MKNOD and LINK through the NFSv3 dispatcher.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use crate::testkit::*;

fn create(s: &Kit, name: &str, how: CreateHow3) -> Create3Res {
    s.nfs(
        Nfs3Procedure::Create,
        &Create3Args {
            location: dirop(&s.root(), name),
            how,
        },
    )
}

fn mode(m: u32) -> Sattr3 {
    Sattr3 {
        mode: Some(m),
        ..Sattr3::default()
    }
}

/// The new object's handle, attributes and the directory's wcc data.
fn ok(r: NfsResult<NewObject3ResOk, WccData>) -> (NfsFh3, Fattr3, WccData) {
    match r {
        NfsResult::Ok(ok) => (
            ok.obj.expect("handle"),
            ok.obj_attributes.expect("attrs"),
            ok.dir_wcc,
        ),
        NfsResult::Err(s, _) => panic!("failed: {s:?}"),
    }
}

#[test]
fn exclusive_create_is_retransmission_safe() {
    let s = Kit::new(RW, |_| {});
    let (fh, a, wcc) = ok(create(&s, "x", CreateHow3::Exclusive(*b"verf-one")));
    assert!(wcc.before.is_some() && wcc.after.is_some());
    assert_eq!((a.ftype, a.size, a.mode), (Ftype3::Reg, 0, 0o644));
    assert_eq!(fh, s.handle("x"));
    let (fh2, a2, _) = ok(create(&s, "x", CreateHow3::Exclusive(*b"verf-one")));
    assert_eq!((fh2, a2.fileid), (fh, a.fileid));
    let r = create(&s, "x", CreateHow3::Exclusive(*b"verf-two"));
    assert!(matches!(
        r,
        NfsResult::Err(
            Nfsstat3::Exist,
            WccData {
                before: Some(_),
                ..
            }
        )
    ));

    // Once written, the same verifier no longer matches.
    fs::write(s.path().join("x"), b"data").unwrap();
    let r = create(&s, "x", CreateHow3::Exclusive(*b"verf-one"));
    assert_eq!(r.status(), Nfsstat3::Exist);
}

#[test]
fn guarded_and_unchecked_create() {
    let s = Kit::new(RW, |_| {});
    let (_, a, _) = ok(create(&s, "g", CreateHow3::Guarded(mode(0o664))));
    assert_eq!(a.mode, 0o664, "no umask applied");
    let r = create(&s, "g", CreateHow3::Guarded(mode(0o664)));
    assert_eq!(r.status(), Nfsstat3::Exist);

    fs::write(s.path().join("u"), b"some content").unwrap();
    fs::set_permissions(s.path().join("u"), fs::Permissions::from_mode(0o644)).unwrap();
    // UNCHECKED on an existing file keeps its data unless a size is given.
    let (fh, a, _) = ok(create(&s, "u", CreateHow3::Unchecked(mode(0o600))));
    assert_eq!((a.size, a.mode & 0o777), (12, 0o644));
    assert_eq!(fh, s.handle("u"));
    let truncate = Sattr3 {
        size: Some(0),
        mtime: SetTime::ClientTime(Nfstime3 {
            seconds: 5,
            nseconds: 0,
        }),
        ..mode(0o600)
    };
    let (_, a, _) = ok(create(&s, "u", CreateHow3::Unchecked(truncate)));
    assert_eq!((a.size, a.mode), (0, 0o644));
    assert_ne!(a.mtime.seconds, 5);
    let grow = Sattr3 {
        size: Some(3),
        ..Sattr3::default()
    };
    let (_, a, _) = ok(create(&s, "new", CreateHow3::Unchecked(grow)));
    assert_eq!((a.size, a.mode), (3, 0o644));

    fs::create_dir(s.path().join("d")).unwrap();
    let r = create(&s, "d", CreateHow3::Unchecked(Sattr3::default()));
    assert_eq!(r.status(), Nfsstat3::Exist);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        s.path().join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )
    .unwrap();
    let r = create(&s, "fifo", CreateHow3::Unchecked(Sattr3::default()));
    assert_eq!(
        r.status(),
        Nfsstat3::Exist,
        "an existing FIFO is not opened"
    );
}

#[test]
fn creation_belongs_to_the_caller() {
    let s = Kit::new(RW, |_| {});
    fs::set_permissions(s.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let how = CreateHow3::Guarded(Sattr3 {
        uid: Some(1000),
        ..mode(0o640)
    });
    let r: Create3Res = s.nfs_as(
        1000,
        1000,
        Nfs3Procedure::Create,
        &Create3Args {
            location: dirop(&s.root(), "f"),
            how,
        },
    );
    let (_, a, _) = ok(r);
    assert_eq!((a.uid, a.gid, a.mode), (1000, 1000, 0o640));
    // Giving the file away is the kernel's call: refused, file remains.
    let how = CreateHow3::Guarded(Sattr3 {
        uid: Some(0),
        ..Sattr3::default()
    });
    let mut args = Create3Args {
        location: dirop(&s.root(), "g"),
        how,
    };
    let r: Create3Res = s.nfs_as(1000, 1000, Nfs3Procedure::Create, &args);
    assert_eq!(r.status(), Nfsstat3::Perm);
    fs::set_permissions(s.path(), fs::Permissions::from_mode(0o755)).unwrap();
    args.location.name = Filename3(b"h".to_vec());
    let r: Create3Res = s.nfs_as(1000, 1000, Nfs3Procedure::Create, &args);
    assert_eq!(r.status(), Nfsstat3::Acces);
}

#[test]
fn mkdir_symlink_mknod() {
    let s = Kit::new(RW, |_| {});
    let root = s.root();
    let mkdir = |name: &str, attributes| -> Mkdir3Res {
        s.nfs(
            Nfs3Procedure::Mkdir,
            &Mkdir3Args {
                location: dirop(&root, name),
                attributes,
            },
        )
    };
    let (_, a, _) = ok(mkdir("d", Sattr3::default()));
    assert_eq!((a.ftype, a.mode), (Ftype3::Dir, 0o755));
    // mkdir(2) keeps the sticky bit but not set-group-id (only inherited).
    let times = Sattr3 {
        mtime: SetTime::ClientTime(Nfstime3 {
            seconds: 777,
            nseconds: 0,
        }),
        ..mode(0o3700)
    };
    let (_, a, _) = ok(mkdir("e", times));
    assert_eq!((a.mode, a.mtime.seconds), (0o1700, 777));
    assert_eq!(mkdir("d", Sattr3::default()).status(), Nfsstat3::Exist);
    assert_eq!(mkdir(".", Sattr3::default()).status(), Nfsstat3::Exist);
    assert_eq!(mkdir("..", Sattr3::default()).status(), Nfsstat3::Exist);
    assert_eq!(mkdir("a/b", Sattr3::default()).status(), Nfsstat3::Acces);
    assert_eq!(
        mkdir(&"n".repeat(256), Sattr3::default()).status(),
        Nfsstat3::Nametoolong
    );

    let symlink = |name: &str, data: &[u8]| -> Symlink3Res {
        let args = Symlink3Args {
            location: dirop(&root, name),
            symlink: Symlinkdata3 {
                symlink_attributes: mode(0o600),
                symlink_data: Nfspath3(data.to_vec()),
            },
        };
        s.nfs(Nfs3Procedure::Symlink, &args)
    };
    let (fh, a, _) = ok(symlink("l", b"../../etc/passwd"));
    assert_eq!(a.ftype, Ftype3::Lnk);
    assert_eq!(fh, s.handle("l"));
    assert_eq!(
        fs::read_link(s.path().join("l")).unwrap().to_str(),
        Some("../../etc/passwd")
    );
    assert_eq!(symlink("m", b"a\0b").status(), Nfsstat3::Inval);
    assert_eq!(symlink("m", b"").status(), Nfsstat3::Inval);
    assert_eq!(symlink("m", &[b'x'; 4096]).status(), Nfsstat3::Nametoolong);
    assert_eq!(symlink("l", b"x").status(), Nfsstat3::Exist);

    let mknod = |name: &str, what| -> Mknod3Res {
        s.nfs(
            Nfs3Procedure::Mknod,
            &Mknod3Args {
                location: dirop(&root, name),
                what,
            },
        )
    };
    let (_, a, _) = ok(mknod("fifo", Mknoddata3::Fifo(mode(0o620))));
    assert_eq!((a.ftype, a.mode), (Ftype3::Fifo, 0o620));
    let (_, a, _) = ok(mknod("sock", Mknoddata3::Sock(Sattr3::default())));
    assert_eq!(a.ftype, Ftype3::Sock);
    let dev = Devicedata3 {
        dev_attributes: mode(0o600),
        spec: Specdata3 {
            specdata1: 1,
            specdata2: 3,
        },
    };
    let (_, a, _) = ok(mknod("null", Mknoddata3::Chr(dev.clone())));
    assert_eq!(
        (a.ftype, a.rdev.specdata1, a.rdev.specdata2),
        (Ftype3::Chr, 1, 3)
    );
    assert_eq!(
        mknod("x", Mknoddata3::Other(Ftype3::Reg)).status(),
        Nfsstat3::Badtype
    );
    assert_eq!(
        mknod("x", Mknoddata3::Other(Ftype3::Dir)).status(),
        Nfsstat3::Badtype
    );
    fs::set_permissions(s.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let args = Mknod3Args {
        location: dirop(&root, "blk"),
        what: Mknoddata3::Blk(dev),
    };
    let r: Mknod3Res = s.nfs_as(1000, 1000, Nfs3Procedure::Mknod, &args);
    assert_eq!(r.status(), Nfsstat3::Perm, "devices need CAP_MKNOD");
}

#[test]
fn link_files_and_symlinks_within_one_export() {
    let s = Kit::with_exports(&[RW, RW]);
    fs::write(s.path().join("f"), b"data").unwrap();
    std::os::unix::fs::symlink("f", s.path().join("l")).unwrap();
    fs::create_dir(s.path().join("d")).unwrap();
    let link = |file: NfsFh3, dir: &NfsFh3, name: &str| -> Link3Res {
        s.nfs(
            Nfs3Procedure::Link,
            &Link3Args {
                file,
                link: dirop(dir, name),
            },
        )
    };
    let r = link(s.handle("f"), &s.root(), "f2");
    let NfsResult::Ok(wcc) = r else {
        panic!("LINK: {r:?}")
    };
    assert_eq!(wcc.file_attributes.unwrap().nlink, 2);
    assert!(wcc.linkdir_wcc.before.is_some() && wcc.linkdir_wcc.after.is_some());
    assert_eq!(fs::read(s.path().join("f2")).unwrap(), b"data");

    let r = link(s.handle("l"), &s.root(), "l2");
    assert_eq!(r.status(), Nfsstat3::Ok);
    assert!(fs::symlink_metadata(s.path().join("l2"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::symlink_metadata(s.path().join("l")).unwrap().nlink(), 2);

    assert_eq!(
        link(s.handle("f"), &s.root(), "f2").status(),
        Nfsstat3::Exist
    );
    assert_eq!(
        link(s.handle("f"), &s.root(), "..").status(),
        Nfsstat3::Exist
    );
    assert_eq!(
        link(s.handle("d"), &s.root(), "d2").status(),
        Nfsstat3::Perm
    );
    assert_eq!(
        link(s.handle("f"), &s.handle("f"), "x").status(),
        Nfsstat3::Notdir
    );
    assert_eq!(
        link(s.handle("f"), &s.root_of(1), "f").status(),
        Nfsstat3::Xdev
    );
    assert!(!s.path_of(1).join("f").exists());
}

#[test]
fn read_only_exports_refuse_creation() {
    let s = Kit::new("ro,no_root_squash,insecure", |_| {});
    fs::write(s.path().join("f"), b"").unwrap();
    let root = s.root();
    let r = create(&s, "n", CreateHow3::Unchecked(Sattr3::default()));
    assert_eq!(r.status(), Nfsstat3::Rofs);
    let r: Mkdir3Res = s.nfs(
        Nfs3Procedure::Mkdir,
        &Mkdir3Args {
            location: dirop(&root, "n"),
            attributes: Sattr3::default(),
        },
    );
    assert_eq!(r.status(), Nfsstat3::Rofs);
    let args = Symlink3Args {
        location: dirop(&root, "n"),
        symlink: Symlinkdata3 {
            symlink_attributes: Sattr3::default(),
            symlink_data: Nfspath3(b"x".to_vec()),
        },
    };
    let r: Symlink3Res = s.nfs(Nfs3Procedure::Symlink, &args);
    assert_eq!(r.status(), Nfsstat3::Rofs);
    let args = Mknod3Args {
        location: dirop(&root, "n"),
        what: Mknoddata3::Fifo(Sattr3::default()),
    };
    let r: Mknod3Res = s.nfs(Nfs3Procedure::Mknod, &args);
    assert_eq!(r.status(), Nfsstat3::Rofs);
    let r: Link3Res = s.nfs(
        Nfs3Procedure::Link,
        &Link3Args {
            file: s.handle("f"),
            link: dirop(&root, "n"),
        },
    );
    assert_eq!(r.status(), Nfsstat3::Rofs);
    assert_eq!(fs::read_dir(s.path()).unwrap().count(), 1);
}
