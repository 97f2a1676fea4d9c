//! File handles across server restarts: they stay valid with the same state
//! directory, are authenticated (no bit of them can be changed), and are
//! refused by a server holding a different key.

mod common;

use std::collections::HashMap;

use common::*;
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_xdr::encode_to_vec;

const OPTIONS: &str = "rw,insecure,no_root_squash";
const DATA: &[u8] = b"survives restarts\n";

/// An export with `data` (DATA) and `sub/inner`.
fn export() -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::write(dir.path().join("data"), DATA).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/inner"), b"inner").unwrap();
    dir
}

fn assert_rejected(status: Nfsstat3, what: &str) {
    assert!(
        matches!(status, Nfsstat3::Badhandle | Nfsstat3::Stale),
        "{what}: {status:?}, expected BADHANDLE or STALE"
    );
}

/// The old handles still work after `server` came back.
fn assert_handles_work(
    server: &NfslServer,
    root: &NfsFh3,
    file: (&NfsFh3, u64),
    dir: (&NfsFh3, u64),
) {
    let mut c = RpcClient::connect(server.port());
    assert_eq!(c.attrs(root).ftype, Ftype3::Dir);
    let attrs = c.attrs(file.0);
    assert_eq!((attrs.ftype, attrs.fileid), (Ftype3::Reg, file.1));
    match c.read(file.0, 0, 4096) {
        NfsResult::Ok(ok) => {
            assert_eq!(ok.data.0, DATA);
            assert!(ok.eof);
        }
        NfsResult::Err(s, _) => panic!("READ with the old handle: {s:?}"),
    }
    let attrs = c.attrs(dir.0);
    assert_eq!((attrs.ftype, attrs.fileid), (Ftype3::Dir, dir.1));
    let (_, inner) = c.lookup_ok(dir.0, "inner");
    assert_eq!(inner.size, 5);
}

#[test]
fn handles_survive_sigterm_and_sigkill_restarts() {
    let dir = export();
    let mut server = NfslServer::start(dir.path(), OPTIONS);
    let mut c = RpcClient::connect(server.port());
    let root = c.mount(server.export());
    let (file, file_attrs) = c.lookup_ok(&root, "data");
    let (sub, sub_attrs) = c.lookup_ok(&root, "sub");
    drop(c);

    // First SIGTERM (restart asserts the exit status is 0), same state
    // directory; then a crash, which loses nothing either: the key is
    // already on disk.
    for crash in [false, true] {
        if crash {
            server.kill9();
        }
        server.restart();
        assert_handles_work(
            &server,
            &root,
            (&file, file_attrs.fileid),
            (&sub, sub_attrs.fileid),
        );
    }

    // MNT gives back a root handle that names the same directory.
    let mut c = RpcClient::connect(server.port());
    let root_again = c.mount(server.export());
    assert_eq!(c.attrs(&root_again).fileid, c.attrs(&root).fileid);
}

#[test]
fn sigterm_exits_zero() {
    let dir = export();
    let mut server = NfslServer::start(dir.path(), OPTIONS);
    let mut c = RpcClient::connect(server.port());
    c.mount(server.export());
    let status = server.stop();
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        server.stderr_text()
    );
}

#[test]
fn every_single_bit_flip_of_a_handle_is_refused() {
    let dir = export();
    let server = NfslServer::start(dir.path(), OPTIONS);
    let mut c = RpcClient::connect(server.port());
    let root = c.mount(server.export());
    let mut handles = vec![("root", root.clone())];
    handles.push(("file", c.lookup_ok(&root, "data").0));
    handles.push(("dir", c.lookup_ok(&root, "sub").0));

    for (what, fh) in handles {
        // Pipeline one GETATTR per flipped bit, then read all the answers.
        let bits = fh.0.len() * 8;
        let mut batch = Vec::new();
        let mut bit_of_xid = HashMap::new();
        for bit in 0..bits {
            let mut bad = fh.clone();
            bad.0[bit / 8] ^= 1 << (bit % 8);
            let args = encode_to_vec(&Getattr3Args { object: bad });
            let call = c.new_call(NFS_PROGRAM, NFS_V3, Nfs3Procedure::Getattr as u32, args);
            bit_of_xid.insert(call.xid, bit);
            batch.extend_from_slice(&call.record());
        }
        c.send_raw(&batch).unwrap();
        for _ in 0..bits {
            let reply = c.read_reply();
            let bit = bit_of_xid
                .remove(&reply.xid)
                .unwrap_or_else(|| panic!("unexpected xid {:#x}", reply.xid));
            let res: Getattr3Res = nfsl_xdr::decode_exact(reply.results()).unwrap();
            assert_rejected(
                res.status(),
                &format!("GETATTR of the {what} handle with bit {bit} of {bits} flipped"),
            );
        }
        // The unaltered handle still works; one byte shorter or longer does not.
        assert_eq!(c.getattr(&fh).status(), Nfsstat3::Ok);
        let mut short = fh.clone();
        short.0.pop();
        assert_rejected(c.getattr(&short).status(), "a handle cut by one byte");
        if fh.0.len() < NFS3_FHSIZE {
            let mut long = fh.clone();
            long.0.push(0);
            assert_rejected(c.getattr(&long).status(), "a handle with a byte added");
        }
    }
}

#[test]
fn handles_are_refused_by_a_server_with_another_state_dir() {
    let dir = export();
    let state_a = tempdir();
    let state_b = tempdir();

    let mut a = NfslServer::start_with_state(dir.path(), OPTIONS, state_a.path());
    let mut c = RpcClient::connect(a.port());
    let root = c.mount(a.export());
    let (file, _) = c.lookup_ok(&root, "data");
    drop(c);
    assert!(a.stop().success());

    let b = NfslServer::start_with_state(dir.path(), OPTIONS, state_b.path());
    let mut c = RpcClient::connect(b.port());
    assert_rejected(c.getattr(&root).status(), "root handle under another key");
    assert_rejected(c.getattr(&file).status(), "file handle under another key");
    // Its own handles work, and differ from the other key's.
    let root_b = c.mount(b.export());
    assert_ne!(root_b, root, "handles do not depend on the key");
    assert_eq!(c.getattr(&root_b).status(), Nfsstat3::Ok);
    drop(b);

    // The first state directory still holds the first key.
    a.restart();
    let mut c = RpcClient::connect(a.port());
    assert_eq!(c.getattr(&file).status(), Nfsstat3::Ok);
}
