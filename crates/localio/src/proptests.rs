//! Property tests of the codec: round trips, and arbitrary bytes never
//! panic or allocate beyond their length.

use proptest::prelude::*;

use crate::codec::*;
use nfsl_proto::nfs3::Nfsstat3;

fn nonce() -> impl Strategy<Value = Nonce> {
    any::<[u8; 16]>().prop_map(Nonce)
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        nonce().prop_map(Request::Register),
        nonce().prop_map(Request::Confirmed),
        (
            proptest::collection::vec(any::<u8>(), 0..=MAX_HANDLE),
            prop_oneof![Just(Access::Read), Just(Access::ReadWrite)],
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 0..=MAX_GIDS),
        )
            .prop_map(|(handle, access, uid, gid, gids)| Request::Open {
                handle,
                access,
                creds: Creds { uid, gid, gids },
            }),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        prop_oneof![
            Just(RegisterStatus::Ok),
            Just(RegisterStatus::InUse),
            Just(RegisterStatus::Busy)
        ]
        .prop_map(Reply::Register),
        any::<bool>().prop_map(Reply::Confirmed),
        (any::<[u32; 3]>(), any::<u64>(), any::<bool>()).prop_map(|(a, size, has_direct)| {
            Reply::Open(OpenReply::Ok {
                alignment: DioAlignment {
                    mem_align: a[0],
                    offset_align: a[1],
                    read_offset_align: a[2],
                },
                size,
                has_direct,
            })
        }),
        proptest::sample::select(Nfsstat3::ALL).prop_map(|s| Reply::Open(OpenReply::Nfs(s))),
        any::<i32>().prop_map(|e| Reply::Open(OpenReply::Errno(e))),
        "[a-z ]{0,256}".prop_map(Reply::Error),
    ]
}

/// Splits `bytes` at the given cut points and feeds the pieces.
fn feed(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for c in cuts {
        d.push(&bytes[at..c.max(at)]);
        at = c.max(at);
        while let Some(f) = d.next_frame().unwrap() {
            out.push(f);
        }
    }
    assert!(!d.is_partial());
    out
}

proptest! {
    #[test]
    fn requests_round_trip(reqs in proptest::collection::vec(request(), 1..5), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let stream: Vec<u8> = reqs.iter().flat_map(encode_frame).collect();
        let frames = feed(&stream, &cuts);
        prop_assert_eq!(frames.len(), reqs.len());
        for (f, r) in frames.iter().zip(&reqs) {
            prop_assert!(f.len() <= MAX_FRAME);
            prop_assert_eq!(&decode_body::<Request>(f).unwrap(), r);
        }
    }

    #[test]
    fn replies_round_trip(r in reply()) {
        let frame = encode_frame(&r);
        let frames = feed(&frame, &[]);
        prop_assert_eq!(decode_body::<Reply>(&frames[0]).unwrap(), r);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_body::<Request>(&bytes);
        let _ = decode_body::<Reply>(&bytes);
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        while let Ok(Some(f)) = d.next_frame() {
            prop_assert!(f.len() <= MAX_FRAME);
            let _ = decode_body::<Request>(&f);
        }
    }
}

#[test]
fn oversized_frames_and_trailing_bytes_are_refused() {
    let mut d = FrameDecoder::new();
    d.push(&((MAX_FRAME as u32) + 1).to_be_bytes());
    assert!(matches!(d.next_frame(), Err(FrameError::TooLong(_))));
    let mut body = nfsl_xdr::encode_to_vec(&Request::Register(Nonce([7; 16])));
    body.push(0);
    assert!(decode_body::<Request>(&body).is_err());
    // A handle longer than NFS3_FHSIZE.
    let mut open = 3u32.to_be_bytes().to_vec();
    open.extend_from_slice(&65u32.to_be_bytes());
    open.extend_from_slice(&[0; 68]);
    assert!(decode_body::<Request>(&open).is_err());
}

#[test]
fn nonces_are_v4_uuids_and_differ() {
    let a = Nonce::random();
    let b = Nonce::random();
    assert_ne!(a, b);
    assert_eq!(a.0[6] >> 4, 4);
    assert_eq!(a.0[8] >> 6, 2);
}
