//! The borrowed READ and WRITE views (`nfsl_proto::nfs3::bulk`): the
//! decoders the hot paths actually run on untrusted bytes, the server's
//! `Write3ArgsRef::decode` for every WRITE call and the client's
//! `decode_read3_res` for every READ reply. Each is checked against the
//! owned decoder of the same wire form ([`Write3Args`], [`Read3Res`]),
//! which [`round_trip`](crate::round_trip) checks on its own.

use std::ptr;

use nfsl_proto::nfs3::{
    decode_read3_res, pad_for, Read3Res, Read3ResOkHead, Write3Args, Write3ArgsRef, NFS3_FHSIZE,
};
use nfsl_proto::NfsResult;
use nfsl_xdr::{decode_exact, encode_to_vec, XdrError};

use crate::alloc::bounded;

/// What a view may hold on the heap: at most the file handle, never a
/// copy of the data (the point of a view; the owned decoders copy it).
const VIEW_HEAP: usize = NFS3_FHSIZE;

/// The data a view borrows must be the last opaque of `body`: asserts it
/// points into `body` there (no copy) and returns where it starts.
fn assert_borrowed_at_end(body: &[u8], data: &[u8]) -> usize {
    let at = body.len() - pad_for(data.len()).len() - data.len();
    assert!(
        ptr::eq(body[at..].as_ptr(), data.as_ptr()),
        "the view's data is not the input's last {} bytes before padding",
        data.len()
    );
    at
}

/// WRITE arguments (`nfs3_args`, procedure 7) through the server's view:
///
/// - the view accepts exactly the inputs the owned [`Write3Args`] decoder
///   accepts (both reject trailing bytes and leave `count` against the
///   data's length to the server), agrees on every field, and fails with
///   the same error otherwise (they run the same sequence of reads);
/// - its data is borrowed from the input, where the wire puts it, and it
///   holds at most a file handle on the heap;
/// - `encode`, and `head().encode` followed by the data and `pad_for`,
///   give the owned encoding byte for byte, the input's length, and
///   decode back to the same view.
pub(crate) fn write3_args(body: &[u8]) {
    let owned = decode_exact::<Write3Args>(body);
    let view = bounded("Write3ArgsRef::decode", VIEW_HEAP, || {
        Write3ArgsRef::decode(body)
    });
    let (owned, view) = match (owned, view) {
        (Ok(owned), Ok(view)) => (owned, view),
        (Err(owned), Err(view)) => {
            assert_eq!(view, owned, "the view and Write3Args fail differently");
            return;
        }
        (owned, view) => panic!("Write3Args decoded {owned:?} but the view {view:?}"),
    };
    assert_eq!(view.file, owned.file, "file");
    assert_eq!(view.offset, owned.offset, "offset");
    assert_eq!(view.count, owned.count, "count");
    assert_eq!(view.stable, owned.stable, "stable");
    assert_eq!(view.data, &owned.data.0[..], "data");
    assert_borrowed_at_end(body, view.data);

    let mut again = Vec::new();
    view.encode(&mut again);
    assert_eq!(again, encode_to_vec(&owned), "the view encodes otherwise");
    assert_eq!(
        again.len(),
        body.len(),
        "{view:?} re-encoded to another length"
    );
    let head = view.head();
    assert_eq!(head.data_len as usize, view.data.len());
    let mut split = Vec::new();
    head.encode(&mut split);
    split.extend_from_slice(view.data);
    split.extend_from_slice(pad_for(view.data.len()));
    assert_eq!(split, again, "head + data + padding differ from encode");
    assert_eq!(Write3ArgsRef::decode(&again), Ok(view));
}

/// The READ data limit a `nfs3_results` input chooses with its first
/// byte's quotient by 22 (its remainder, 6, chose READ): none for 0, so
/// the plain seeds decode whole, else 0, 4, ... 40 bytes.
fn chosen_max(which: u8) -> usize {
    match which / 22 {
        0 => usize::MAX,
        k => 4 * (usize::from(k) - 1),
    }
}

/// READ results (`nfs3_results`, procedure 6) through the client's
/// `decode_read3_res(body, max)`, for the input's chosen `max` (see
/// [`chosen_max`]) and for 0, no limit, and one less than, exactly and one
/// more than the data's length: `max` only matters against that length,
/// so these cover every case of every input.
///
/// - The view never returns more data than `max` or than the `count` on
///   the wire (`count` equals the data's length);
/// - it accepts exactly what the owned [`Read3Res`] decoder accepts, less
///   a success whose `count` differs from its data's length or whose data
///   exceeds `max` (the owned type carries both as they came), agrees
///   with it on every field, and without a limit fails with the same
///   error as it;
/// - `data_at` is where the data sits in the input (the client slices
///   the record there), the data is borrowed, not copied;
/// - `Read3ResOkHead::encode` followed by the data and `pad_for` gives
///   the owned encoding, the input's length, and decodes back to the same
///   view.
pub(crate) fn read3_res(which: u8, body: &[u8]) {
    let owned = decode_exact::<Read3Res>(body);
    let mut maxes = vec![chosen_max(which), 0, usize::MAX];
    if let Ok(NfsResult::Ok(ok)) = &owned {
        let n = ok.data.0.len();
        maxes.extend([n.saturating_sub(1), n, n + 1]);
    }
    for max in maxes {
        read3_res_within(body, max, &owned);
    }
}

fn read3_res_within(body: &[u8], max: usize, owned: &Result<Read3Res, XdrError>) {
    let view = bounded("decode_read3_res", VIEW_HEAP, || {
        decode_read3_res(body, max)
    });
    match (owned, view) {
        (Ok(NfsResult::Ok(o)), Ok(NfsResult::Ok(v))) => {
            assert!(v.data.len() <= max, "{} bytes over max {max}", v.data.len());
            assert_eq!(
                v.count as usize,
                v.data.len(),
                "count is not the data's length"
            );
            assert_eq!(v.file_attributes, o.file_attributes, "file_attributes");
            assert_eq!(v.count, o.count, "count");
            assert_eq!(v.eof, o.eof, "eof");
            assert_eq!(v.data, &o.data.0[..], "data");
            let at = assert_borrowed_at_end(body, v.data);
            assert_eq!(v.data_at, at, "data_at is not where the data is");

            let mut again = Vec::new();
            Read3ResOkHead {
                file_attributes: v.file_attributes.clone(),
                count: v.count,
                eof: v.eof,
            }
            .encode(&mut again);
            again.extend_from_slice(v.data);
            again.extend_from_slice(pad_for(v.data.len()));
            assert_eq!(again, encode_to_vec(owned.as_ref().unwrap()), "head + data");
            assert_eq!(again.len(), body.len(), "re-encoded to another length");
            assert_eq!(decode_read3_res(&again, max), Ok(NfsResult::Ok(v)));
        }
        (Ok(NfsResult::Err(os, oa)), Ok(NfsResult::Err(vs, va))) => {
            assert_eq!((os, oa), (&vs, &va), "failure arm");
        }
        (Ok(NfsResult::Ok(o)), Err(_)) => assert!(
            o.count as usize != o.data.0.len() || o.data.0.len() > max,
            "the view refused a READ success of {} bytes, count {}, within max {max}",
            o.data.0.len(),
            o.count
        ),
        (Err(owned), Err(view)) => {
            if max == usize::MAX {
                assert_eq!(&view, owned, "without a limit the view fails differently");
            }
        }
        (owned, view) => panic!("Read3Res decoded {owned:?} but the view (max {max}) {view:?}"),
    }
}
