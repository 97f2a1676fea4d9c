//! nfsl's client against a malicious NFS server: a fake on 127.0.0.1 that
//! serves one directory tree whose names a real file system could never
//! hold (`../x`, `/abs/path`, `a/b`, NUL, 300 bytes). Neither the library
//! (`Nfs::read_dir`) nor `nfsl cp -r` may hand such a name to anyone: the
//! listing fails with a protocol error, and nothing is written outside the
//! copy's destination.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use common::cli::nfsl;
use nfsl_client::nfs3::*;
use nfsl_client::{ClientConfig, ErrorKind, Nfs, NfsUrl, PortPolicy};
use nfsl_proto::mount3::{
    Dirpath, ExportList, ExportNode, Mount3Procedure, Mountres3, Mountres3Ok, MOUNT_PROGRAM,
};
use nfsl_rpc::{encode_reply, frame_record, AcceptedReply, CallHeader, OpaqueAuth, ReplyBody};
use nfsl_xdr::{decode_exact, encode_to_vec, Xdr};

/// One object of the fake tree; its handle is its index.
#[derive(Clone)]
enum Object {
    Dir(Vec<(Vec<u8>, usize)>),
    File(Vec<u8>),
    Link(Vec<u8>),
}

/// The export `/fake`: object 0 is its root, whose entry `dir` (object 1)
/// lists `entries` (each a file holding its own name, or what `entry`
/// makes of it).
#[derive(Clone)]
struct Tree(Vec<Object>);

impl Tree {
    /// `/fake/dir` with one regular file per name, each holding `pwned`.
    fn with_files(names: &[&[u8]]) -> Tree {
        let mut objects = vec![Object::Dir(vec![(b"dir".to_vec(), 1)]), Object::Dir(vec![])];
        for name in names {
            let id = objects.len();
            objects.push(Object::File(b"pwned\n".to_vec()));
            if let Object::Dir(list) = &mut objects[1] {
                list.push((name.to_vec(), id));
            }
        }
        Tree(objects)
    }

    /// `/fake/dir` listing `a` twice: first a symlink to `outside`, then a
    /// directory holding `f` (a copy that followed the link would write
    /// `outside/f`).
    fn with_duplicate_link_and_dir(outside: &Path) -> Tree {
        let target = outside.as_os_str().as_encoded_bytes().to_vec();
        Tree(vec![
            Object::Dir(vec![(b"dir".to_vec(), 1)]),
            Object::Dir(vec![(b"a".to_vec(), 2), (b"a".to_vec(), 3)]),
            Object::Link(target),
            Object::Dir(vec![(b"f".to_vec(), 4)]),
            Object::File(b"pwned\n".to_vec()),
        ])
    }

    fn handle(id: usize) -> NfsFh3 {
        NfsFh3((id as u64 + 0x100).to_be_bytes().to_vec())
    }

    fn object(&self, fh: &NfsFh3) -> Option<(usize, &Object)> {
        let id = u64::from_be_bytes(fh.0.as_slice().try_into().ok()?).checked_sub(0x100)? as usize;
        Some((id, self.0.get(id)?))
    }

    fn attrs(&self, id: usize) -> Fattr3 {
        let (ftype, mode, size) = match &self.0[id] {
            Object::Dir(_) => (Ftype3::Dir, 0o755, 4096),
            Object::File(data) => (Ftype3::Reg, 0o644, data.len() as u64),
            Object::Link(target) => (Ftype3::Lnk, 0o777, target.len() as u64),
        };
        Fattr3 {
            ftype,
            mode,
            nlink: 1,
            uid: 0,
            gid: 0,
            size,
            used: size,
            rdev: Specdata3::default(),
            fsid: 7,
            fileid: id as u64 + 2,
            atime: Nfstime3::default(),
            mtime: Nfstime3::default(),
            ctime: Nfstime3::default(),
        }
    }

