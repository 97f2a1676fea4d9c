//! The open-file cache through the real server: READ and WRITE reuse
//! descriptors, and every invalidation the module documents happens
//! (REMOVE, removal behind the server's back, RENAME over a file, SETATTR
//! and chmod, exports reload, idle time, the size bound).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use crate::exports::{ExportOptions, ExportTable};
use crate::filecache::{FileCache, TargetFd};
use crate::handle::Access;
use crate::testkit::{dirop, Kit, RW};

fn kit() -> Kit {
    Kit::new(RW, |p| {
        std::fs::write(p.join("a"), b"aaaa").unwrap();
        std::fs::write(p.join("b"), b"bbbbbb").unwrap();
        std::fs::write(p.join("shared"), b"for everyone").unwrap();
        std::fs::set_permissions(p.join("shared"), std::fs::Permissions::from_mode(0o644)).unwrap();
    })
}

fn cached(k: &Kit) -> usize {
    k.server.shared_for_tests().files.len()
}

fn read_as(k: &Kit, uid: u32, fh: &NfsFh3) -> Result<Vec<u8>, Nfsstat3> {
    let args = Read3Args {
        file: fh.clone(),
        offset: 0,
        count: 4096,
    };
    let res: Read3Res = k.nfs_as(uid, uid, Nfs3Procedure::Read, &args);
    match res {
        NfsResult::Ok(ok) => Ok(ok.data.0),
        NfsResult::Err(s, _) => Err(s),
    }
}

fn read(k: &Kit, fh: &NfsFh3) -> Result<Vec<u8>, Nfsstat3> {
    read_as(k, 0, fh)
}

fn write(k: &Kit, fh: &NfsFh3, data: &[u8]) -> Result<(), Nfsstat3> {
    let args = Write3Args {
        file: fh.clone(),
        offset: 0,
        count: data.len() as u32,
        stable: StableHow::FileSync,
        data: Data(data.to_vec()),
    };
    let res: Write3Res = k.nfs(Nfs3Procedure::Write, &args);
    match res {
        NfsResult::Ok(_) => Ok(()),
        NfsResult::Err(s, _) => Err(s),
    }
}

fn setattr_mode(k: &Kit, fh: &NfsFh3, mode: u32) {
    let args = Setattr3Args {
        object: fh.clone(),
        new_attributes: Sattr3 {
            mode: Some(mode),
            ..Sattr3::default()
        },
        guard: None,
    };
    let res: Setattr3Res = k.nfs(Nfs3Procedure::Setattr, &args);
    assert!(matches!(res, NfsResult::Ok(_)), "{res:?}");
}

#[test]
fn reads_and_writes_reuse_one_descriptor_each() {
    let k = kit();
    let a = k.handle("a");
    assert_eq!(read(&k, &a).unwrap(), b"aaaa");
    assert_eq!(cached(&k), 1);
    for _ in 0..5 {
        assert_eq!(read(&k, &a).unwrap(), b"aaaa");
    }
    assert_eq!(cached(&k), 1);
    write(&k, &a, b"AA").unwrap();
    write(&k, &a, b"AAA").unwrap();
    assert_eq!(cached(&k), 2, "one read and one write descriptor");
    assert_eq!(read(&k, &a).unwrap(), b"AAAa");
}

#[test]
fn remove_through_the_server_closes_the_file() {
    let k = kit();
    let a = k.handle("a");
    read(&k, &a).unwrap();
    write(&k, &a, b"x").unwrap();
    assert_eq!(cached(&k), 2);
    let res: Remove3Res = k.nfs(
        Nfs3Procedure::Remove,
        &Remove3Args {
            object: dirop(&k.root(), "a"),
        },
    );
    assert!(matches!(res, NfsResult::Ok(_)), "{res:?}");
    assert_eq!(cached(&k), 0, "REMOVE leaves no descriptor open");
    assert_eq!(read(&k, &a), Err(Nfsstat3::Stale));
}

