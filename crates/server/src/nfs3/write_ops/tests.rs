//! SETATTR, WRITE and COMMIT through the NFSv3 dispatcher.

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::Path;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use crate::testkit::*;

fn write_args(fh: &NfsFh3, offset: u64, data: &[u8], stable: StableHow) -> Write3Args {
    Write3Args {
        file: fh.clone(),
        offset,
        count: data.len() as u32,
        stable,
        data: Data(data.to_vec()),
    }
}

fn setattr_args(fh: &NfsFh3, s: Sattr3) -> Setattr3Args {
    Setattr3Args {
        object: fh.clone(),
        new_attributes: s,
        guard: None,
    }
}

/// COMMIT of the whole file `fh`.
fn commit(s: &Kit, fh: NfsFh3) -> Commit3Res {
    s.nfs(
        Nfs3Procedure::Commit,
        &Commit3Args {
            file: fh,
            offset: 0,
            count: 0,
        },
    )
}

fn set_mode(path: &std::path::Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn write_levels_verifier_and_commit() {
    let s = Kit::new(RW, |_| {});
    fs::write(s.path().join("f"), b"").unwrap();
    let fh = s.handle("f");
    let mut verfs = Vec::new();
    for (i, how) in [
        StableHow::Unstable,
        StableHow::DataSync,
        StableHow::FileSync,
    ]
    .into_iter()
    .enumerate()
    {
        let r: Write3Res = s.nfs(
            Nfs3Procedure::Write,
            &write_args(&fh, i as u64 * 4, b"abcd", how),
        );
        let NfsResult::Ok(ok) = r else {
            panic!("WRITE {how:?}: {r:?}")
        };
        assert_eq!((ok.count, ok.committed), (4, how));
        assert_eq!(ok.file_wcc.after.unwrap().size, (i as u64 + 1) * 4);
        assert!(ok.file_wcc.before.is_some());
        verfs.push(ok.verf);
    }
    assert!(verfs.iter().all(|v| *v == verfs[0]));
    assert_eq!(verfs[0], s.server.shared_for_tests().verifier.0);
    assert_eq!(fs::read(s.path().join("f")).unwrap(), b"abcdabcdabcd");

    let r: Commit3Res = commit(&s, fh);
    let NfsResult::Ok(ok) = r else {
        panic!("COMMIT: {r:?}")
    };
    assert_eq!(ok.verf, verfs[0]);
}

/// Streaming-size writes (uncached on ext4, the temporary directory's file
/// system here; falling back to plain writes on tmpfs, which has no
/// RWF_DONTCACHE) land intact and read back.
#[test]
fn large_writes_on_any_file_system() {
    let mut bases = vec![std::env::temp_dir()];
    if Path::new("/dev/shm").is_dir() {
        bases.push("/dev/shm".into());
    }
    for base in bases {
        let s = Kit::with_exports_in(&base, &[RW]);
        fs::write(s.path().join("f"), b"").unwrap();
        let fh = s.handle("f");
        let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
        for (i, chunk) in data.chunks(300 << 10).enumerate() {
            let how = [StableHow::Unstable, StableHow::FileSync][i % 2];
            let a = write_args(&fh, (i * (300 << 10)) as u64, chunk, how);
            let r: Write3Res = s.nfs(Nfs3Procedure::Write, &a);
            let NfsResult::Ok(ok) = r else {
                panic!("WRITE in {base:?}: {r:?}")
            };
            assert_eq!(ok.count as usize, chunk.len());
        }
        let r: Commit3Res = commit(&s, fh);
        assert_eq!(r.status(), Nfsstat3::Ok);
        assert!(
            fs::read(s.path().join("f")).unwrap() == data,
            "content in {base:?}"
        );
    }
}

#[test]
fn async_exports_report_the_requested_level() {
    let s = Kit::new("rw,no_root_squash,insecure,async", |_| {});
    fs::write(s.path().join("f"), b"").unwrap();
    let fh = s.handle("f");
    let r: Write3Res = s.nfs(
        Nfs3Procedure::Write,
        &write_args(&fh, 0, b"x", StableHow::FileSync),
    );
    assert!(matches!(
        r,
        NfsResult::Ok(Write3ResOk {
            committed: StableHow::FileSync,
            ..
        })
    ));
    let r: Commit3Res = commit(&s, fh);
    assert_eq!(r.status(), Nfsstat3::Ok);
}

#[test]
fn write_checks_count_type_offset_and_uses_count_bytes() {
    let s = Kit::new(RW, |_| {});
    fs::write(s.path().join("f"), b"").unwrap();
    fs::create_dir(s.path().join("d")).unwrap();
    std::os::unix::fs::symlink("f", s.path().join("l")).unwrap();
    let fh = s.handle("f");

    let mut a = write_args(&fh, 0, b"abcdef", StableHow::Unstable);
    a.count = 3;
    let r: Write3Res = s.nfs(Nfs3Procedure::Write, &a);
    assert!(
        matches!(r, NfsResult::Ok(Write3ResOk { count: 3, .. })),
        "{r:?}"
    );
    assert_eq!(fs::read(s.path().join("f")).unwrap(), b"abc");

    a.count = 7;
    let r: Write3Res = s.nfs(Nfs3Procedure::Write, &a);
    assert_eq!(r.status(), Nfsstat3::Inval, "count beyond the data");

    let a = write_args(&fh, u64::MAX, b"x", StableHow::Unstable);
    let r: Write3Res = s.nfs(Nfs3Procedure::Write, &a);
    assert_eq!(r.status(), Nfsstat3::Fbig);
    let a = write_args(&fh, i64::MAX as u64, b"xy", StableHow::Unstable);
    let r: Write3Res = s.nfs(Nfs3Procedure::Write, &a);
    assert_eq!(r.status(), Nfsstat3::Fbig);

    let r: Write3Res = s.nfs(
        Nfs3Procedure::Write,
        &write_args(&s.handle("d"), 0, b"x", StableHow::Unstable),
    );
    assert_eq!(r.status(), Nfsstat3::Isdir);
    let r: Write3Res = s.nfs(
        Nfs3Procedure::Write,
        &write_args(&s.handle("l"), 0, b"x", StableHow::Unstable),
    );
    assert_eq!(r.status(), Nfsstat3::Inval);
    let r: Commit3Res = commit(&s, s.handle("d"));
    assert_eq!(r.status(), Nfsstat3::Isdir);
}

#[test]
fn write_permission_with_owner_override() {
    let s = Kit::new(RW, |_| {});
    set_mode(s.path(), 0o755);
    fs::write(s.path().join("root-file"), b"").unwrap();
    set_mode(&s.path().join("root-file"), 0o644);
    fs::write(s.path().join("mine"), b"").unwrap();
    chown(s.path().join("mine"), Some(1000), Some(1000)).unwrap();
    set_mode(&s.path().join("mine"), 0o444);

    let a = write_args(&s.handle("root-file"), 0, b"x", StableHow::Unstable);
    let r: Write3Res = s.nfs_as(1000, 1000, Nfs3Procedure::Write, &a);
    assert_eq!(r.status(), Nfsstat3::Acces);
    assert!(matches!(
        r,
        NfsResult::Err(
            _,
            WccData {
                before: Some(_),
                after: Some(_)
            }
        )
    ));
    assert_eq!(fs::read(s.path().join("root-file")).unwrap(), b"");

    let a = write_args(&s.handle("mine"), 0, b"owner", StableHow::FileSync);
    let r: Write3Res = s.nfs_as(1000, 1000, Nfs3Procedure::Write, &a);
    assert_eq!(r.status(), Nfsstat3::Ok, "owner override");
    assert_eq!(fs::read(s.path().join("mine")).unwrap(), b"owner");
}

#[test]
fn writes_by_others_clear_setuid() {
    let s = Kit::new(RW, |_| {});
    set_mode(s.path(), 0o755);
    let p = s.path().join("suid");
    fs::write(&p, b"").unwrap();
    set_mode(&p, 0o4777);
    let a = write_args(&s.handle("suid"), 0, b"x", StableHow::Unstable);
    let r: Write3Res = s.nfs_as(1000, 1000, Nfs3Procedure::Write, &a);
    assert_eq!(r.status(), Nfsstat3::Ok);
    assert_eq!(lstat(&p).st_mode & 0o7777, 0o777);
}

#[test]
fn setattr_size_mode_owner_and_times() {
    let s = Kit::new(RW, |_| {});
    let p = s.path().join("f");
    fs::write(&p, b"0123456789").unwrap();
    let fh = s.handle("f");
    let t = |seconds| {
        SetTime::ClientTime(Nfstime3 {
            seconds,
            nseconds: 5,
        })
    };
    let attrs = Sattr3 {
        mode: Some(0o4640),
        uid: Some(1234),
        gid: Some(5678),
        size: Some(4),
        atime: t(1_000_000),
        mtime: t(2_000_000),
    };
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &setattr_args(&fh, attrs));
    let NfsResult::Ok(ok) = r else {
        panic!("SETATTR: {r:?}")
    };
    let after = ok.obj_wcc.after.unwrap();
    assert_eq!(ok.obj_wcc.before.unwrap().size, 10);
    assert_eq!(
        (after.size, after.mode, after.uid, after.gid),
        (4, 0o4640, 1234, 5678)
    );
    assert_eq!(
        (
            after.atime.seconds,
            after.mtime.seconds,
            after.mtime.nseconds
        ),
        (1_000_000, 2_000_000, 5)
    );
    let md = fs::symlink_metadata(&p).unwrap();
    assert_eq!(
        (md.len(), md.mode() & 0o7777, md.uid(), md.gid()),
        (4, 0o4640, 1234, 5678)
    );

    // Server time, extension, and nothing at all.
    let attrs = Sattr3 {
        size: Some(100),
        mtime: SetTime::ServerTime,
        ..Sattr3::default()
    };
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &setattr_args(&fh, attrs));
    assert_eq!(r.status(), Nfsstat3::Ok);
    let md = fs::metadata(&p).unwrap();
    assert_eq!(md.len(), 100);
    assert!(md.mtime() > 2_000_000);
    let r: Setattr3Res = s.nfs(
        Nfs3Procedure::Setattr,
        &setattr_args(&fh, Sattr3::default()),
    );
    assert_eq!(r.status(), Nfsstat3::Ok);

    let bad = Sattr3 {
        atime: SetTime::ClientTime(Nfstime3 {
            seconds: 1,
            nseconds: (1 << 30) - 1,
        }),
        ..Sattr3::default()
    };
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &setattr_args(&fh, bad));
    assert_eq!(
        r.status(),
        Nfsstat3::Inval,
        "UTIME_NOW smuggled in nseconds"
    );
}

