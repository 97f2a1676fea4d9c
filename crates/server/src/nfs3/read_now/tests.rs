use std::os::fd::AsFd;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_xdr::{decode_exact, encode_to_vec};

use crate::testkit::{auth_sys, Kit, RW};

fn read_args(fh: &NfsFh3, offset: u64, count: u32) -> Vec<u8> {
    encode_to_vec(&Read3Args {
        file: fh.clone(),
        offset,
        count,
    })
}

/// Data, eof and count of a successful READ reply.
fn ok(bytes: &[u8]) -> (Vec<u8>, bool, u32) {
    match decode_exact::<Read3Res>(bytes).expect("READ reply") {
        NfsResult::Ok(ok) => {
            assert!(ok.file_attributes.is_some(), "attributes");
            (ok.data.0, ok.eof, ok.count)
        }
        NfsResult::Err(s, _) => panic!("READ: {s:?}"),
    }
}

fn read(k: &Kit, fh: &NfsFh3, offset: u64, count: u32) -> (Vec<u8>, bool, u32) {
    let (outcome, out) = k.raw(
        NFS_PROGRAM,
        Nfs3Procedure::Read as u32,
        &read_args(fh, offset, count),
    );
    assert_eq!(outcome, nfsl_rpc_service::CallOutcome::Success);
    ok(&out)
}

fn try_read(k: &Kit, fh: &NfsFh3, offset: u64, count: u32) -> Option<(Vec<u8>, bool, u32)> {
    k.try_nfs(Nfs3Procedure::Read, &read_args(fh, offset, count))
        .map(|out| ok(&out))
}

fn kit(options: &str) -> (Kit, NfsFh3) {
    let k = Kit::new(options, |p| {
        std::fs::write(p.join("file"), b"0123456789").unwrap()
    });
    let root = k.root();
    let (fh, _) = k.lookup(&root, "file");
    (k, fh)
}

/// A READ is answered without waiting once its file is open in the cache
/// with the caller's access decided, with what the ordinary READ answers;
/// before that, and for another caller, it declines.
#[test]
fn cached_reads_are_answered_as_the_ordinary_read_does() {
    let (k, fh) = kit(RW);
    assert_eq!(try_read(&k, &fh, 0, 4), None, "not in the file cache yet");
    assert_eq!(read(&k, &fh, 0, 4), (b"0123".to_vec(), false, 4));
    for (offset, count) in [
        (0, 4),
        (6, 4),
        (8, 100),
        (10, 100),
        (u64::MAX, u32::MAX),
        (0, 0),
    ] {
        assert_eq!(
            try_read(&k, &fh, offset, count),
            Some(read(&k, &fh, offset, count)),
            "READ {offset} {count}"
        );
    }
    // Another caller's access is not decided yet: that takes a credential
    // switch, so it declines (and the ordinary READ decides it).
    let other = auth_sys(1000, 1000);
    let args = read_args(&fh, 0, 4);
    assert_eq!(k.try_nfs_as(&other, Nfs3Procedure::Read, &args), None);
    // NULL needs nothing.
    assert_eq!(k.try_nfs(Nfs3Procedure::Null, &[]), Some(vec![]));
    // Nor is anything else tried.
    let getattr = encode_to_vec(&Getattr3Args { object: fh.clone() });
    assert_eq!(k.try_nfs(Nfs3Procedure::Getattr, &getattr), None);
}

/// What must not be done on a thread that may not wait declines: a READ
/// large enough to go out with `sendfile`, data not in the page cache, a
/// file removed since it was cached, an export with `subtree_check`.
#[test]
fn reads_that_could_wait_decline() {
    let (k, fh) = kit(RW);
    let big = vec![7u8; 1 << 20];
    std::fs::write(k.path().join("big"), &big).unwrap();
    let (bigfh, _) = k.lookup(&k.root(), "big");
    assert_eq!(read(&k, &bigfh, 0, 4096).0, big[..4096]);
    assert_eq!(
        try_read(&k, &bigfh, 0, 4096).map(|r| r.0),
        Some(big[..4096].to_vec())
    );
    assert_eq!(
        try_read(&k, &bigfh, 0, 64 << 10),
        None,
        "sent with sendfile"
    );
    // Out of the page cache (written back first, so the pages can go).
    let f = std::fs::File::open(k.path().join("big")).unwrap();
    f.sync_all().unwrap();
    rustix::fs::fadvise(f.as_fd(), 0, None, rustix::fs::Advice::DontNeed).unwrap();
    assert_eq!(
        try_read(&k, &bigfh, 512 << 10, 4096),
        None,
        "not in the page cache"
    );
    assert_eq!(read(&k, &bigfh, 512 << 10, 4096).0, big[..4096]);
    assert!(
        try_read(&k, &bigfh, 512 << 10, 4096).is_some(),
        "read in since"
    );

    // Removed behind the server's back: the ordinary READ says STALE.
    read(&k, &fh, 0, 4);
    assert!(try_read(&k, &fh, 0, 4).is_some());
    std::fs::remove_file(k.path().join("file")).unwrap();
    assert_eq!(try_read(&k, &fh, 0, 4), None, "removed");

    let (k, fh) = kit("rw,no_root_squash,insecure,subtree_check");
    read(&k, &fh, 0, 4);
    assert_eq!(try_read(&k, &fh, 0, 4), None, "subtree_check");
}
