//! Writes the seed corpora, `fuzz/corpus/TARGET/seed-NAME`: small valid
//! inputs made by encoding real values, so the fuzzer starts from the
//! protocol's shapes. Run from the repository root:
//! `cargo run -p nfsl-fuzzing --example seeds` (it replaces seed-* files).

use std::path::Path;

use nfsl_localio::codec::{encode_frame, OpenReply, RegisterStatus, Reply, Request};
use nfsl_localio::{Access, Creds, DioAlignment, Nonce};
use nfsl_proto::localio::LOCALIO_PROGRAM;
use nfsl_proto::mount3::*;
use nfsl_proto::nfs3::*;
use nfsl_rpc::{
    encode_reply, frame_record, AcceptedReply, AuthStat, AuthSysParams, CallHeader, OpaqueAuth,
    RejectedReply, ReplyBody,
};
use nfsl_xdr::{encode_to_vec, Encoder, Xdr};

struct Corpus {
    dir: std::path::PathBuf,
}

impl Corpus {
    fn new(target: &str) -> Corpus {
        let dir = Path::new("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for e in std::fs::read_dir(&dir).expect("read corpus").flatten() {
            if e.file_name().to_string_lossy().starts_with("seed-") {
                std::fs::remove_file(e.path()).expect("remove old seed");
            }
        }
        Corpus { dir }
    }
    fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(format!("seed-{name}")), bytes).expect("write seed");
    }
    /// A seed made of a selector byte and a value's XDR.
    fn sel<T: Xdr>(&self, name: &str, which: u8, value: &T) {
        let mut b = vec![which];
        value.encode(&mut b);
        self.put(name, &b);
    }
}

fn fh(n: u8) -> NfsFh3 {
    NfsFh3(vec![n; 28])
}

fn time(s: u32) -> Nfstime3 {
    Nfstime3 {
        seconds: s,
        nseconds: 500,
    }
}

fn fattr(ftype: Ftype3, fileid: u64) -> Fattr3 {
    Fattr3 {
        ftype,
        mode: 0o644,
        nlink: 1,
        uid: 1000,
        gid: 1000,
        size: 4096,
        used: 4096,
        rdev: Specdata3::default(),
        fsid: 0x42,
        fileid,
        atime: time(1),
        mtime: time(2),
        ctime: time(3),
    }
}

fn wcc() -> WccData {
    WccData {
        before: Some(WccAttr {
            size: 1,
            mtime: time(2),
            ctime: time(3),
        }),
        after: Some(fattr(Ftype3::Dir, 2)),
    }
}

fn sattr() -> Sattr3 {
    Sattr3 {
        mode: Some(0o600),
        uid: None,
        gid: Some(1000),
        size: Some(10),
        atime: SetTime::ServerTime,
        mtime: SetTime::ClientTime(time(9)),
    }
}

fn dirop(dir: NfsFh3, name: &str) -> DirOpArgs3 {
    DirOpArgs3 {
        dir,
        name: Filename3(name.as_bytes().to_vec()),
    }
}

fn unix_cred(uid: u32, gids: Vec<u32>) -> OpaqueAuth {
    OpaqueAuth::sys(&AuthSysParams {
        stamp: 0x1234,
        machine_name: b"client.example".to_vec(),
        uid,
        gid: uid,
        gids,
    })
}

fn call(xid: u32, program: u32, version: u32, procedure: u32, cred: OpaqueAuth) -> CallHeader {
    CallHeader {
        xid,
        rpc_version: 2,
        program,
        version,
        procedure,
        credential: cred,
        verifier: OpaqueAuth::NONE,
    }
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame_record(msg, &mut out);
    out
}

fn main() {
    rpc_record();
    rpc_call();
    rpc_reply();
    nfs3_args();
    nfs3_results();
    mount3();
    localio();
    handles();
    exports();
    urls();
    dispatch();
}