#[test]
fn setattr_guard_and_types() {
    let s = Kit::new(RW, |_| {});
    fs::write(s.path().join("f"), b"abc").unwrap();
    fs::create_dir(s.path().join("d")).unwrap();
    std::os::unix::fs::symlink("f", s.path().join("l")).unwrap();
    let fh = s.handle("f");
    let mut a = setattr_args(
        &fh,
        Sattr3 {
            mode: Some(0o600),
            ..Sattr3::default()
        },
    );
    a.guard = Some(Nfstime3 {
        seconds: 1,
        nseconds: 2,
    });
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &a);
    assert!(
        matches!(
            r,
            NfsResult::Err(
                Nfsstat3::NotSync,
                WccData {
                    before: Some(_),
                    after: Some(_)
                }
            )
        ),
        "{r:?}"
    );
    let st = lstat(&s.path().join("f"));
    assert_ne!(st.st_mode & 0o777, 0o600);
    a.guard = Some(Nfstime3 {
        seconds: st.st_ctime as u32,
        nseconds: st.st_ctime_nsec as u32,
    });
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &a);
    assert_eq!(r.status(), Nfsstat3::Ok);
    assert_eq!(lstat(&s.path().join("f")).st_mode & 0o777, 0o600);

    let size = |fh| {
        setattr_args(
            &fh,
            Sattr3 {
                size: Some(0),
                ..Sattr3::default()
            },
        )
    };
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &size(s.handle("d")));
    assert_eq!(r.status(), Nfsstat3::Isdir);
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &size(s.handle("l")));
    assert_eq!(r.status(), Nfsstat3::Inval);

    // A symlink's own times change (not its target's); its mode is ignored.
    let target_mtime = lstat(&s.path().join("f")).st_mtime;
    let attrs = Sattr3 {
        mode: Some(0o600),
        mtime: SetTime::ClientTime(Nfstime3 {
            seconds: 12345,
            nseconds: 0,
        }),
        ..Sattr3::default()
    };
    let r: Setattr3Res = s.nfs(Nfs3Procedure::Setattr, &setattr_args(&s.handle("l"), attrs));
    assert_eq!(r.status(), Nfsstat3::Ok);
    assert_eq!(lstat(&s.path().join("l")).st_mtime, 12345);
    assert_eq!(lstat(&s.path().join("f")).st_mtime, target_mtime);
}

