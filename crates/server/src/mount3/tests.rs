use std::os::unix::fs::symlink;

use nfsl_proto::mount3::*;
use nfsl_proto::nfs3::*;
use nfsl_rpc_service::CallOutcome;

use crate::testkit::Kit;

fn kit() -> Kit {
    Kit::new("rw,no_root_squash", |p| {
        std::fs::create_dir_all(p.join("sub/deeper")).unwrap();
        std::fs::write(p.join("sub/file"), b"x").unwrap();
        symlink("sub", p.join("link")).unwrap();
        symlink("/etc", p.join("etc")).unwrap();
    })
}

fn status(r: Mountres3) -> Option<Mountstat3> {
    match r {
        Mountres3::Ok(_) => None,
        Mountres3::Err(s) => Some(s),
    }
}

#[test]
fn mnt_of_the_export_and_of_subdirectories() {
    let k = kit();
    let export = k.export_path();
    let Mountres3::Ok(ok) = k.mnt(&export) else {
        panic!("MNT of the export failed")
    };
    assert_eq!(ok.auth_flavors, [1]);
    // Spelled with a trailing slash, `//` or `.`: still the export.
    for spelling in [
        format!("{export}/"),
        format!("{export}/./"),
        export.replace('/', "//"),
    ] {
        let Mountres3::Ok(again) = k.mnt(&spelling) else {
            panic!("MNT {spelling} failed")
        };
        assert_eq!(again.fhandle, ok.fhandle, "{spelling}");
    }
    let Mountres3::Ok(sub) = k.mnt(&format!("{export}/sub/deeper")) else {
        panic!("MNT of a subdirectory failed")
    };
    let (_, deeper) = k.lookup(&k.lookup(&ok.fhandle, "sub").0, "deeper");
    let res: Getattr3Res = k.nfs(
        Nfs3Procedure::Getattr,
        &Getattr3Args {
            object: sub.fhandle,
        },
    );
    assert_eq!(
        match res {
            nfsl_proto::NfsResult::Ok(a) => a.obj_attributes.fileid,
            nfsl_proto::NfsResult::Err(s, _) => panic!("{s:?}"),
        },
        deeper.fileid
    );
}

#[test]
fn mnt_refusals() {
    let k = kit();
    let export = k.export_path();
    let cases = [
        ("/".to_string(), Mountstat3::Acces),
        ("/etc".to_string(), Mountstat3::Acces),
        (format!("{export}x"), Mountstat3::Acces),
        (format!("{export}/missing"), Mountstat3::Noent),
        (format!("{export}/sub/file"), Mountstat3::Notdir),
        (format!("{export}/link"), Mountstat3::Notdir),
        (format!("{export}/etc"), Mountstat3::Notdir),
        (format!("{export}/sub/.."), Mountstat3::Acces),
        (format!("{export}/../"), Mountstat3::Acces),
        (
            export.trim_start_matches('/').to_string(),
            Mountstat3::Inval,
        ),
    ];
    for (path, want) in cases {
        assert_eq!(status(k.mnt(&path)), Some(want), "MNT {path}");
    }
    let (outcome, out) = k.raw(
        MOUNT_PROGRAM,
        1,
        &nfsl_xdr::encode_to_vec(&Dirpath(vec![0xff, b'/'])),
    );
    assert_eq!(outcome, CallOutcome::Success);
    assert_eq!(
        nfsl_xdr::decode_exact::<Mountres3>(&out)
            .map(status)
            .unwrap(),
        Some(Mountstat3::Noent)
    );
}

#[test]
fn secure_exports_refuse_unprivileged_ports_and_unknown_clients() {
    let mut k = Kit::new("rw", |_| {});
    let export = k.export_path();
    assert_eq!(status(k.mnt(&export)), None);
    k.peer = "127.0.0.1:40000".parse().unwrap();
    assert_eq!(status(k.mnt(&export)), Some(Mountstat3::Acces));

    let export_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let table = crate::exports::ExportTable::parse(&format!(
        "{} 10.1.2.3(rw,insecure)",
        export_dir.path().display()
    ))
    .unwrap();
    k.server = crate::NfsServer::new(crate::ServerConfig {
        exports: table,
        state_dir: state.path().to_path_buf(),
        max_io_size: 4096,
        unprivileged: Default::default(),
    })
    .unwrap();
    let path = k.export_path();
    assert_eq!(status(k.mnt(&path)), Some(Mountstat3::Acces));
    k.peer = "10.1.2.3:40000".parse().unwrap();
    assert_eq!(status(k.mnt(&path)), None);
}

#[test]
fn dump_umnt_umntall_and_export() {
    let mut k = kit();
    let export = k.export_path();
    let sub = format!("{export}/sub");
    assert!(status(k.mnt(&export)).is_none());
    assert!(status(k.mnt(&format!("{sub}/"))).is_none());
    k.peer = "127.0.0.2:800".parse().unwrap();
    assert!(status(k.mnt(&export)).is_none());
    let dump = |k: &Kit| -> Vec<(String, String)> {
        let list: MountList = k.call(MOUNT_PROGRAM, 2, &());
        list.0
            .into_iter()
            .map(|b| {
                let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
                (s(b.hostname.0), s(b.directory.0))
            })
            .collect()
    };
    let one = "127.0.0.1".to_string();
    let two = "127.0.0.2".to_string();
    assert_eq!(
        dump(&k),
        [
            (one.clone(), export.clone()),
            (one.clone(), sub.clone()),
            (two.clone(), export.clone())
        ]
    );
    k.peer = "127.0.0.1:700".parse().unwrap();
    let () = k.call(MOUNT_PROGRAM, 3, &Dirpath(sub.into_bytes()));
    assert_eq!(
        dump(&k),
        [(one, export.clone()), (two.clone(), export.clone())]
    );
    let () = k.call(MOUNT_PROGRAM, 4, &());
    assert_eq!(dump(&k), [(two, export.clone())]);

    let list: ExportList = k.call(MOUNT_PROGRAM, 5, &());
    assert_eq!(list.0.len(), 1);
    assert_eq!(list.0[0].dir.0, export.as_bytes());
    assert_eq!(list.0[0].groups, [MountName(b"*".to_vec())]);

    let () = k.call(MOUNT_PROGRAM, 0, &());
    assert_eq!(k.raw(MOUNT_PROGRAM, 6, &[]).0, CallOutcome::ProcUnavail);
    assert_eq!(k.raw(MOUNT_PROGRAM, 1, &[0, 0]).0, CallOutcome::GarbageArgs);
    assert_eq!(
        k.raw(MOUNT_PROGRAM, 2, &[0, 0, 0, 0]).0,
        CallOutcome::GarbageArgs
    );
}