fn rpc_record() {
    let c = Corpus::new("rpc_record");
    let msg = encode_to_vec(&call(1, NFS_PROGRAM, 3, 0, OpaqueAuth::NONE));
    let mut one = vec![255];
    one.extend(framed(&msg));
    c.put("one-record", &one);
    let mut two = vec![3];
    two.extend(framed(&msg));
    two.extend(framed(b"abcd"));
    c.put("two-records-small-reads", &two);
    // One record in three fragments, then an empty record.
    let mut frags = vec![0];
    frags.extend(0x0000_0004u32.to_be_bytes());
    frags.extend(b"head");
    frags.extend(0x0000_0000u32.to_be_bytes());
    frags.extend(0x8000_0002u32.to_be_bytes());
    frags.extend(b"tl");
    frags.extend(0x8000_0000u32.to_be_bytes());
    c.put("fragments", &frags);
    let mut big = vec![200];
    big.extend(0x8001_0000u32.to_be_bytes());
    big.extend([0u8; 16]);
    c.put("over-limit", &big);
}

fn rpc_call() {
    let c = Corpus::new("rpc_call");
    let mut read = encode_to_vec(&call(
        7,
        NFS_PROGRAM,
        3,
        6,
        unix_cred(1000, vec![4, 24, 27]),
    ));
    Read3Args {
        file: fh(1),
        offset: 0,
        count: 4096,
    }
    .encode(&mut read);
    c.put("auth-sys-read", &read);
    c.put(
        "auth-none-null",
        &encode_to_vec(&call(8, NFS_PROGRAM, 3, 0, OpaqueAuth::NONE)),
    );
    let gss = OpaqueAuth {
        flavor: 6,
        body: vec![1, 2, 3, 4, 5, 6, 7, 8],
    };
    c.put("gss", &encode_to_vec(&call(9, MOUNT_PROGRAM, 3, 1, gss)));
    let mut v3 = call(10, NFS_PROGRAM, 3, 0, OpaqueAuth::NONE);
    v3.rpc_version = 3;
    c.put("rpc-v3", &encode_to_vec(&v3));
    let max = unix_cred(0, (0..16).collect());
    c.put(
        "sixteen-groups",
        &encode_to_vec(&call(11, NFS_PROGRAM, 3, 1, max)),
    );
}

fn rpc_reply() {
    let c = Corpus::new("rpc_reply");
    let ok = ReplyBody::Accepted {
        verifier: OpaqueAuth::NONE,
        stat: AcceptedReply::Success(&[0, 0, 0, 0, 0, 0, 0, 0]),
    };
    let bodies = [
        ("success", ok),
        (
            "prog-mismatch",
            ReplyBody::Accepted {
                verifier: OpaqueAuth::NONE,
                stat: AcceptedReply::ProgMismatch { low: 3, high: 3 },
            },
        ),
        (
            "garbage-args",
            ReplyBody::Accepted {
                verifier: OpaqueAuth::NONE,
                stat: AcceptedReply::GarbageArgs,
            },
        ),
        (
            "rpc-mismatch",
            ReplyBody::Denied(RejectedReply::RpcMismatch { low: 2, high: 2 }),
        ),
        (
            "auth-error",
            ReplyBody::Denied(RejectedReply::AuthError(AuthStat::TooWeak)),
        ),
    ];
    for (name, body) in bodies {
        let mut out = Vec::new();
        encode_reply(0x55, &body, &mut out);
        c.put(name, &out);
    }
}