#[test]
fn setattr_permissions_are_the_kernels() {
    let s = Kit::new(RW, |_| {});
    set_mode(s.path(), 0o755);
    let p = s.path().join("f");
    fs::write(&p, b"abc").unwrap();
    set_mode(&p, 0o666);
    let fh = s.handle("f");
    let as_user = |attrs| -> Nfsstat3 {
        let r: Setattr3Res = s.nfs_as(
            1000,
            1000,
            Nfs3Procedure::Setattr,
            &setattr_args(&fh, attrs),
        );
        r.status()
    };
    // Not the owner: no chmod, chown or explicit times...
    assert_eq!(
        as_user(Sattr3 {
            mode: Some(0o777),
            ..Sattr3::default()
        }),
        Nfsstat3::Perm
    );
    assert_eq!(
        as_user(Sattr3 {
            uid: Some(1000),
            ..Sattr3::default()
        }),
        Nfsstat3::Perm
    );
    let explicit = SetTime::ClientTime(Nfstime3 {
        seconds: 5,
        nseconds: 0,
    });
    assert_eq!(
        as_user(Sattr3 {
            mtime: explicit,
            ..Sattr3::default()
        }),
        Nfsstat3::Perm
    );
    // ...but write access allows truncating and touching with server time,
    // and unchanged owners are not a chown.
    let touch = Sattr3 {
        atime: SetTime::ServerTime,
        mtime: SetTime::ServerTime,
        size: Some(1),
        uid: Some(0),
        gid: Some(0),
        ..Sattr3::default()
    };
    assert_eq!(as_user(touch), Nfsstat3::Ok);
    assert_eq!(fs::read(&p).unwrap(), b"a");

    set_mode(&p, 0o644);
    assert_eq!(
        as_user(Sattr3 {
            size: Some(0),
            ..Sattr3::default()
        }),
        Nfsstat3::Acces
    );
}

#[test]
fn read_only_exports_refuse_changes() {
    let s = Kit::new("ro,no_root_squash,insecure", |_| {});
    fs::write(s.path().join("f"), b"abc").unwrap();
    let fh = s.handle("f");
    let r: Setattr3Res = s.nfs(
        Nfs3Procedure::Setattr,
        &setattr_args(
            &fh,
            Sattr3 {
                mode: Some(0o600),
                ..Sattr3::default()
            },
        ),
    );
    assert_eq!(r.status(), Nfsstat3::Rofs);
    let r: Write3Res = s.nfs(
        Nfs3Procedure::Write,
        &write_args(&fh, 0, b"x", StableHow::Unstable),
    );
    assert_eq!(r.status(), Nfsstat3::Rofs);
    assert_eq!(fs::read(s.path().join("f")).unwrap(), b"abc");
    let r: Commit3Res = commit(&s, fh);
    assert_eq!(r.status(), Nfsstat3::Ok);
}
