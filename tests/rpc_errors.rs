//! Exact RPC- and NFS-level answers of `nfsl serve` to malformed, hostile or
//! unusual requests, over a raw socket (`insecure` export so the client may
//! use any source port, except in the `secure` test).
//!
//! Where knfsd or Ganesha answer differently, the test says so. knfsd
//! rejects names containing '/' or longer than 255 bytes already in its XDR
//! decoder (GARBAGE_ARGS) and its rpc.mountd also serves MOUNT v1 and v2.
//! Ganesha 4.3 (checked through a one-port proxy) serves MOUNT v1, ignores
//! trailing argument bytes, answers LOOKUP "dir/inner" with OK, answers an
//! unknown auth flavor with AUTH_REJECTEDCRED, does not answer rpcvers 3
//! at all, and lets unprivileged ports MNT a `PrivilegedPort` export.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::symlink;
use std::time::Duration;

use common::*;
use nfsl_proto::mount3::{ExportList, Mountres3, Mountstat3, MOUNT_PROGRAM, MOUNT_V3};
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_xdr::{encode_to_vec, Encoder};

const INSECURE: &str = "rw,insecure,no_root_squash";

/// An export holding `file` (known contents), `dir/inner`, and a symlink
/// `passwd` pointing outside the export, served `insecure`.
struct Fixture {
    export: tempfile::TempDir,
    server: NfslServer,
    client: RpcClient,
    root: NfsFh3,
}

const FILE_DATA: &[u8] = b"contents of file\n";

fn fixture() -> Fixture {
    let export = tempdir();
    std::fs::write(export.path().join("file"), FILE_DATA).unwrap();
    std::fs::create_dir(export.path().join("dir")).unwrap();
    std::fs::write(export.path().join("dir/inner"), b"inner").unwrap();
    symlink("/etc/passwd", export.path().join("passwd")).unwrap();
    let server = NfslServer::start(export.path(), INSECURE);
    let mut client = RpcClient::connect(server.port());
    let root = client.mount(server.export());
    Fixture {
        export,
        server,
        client,
        root,
    }
}

fn getattr_args(fh: &NfsFh3) -> Vec<u8> {
    encode_to_vec(&Getattr3Args { object: fh.clone() })
}

/// The server still answers NULL and GETATTR on this connection.
fn assert_still_serving(c: &mut RpcClient, root: &NfsFh3) {
    let reply = c.call_raw(NFS_PROGRAM, NFS_V3, 0, &[]);
    assert_eq!(reply.results(), b"", "NULL returns void");
    assert_eq!(c.attrs(root).ftype, Ftype3::Dir);
}