#[test]
fn removal_behind_the_servers_back_is_noticed() {
    let k = kit();
    let a = k.handle("a");
    read(&k, &a).unwrap();
    // Kept alive by a local process: the inode still exists, unlinked.
    let _held = std::fs::File::open(k.path().join("a")).unwrap();
    std::fs::remove_file(k.path().join("a")).unwrap();
    assert_eq!(read(&k, &a), Err(Nfsstat3::Stale));
    assert_eq!(write(&k, &a, b"x"), Err(Nfsstat3::Stale));
    assert_eq!(cached(&k), 0);
}

#[test]
fn rename_over_a_cached_file() {
    let k = kit();
    let (a, b) = (k.handle("a"), k.handle("b"));
    read(&k, &a).unwrap();
    read(&k, &b).unwrap();
    let root = k.root();
    let res: Rename3Res = k.nfs(
        Nfs3Procedure::Rename,
        &Rename3Args {
            from: dirop(&root, "b"),
            to: dirop(&root, "a"),
        },
    );
    assert!(matches!(res, NfsResult::Ok(_)), "{res:?}");
    assert_eq!(cached(&k), 1, "the replaced file's descriptor is closed");
    assert_eq!(read(&k, &a), Err(Nfsstat3::Stale));
    // The renamed file keeps its handle and its cached descriptor.
    assert_eq!(read(&k, &b).unwrap(), b"bbbbbb");
    assert_eq!(read(&k, &k.handle("a")).unwrap(), b"bbbbbb");
    // Replaced behind the server's back: noticed at the next use.
    std::fs::write(k.path().join("new"), b"new").unwrap();
    std::fs::rename(k.path().join("new"), k.path().join("a")).unwrap();
    assert_eq!(read(&k, &b), Err(Nfsstat3::Stale));
}

