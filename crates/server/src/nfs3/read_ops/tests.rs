use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use crate::testkit::{auth_sys, lookup_args, Kit, MAX_IO};

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn kit(options: &str) -> Kit {
    Kit::new(options, |p| {
        std::fs::write(p.join("file"), b"0123456789").unwrap();
        std::fs::create_dir(p.join("dir")).unwrap();
        std::fs::write(p.join("dir/inner"), b"inner").unwrap();
        symlink("/etc/passwd", p.join("link")).unwrap();
        std::fs::write(p.join("secret"), b"s").unwrap();
        chmod(&p.join("secret"), 0o600);
        std::fs::create_dir(p.join("closed")).unwrap();
        std::fs::write(p.join("closed/f"), b"f").unwrap();
        chmod(&p.join("closed"), 0o700);
        chmod(p, 0o755);
    })
}

fn read(k: &Kit, fh: &NfsFh3, offset: u64, count: u32) -> Read3Res {
    k.nfs(
        Nfs3Procedure::Read,
        &Read3Args {
            file: fh.clone(),
            offset,
            count,
        },
    )
}

fn access(k: &Kit, fh: &NfsFh3, bits: u32) -> Result<u32, Nfsstat3> {
    let res: Access3Res = k.nfs(
        Nfs3Procedure::Access,
        &Access3Args {
            object: fh.clone(),
            access: bits,
        },
    );
    match res {
        NfsResult::Ok(ok) => {
            assert!(ok.obj_attributes.is_some());
            Ok(ok.access)
        }
        NfsResult::Err(s, _) => Err(s),
    }
}

const ALL: u32 = 0x3f;

#[test]
fn lookup_dot_dotdot_and_errors() {
    let k = kit("rw,no_root_squash");
    let root = k.root();
    let (dir, dattr) = k.lookup(&root, "dir");
    assert_eq!(dattr.ftype, Ftype3::Dir);
    let (_, up) = k.lookup(&dir, "..");
    let (_, itself) = k.lookup(&dir, ".");
    let (rootup, rootup_attr) = k.lookup(&root, "..");
    assert_eq!(itself.fileid, dattr.fileid);
    assert_eq!(up.fileid, rootup_attr.fileid, "'..' of dir is the root");
    assert_eq!(rootup, root, "'..' of the root is the root's handle");

    let (file, _) = k.lookup(&root, "file");
    let cases: [(&NfsFh3, &[u8], Nfsstat3); 5] = [
        (&root, b"missing", Nfsstat3::Noent),
        (&file, b"x", Nfsstat3::Notdir),
        (&root, &[b'n'; 256], Nfsstat3::Nametoolong),
        (&root, b"a/b", Nfsstat3::Acces),
        (&root, b"", Nfsstat3::Acces),
    ];
    for (dir, name, want) in cases {
        let res: Lookup3Res = k.nfs(
            Nfs3Procedure::Lookup,
            &Lookup3Args {
                what: DirOpArgs3 {
                    dir: dir.clone(),
                    name: Filename3(name.to_vec()),
                },
            },
        );
        match res {
            NfsResult::Err(s, attrs) => {
                assert_eq!(s, want, "{:?}", String::from_utf8_lossy(name));
                assert!(
                    attrs.is_some(),
                    "failure carries the directory's attributes"
                );
            }
            NfsResult::Ok(_) => panic!("LOOKUP {name:?} succeeded"),
        }
    }
}

#[test]
fn lookup_needs_search_permission() {
    let mut k = kit("rw,no_root_squash");
    let root = k.root();
    let (closed, _) = k.lookup(&root, "closed");
    k.auth = auth_sys(4321, 4321);
    let res: Lookup3Res = k.nfs(Nfs3Procedure::Lookup, &lookup_args(&closed, "f"));
    assert_eq!(res.status(), Nfsstat3::Acces);
    let res: Lookup3Res = k.nfs(Nfs3Procedure::Lookup, &lookup_args(&closed, "."));
    assert_eq!(res.status(), Nfsstat3::Acces);
}

