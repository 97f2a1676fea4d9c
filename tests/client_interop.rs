//! nfsl's NFSv3 client library (`nfsl-client`) against two servers:
//! `nfsl serve` and NFS-Ganesha (a server nobody here wrote). The same
//! scenarios run against each: a 256 MiB file written and read back
//! byte-identical, directory operations, and failures surfacing as the
//! right typed error.

mod common;

use common::*;
use nfsl_client::nfs3::{Nfsstat3, NFS_PROGRAM, NFS_V3};
use nfsl_client::{
    rpcbind_getport, ClientConfig, ErrorKind, Nfs, NfsUrl, OpenOptions, PortPolicy, SetAttr,
};

const RW: &str = "rw,no_root_squash";

fn config() -> ClientConfig {
    ClientConfig {
        max_unstable_bytes: 64 << 20,
        ..client_config()
    }
}

async fn connect(url: &str) -> (Nfs, String) {
    connect_url(url, config()).await
}

// ---------------------------------------------------------------------
// Scenarios, each run against every server.

/// Writes `size` bytes in 8 MiB chunks, alternately through `write_at`
/// and `write_at_bytes`, syncs, then reads them back, alternately with
/// `read_at` and `read_at_bytes`, and compares chunk by chunk.
async fn big_file_round_trip(nfs: &Nfs, path: &str, size: usize) {
    const CHUNK: usize = 8 << 20;
    let file = nfs.create(path).await.expect("create");
    let mut offset = 0;
    while offset < size {
        let n = CHUNK.min(size - offset);
        let data = pseudo_random_bytes(n, offset as u64);
        let written = if (offset / CHUNK).is_multiple_of(2) {
            file.write_at(&data, offset as u64).await.expect("write_at")
        } else {
            file.write_at_bytes(data.into(), offset as u64)
                .await
                .expect("write_at_bytes")
        };
        assert_eq!(written, n);
        offset += n;
    }
    file.sync().await.expect("sync");
    assert_eq!(file.unstable_bytes(), 0);
    assert_eq!(file.metadata().await.unwrap().size, size as u64);
    file.close().await.unwrap();

    let file = nfs
        .open(path, &OpenOptions::new().read(true))
        .await
        .expect("open");
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0;
    while offset < size {
        let n = CHUNK.min(size - offset);
        let got = if (offset / CHUNK).is_multiple_of(2) {
            file.read_at(&mut buf, offset as u64)
                .await
                .expect("read_at")
        } else {
            let parts = file
                .read_at_bytes(offset as u64, CHUNK)
                .await
                .expect("read_at_bytes");
            let mut at = 0;
            for p in parts {
                buf[at..at + p.len()].copy_from_slice(&p);
                at += p.len();
            }
            at
        };
        assert_eq!(got, n, "read at {offset}");
        assert!(
            buf[..n] == pseudo_random_bytes(n, offset as u64)[..],
            "bytes at {offset} differ"
        );
        offset += n;
    }
    // At and past the end.
    assert_eq!(file.read_at(&mut buf, size as u64).await.unwrap(), 0);
    assert!(file
        .read_at_bytes(size as u64 + 5, 100)
        .await
        .unwrap()
        .is_empty());
    let tail = file.read_at_bytes(size as u64 - 10, 100).await.unwrap();
    assert_eq!(tail.iter().map(|b| b.len()).sum::<usize>(), 10);
}