fn nfs3_args() {
    let c = Corpus::new("nfs3_args");
    c.sel("getattr", 1, &Getattr3Args { object: fh(1) });
    c.sel(
        "setattr",
        2,
        &Setattr3Args {
            object: fh(1),
            new_attributes: sattr(),
            guard: Some(time(3)),
        },
    );
    c.sel(
        "lookup",
        3,
        &Lookup3Args {
            what: dirop(fh(1), "name"),
        },
    );
    c.sel(
        "access",
        4,
        &Access3Args {
            object: fh(1),
            access: 0x3f,
        },
    );
    c.sel(
        "read",
        6,
        &Read3Args {
            file: fh(2),
            offset: 1 << 40,
            count: 65536,
        },
    );
    c.sel(
        "write",
        7,
        &Write3Args {
            file: fh(2),
            offset: 8,
            count: 5,
            stable: StableHow::FileSync,
            data: Data(b"hello".to_vec()),
        },
    );
    // WRITE as the server's borrowed view decodes it too: cut short,
    // with bytes after it, a count above the data it carries (the server,
    // not the decoder, refuses that), and empty.
    let write = |count: u32, data: &[u8]| {
        let mut b = vec![7];
        Write3Args {
            file: fh(2),
            offset: 4096,
            count,
            stable: StableHow::Unstable,
            data: Data(data.to_vec()),
        }
        .encode(&mut b);
        b
    };
    let whole = write(5, b"hello");
    c.put("write-truncated", &whole[..whole.len() - 3]);
    let mut trailing = whole.clone();
    trailing.extend([0; 4]);
    c.put("write-trailing", &trailing);
    c.put("write-count-over-data", &write(4096, b"hello"));
    c.put("write-empty", &write(0, b""));
    c.sel(
        "create-guarded",
        8,
        &Create3Args {
            location: dirop(fh(1), "new"),
            how: CreateHow3::Guarded(sattr()),
        },
    );
    c.sel(
        "create-exclusive",
        8,
        &Create3Args {
            location: dirop(fh(1), "excl"),
            how: CreateHow3::Exclusive(*b"verifier"),
        },
    );
    c.sel(
        "mkdir",
        9,
        &Mkdir3Args {
            location: dirop(fh(1), "d"),
            attributes: Sattr3::default(),
        },
    );
    c.sel(
        "symlink",
        10,
        &Symlink3Args {
            location: dirop(fh(1), "l"),
            symlink: Symlinkdata3 {
                symlink_attributes: Sattr3::default(),
                symlink_data: Nfspath3(b"../target".to_vec()),
            },
        },
    );
    c.sel(
        "mknod-chr",
        11,
        &Mknod3Args {
            location: dirop(fh(1), "c"),
            what: Mknoddata3::Chr(Devicedata3 {
                dev_attributes: Sattr3::default(),
                spec: Specdata3 {
                    specdata1: 1,
                    specdata2: 3,
                },
            }),
        },
    );
    c.sel(
        "remove",
        12,
        &Remove3Args {
            object: dirop(fh(1), "x"),
        },
    );
    c.sel(
        "rename",
        14,
        &Rename3Args {
            from: dirop(fh(1), "a"),
            to: dirop(fh(3), "b"),
        },
    );
    c.sel(
        "link",
        15,
        &Link3Args {
            file: fh(2),
            link: dirop(fh(1), "hard"),
        },
    );
    c.sel(
        "readdirplus",
        17,
        &Readdirplus3Args {
            dir: fh(1),
            cookie: 0,
            cookieverf: [0; 8],
            dircount: 4096,
            maxcount: 32768,
        },
    );
    c.sel(
        "commit",
        21,
        &Commit3Args {
            file: fh(2),
            offset: 0,
            count: 0,
        },
    );
}

