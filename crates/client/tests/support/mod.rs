//! Pieces the fake NFS servers of these tests share: reply records and
//! the results every fake serves the same way (MNT, FSINFO, attributes).

#![allow(dead_code)] // each test binary uses its own subset

use nfsl_client::nfs3::*;
use nfsl_proto::mount3::{Mountres3, Mountres3Ok};
use nfsl_rpc::{encode_reply, frame_record, AcceptedReply, OpaqueAuth, ReplyBody};
use nfsl_xdr::encode_to_vec;

/// A framed accepted reply with status `stat`.
pub fn accepted_record(xid: u32, stat: AcceptedReply<'_>) -> Vec<u8> {
    let mut msg = Vec::new();
    encode_reply(
        xid,
        &ReplyBody::Accepted {
            verifier: OpaqueAuth::NONE,
            stat,
        },
        &mut msg,
    );
    let mut out = Vec::new();
    frame_record(&msg, &mut out);
    out
}

/// A framed successful reply carrying `results`.
pub fn success_record(xid: u32, results: &[u8]) -> Vec<u8> {
    accepted_record(xid, AcceptedReply::Success(results))
}

/// MNT results: the export's root handle, AUTH_SYS.
pub fn mnt_results(root: &[u8]) -> Vec<u8> {
    encode_to_vec(&Mountres3::Ok(Mountres3Ok {
        fhandle: NfsFh3(root.to_vec()),
        auth_flavors: vec![1],
    }))
}

/// FSINFO results with `io` as the largest and preferred READ/WRITE size.
pub fn fsinfo_results(io: u32) -> Vec<u8> {
    encode_to_vec(&Fsinfo3Res::Ok(Fsinfo3ResOk {
        obj_attributes: None,
        rtmax: io,
        rtpref: io,
        rtmult: 4096,
        wtmax: io,
        wtpref: io,
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

/// Attributes of a root-owned object (fsid 1, fileid 2, zero times).
pub fn attrs(ftype: Ftype3, mode: u32, nlink: u32, size: u64) -> Fattr3 {
    Fattr3 {
        ftype,
        mode,
        nlink,
        uid: 0,
        gid: 0,
        size,
        used: size,
        rdev: Specdata3::default(),
        fsid: 1,
        fileid: 2,
        atime: Nfstime3::default(),
        mtime: Nfstime3::default(),
        ctime: Nfstime3::default(),
    }
}