async fn directory_operations(nfs: &Nfs, base: &str) {
    let d = |p: &str| format!("{base}/{p}");
    nfs.mkdir(&d("dir"), 0o755).await.expect("mkdir");
    assert!(nfs.stat(&d("dir")).await.unwrap().is_dir());
    assert!(nfs
        .mkdir(&d("dir"), 0o755)
        .await
        .unwrap_err()
        .is(ErrorKind::Exists));
    nfs.create_dir_all(&d("dir/a/b/c"), 0o755)
        .await
        .expect("create_dir_all");
    nfs.create_dir_all(&d("dir/a/b/c"), 0o755)
        .await
        .expect("create_dir_all again");

    // Many entries: more than one READDIRPLUS page.
    const N: usize = 600;
    for i in 0..N {
        let f = nfs.create(&d(&format!("dir/many/f{i:04}"))).await;
        if i == 0 {
            // The directory does not exist yet.
            assert!(f.unwrap_err().is(ErrorKind::NotFound));
            nfs.mkdir(&d("dir/many"), 0o755).await.unwrap();
            nfs.create(&d("dir/many/f0000"))
                .await
                .unwrap()
                .close()
                .await
                .unwrap();
        } else {
            f.unwrap().close().await.unwrap();
        }
    }
    let mut names: Vec<String> = nfs
        .read_dir(&d("dir/many"))
        .await
        .expect("read_dir")
        .into_iter()
        .map(|e| {
            assert!(e.metadata.as_ref().is_none_or(|m| m.is_file()));
            e.name
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        (0..N).map(|i| format!("f{i:04}")).collect::<Vec<_>>()
    );
    let (many, _) = nfs.lookup(&d("dir/many")).await.unwrap();
    let mut it = nfs.read_dir_iter(&many);
    let mut count = 0;
    while let Some(e) = it.next().await {
        assert!(e.expect("read_dir_iter").name.starts_with('f'));
        count += 1;
    }
    assert_eq!(count, N);

    // Rename, symlink, readlink, hard link.
    let f = nfs.create(&d("dir/file")).await.unwrap();
    f.write_at(b"contents", 0).await.unwrap();
    f.close().await.unwrap();
    nfs.rename(&d("dir/file"), &d("dir/a/moved"))
        .await
        .expect("rename");
    assert!(nfs
        .stat(&d("dir/file"))
        .await
        .unwrap_err()
        .is(ErrorKind::NotFound));
    assert_eq!(nfs.stat(&d("dir/a/moved")).await.unwrap().size, 8);
    nfs.symlink("a/moved", &d("dir/link"))
        .await
        .expect("symlink");
    assert_eq!(nfs.read_link(&d("dir/link")).await.unwrap(), "a/moved");
    assert!(nfs.stat(&d("dir/link")).await.unwrap().is_symlink());
    // Opening follows the link.
    let via_link = nfs
        .open(&d("dir/link"), &OpenOptions::new().read(true))
        .await
        .unwrap();
    let mut out = Vec::new();
    via_link.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"contents");
    nfs.hard_link(&d("dir/a/moved"), &d("dir/hard"))
        .await
        .expect("link");
    assert_eq!(nfs.stat(&d("dir/hard")).await.unwrap().nlink, 2);
    let md = nfs
        .set_attr(
            &d("dir/hard"),
            SetAttr {
                mode: Some(0o600),
                ..SetAttr::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(md.mode, 0o600);

    // Removal.
    nfs.remove_file(&d("dir/hard")).await.expect("remove");
    assert!(nfs
        .remove_dir(&d("dir/a"))
        .await
        .unwrap_err()
        .is(ErrorKind::NotEmpty));
    nfs.remove_dir(&d("dir/a/b/c")).await.expect("rmdir");
    nfs.remove_dir_all(&d("dir")).await.expect("remove_dir_all");
    assert!(nfs
        .stat(&d("dir"))
        .await
        .unwrap_err()
        .is(ErrorKind::NotFound));
    let st = nfs.fs_stat().await.unwrap();
    assert!(st.tbytes >= st.fbytes);
}

/// Missing files and stale handles are typed errors. `stale_required`:
/// whether the server must refuse a removed file's handle (RFC 1813 lets
/// a server keep serving an object that is still open on it, as Ganesha
/// does with its cached file descriptors; it then reports nlink 0).
async fn typed_errors(nfs: &Nfs, base: &str, stale_required: bool) {
    let missing = nfs.stat(&format!("{base}/no/such/file")).await.unwrap_err();
    assert!(missing.is(ErrorKind::NotFound), "{missing}");
    assert_eq!(missing.nfsstat(), Some(nfsl_client::nfs3::Nfsstat3::Noent));
    assert!(missing.to_string().contains("no/such"), "{missing}");

    let path = format!("{base}/doomed");
    let f = nfs.create(&path).await.unwrap();
    let e = f.read_at(&mut [0; 16], u64::MAX - 4).await.unwrap_err();
    assert!(e.is(ErrorKind::InvalidArgument), "{e}");
    let e = f.write_at(b"x", i64::MAX as u64).await.unwrap_err();
    assert!(e.is(ErrorKind::InvalidArgument), "{e}");
    let e = nfs.read_dir(&path).await.unwrap_err();
    assert!(e.is(ErrorKind::NotDir), "{e}");
    let e = nfs
        .open(base, &OpenOptions::new().read(true))
        .await
        .unwrap_err();
    assert!(e.is(ErrorKind::IsDir), "{e}");
    f.close().await.unwrap();

    let f = nfs.create(&path).await.unwrap();
    f.write_at(b"x", 0).await.unwrap();
    f.sync().await.unwrap();
    nfs.remove_file(&path).await.unwrap();
    // RFC 1813: a handle of a removed object is STALE (or, for servers
    // that cannot tell, BADHANDLE); both are ErrorKind::Stale.
    match f.metadata().await {
        Err(stale) => assert!(stale.is(ErrorKind::Stale), "{stale}"),
        Ok(md) if !stale_required => assert_eq!(md.nlink, 0, "{md:?}"),
        Ok(md) => panic!("a removed file's handle still works: {md:?}"),
    }
    f.close().await.unwrap();
}

/// A non-root uid writing into a root-owned 0755 directory is refused
/// with PermissionDenied; reading it is allowed.
async fn permission_denied(root: &Nfs, nobody_url: &str, base: &str) {
    let locked = format!("{base}/locked");
    root.mkdir(&locked, 0o755).await.unwrap();
    assert_eq!(root.stat(&locked).await.unwrap().uid, 0);
    let (nobody, _) = connect(nobody_url).await;
    let e = nobody.create(&format!("{locked}/mine")).await.unwrap_err();
    assert!(e.is(ErrorKind::PermissionDenied), "{e}");
    assert!(
        matches!(e.nfsstat(), Some(Nfsstat3::Acces | Nfsstat3::Perm)),
        "{e}"
    );
    let e = nobody
        .mkdir(&format!("{locked}/sub"), 0o755)
        .await
        .unwrap_err();
    assert!(e.is(ErrorKind::PermissionDenied), "{e}");
    assert!(nobody.read_dir(&locked).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------
// nfsl serve

#[test]
fn nfsl_serve_256_mib_round_trip() {
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    rt().block_on(async {
        let (nfs, rest) = connect(&server.url("")).await;
        assert_eq!(rest, "/");
        big_file_round_trip(&nfs, "/big.bin", 256 << 20).await;
        nfs.unmount().await.unwrap();
    });
    assert_eq!(
        std::fs::metadata(export.path().join("big.bin"))
            .unwrap()
            .len(),
        256 << 20
    );
}

#[test]
fn nfsl_serve_directory_operations() {
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    rt().block_on(async {
        let (nfs, _) = connect(&server.url("")).await;
        directory_operations(&nfs, "").await;
        typed_errors(&nfs, "", true).await;
        let nobody = format!("{}&uid=65534&gid=65534", server.url(""));
        permission_denied(&nfs, &nobody, "").await;
    });
}

// ---------------------------------------------------------------------
// NFS-Ganesha

#[test]
fn ganesha_256_mib_round_trip() {
    if !ganesha_available() {
        return;
    }
    let export = tempdir();
    let ganesha = Ganesha::start(export.path());
    rt().block_on(async {
        let (nfs, rest) = connect(&ganesha.url("/big.bin")).await;
        assert_eq!(
            (nfs.export(), rest.as_str()),
            (ganesha.export(), "/big.bin")
        );
        big_file_round_trip(&nfs, &rest, 256 << 20).await;
        nfs.unmount().await.unwrap();
    });
}

#[test]
fn ganesha_directory_operations_and_errors() {
    if !ganesha_available() {
        return;
    }
    let export = tempdir();
    let ganesha = Ganesha::start(export.path());
    rt().block_on(async {
        portmapper_finds(&ganesha).await;
        let (nfs, _) = connect(&ganesha.url("")).await;
        directory_operations(&nfs, "").await;
        typed_errors(&nfs, "", false).await;
        let nobody = format!("{}&uid=65534&gid=65534", ganesha.url(""));
        permission_denied(&nfs, &nobody, "").await;
    });
}

/// A URL without ports is resolved through rpcbind, where Ganesha
/// registers. Other Ganesha instances (parallel tests) register the same
/// programs, and the last one wins, so the lookup is only followed through
/// when rpcbind names this instance.
async fn portmapper_finds(ganesha: &Ganesha) {
    let registered = rpcbind_getport("127.0.0.1", NFS_PROGRAM, NFS_V3, &config()).await;
    match registered {
        Ok(port) if port == ganesha.nfs_port() => {
            let url = format!("nfs://127.0.0.1{}/?version=3", ganesha.export());
            let (nfs, rest) = connect(&url).await;
            assert_eq!((nfs.export(), rest.as_str()), (ganesha.export(), "/"));
        }
        other => eprintln!(
            "NOTE: rpcbind maps NFS to {other:?}, another instance than this test's \
             Ganesha (port {}); URL-without-ports check skipped",
            ganesha.nfs_port()
        ),
    }
}

/// `nfsl serve` exports are `secure` by default: calls must come from a
/// port below 1024. The client binds one when root (`PortPolicy::Auto`);
/// from an ordinary port the server refuses the mount.
#[test]
fn secure_exports_need_the_privileged_source_port() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: binding privileged ports needs root");
        return;
    }
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    let url = NfsUrl::parse(&server.url("")).unwrap();
    rt().block_on(async {
        let (nfs, _) = Nfs::connect(&url, config()).await.expect("privileged");
        nfs.fs_stat().await.unwrap();
        let always = ClientConfig {
            privileged_port: PortPolicy::Always,
            ..config()
        };
        Nfs::connect(&url, always).await.expect("always privileged");
        let never = ClientConfig {
            privileged_port: PortPolicy::Never,
            ..config()
        };
        let e = Nfs::connect(&url, never).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Mount, "{e}");
    });
}