fn nfs3_results() {
    let c = Corpus::new("nfs3_results");
    let attrs = Some(fattr(Ftype3::Reg, 7));
    c.sel(
        "getattr",
        1,
        &Getattr3Res::Ok(Getattr3ResOk {
            obj_attributes: fattr(Ftype3::Reg, 7),
        }),
    );
    c.sel(
        "lookup",
        3,
        &Lookup3Res::Ok(Lookup3ResOk {
            object: fh(4),
            obj_attributes: attrs.clone(),
            dir_attributes: Some(fattr(Ftype3::Dir, 2)),
        }),
    );
    c.sel("lookup-noent", 3, &Lookup3Res::Err(Nfsstat3::Noent, None));
    c.sel(
        "readlink",
        5,
        &Readlink3Res::Ok(Readlink3ResOk {
            symlink_attributes: None,
            data: Nfspath3(b"/x/y".to_vec()),
        }),
    );
    c.sel(
        "read",
        6,
        &Read3Res::Ok(Read3ResOk {
            file_attributes: attrs.clone(),
            count: 5,
            eof: true,
            data: Data(b"hello".to_vec()),
        }),
    );
    // READ as the client's borrowed view decodes it too; the selector's
    // quotient by 22 chooses the data limit (0: none, k: 4 (k - 1) bytes).
    let read = |which: u8, count: u32, data: &[u8]| {
        let mut b = vec![which];
        Read3Res::Ok(Read3ResOk {
            file_attributes: None,
            count,
            eof: false,
            data: Data(data.to_vec()),
        })
        .encode(&mut b);
        b
    };
    let whole = read(6, 5, b"hello");
    c.put("read-truncated", &whole[..whole.len() - 2]);
    c.put("read-count-not-data-length", &read(6, 4, b"hello"));
    c.put("read-over-max", &read(6 + 22 * 2, 5, b"hello"));
    c.put("read-within-max", &read(6 + 22 * 3, 5, b"hello"));
    c.sel(
        "read-err",
        6,
        &Read3Res::Err(Nfsstat3::Acces, attrs.clone()),
    );
    c.sel(
        "write",
        7,
        &Write3Res::Ok(Write3ResOk {
            file_wcc: wcc(),
            count: 5,
            committed: StableHow::Unstable,
            verf: *b"writever",
        }),
    );
    c.sel(
        "create",
        8,
        &Create3Res::Ok(NewObject3ResOk {
            obj: Some(fh(5)),
            obj_attributes: attrs.clone(),
            dir_wcc: wcc(),
        }),
    );
    c.sel(
        "rename-err",
        14,
        &Rename3Res::Err(
            Nfsstat3::Xdev,
            Rename3Wcc {
                fromdir_wcc: wcc(),
                todir_wcc: WccData::default(),
            },
        ),
    );
    let names = ["a", "bb", "file.txt"];
    c.sel(
        "readdir",
        16,
        &Readdir3Res::Ok(Readdir3ResOk {
            dir_attributes: None,
            cookieverf: [1; 8],
            reply: DirList {
                entries: names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Entry3 {
                        fileid: 10 + i as u64,
                        name: Filename3(n.as_bytes().to_vec()),
                        cookie: i as u64 + 1,
                    })
                    .collect(),
                eof: true,
            },
        }),
    );
    c.sel(
        "readdirplus",
        17,
        &Readdirplus3Res::Ok(Readdirplus3ResOk {
            dir_attributes: Some(fattr(Ftype3::Dir, 2)),
            cookieverf: [2; 8],
            reply: DirList {
                entries: names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Entryplus3 {
                        fileid: 10 + i as u64,
                        name: Filename3(n.as_bytes().to_vec()),
                        cookie: i as u64 + 1,
                        name_attributes: attrs.clone(),
                        name_handle: Some(fh(i as u8)),
                    })
                    .collect(),
                eof: false,
            },
        }),
    );
    c.sel(
        "fsstat",
        18,
        &Fsstat3Res::Ok(Fsstat3ResOk {
            obj_attributes: None,
            tbytes: 1 << 40,
            fbytes: 1 << 30,
            abytes: 1 << 30,
            tfiles: 1000,
            ffiles: 500,
            afiles: 500,
            invarsec: 0,
        }),
    );
    c.sel(
        "fsinfo",
        19,
        &Fsinfo3Res::Ok(Fsinfo3ResOk {
            obj_attributes: None,
            rtmax: 1 << 20,
            rtpref: 1 << 20,
            rtmult: 4096,
            wtmax: 1 << 20,
            wtpref: 1 << 20,
            wtmult: 4096,
            dtpref: 65536,
            maxfilesize: u64::MAX,
            time_delta: time(0),
            properties: 0x1b,
        }),
    );
    c.sel(
        "pathconf",
        20,
        &Pathconf3Res::Ok(Pathconf3ResOk {
            obj_attributes: None,
            linkmax: 65000,
            name_max: 255,
            no_trunc: true,
            chown_restricted: true,
            case_insensitive: false,
            case_preserving: true,
        }),
    );
    c.sel(
        "commit",
        21,
        &Commit3Res::Ok(Commit3ResOk {
            file_wcc: wcc(),
            verf: *b"writever",
        }),
    );
    c.sel(
        "setattr-err",
        2,
        &Setattr3Res::Err(Nfsstat3::NotSync, wcc()),
    );
}