#[test]
fn setattr_and_chmod_revoke_cached_access() {
    let k = kit();
    let f = k.handle("shared");
    assert_eq!(read_as(&k, 1000, &f).unwrap(), b"for everyone");
    setattr_mode(&k, &f, 0o600);
    assert_eq!(read_as(&k, 1000, &f), Err(Nfsstat3::Acces));
    assert_eq!(read(&k, &f).unwrap(), b"for everyone");
    // Behind the server's back: the ctime moves, so the decision goes.
    std::fs::set_permissions(
        k.path().join("shared"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert_eq!(read_as(&k, 1000, &f).unwrap(), b"for everyone");
    std::fs::set_permissions(
        k.path().join("shared"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(read_as(&k, 1000, &f), Err(Nfsstat3::Acces));
    // One caller's grant is not another's.
    std::fs::set_permissions(
        k.path().join("shared"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::os::unix::fs::chown(k.path().join("shared"), Some(1000), None).unwrap();
    std::fs::set_permissions(
        k.path().join("shared"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(read_as(&k, 1000, &f).unwrap(), b"for everyone");
    assert_eq!(read_as(&k, 2000, &f), Err(Nfsstat3::Acces));
}

#[test]
fn truncate_through_setattr_is_seen() {
    let k = kit();
    let b = k.handle("b");
    assert_eq!(read(&k, &b).unwrap(), b"bbbbbb");
    let args = Setattr3Args {
        object: b.clone(),
        new_attributes: Sattr3 {
            size: Some(2),
            ..Sattr3::default()
        },
        guard: None,
    };
    let res: Setattr3Res = k.nfs(Nfs3Procedure::Setattr, &args);
    assert!(matches!(res, NfsResult::Ok(_)), "{res:?}");
    assert_eq!(read(&k, &b).unwrap(), b"bb");
}

#[test]
fn reload_empties_the_cache_and_removed_exports_are_stale() {
    let k = kit();
    let a = k.handle("a");
    read(&k, &a).unwrap();
    assert_eq!(cached(&k), 1);
    let options = ExportOptions::parse_list(RW).unwrap();
    let same = ExportTable::single(k.path(), options);
    k.server.reload_exports(same).unwrap();
    assert_eq!(cached(&k), 0);
    read(&k, &a).unwrap();
    let other = tempfile::tempdir().unwrap();
    let options = ExportOptions::parse_list(RW).unwrap();
    k.server
        .reload_exports(ExportTable::single(other.path(), options))
        .unwrap();
    assert_eq!(cached(&k), 0);
    assert_eq!(read(&k, &a), Err(Nfsstat3::Stale));
}

#[test]
fn idle_files_are_closed() {
    let k = kit();
    read(&k, &k.handle("a")).unwrap();
    let files = &k.server.shared_for_tests().files;
    files.close_idle(Duration::from_secs(3600));
    assert_eq!(files.len(), 1);
    std::thread::sleep(Duration::from_millis(5));
    files.close_idle(Duration::from_millis(1));
    assert_eq!(files.len(), 0);
}

#[test]
fn the_cache_is_bounded_and_keeps_recent_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileCache::new(8);
    let open = |i: usize| {
        let p = dir.path().join(format!("f{i}"));
        std::fs::write(&p, b"x").unwrap();
        std::fs::File::open(p).unwrap().into()
    };
    let handle = |i: usize| format!("handle-{i:04}").into_bytes();
    for i in 0..100 {
        let _ = cache.insert(&handle(i), Access::Read, open(i));
        // Keep touching the first one: it must survive every eviction.
        assert!(cache.get(&handle(0), Access::Read).is_some(), "at {i}");
        assert!(cache.len() <= 8);
    }
    assert!(cache.get(&handle(99), Access::Read).is_some());
    assert!(cache.get(&handle(0), Access::Write).is_none());
    cache.clear();
    assert_eq!(cache.len(), 0);
    // Capacity 0 caches nothing.
    let none = FileCache::new(0);
    assert!(!none.caches(Access::Read));
}

/// Out of descriptors (the cache holds most of them): the cache is
/// emptied and the open retried, so READs keep working. Runs in a child
/// process of the test binary, since it lowers the descriptor limit.
#[test]
fn descriptor_pressure_empties_the_cache() {
    const CHILD: &str = "NFSL_FILECACHE_FD_PRESSURE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return fd_pressure_child();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "filecache_tests::descriptor_pressure_empties_the_cache",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "child ran nothing:\n{text}");
}

fn fd_pressure_child() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    const FILES: usize = 200;
    let k = Kit::new(RW, |p| {
        for i in 0..FILES {
            std::fs::write(p.join(format!("f{i}")), b"data").unwrap();
        }
    });
    let handles: Vec<NfsFh3> = (0..FILES).map(|i| k.handle(&format!("f{i}"))).collect();
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(open_now + 32),
            maximum: old.maximum,
        },
    )
    .unwrap();
    // The cache was sized for the old limit, so it runs out first.
    for (i, fh) in handles.iter().enumerate() {
        assert_eq!(read(&k, fh).as_deref(), Ok(&b"data"[..]), "file {i}");
    }
    assert!(cached(&k) < 40, "{} cached", cached(&k));
    setrlimit(Resource::Nofile, old).unwrap();
}

/// A reference given back with `release` never closes the file on the
/// releasing thread while the cache holds it, and the last one (the entry
/// evicted meanwhile) is closed by the sweeper: the pipe's reader sees
/// end-of-file.
#[test]
fn released_files_are_closed_by_the_sweeper() {
    use std::io::Read;
    let cache = std::sync::Arc::new(FileCache::new(8));
    FileCache::start_sweeper(&cache);
    let (mut reader, writer) = std::io::pipe().unwrap();
    let fh = b"handle-pipe".to_vec();
    let TargetFd::Cached(f) = cache.insert(&fh, Access::Read, writer.into()) else {
        panic!("not cached");
    };
    cache.release(f);
    assert!(cache.get(&fh, Access::Read).is_some(), "still cached");
    let f = cache.get(&fh, Access::Read).unwrap();
    cache.evict(&fh);
    cache.release(f);
    let mut buf = [0u8; 1];
    // Blocks until the write end is closed (a hang here is the failure).
    assert_eq!(reader.read(&mut buf).unwrap(), 0);
}