#[test]
fn wrong_rpc_version_is_rpc_mismatch_2_2() {
    let mut f = fixture();
    let mut call = f.client.new_call(NFS_PROGRAM, NFS_V3, 0, vec![]);
    call.rpcvers = 3;
    let reply = f.client.exchange(&call);
    assert_eq!(
        reply.body,
        ReplyBody::Denied(Rejected::RpcMismatch { low: 2, high: 2 })
    );
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn unknown_program_is_prog_unavail() {
    let mut f = fixture();
    for prog in [0x2000_1234, 0x3fff_fff0] {
        let reply = f.client.call_raw(prog, 1, 0, &[]);
        assert_eq!(reply.accepted(), &AcceptStat::ProgUnavail, "program {prog}");
    }
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn nfs_versions_other_than_3_are_prog_mismatch_3_3() {
    let mut f = fixture();
    for vers in [1, 2, 4, 5] {
        let reply = f.client.call_raw(NFS_PROGRAM, vers, 0, &[]);
        assert_eq!(
            reply.accepted(),
            &AcceptStat::ProgMismatch { low: 3, high: 3 },
            "NFS version {vers}"
        );
    }
}

#[test]
fn mount_versions_other_than_3_are_prog_mismatch_3_3() {
    // knfsd's rpc.mountd also serves MOUNT v1 and v2; nfsl serves v3 only.
    let mut f = fixture();
    for vers in [1, 2, 4] {
        let reply = f.client.call_raw(MOUNT_PROGRAM, vers, 0, &[]);
        assert_eq!(
            reply.accepted(),
            &AcceptStat::ProgMismatch { low: 3, high: 3 },
            "MOUNT version {vers}"
        );
    }
}

#[test]
fn unknown_procedures_are_proc_unavail() {
    let mut f = fixture();
    let reply = f
        .client
        .call_raw(NFS_PROGRAM, NFS_V3, 22, &getattr_args(&f.root));
    assert_eq!(reply.accepted(), &AcceptStat::ProcUnavail, "NFS proc 22");
    let reply = f.client.call_raw(NFS_PROGRAM, NFS_V3, 0xffff_ffff, &[]);
    assert_eq!(
        reply.accepted(),
        &AcceptStat::ProcUnavail,
        "NFS proc 2^32-1"
    );
    let reply = f.client.call_raw(MOUNT_PROGRAM, MOUNT_V3, 6, &[]);
    assert_eq!(reply.accepted(), &AcceptStat::ProcUnavail, "MOUNT proc 6");
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn truncated_getattr_args_are_garbage_args() {
    let mut f = fixture();
    let full = getattr_args(&f.root);
    // No arguments at all, a length word alone, and a handle cut short.
    for cut in [0, 4, full.len() - 4] {
        let reply = f.client.nfs_raw(Nfs3Procedure::Getattr, &full[..cut]);
        assert_eq!(
            reply.accepted(),
            &AcceptStat::GarbageArgs,
            "GETATTR args cut to {cut} of {} bytes",
            full.len()
        );
    }
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn getattr_with_trailing_bytes_is_garbage_args() {
    let mut f = fixture();
    let mut args = getattr_args(&f.root);
    args.extend_from_slice(&[0, 0, 0, 1]);
    let reply = f.client.nfs_raw(Nfs3Procedure::Getattr, &args);
    assert_eq!(reply.accepted(), &AcceptStat::GarbageArgs);
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn unknown_auth_flavor_is_auth_badcred() {
    let mut f = fixture();
    let mut call = f
        .client
        .new_call(NFS_PROGRAM, NFS_V3, 1, getattr_args(&f.root));
    call.cred = Cred::Raw {
        flavor: 0x0bad_f1a0,
        body: vec![1, 2, 3, 4],
    };
    let reply = f.client.exchange(&call);
    assert_eq!(
        reply.body,
        ReplyBody::Denied(Rejected::AuthError(AUTH_BADCRED))
    );
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn auth_none_and_malformed_auth_sys() {
    let mut f = fixture();
    // AUTH_NONE is a valid credential for NULL.
    let mut call = f.client.new_call(NFS_PROGRAM, NFS_V3, 0, vec![]);
    call.cred = Cred::None;
    assert_eq!(f.client.exchange(&call).results(), b"");
    // An AUTH_SYS body cut in the middle of the machine name.
    let mut call = f
        .client
        .new_call(NFS_PROGRAM, NFS_V3, 1, getattr_args(&f.root));
    call.cred = Cred::Raw {
        flavor: AUTH_SYS,
        body: vec![0, 0, 0, 1, 0, 0, 0, 200, b'x', b'y', b'z', 0],
    };
    let reply = f.client.exchange(&call);
    assert!(
        matches!(
            reply.body,
            ReplyBody::Denied(Rejected::AuthError(AUTH_BADCRED))
                | ReplyBody::Accepted {
                    stat: AcceptStat::GarbageArgs,
                    ..
                }
        ),
        "truncated AUTH_SYS body: {reply:?}"
    );
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn huge_record_closes_only_that_connection() {
    let mut f = fixture();
    let mut bystander = RpcClient::connect(f.server.port());
    assert_still_serving(&mut bystander, &f.root);

    // Last fragment, 0x7fffffff bytes long, followed by the start of a call.
    let mut bytes = vec![0xff, 0xff, 0xff, 0xff];
    bytes.extend_from_slice(&f.client.new_call(NFS_PROGRAM, NFS_V3, 0, vec![]).encode());
    f.client.send_raw(&bytes).unwrap();
    assert!(
        f.client.closed_within(Duration::from_secs(10)),
        "the server kept a connection that announced a 2 GiB record open"
    );

    assert_still_serving(&mut bystander, &f.root);
    let mut fresh = RpcClient::connect(f.server.port());
    assert_still_serving(&mut fresh, &f.root);
}

#[test]
fn fragmented_record_is_reassembled() {
    let mut f = fixture();
    let body = f
        .client
        .new_call(NFS_PROGRAM, NFS_V3, 1, getattr_args(&f.root))
        .encode();
    let xid = u32::from_be_bytes(body[..4].try_into().unwrap());
    // Three fragments, split inside the header and inside the handle.
    let cuts = [0, 5, body.len() - 3, body.len()];
    let mut bytes = Vec::new();
    for w in cuts.windows(2) {
        let last = if w[1] == body.len() { LAST_FRAGMENT } else { 0 };
        bytes.put_u32(last | (w[1] - w[0]) as u32);
        bytes.extend_from_slice(&body[w[0]..w[1]]);
    }
    f.client.send_raw(&bytes).unwrap();
    let reply = f.client.read_reply();
    assert_eq!(reply.xid, xid);
    let res: Getattr3Res = nfsl_xdr::decode_exact(reply.results()).unwrap();
    assert_eq!(res.status(), Nfsstat3::Ok);
}

#[test]
fn handle_of_65_bytes_is_garbage_args() {
    let mut f = fixture();
    let mut args = Vec::new();
    args.put_opaque(&[0x5a; 65]);
    let reply = f.client.nfs_raw(Nfs3Procedure::Getattr, &args);
    assert_eq!(reply.accepted(), &AcceptStat::GarbageArgs);
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn foreign_handles_are_badhandle_or_stale() {
    let mut f = fixture();
    let bogus = [
        NfsFh3(pseudo_random_bytes(32, 1)),
        NfsFh3(pseudo_random_bytes(64, 2)),
        NfsFh3(vec![]),
        NfsFh3(vec![0; 8]),
    ];
    for fh in &bogus {
        let status = f.client.getattr(fh).status();
        assert!(
            matches!(status, Nfsstat3::Badhandle | Nfsstat3::Stale),
            "GETATTR of a {}-byte made-up handle: {status:?}",
            fh.0.len()
        );
        let status = f.client.lookup(fh, b"file").status();
        assert!(
            matches!(status, Nfsstat3::Badhandle | Nfsstat3::Stale),
            "LOOKUP in a {}-byte made-up handle: {status:?}",
            fh.0.len()
        );
    }
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn lookup_of_a_name_with_a_slash_is_refused() {
    // knfsd refuses such names as GARBAGE_ARGS; an NFS error is fine too.
    // "dir/inner" exists, so a server that walks the path would answer OK.
    let mut f = fixture();
    for name in [&b"dir/inner"[..], b"/etc", b"dir/", b""] {
        let call = f.client.new_call(
            NFS_PROGRAM,
            NFS_V3,
            Nfs3Procedure::Lookup as u32,
            encode_to_vec(&Lookup3Args {
                what: diropargs(&f.root, name),
            }),
        );
        let reply = f.client.exchange(&call);
        if let AcceptStat::Success(results) = reply.accepted() {
            let res: Lookup3Res = nfsl_xdr::decode_exact(results).unwrap();
            assert_ne!(
                res.status(),
                Nfsstat3::Ok,
                "LOOKUP {:?} succeeded",
                String::from_utf8_lossy(name)
            );
        } else {
            assert_eq!(reply.accepted(), &AcceptStat::GarbageArgs);
        }
    }
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn name_length_limit_is_255_bytes() {
    let mut f = fixture();
    let status = f.client.lookup(&f.root, &[b'n'; 256]).status();
    assert_eq!(status, Nfsstat3::Nametoolong, "LOOKUP of a 256-byte name");
    let status = f.client.lookup(&f.root, &[b'n'; 255]).status();
    assert_eq!(status, Nfsstat3::Noent, "LOOKUP of a missing 255-byte name");
    let res = f.client.create(
        &f.root,
        &"c".repeat(256),
        CreateHow3::Unchecked(Sattr3::default()),
    );
    assert_eq!(
        res.status(),
        Nfsstat3::Nametoolong,
        "CREATE of a 256-byte name"
    );
}

#[test]
fn dotdot_at_the_export_root_is_the_root() {
    let mut f = fixture();
    let root_id = f.client.attrs(&f.root).fileid;
    let (up, attrs) = f.client.lookup_ok(&f.root, "..");
    assert_eq!(attrs.fileid, root_id, "'..' of the root left the export");
    assert_eq!(f.client.attrs(&up).fileid, root_id);
    let (_, up_up) = f.client.lookup_ok(&up, "..");
    assert_eq!(up_up.fileid, root_id);
    // And '..' of a subdirectory is the root too.
    let (dir, _) = f.client.lookup_ok(&f.root, "dir");
    let (_, parent) = f.client.lookup_ok(&dir, "..");
    assert_eq!(parent.fileid, root_id);
    let (_, itself) = f.client.lookup_ok(&f.root, ".");
    assert_eq!(itself.fileid, root_id);
}

#[test]
fn symlink_out_of_the_export_is_not_followed() {
    let mut f = fixture();
    let (link, attrs) = f.client.lookup_ok(&f.root, "passwd");
    assert_eq!(attrs.ftype, Ftype3::Lnk);
    assert_eq!(attrs.size, "/etc/passwd".len() as u64);

    let res: Readlink3Res = f.client.nfs(
        Nfs3Procedure::Readlink,
        &Readlink3Args {
            symlink: link.clone(),
        },
    );
    match res {
        NfsResult::Ok(ok) => assert_eq!(ok.data.0, b"/etc/passwd"),
        NfsResult::Err(s, _) => panic!("READLINK: {s:?}"),
    }

    let (file, _) = f.client.lookup_ok(&f.root, "file");
    match f.client.read(&file, 0, 4096) {
        NfsResult::Ok(ok) => assert_eq!(ok.data.0, FILE_DATA),
        NfsResult::Err(s, _) => panic!("READ of a regular file: {s:?}"),
    }
    match f.client.read(&link, 0, 4096) {
        NfsResult::Ok(ok) => panic!(
            "READ of a symlink returned {} bytes: {:?}",
            ok.count,
            String::from_utf8_lossy(&ok.data.0)
        ),
        NfsResult::Err(s, _) => assert_ne!(s, Nfsstat3::Ok),
    }
    let status = f.client.lookup(&link, b"x").status();
    assert_ne!(status, Nfsstat3::Ok, "LOOKUP through a symlink handle");
}

#[test]
fn writes_through_a_symlink_handle_do_not_reach_its_target() {
    // The target is a file of ours outside the export, not /etc/passwd, so a
    // server that follows the link damages nothing that matters.
    let mut f = fixture();
    let outside = tempdir();
    let target = outside.path().join("target");
    std::fs::write(&target, b"outside").unwrap();
    symlink(&target, f.export.path().join("escape")).unwrap();
    let (link, attrs) = f.client.lookup_ok(&f.root, "escape");
    assert_eq!(attrs.ftype, Ftype3::Lnk);
    let status = f
        .client
        .write(&link, 0, b"XXXX", StableHow::FileSync)
        .status();
    assert_ne!(status, Nfsstat3::Ok, "WRITE to a symlink handle");
    let setattr: Setattr3Res = f.client.nfs(
        Nfs3Procedure::Setattr,
        &Setattr3Args {
            object: link,
            new_attributes: Sattr3 {
                size: Some(0),
                ..Sattr3::default()
            },
            guard: None,
        },
    );
    assert_ne!(
        setattr.status(),
        Nfsstat3::Ok,
        "truncating a symlink handle"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"outside");
}

#[test]
fn mnt_outside_the_exports_is_refused() {
    let mut f = fixture();
    let inside_but_missing = format!("{}/no-such-dir", f.server.export());
    for path in ["/etc", "/", "/nonexistent/path", &inside_but_missing] {
        match f.client.mnt(path) {
            Mountres3::Err(s) => assert!(
                matches!(s, Mountstat3::Acces | Mountstat3::Noent | Mountstat3::Perm),
                "MNT {path}: {s:?}"
            ),
            Mountres3::Ok(_) => panic!("MNT {path} succeeded"),
        }
    }
    // A relative spelling of the export is not the export either.
    let relative = f.server.export().trim_start_matches('/').to_string();
    assert!(matches!(f.client.mnt(&relative), Mountres3::Err(_)));
    assert_still_serving(&mut f.client, &f.root);
}

#[test]
fn mount_export_lists_the_export() {
    // libnfs 4.0 calls EXPORT right after MNT and fails the mount when
    // EXPORT fails, so this is not optional.
    let mut f = fixture();
    let list: ExportList = f.client.call(MOUNT_PROGRAM, MOUNT_V3, 5, &());
    let dirs: Vec<_> = list.0.iter().map(|e| e.dir.0.as_slice()).collect();
    assert_eq!(dirs, [f.server.export().as_bytes()]);
}

#[test]
fn pipelined_requests_are_each_answered_once() {
    let mut f = fixture();
    let (file, attrs) = f.client.lookup_ok(&f.root, "file");
    let mut batch = Vec::new();
    let mut expected = HashMap::new();
    for i in 0..200 {
        let fh = if i % 2 == 0 { &f.root } else { &file };
        let call = f.client.new_call(NFS_PROGRAM, NFS_V3, 1, getattr_args(fh));
        expected.insert(call.xid, i % 2 == 1);
        batch.extend_from_slice(&call.record());
    }
    f.client.send_raw(&batch).unwrap();
    let mut seen = HashMap::new();
    for _ in 0..200 {
        let reply = f.client.read_reply();
        let res: Getattr3Res = nfsl_xdr::decode_exact(reply.results()).unwrap();
        let NfsResult::Ok(ok) = res else {
            panic!("pipelined GETATTR failed: {res:?}")
        };
        let is_file = *expected
            .get(&reply.xid)
            .unwrap_or_else(|| panic!("reply with unknown xid {:#x}", reply.xid));
        assert_eq!(ok.obj_attributes.fileid == attrs.fileid, is_file);
        *seen.entry(reply.xid).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 200, "some xids were not answered");
    assert!(seen.values().all(|&n| n == 1), "an xid was answered twice");
    // No duplicate reply is pending: a call sent only now, after all 200
    // answers arrived, gets the very next reply (a duplicate would have
    // been written when its request was answered, before this call came).
    let marker = f.client.new_call(NFS_PROGRAM, NFS_V3, 0, Vec::new());
    f.client.send_raw(&marker.record()).unwrap();
    let next = f.client.read_reply();
    assert_eq!(next.xid, marker.xid, "an extra reply arrived first");
}

#[test]
fn secure_export_requires_a_privileged_source_port() {
    let export = tempdir();
    std::fs::write(export.path().join("file"), b"x").unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");

    let mut privileged = RpcClient::connect_privileged(server.port());
    assert!(privileged.local_port() < 1024);
    let root = privileged.mount(server.export());
    privileged.lookup_ok(&root, "file");

    let mut unprivileged = RpcClient::connect(server.port());
    assert!(unprivileged.local_port() >= 1024);
    let mnt = unprivileged.call_raw(
        MOUNT_PROGRAM,
        MOUNT_V3,
        1,
        &encode_to_vec(&nfsl_proto::mount3::Dirpath(
            server.export().as_bytes().to_vec(),
        )),
    );
    assert!(
        refused(&mnt, |r: Mountres3| matches!(r, Mountres3::Err(_))),
        "MNT from port {} of a secure export: {mnt:?}",
        unprivileged.local_port()
    );
    let get = unprivileged.nfs_raw(Nfs3Procedure::Getattr, &getattr_args(&root));
    assert!(
        refused(&get, |r: Getattr3Res| r.status() != Nfsstat3::Ok),
        "GETATTR from an unprivileged port of a secure export: {get:?}"
    );
}

/// Whether `reply` refuses: an RPC-level denial, or a result `is_err` accepts.
fn refused<R: nfsl_xdr::Xdr>(reply: &Reply, is_err: impl Fn(R) -> bool) -> bool {
    match &reply.body {
        ReplyBody::Denied(Rejected::AuthError(_)) => true,
        ReplyBody::Accepted {
            stat: AcceptStat::Success(r),
            ..
        } => is_err(nfsl_xdr::decode_exact(r).expect("decodable result")),
        _ => false,
    }
}
