use super::*;
use nfsl_rpc::{encode_reply, frame_record, AuthStat, RecordDecoder};

const NULL_PROC: ProcId = ProcId {
    program: 100003,
    version: 3,
    procedure: 0,
    name: "NFS NULL",
};

fn success(xid: u32, results: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_reply(
        xid,
        &ReplyBody::Accepted {
            verifier: OpaqueAuth::NONE,
            stat: AcceptedReply::Success(results),
        },
        &mut out,
    );
    out
}

#[test]
fn xids_are_sequential_and_calls_decode_as_calls() {
    let xids = XidSource::starting_at(u32::MAX);
    assert_eq!((xids.next(), xids.next()), (u32::MAX, 0));
    let call = OutgoingCall::encode(
        7,
        NULL_PROC,
        &OpaqueAuth::NONE,
        |out| out.extend_from_slice(&[0, 0, 0, 3]),
        Bytes::from_static(b"abcde").into(),
    )
    .unwrap();
    let wire = call.to_vec().unwrap();
    assert_eq!(wire.len(), call.wire_len());
    let mut asm = RecordDecoder::new(1 << 20);
    asm.push(&wire);
    let record = asm.next_record().unwrap().unwrap();
    let (header, args) = CallHeader::decode_prefix(&record).unwrap();
    assert_eq!(
        (header.xid, header.program, header.procedure),
        (7, 100003, 0)
    );
    assert_eq!(args, b"\0\0\0\x03abcde\0\0\0");
}

#[test]
fn replies_match_pending_calls_by_xid() {
    let mut p = PendingCalls::new();
    p.register(1, "one").unwrap();
    p.register(2, "two").unwrap();
    assert_eq!(p.register(2, "again"), Err(RegisterError::DuplicateXid(2)));
    match p.on_record(success(2, b"\0\0\0\x2a")) {
        Delivery::Reply { xid, token, reply } => {
            assert_eq!((xid, token), (2, "two"));
            assert_eq!(reply.unwrap().results(), b"\0\0\0\x2a");
        }
        other => panic!("{other:?}"),
    }
    // A second reply to the same xid, and a reply nobody asked for.
    assert!(matches!(
        p.on_record(success(2, b"")),
        Delivery::Unmatched { xid: Some(2) }
    ));
    assert!(matches!(
        p.on_record(success(99, b"")),
        Delivery::Unmatched { xid: Some(99) }
    ));
    assert_eq!(p.unmatched(), 2);
    assert_eq!(p.len(), 1);
}

#[test]
fn garbage_truncated_and_rejected_replies() {
    let mut p = PendingCalls::new();
    for xid in 1..=6 {
        p.register(xid, xid).unwrap();
    }
    // Too short for an xid: matches nothing.
    assert!(matches!(
        p.on_record(vec![1, 2]),
        Delivery::Unmatched { xid: None }
    ));
    let malformed = |p: &mut PendingCalls<u32>, record: Vec<u8>| match p.on_record(record) {
        Delivery::Reply {
            reply: Err(ReplyError::Malformed(m)),
            ..
        } => m,
        other => panic!("{other:?}"),
    };
    // Truncated after the xid; a CALL instead of a REPLY; junk stat.
    malformed(&mut p, vec![0, 0, 0, 1]);
    malformed(&mut p, [&2u32.to_be_bytes()[..], &[0, 0, 0, 0]].concat());
    let mut junk = success(3, b"");
    junk[8..12].copy_from_slice(&7u32.to_be_bytes());
    malformed(&mut p, junk);
    // Rejections become typed RPC errors.
    let mut denied = Vec::new();
    encode_reply(
        4,
        &ReplyBody::Denied(RejectedReply::AuthError(AuthStat::TooWeak)),
        &mut denied,
    );
    match p.on_record(denied) {
        Delivery::Reply { reply, .. } => {
            assert_eq!(
                reply,
                Err(ReplyError::Rejected(RpcError::AuthError(AuthStat::TooWeak)))
            )
        }
        other => panic!("{other:?}"),
    }
    let mut unavail = Vec::new();
    encode_reply(
        5,
        &ReplyBody::Accepted {
            verifier: OpaqueAuth::NONE,
            stat: AcceptedReply::ProgUnavail,
        },
        &mut unavail,
    );
    unavail.extend_from_slice(&[0; 4]); // trailing junk after a non-success body
    malformed(&mut p, unavail);
    // Closing hands back what is still pending and refuses new calls.
    assert_eq!(p.close("gone"), vec![6]);
    assert_eq!(p.register(7, 7), Err(RegisterError::Closed("gone".into())));
}

#[test]
fn framed_replies_through_the_assembler() {
    let mut stream = Vec::new();
    frame_record(&success(10, b"x\0\0\0"), &mut stream);
    frame_record(&success(11, b""), &mut stream);
    let mut asm = RecordDecoder::new(1024);
    let mut p = PendingCalls::new();
    p.register(11, ()).unwrap();
    p.register(10, ()).unwrap();
    for b in stream.chunks(3) {
        asm.push(b);
    }
    let mut seen = Vec::new();
    while let Some(r) = asm.next_record().unwrap() {
        if let Delivery::Reply { xid, reply, .. } = p.on_record(r) {
            assert!(reply.is_ok());
            seen.push(xid);
        }
    }
    assert_eq!(seen, [10, 11]);
    assert!(p.is_empty());
}
