//! NFSv3 and MOUNT v3 arguments (as the server decodes them) and results
//! (as the client decodes them). The first input byte chooses the
//! procedure, the rest is its XDR.

use std::fmt::Debug;

use nfsl_proto::mount3::{Dirpath, ExportList, MountList, Mountres3};
use nfsl_proto::nfs3::*;
use nfsl_xdr::{decode_exact, encode_to_vec, Xdr};

use crate::alloc::{bounded, input_bound};
use crate::bulk;

/// Decodes `body` as exactly one `T`; if it is one, checks that it
/// re-encodes to the same length (only padding may differ: it is not
/// checked on decode and re-encoded as zeros) and decodes back to itself.
/// Memory is bounded by the input.
pub fn round_trip<T: Xdr + PartialEq + Debug>(body: &[u8]) {
    let decoded = bounded(std::any::type_name::<T>(), input_bound(body.len()), || {
        decode_exact::<T>(body)
    });
    if let Ok(value) = decoded {
        let again = encode_to_vec(&value);
        assert_eq!(
            again.len(),
            body.len(),
            "{value:?} re-encoded to another length"
        );
        assert_eq!(decode_exact::<T>(&again).as_ref(), Ok(&value));
    }
}

/// Arguments of every NFSv3 procedure (byte 0 modulo 22 is the procedure
/// number), decoded as the server does: [`round_trip`]'s checks, plus
/// trailing bytes are an error (`decode_exact`). WRITE's also go through
/// the borrowed view the server decodes them with, which must agree with
/// the owned decoder ([`crate::bulk`]'s `write3_args`).
pub fn nfs3_args(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 22 {
        0 => round_trip::<()>(body),
        1 => round_trip::<Getattr3Args>(body),
        2 => round_trip::<Setattr3Args>(body),
        3 => round_trip::<Lookup3Args>(body),
        4 => round_trip::<Access3Args>(body),
        5 => round_trip::<Readlink3Args>(body),
        6 => round_trip::<Read3Args>(body),
        7 => {
            round_trip::<Write3Args>(body);
            bulk::write3_args(body);
        }
        8 => round_trip::<Create3Args>(body),
        9 => round_trip::<Mkdir3Args>(body),
        10 => round_trip::<Symlink3Args>(body),
        11 => round_trip::<Mknod3Args>(body),
        12 => round_trip::<Remove3Args>(body),
        13 => round_trip::<Rmdir3Args>(body),
        14 => round_trip::<Rename3Args>(body),
        15 => round_trip::<Link3Args>(body),
        16 => round_trip::<Readdir3Args>(body),
        17 => round_trip::<Readdirplus3Args>(body),
        18 => round_trip::<Fsstat3Args>(body),
        19 => round_trip::<Fsinfo3Args>(body),
        20 => round_trip::<Pathconf3Args>(body),
        _ => round_trip::<Commit3Args>(body),
    }
}

/// Results of every NFSv3 procedure (byte 0 modulo 22), decoded as the
/// client does (`decode_exact` of the reply's results): [`round_trip`]'s
/// checks. READ's also go through the borrowed view the client decodes
/// them with, `decode_read3_res(body, max)` with a `max` the first byte's
/// quotient by 22 chooses ([`crate::bulk`]'s `read3_res`).
pub fn nfs3_results(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 22 {
        0 => round_trip::<()>(body),
        1 => round_trip::<Getattr3Res>(body),
        2 => round_trip::<Setattr3Res>(body),
        3 => round_trip::<Lookup3Res>(body),
        4 => round_trip::<Access3Res>(body),
        5 => round_trip::<Readlink3Res>(body),
        6 => {
            round_trip::<Read3Res>(body);
            bulk::read3_res(which, body);
        }
        7 => round_trip::<Write3Res>(body),
        8 => round_trip::<Create3Res>(body),
        9 => round_trip::<Mkdir3Res>(body),
        10 => round_trip::<Symlink3Res>(body),
        11 => round_trip::<Mknod3Res>(body),
        12 => round_trip::<Remove3Res>(body),
        13 => round_trip::<Rmdir3Res>(body),
        14 => round_trip::<Rename3Res>(body),
        15 => round_trip::<Link3Res>(body),
        16 => round_trip::<Readdir3Res>(body),
        17 => round_trip::<Readdirplus3Res>(body),
        18 => round_trip::<Fsstat3Res>(body),
        19 => round_trip::<Fsinfo3Res>(body),
        20 => round_trip::<Pathconf3Res>(body),
        _ => round_trip::<Commit3Res>(body),
    }
}

/// Arguments of the MOUNT v3 procedures (byte 0 modulo 6): NULL, DUMP,
/// UMNTALL and EXPORT take none; MNT and UMNT a `dirpath`.
pub fn mount3_args(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 6 {
        1 | 3 => round_trip::<Dirpath>(body),
        _ => round_trip::<()>(body),
    }
}

/// Results of the MOUNT v3 procedures (byte 0 modulo 3): MNT's
/// `mountres3`, DUMP's mount list, EXPORT's export list.
pub fn mount3_results(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => round_trip::<Mountres3>(body),
        1 => round_trip::<MountList>(body),
        _ => round_trip::<ExportList>(body),
    }
}