#[test]
fn read_ranges_eof_and_caps() {
    let k = kit("rw,no_root_squash");
    let root = k.root();
    let (file, _) = k.lookup(&root, "file");
    let ok = |r: Read3Res| match r {
        NfsResult::Ok(ok) => (ok.data.0, ok.eof, ok.count),
        NfsResult::Err(s, _) => panic!("READ: {s:?}"),
    };
    assert_eq!(ok(read(&k, &file, 0, 4)), (b"0123".to_vec(), false, 4));
    assert_eq!(ok(read(&k, &file, 6, 4)), (b"6789".to_vec(), true, 4));
    assert_eq!(ok(read(&k, &file, 8, 100)), (b"89".to_vec(), true, 2));
    assert_eq!(ok(read(&k, &file, 10, 100)), (vec![], true, 0));
    assert_eq!(ok(read(&k, &file, u64::MAX, u32::MAX)), (vec![], true, 0));
    assert_eq!(ok(read(&k, &file, 0, 0)), (vec![], false, 0));

    // A big file: the count is capped at the maximum I/O size.
    let big: Vec<u8> = (0..MAX_IO as usize + 4096)
        .map(|i| (i % 251) as u8)
        .collect();
    std::fs::write(k.path().join("big"), &big).unwrap();
    let (bigfh, _) = k.lookup(&root, "big");
    let (data, eof, n) = ok(read(&k, &bigfh, 0, u32::MAX));
    assert_eq!((data.len(), eof, n), (MAX_IO as usize, false, MAX_IO));
    assert!(data == big[..MAX_IO as usize]);
    let (data, eof, n) = ok(read(&k, &bigfh, 4097, MAX_IO));
    assert_eq!((eof, n as usize), (true, big.len() - 4097));
    assert!(data == big[4097..]);

    let (dir, _) = k.lookup(&root, "dir");
    let (link, _) = k.lookup(&root, "link");
    for (fh, want) in [(&dir, Nfsstat3::Isdir), (&link, Nfsstat3::Inval)] {
        match read(&k, fh, 0, 10) {
            NfsResult::Err(s, attrs) => {
                assert_eq!(s, want);
                assert!(attrs.is_some());
            }
            NfsResult::Ok(_) => panic!("READ of a non-file succeeded"),
        }
    }
}

#[test]
fn read_permission_owner_override_and_exec() {
    let mut k = kit("rw,no_root_squash");
    let root = k.root();
    let (secret, _) = k.lookup(&root, "secret");
    k.auth = auth_sys(4321, 4321);
    assert_eq!(read(&k, &secret, 0, 10).status(), Nfsstat3::Acces);
    // The owner reads a file whatever its mode.
    let p = k.path().join("secret");
    rustix::fs::chown(&p, Some(rustix::fs::Uid::from_raw(4321)), None).unwrap();
    chmod(&p, 0o000);
    assert_eq!(read(&k, &secret, 0, 10).status(), Nfsstat3::Ok);
    // Execute permission is enough to read.
    rustix::fs::chown(&p, Some(rustix::fs::Uid::from_raw(0)), None).unwrap();
    chmod(&p, 0o711);
    assert_eq!(read(&k, &secret, 0, 10).status(), Nfsstat3::Ok);
}

#[test]
fn access_is_what_the_kernel_allows() {
    let mut k = kit("rw,no_root_squash");
    let root = k.root();
    let (file, _) = k.lookup(&root, "file");
    let (secret, _) = k.lookup(&root, "secret");
    let (closed, _) = k.lookup(&root, "closed");
    let (link, _) = k.lookup(&root, "link");
    chmod(&k.path().join("file"), 0o644);

    // Root (not squashed): everything but execute of a non-executable.
    assert_eq!(
        access(&k, &file, ALL),
        Ok(ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND)
    );
    let dir_bits = ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
    assert_eq!(access(&k, &root, ALL), Ok(dir_bits));
    assert_eq!(access(&k, &link, ALL), Ok(ACCESS3_READ));
    assert_eq!(
        access(&k, &file, ACCESS3_EXTEND),
        Ok(ACCESS3_EXTEND),
        "only bits asked"
    );

    k.auth = auth_sys(4321, 4321);
    assert_eq!(access(&k, &file, ALL), Ok(ACCESS3_READ));
    assert_eq!(access(&k, &secret, ALL), Ok(0));
    assert_eq!(access(&k, &closed, ALL), Ok(0));
    assert_eq!(access(&k, &root, ALL), Ok(ACCESS3_READ | ACCESS3_LOOKUP));
}

