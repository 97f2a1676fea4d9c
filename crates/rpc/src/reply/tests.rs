use super::*;
use nfsl_xdr::encode_to_vec;

fn enc(xid: u32, body: &ReplyBody<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_reply(xid, body, &mut out);
    out
}

fn accepted(stat: AcceptedReply<'_>) -> ReplyBody<'_> {
    ReplyBody::Accepted {
        verifier: OpaqueAuth::NONE,
        stat,
    }
}

#[test]
fn status_values_match_rfc() {
    assert_eq!(AcceptStat::SystemErr as u32, 5);
    assert_eq!(RejectStat::AuthError as u32, 1);
    assert_eq!(AuthStat::TooWeak as u32, 5);
    assert_eq!(AuthStat::RpcsecGssCtxProblem as u32, 14);
    assert_eq!(AuthStat::ALL.len(), 15);
}

#[test]
fn accepted_wire_forms() {
    let head = [0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let cases: [(AcceptedReply<'_>, &[u8]); 6] = [
        (
            AcceptedReply::Success(&[1, 2, 3, 4]),
            &[0, 0, 0, 0, 1, 2, 3, 4],
        ),
        (AcceptedReply::ProgUnavail, &[0, 0, 0, 1]),
        (
            AcceptedReply::ProgMismatch { low: 2, high: 3 },
            &[0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3],
        ),
        (AcceptedReply::ProcUnavail, &[0, 0, 0, 3]),
        (AcceptedReply::GarbageArgs, &[0, 0, 0, 4]),
        (AcceptedReply::SystemErr, &[0, 0, 0, 5]),
    ];
    for (stat, tail) in cases {
        let bytes = enc(9, &accepted(stat));
        assert_eq!(&bytes[..20], head);
        assert_eq!(&bytes[20..], tail);
        assert_eq!(decode_reply(&bytes).unwrap(), (9, accepted(stat)));
    }
}

#[test]
fn denied_wire_forms() {
    let mismatch = ReplyBody::Denied(RejectedReply::RpcMismatch { low: 2, high: 2 });
    let bytes = enc(1, &mismatch);
    assert_eq!(
        bytes,
        [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    );
    assert_eq!(decode_reply(&bytes).unwrap(), (1, mismatch));
    let auth = ReplyBody::Denied(RejectedReply::AuthError(AuthStat::TooWeak));
    let bytes = enc(1, &auth);
    assert_eq!(
        bytes,
        [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5]
    );
    assert_eq!(decode_reply(&bytes).unwrap(), (1, auth));
}

#[test]
fn success_header_then_results_in_place() {
    let mut out = Vec::new();
    encode_success_header(77, &OpaqueAuth::NONE, &mut out);
    assert_eq!(out.len(), 24);
    out.extend_from_slice(&[5, 6, 7, 8]);
    assert_eq!(
        out,
        enc(77, &accepted(AcceptedReply::Success(&[5, 6, 7, 8])))
    );
}

#[test]
fn decode_errors() {
    assert_eq!(decode_reply(&[0, 0]).unwrap_err().xid, None);
    // A call is not a reply.
    let e = decode_reply(&[0, 0, 0, 3, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(e.xid, Some(3));
    // Trailing bytes after a non-success body.
    let mut bytes = enc(4, &accepted(AcceptedReply::ProcUnavail));
    bytes.push(0);
    assert_eq!(
        decode_reply(&bytes).unwrap_err().error,
        XdrError::TrailingBytes(1)
    );
    // Unknown accept_stat / auth_stat.
    let mut bytes = enc(4, &accepted(AcceptedReply::ProcUnavail));
    bytes[23] = 6;
    assert!(decode_reply(&bytes).is_err());
    let mut bytes = enc(
        4,
        &ReplyBody::Denied(RejectedReply::AuthError(AuthStat::Failed)),
    );
    bytes[19] = 15;
    assert!(decode_reply(&bytes).is_err());
}

#[test]
fn rejected_reply_xdr() {
    let r = RejectedReply::AuthError(AuthStat::BadCred);
    assert_eq!(
        nfsl_xdr::decode_exact::<RejectedReply>(&encode_to_vec(&r)).unwrap(),
        r
    );
}