    /// The results of one call, or `None` for a program the fake does not
    /// serve (answered PROG_UNAVAIL).
    fn answer(&self, call: &CallHeader, args: &[u8]) -> Option<Vec<u8>> {
        let p = call.procedure;
        if call.program == MOUNT_PROGRAM {
            return Some(if p == Mount3Procedure::Export as u32 {
                encode_to_vec(&ExportList(vec![ExportNode {
                    dir: Dirpath(b"/fake".to_vec()),
                    groups: vec![],
                }]))
            } else if p == Mount3Procedure::Mnt as u32 {
                encode_to_vec(&Mountres3::Ok(Mountres3Ok {
                    fhandle: Tree::handle(0),
                    auth_flavors: vec![1],
                }))
            } else {
                Vec::new()
            });
        }
        if call.program != NFS_PROGRAM {
            return None;
        }
        let stale = || encode_to_vec(&Getattr3Res::Err(Nfsstat3::Stale, ()));
        Some(match p {
            p if p == Nfs3Procedure::Null as u32 => Vec::new(),
            p if p == Nfs3Procedure::Fsinfo as u32 => {
                encode_to_vec(&Fsinfo3Res::Ok(Fsinfo3ResOk {
                    obj_attributes: None,
                    rtmax: 65536,
                    rtpref: 65536,
                    rtmult: 4096,
                    wtmax: 65536,
                    wtpref: 65536,
                    wtmult: 4096,
                    dtpref: 8192,
                    maxfilesize: u64::MAX,
                    time_delta: Nfstime3 {
                        seconds: 0,
                        nseconds: 1,
                    },
                    properties: 0,
                }))
            }
            p if p == Nfs3Procedure::Getattr as u32 => {
                let a: Getattr3Args = decode_exact(args).ok()?;
                match self.object(&a.object) {
                    Some((id, _)) => encode_to_vec(&Getattr3Res::Ok(Getattr3ResOk {
                        obj_attributes: self.attrs(id),
                    })),
                    None => stale(),
                }
            }
            p if p == Nfs3Procedure::Access as u32 => {
                let a: Access3Args = decode_exact(args).ok()?;
                encode_to_vec(&Access3Res::Ok(Access3ResOk {
                    obj_attributes: None,
                    access: a.access,
                }))
            }
            p if p == Nfs3Procedure::Lookup as u32 => {
                let a: Lookup3Args = decode_exact(args).ok()?;
                let found = match self.object(&a.what.dir) {
                    Some((_, Object::Dir(list))) => {
                        list.iter().find(|(n, _)| *n == a.what.name.0).map(|e| e.1)
                    }
                    _ => None,
                };
                match found {
                    Some(id) => encode_to_vec(&Lookup3Res::Ok(Lookup3ResOk {
                        object: Tree::handle(id),
                        obj_attributes: Some(self.attrs(id)),
                        dir_attributes: None,
                    })),
                    None => encode_to_vec(&Lookup3Res::Err(Nfsstat3::Noent, None)),
                }
            }
            p if p == Nfs3Procedure::Readdirplus as u32 => {
                let a: Readdirplus3Args = decode_exact(args).ok()?;
                let Some((dir, Object::Dir(list))) = self.object(&a.dir) else {
                    return Some(stale());
                };
                let mut entries: Vec<(Vec<u8>, usize)> =
                    vec![(b".".to_vec(), dir), (b"..".to_vec(), 0)];
                entries.extend(list.iter().cloned());
                let entries = entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, id))| Entryplus3 {
                        fileid: id as u64 + 2,
                        name: Filename3(name),
                        cookie: i as u64 + 1,
                        name_attributes: Some(self.attrs(id)),
                        name_handle: Some(Tree::handle(id)),
                    })
                    .collect();
                encode_to_vec(&Readdirplus3Res::Ok(Readdirplus3ResOk {
                    dir_attributes: None,
                    cookieverf: [0; 8],
                    reply: DirList { entries, eof: true },
                }))
            }
            p if p == Nfs3Procedure::Readlink as u32 => {
                let a: Readlink3Args = decode_exact(args).ok()?;
                match self.object(&a.symlink) {
                    Some((_, Object::Link(target))) => {
                        encode_to_vec(&Readlink3Res::Ok(Readlink3ResOk {
                            symlink_attributes: None,
                            data: Nfspath3(target.clone()),
                        }))
                    }
                    _ => encode_to_vec(&Readlink3Res::Err(Nfsstat3::Inval, None)),
                }
            }
            p if p == Nfs3Procedure::Read as u32 => {
                let a: Read3Args = decode_exact(args).ok()?;
                let Some((_, Object::File(data))) = self.object(&a.file) else {
                    return Some(stale());
                };
                let start = (a.offset as usize).min(data.len());
                let end = (start + a.count as usize).min(data.len());
                // READ3resok by hand (status, no attributes, count, eof, data).
                let mut out = Vec::new();
                0u32.encode(&mut out);
                false.encode(&mut out);
                ((end - start) as u32).encode(&mut out);
                (end == data.len()).encode(&mut out);
                Data(data[start..end].to_vec()).encode(&mut out);
                out
            }
            _ => encode_to_vec(&Getattr3Res::Err(Nfsstat3::Notsupp, ())),
        })
    }
}

/// Reads one record (all its fragments) from `s`; `None` at the end.
fn read_record(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut record = Vec::new();
    loop {
        let mut marker = [0u8; 4];
        s.read_exact(&mut marker).ok()?;
        let marker = u32::from_be_bytes(marker);
        let len = (marker & 0x7fff_ffff) as usize;
        if record.len() + len > 1 << 20 {
            return None;
        }
        let start = record.len();
        record.resize(start + len, 0);
        s.read_exact(&mut record[start..]).ok()?;
        if marker & 0x8000_0000 != 0 {
            return Some(record);
        }
    }
}