#[test]
fn access_on_a_read_only_export_grants_no_changes() {
    let k = kit("ro,no_root_squash");
    let root = k.root();
    let (file, _) = k.lookup(&root, "file");
    assert_eq!(access(&k, &root, ALL), Ok(ACCESS3_READ | ACCESS3_LOOKUP));
    assert_eq!(access(&k, &file, ALL), Ok(ACCESS3_READ));
}

#[test]
fn getattr_and_readlink() {
    let k = kit("rw,no_root_squash");
    let root = k.root();
    let (link, lattr) = k.lookup(&root, "link");
    assert_eq!((lattr.ftype, lattr.size), (Ftype3::Lnk, 11));
    let res: Readlink3Res = k.nfs(Nfs3Procedure::Readlink, &Readlink3Args { symlink: link });
    match res {
        NfsResult::Ok(ok) => {
            assert_eq!(ok.data.0, b"/etc/passwd");
            assert!(ok.symlink_attributes.is_some());
        }
        NfsResult::Err(s, _) => panic!("READLINK: {s:?}"),
    }
    let res: Readlink3Res = k.nfs(
        Nfs3Procedure::Readlink,
        &Readlink3Args {
            symlink: root.clone(),
        },
    );
    assert_eq!(res.status(), Nfsstat3::Inval);

    let res: Getattr3Res = k.nfs(Nfs3Procedure::Getattr, &Getattr3Args { object: root });
    let NfsResult::Ok(ok) = res else {
        panic!("GETATTR")
    };
    assert_eq!(ok.obj_attributes.ftype, Ftype3::Dir);
    assert_eq!(ok.obj_attributes.mode, 0o755);
    let res: Getattr3Res = k.nfs(
        Nfs3Procedure::Getattr,
        &Getattr3Args {
            object: NfsFh3(vec![1; 40]),
        },
    );
    assert!(matches!(
        res.status(),
        Nfsstat3::Badhandle | Nfsstat3::Stale
    ));
}

/// A client holding the handle of a directory that is moved out of the
/// export cannot LOOKUP `..` out of it (issue 11, item 8); with
/// `subtree_check` the moved directory and files below it are STALE for
/// every request, while files still inside work.
#[test]
fn dotdot_of_a_directory_moved_out_is_stale() {
    for options in ["rw,no_root_squash", "rw,no_root_squash,subtree_check"] {
        let k = kit(options);
        let dir = k.handle("dir");
        let inner = k.handle("dir/inner");
        let file = k.handle("file");
        let outside = tempfile::tempdir().unwrap();
        std::fs::rename(k.path().join("dir"), outside.path().join("dir")).unwrap();
        let res: Lookup3Res = k.nfs(Nfs3Procedure::Lookup, &lookup_args(&dir, ".."));
        let subtree = options.contains("subtree_check");
        match res {
            NfsResult::Err(Nfsstat3::Stale, _) => {}
            other => panic!("{options}: LOOKUP .. gave {other:?}"),
        }
        let got: Getattr3Res = k.nfs(
            Nfs3Procedure::Getattr,
            &Getattr3Args {
                object: inner.clone(),
            },
        );
        assert_eq!(
            matches!(got, NfsResult::Err(Nfsstat3::Stale, _)),
            subtree,
            "{options}: GETATTR of a file moved out: {got:?}"
        );
        assert!(
            matches!(read(&k, &file, 0, 4), NfsResult::Ok(_)),
            "{options}"
        );
        let up: Lookup3Res = k.nfs(
            Nfs3Procedure::Lookup,
            &lookup_args(&k.handle("closed"), ".."),
        );
        assert!(matches!(up, NfsResult::Ok(_)), "{options}");
    }
}