fn mount3() {
    let c = Corpus::new("mount3_args");
    c.sel("mnt", 1, &Dirpath(b"/srv/export".to_vec()));
    c.sel("umnt", 3, &Dirpath(b"/srv/export/sub".to_vec()));
    c.sel("export", 5, &());
    let c = Corpus::new("mount3_results");
    c.sel(
        "mnt-ok",
        0,
        &Mountres3::Ok(Mountres3Ok {
            fhandle: fh(9),
            auth_flavors: vec![1, 0],
        }),
    );
    c.sel("mnt-acces", 0, &Mountres3::Err(Mountstat3::Acces));
    c.sel(
        "dump",
        1,
        &MountList(vec![
            MountBody {
                hostname: MountName(b"client1".to_vec()),
                directory: Dirpath(b"/srv/a".to_vec()),
            },
            MountBody {
                hostname: MountName(b"10.0.0.2".to_vec()),
                directory: Dirpath(b"/srv/b".to_vec()),
            },
        ]),
    );
    c.sel(
        "export",
        2,
        &ExportList(vec![
            ExportNode {
                dir: Dirpath(b"/srv/a".to_vec()),
                groups: vec![MountName(b"*".to_vec())],
            },
            ExportNode {
                dir: Dirpath(b"/srv/b".to_vec()),
                groups: vec![
                    MountName(b"10.0.0.0/8".to_vec()),
                    MountName(b"*.example.com".to_vec()),
                ],
            },
        ]),
    );
}

fn localio() {
    let c = Corpus::new("localio_frames");
    let nonce = Nonce([0x5a; 16]);
    let mut conversation = vec![255];
    conversation.extend(encode_frame(&Request::Register(nonce)));
    conversation.extend(encode_frame(&Request::Confirmed(nonce)));
    conversation.extend(encode_frame(&Request::Open {
        handle: vec![1; 35],
        access: Access::ReadWrite,
        creds: Creds {
            uid: 1000,
            gid: 1000,
            gids: vec![4, 27],
        },
    }));
    c.put("requests", &conversation);
    let mut replies = vec![6];
    replies.extend(encode_frame(&Reply::Register(RegisterStatus::Busy)));
    replies.extend(encode_frame(&Reply::Confirmed(true)));
    replies.extend(encode_frame(&Reply::Open(OpenReply::Ok {
        alignment: DioAlignment {
            mem_align: 512,
            offset_align: 512,
            read_offset_align: 0,
        },
        size: 1 << 30,
        has_direct: true,
    })));
    replies.extend(encode_frame(&Reply::Open(OpenReply::Nfs(Nfsstat3::Acces))));
    replies.extend(encode_frame(&Reply::Open(OpenReply::Errno(-2))));
    replies.extend(encode_frame(&Reply::Error(
        "open before confirmation".into(),
    )));
    c.put("replies", &replies);
    let mut long = vec![0];
    long.extend(2048u32.to_be_bytes());
    long.extend([0; 8]);
    c.put("oversized", &long);
}

fn handles() {
    let c = Corpus::new("file_handle");
    let root = nfsl_fuzzing::root_handle();
    c.put("root", &root);
    let mut flipped = root.clone();
    if let Some(last) = flipped.last_mut() {
        *last ^= 1;
    }
    c.put("root-bad-mac", &flipped);
    let mut inode = vec![1, 2];
    inode.extend(nfsl_fuzzing::EXPORT_ID.0.to_be_bytes());
    inode.extend([0; 16 + 16]);
    c.put("inode-shape", &inode);
}

fn exports() {
    let c = Corpus::new("exports_file");
    c.put(
        "typical",
        b"# exports\n/srv/a  10.0.0.0/8(rw,no_root_squash) 192.168.1.7(ro) *(ro,all_squash,anonuid=99)\n\
          /srv/b -rw,insecure *.example.com node[0-9] fe80::/10(sync,fsid=7)\n",
    );
    c.put(
        "quotes-escapes",
        b"\"/srv/with space\" (rw)\n/srv/oct\\040al\\\n   127.0.0.1(insecure,sec=sys)\n",
    );
    c.put(
        "merge-and-fsid",
        b"/srv/m 10.1.0.0/255.255.0.0(fsid=root)\n/srv/m/ ::ffff:10.2.0.0/112(rw)\n/srv/./n\n",
    );
    c.put(
        "errors",
        b"/srv/x host.name(rw)\nrelative *(rw)\n/srv/y @netgroup\n",
    );
    let c = Corpus::new("export_options");
    c.put("typical", b"rw,no_root_squash,insecure");
    c.put(
        "all",
        b"ro,all_squash,anonuid=1000,anongid=1000,secure,async,fsid=12,sec=sys:sys",
    );
    c.put(
        "ignored",
        b"no_subtree_check,wdelay,mp=/x,crossmnt,fsid=root",
    );
}