fn serve(mut s: TcpStream, tree: Tree) {
    while let Some(record) = read_record(&mut s) {
        let Ok((call, args)) = CallHeader::decode_prefix(&record) else {
            return;
        };
        let results = tree.answer(&call, args);
        let stat = match &results {
            Some(r) => AcceptedReply::Success(r),
            None => AcceptedReply::ProgUnavail,
        };
        let mut msg = Vec::new();
        let body = ReplyBody::Accepted {
            verifier: OpaqueAuth::NONE,
            stat,
        };
        encode_reply(call.xid, &body, &mut msg);
        let mut out = Vec::new();
        frame_record(&msg, &mut out);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

/// Starts the fake serving `tree` (one thread per connection, for the
/// rest of the test process); returns its port.
fn start(tree: Tree) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tree = tree.clone();
            std::thread::spawn(move || serve(stream, tree));
        }
    });
    port
}

fn url(port: u16, path: &str) -> String {
    format!("nfs://127.0.0.1/fake{path}?version=3&nfsport={port}&mountport={port}&localio=off")
}

/// Names that would leave the directory they are listed in, or that no
/// local file system holds.
fn hostile_names(escape: &Path) -> Vec<Vec<u8>> {
    vec![
        b"../escaped".to_vec(),
        b"../../escaped".to_vec(),
        escape
            .join("absolute")
            .into_os_string()
            .into_encoded_bytes(),
        b"sub/inner".to_vec(),
        b"nul\0byte".to_vec(),
        vec![b'x'; 300],
        Vec::new(),
    ]
}

#[tokio::test]
async fn the_library_refuses_names_that_are_not_one_component() {
    let outside = tempfile::tempdir().unwrap();
    for name in hostile_names(outside.path()) {
        let port = start(Tree::with_files(&[b"fine", &name]));
        let config = ClientConfig {
            privileged_port: PortPolicy::Never,
            ..ClientConfig::default()
        };
        let (nfs, dir) = Nfs::connect(&NfsUrl::parse(&url(port, "/dir")).unwrap(), config)
            .await
            .unwrap();
        let err = nfs.read_dir(&dir).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{name:?}: {err}");
        assert!(err.to_string().contains("not a valid file name"), "{err}");
    }
    // The control: a well-behaved listing of the same fake works, and
    // `.` and `..` are left out.
    let port = start(Tree::with_files(&[b"fine", b"..dots", b"a b"]));
    let url = NfsUrl::parse(&url(port, "/dir")).unwrap();
    let config = ClientConfig {
        privileged_port: PortPolicy::Never,
        ..ClientConfig::default()
    };
    let (nfs, dir) = Nfs::connect(&url, config).await.unwrap();
    let mut names: Vec<String> = nfs
        .read_dir(&dir)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, ["..dots", "a b", "fine"]);
}

#[test]
fn cp_r_from_a_hostile_server_writes_nothing_outside_its_destination() {
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let dest = work.path().join("a").join("dest");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    for name in hostile_names(&outside) {
        let port = start(Tree::with_files(&[b"fine", &name]));
        let out = nfsl(&["cp", "-r", "-q", &url(port, "/dir"), dest.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name:?}: cp succeeded");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{name:?}: not one line: {stderr}"
        );
        assert!(stderr.contains("not a valid file name"), "{stderr}");
        // Nothing anywhere but (at most) the destination itself, empty.
        for place in [work.path().join("escaped"), work.path().join("a/escaped")] {
            assert!(!place.exists(), "{name:?} wrote {}", place.display());
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{name:?}");
        if dest.exists() {
            assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0, "{name:?}");
            std::fs::remove_dir(&dest).unwrap();
        }
    }
}

#[test]
fn cp_r_of_a_well_behaved_fake_tree_copies_it() {
    // The control for the test above: the same fake, valid names.
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("dest");
    let port = start(Tree::with_files(&[b"one", b"two"]));
    let out = nfsl(&["cp", "-r", "-q", &url(port, "/dir"), dest.to_str().unwrap()]);
    common::assert_success(&out, "nfsl cp -r");
    for name in ["one", "two"] {
        assert_eq!(std::fs::read(dest.join(name)).unwrap(), b"pwned\n");
    }
}

#[test]
fn cp_r_never_writes_through_a_link_it_made() {
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let dest = work.path().join("dest");
    let port = start(Tree::with_duplicate_link_and_dir(&outside));
    let out = nfsl(&["cp", "-r", "-q", &url(port, "/dir"), dest.to_str().unwrap()]);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // The name is copied once, as the link it is.
    common::assert_success(&out, "nfsl cp -r");
    assert_eq!(std::fs::read_link(dest.join("a")).unwrap(), outside);
}
