//! Socket-free tests of export reloads: kept exports keep their ids, open
//! state and handles; removed ones answer STALE and refuse MNT; changed
//! options apply to the next request (NFS and LOCALIO opens); a bad table
//! changes nothing; LOCALIO sessions are revoked only when existing
//! exports change.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nfsl_localio::{Access, Authorizer, OpenRefusal};
use nfsl_proto::mount3::{Mountres3, Mountstat3};
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use crate::exports::{ExportOptions, ExportTable, ExportsError};
use crate::testkit::{localio_open_request, Kit};
use crate::ServerError;

/// A table of `(directory, options)` exports to every client.
fn table(entries: &[(&Path, &str)]) -> ExportTable {
    let mut t = ExportTable::default();
    for (dir, options) in entries {
        let o = ExportOptions::parse_list(options).unwrap();
        t.exports.extend(ExportTable::single(dir, o).exports);
    }
    t
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap()
}

fn getattr(k: &Kit, fh: &NfsFh3) -> Result<(), Nfsstat3> {
    let res: Getattr3Res = k.nfs(Nfs3Procedure::Getattr, &Getattr3Args { object: fh.clone() });
    match res {
        NfsResult::Ok(_) => Ok(()),
        NfsResult::Err(s, _) => Err(s),
    }
}

fn write(k: &Kit, fh: &NfsFh3, data: &[u8]) -> Result<(), Nfsstat3> {
    let res: Write3Res = k.nfs(
        Nfs3Procedure::Write,
        &Write3Args {
            file: fh.clone(),
            offset: 0,
            count: data.len() as u32,
            stable: StableHow::FileSync,
            data: Data(data.to_vec()),
        },
    );
    match res {
        NfsResult::Ok(_) => Ok(()),
        NfsResult::Err(s, _) => Err(s),
    }
}

fn mnt(k: &Kit, path: &Path) -> Result<NfsFh3, Mountstat3> {
    match k.mnt(path.to_str().unwrap()) {
        Mountres3::Ok(ok) => Ok(ok.fhandle),
        Mountres3::Err(s) => Err(s),
    }
}

/// A LOCALIO read-write open of `fh` by root from 127.0.0.1:700.
fn localio_rw(k: &Kit, fh: &NfsFh3) -> Result<(), OpenRefusal> {
    let request = localio_open_request(fh, Access::ReadWrite, 0);
    k.server.localio_authorizer().open(&request).map(drop)
}

#[test]
fn reload_keeps_removes_and_changes_exports() {
    const RW: &str = "rw,no_root_squash";
    let k = Kit::new(RW, |d| std::fs::write(d.join("f"), b"data").unwrap());
    let a = canonical(k.path());
    let b_dir = tempfile::tempdir().unwrap();
    let b = canonical(b_dir.path());
    let exports = k.server.exports_handle();
    let revocations = k.server.localio_authorizer().revocations().unwrap();
    let id_a = exports.exports()[0].id;
    let fs_a = Arc::clone(&k.server.shared_for_tests().exports.load().exports[0].fs);
    let root_a = k.root();
    let (f, _) = k.lookup(&root_a, "f");
    assert_eq!(mnt(&k, &b), Err(Mountstat3::Acces), "not exported yet");

    // Adding an export: the old one is untouched, nothing is revoked.
    let s = exports.reload(table(&[(&a, RW), (&b, RW)])).unwrap();
    assert_eq!(s.added, std::slice::from_ref(&b));
    assert!(s.removed.is_empty() && s.changed.is_empty(), "{s}");
    assert_eq!((s.unchanged, s.localio_sessions_revoked), (1, 0));
    assert_eq!(revocations.generation(), 0);
    let now = k.server.shared_for_tests().exports.load();
    assert!(Arc::ptr_eq(&now.exports[0].fs, &fs_a), "open state kept");
    drop(now);
    assert_eq!(getattr(&k, &f), Ok(()));
    let root_b = mnt(&k, &b).expect("MNT of the new export");
    assert_eq!(getattr(&k, &root_b), Ok(()));
    assert_eq!(k.server.exports().len(), 2);

    // A turned read-only, B removed.
    let s = exports.reload(table(&[(&a, "ro,no_root_squash")])).unwrap();
    assert_eq!(s.changed, std::slice::from_ref(&a), "{s}");
    assert_eq!(s.removed, std::slice::from_ref(&b), "{s}");
    // Revoked (the generation moves on), though no client was local.
    assert!(s.added.is_empty() && s.localio_sessions_revoked == 0, "{s}");
    assert_eq!(
        s.to_string(),
        format!(
            "0 added, 1 removed ({}), 1 changed ({}), 0 unchanged",
            b.display(),
            a.display()
        )
    );
    assert_eq!(revocations.generation(), 1);
    let now = exports.exports();
    assert_eq!((now.len(), now[0].id), (1, id_a), "ids unchanged");
    assert_eq!(
        getattr(&k, &f),
        Ok(()),
        "handles of a kept export stay valid"
    );
    assert_eq!(
        write(&k, &f, b"x"),
        Err(Nfsstat3::Rofs),
        "ro applies at once"
    );
    assert_eq!(localio_rw(&k, &f), Err(OpenRefusal::Nfs(Nfsstat3::Rofs)));
    assert_eq!(getattr(&k, &root_b), Err(Nfsstat3::Stale), "removed: STALE");
    assert_eq!(mnt(&k, &b), Err(Mountstat3::Acces), "removed: MNT refused");
    assert_eq!(std::fs::read(a.join("f")).unwrap(), b"data");

    // The same table again changes nothing and revokes nothing.
    let s = exports.reload(table(&[(&a, "ro,no_root_squash")])).unwrap();
    assert!(s.is_noop() && s.localio_sessions_revoked == 0, "{s}");
    assert_eq!(revocations.generation(), 1);

    // A table that does not validate changes nothing.
    let missing = b.join("no-such-dir");
    let e = exports
        .reload(table(&[(&a, RW), (&missing, RW)]))
        .unwrap_err();
    assert!(
        matches!(e, ServerError::Exports(ExportsError::Path { .. })),
        "{e}"
    );
    assert_eq!(write(&k, &f, b"x"), Err(Nfsstat3::Rofs), "still read-only");
    assert_eq!(revocations.generation(), 1);

    // Back to read-write through the server's own method.
    let s = k.server.reload_exports(table(&[(&a, RW)])).unwrap();
    assert_eq!(s.changed, std::slice::from_ref(&a));
    assert_eq!(write(&k, &f, b"D"), Ok(()));
    assert_eq!(localio_rw(&k, &f), Ok(()));
    assert_eq!(std::fs::read(a.join("f")).unwrap(), b"Data");
    assert_eq!(revocations.generation(), 2);
}

#[test]
fn a_new_fsid_is_a_new_export() {
    let k = Kit::new("rw,no_root_squash", |_| {});
    let a = canonical(k.path());
    let root = k.root();
    let s = k
        .server
        .reload_exports(table(&[(&a, "rw,no_root_squash,fsid=77")]))
        .unwrap();
    assert_eq!((s.added.len(), s.removed.len()), (1, 1), "{s}");
    assert_eq!(k.server.exports()[0].id.0, 77);
    assert_eq!(getattr(&k, &root), Err(Nfsstat3::Stale));
    assert_eq!(getattr(&k, &k.root()), Ok(()), "a new MNT works");
}