fn urls() {
    let c = Corpus::new("nfs_url");
    for (name, url) in [
        ("plain", "nfs://127.0.0.1/srv/x/f"),
        (
            "ports",
            "nfs://server:2049/export/dir?version=3&nfsport=2049&mountport=20048&uid=7&gid=8",
        ),
        (
            "ipv6",
            "nfs://[::1]:2050/e?localio=on&direct=always&readahead=1048576",
        ),
        (
            "nfsl-options",
            "nfs://h/e?localio-socket=/run/nfsl/l.sock&write-behind=0&debug=2&localio=auto",
        ),
    ] {
        c.put(name, url.as_bytes());
    }
}

fn dispatch() {
    let c = Corpus::new("server_dispatch");
    let root = NfsFh3(nfsl_fuzzing::HANDLE_ALIAS[4..].to_vec());
    let alias = |n: u8| {
        let mut b = nfsl_fuzzing::HANDLE_ALIAS[4..].to_vec();
        b[2] = n;
        NfsFh3(b)
    };
    let me = || unix_cred(1000, vec![100]);
    let rec = |xid: u32, program: u32, procedure: u32, args: &dyn Fn(&mut Vec<u8>)| {
        let version = if program == LOCALIO_PROGRAM { 1 } else { 3 };
        let mut a = Vec::new();
        args(&mut a);
        nfsl_fuzzing::call_record(&call(xid, program, version, procedure, me()), &a)
    };
    // A file's life: create, write, read, getattr, readdirplus, remove.
    let mut life = Vec::new();
    life.extend(rec(1, NFS_PROGRAM, 8, &|a| {
        Create3Args {
            location: dirop(root.clone(), "f"),
            how: CreateHow3::Unchecked(Sattr3::default()),
        }
        .encode(a)
    }));
    life.extend(rec(2, NFS_PROGRAM, 7, &|a| {
        Write3Args {
            file: alias(1),
            offset: 3,
            count: 5,
            stable: StableHow::FileSync,
            data: Data(b"hello".to_vec()),
        }
        .encode(a)
    }));
    life.extend(rec(3, NFS_PROGRAM, 6, &|a| {
        Read3Args {
            file: alias(1),
            offset: 0,
            count: 100,
        }
        .encode(a)
    }));
    life.extend(rec(4, NFS_PROGRAM, 1, &|a| {
        Getattr3Args { object: alias(1) }.encode(a)
    }));
    life.extend(rec(5, NFS_PROGRAM, 17, &|a| {
        Readdirplus3Args {
            dir: root.clone(),
            cookie: 0,
            cookieverf: [0; 8],
            dircount: 1024,
            maxcount: 8192,
        }
        .encode(a)
    }));
    life.extend(rec(6, NFS_PROGRAM, 12, &|a| {
        Remove3Args {
            object: dirop(root.clone(), "f"),
        }
        .encode(a)
    }));
    c.put("file-life", &life);
    // A tree: mkdir, symlink, rename, link, readdir, readlink, rmdir.
    let mut tree = Vec::new();
    tree.extend(rec(1, NFS_PROGRAM, 9, &|a| {
        Mkdir3Args {
            location: dirop(root.clone(), "d"),
            attributes: Sattr3 {
                mode: Some(0o755),
                ..Sattr3::default()
            },
        }
        .encode(a)
    }));
    tree.extend(rec(2, NFS_PROGRAM, 10, &|a| {
        Symlink3Args {
            location: dirop(alias(1), "l"),
            symlink: Symlinkdata3 {
                symlink_attributes: Sattr3::default(),
                symlink_data: Nfspath3(b"../../etc/passwd".to_vec()),
            },
        }
        .encode(a)
    }));
    tree.extend(rec(3, NFS_PROGRAM, 5, &|a| {
        Readlink3Args { symlink: alias(2) }.encode(a)
    }));
    tree.extend(rec(4, NFS_PROGRAM, 14, &|a| {
        Rename3Args {
            from: dirop(alias(1), "l"),
            to: dirop(root.clone(), "m"),
        }
        .encode(a)
    }));
    tree.extend(rec(5, NFS_PROGRAM, 3, &|a| {
        Lookup3Args {
            what: dirop(alias(1), ".."),
        }
        .encode(a)
    }));
    tree.extend(rec(6, NFS_PROGRAM, 16, &|a| {
        Readdir3Args {
            dir: root.clone(),
            cookie: 0,
            cookieverf: [0; 8],
            count: 4096,
        }
        .encode(a)
    }));
    tree.extend(rec(7, NFS_PROGRAM, 13, &|a| {
        Rmdir3Args {
            object: dirop(root.clone(), "d"),
        }
        .encode(a)
    }));
    c.put("tree", &tree);
    // File system queries and odd calls.
    let mut fs = Vec::new();
    fs.extend(rec(1, NFS_PROGRAM, 18, &|a| {
        Fsstat3Args {
            fsroot: root.clone(),
        }
        .encode(a)
    }));
    fs.extend(rec(2, NFS_PROGRAM, 19, &|a| {
        Fsinfo3Args {
            fsroot: root.clone(),
        }
        .encode(a)
    }));
    fs.extend(rec(3, NFS_PROGRAM, 20, &|a| {
        Pathconf3Args {
            object: root.clone(),
        }
        .encode(a)
    }));
    fs.extend(rec(4, NFS_PROGRAM, 4, &|a| {
        Access3Args {
            object: root.clone(),
            access: 0x3f,
        }
        .encode(a)
    }));
    fs.extend(rec(5, NFS_PROGRAM, 21, &|a| {
        Commit3Args {
            file: root.clone(),
            offset: 0,
            count: 0,
        }
        .encode(a)
    }));
    fs.extend(rec(6, NFS_PROGRAM, 2, &|a| {
        Setattr3Args {
            object: root.clone(),
            new_attributes: sattr(),
            guard: None,
        }
        .encode(a)
    }));
    fs.extend(rec(7, NFS_PROGRAM, 11, &|a| {
        Mknod3Args {
            location: dirop(root.clone(), "fifo"),
            what: Mknoddata3::Fifo(Sattr3::default()),
        }
        .encode(a)
    }));
    fs.extend(rec(8, NFS_PROGRAM, 15, &|a| {
        Link3Args {
            file: alias(1),
            link: dirop(root.clone(), "hard"),
        }
        .encode(a)
    }));
    c.put("fs-queries", &fs);
    // MOUNT and LOCALIO.
    let mut mount = Vec::new();
    let export = std::fs::canonicalize(std::env::temp_dir().join("nfsl-fuzz-dispatch-export"))
        .unwrap_or_else(|_| std::env::temp_dir().join("nfsl-fuzz-dispatch-export"));
    let path = export.to_string_lossy().into_owned();
    mount.extend(rec(1, MOUNT_PROGRAM, 1, &|a| {
        Dirpath(path.as_bytes().to_vec()).encode(a)
    }));
    mount.extend(rec(2, MOUNT_PROGRAM, 2, &|_| {}));
    mount.extend(rec(3, MOUNT_PROGRAM, 5, &|a| a.put_u32(0)));
    mount.extend(rec(4, MOUNT_PROGRAM, 5, &|_| {}));
    mount.extend(rec(5, MOUNT_PROGRAM, 3, &|a| {
        Dirpath(path.as_bytes().to_vec()).encode(a)
    }));
    mount.extend(rec(6, LOCALIO_PROGRAM, 1, &|a| {
        a.put_fixed_opaque(&[7; 16])
    }));
    mount.extend(rec(7, LOCALIO_PROGRAM, 0, &|_| {}));
    c.put("mount-localio", &mount);
}
