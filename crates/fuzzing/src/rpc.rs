//! ONC RPC: record marking, call headers with credentials, replies.

use nfsl_rpc::{
    decode_reply, encode_reply, frame_record, Auth, AuthFlavor, AuthSysParams, CallHeader,
    RecordDecoder, RecordError, MAX_AUTH_BODY, MAX_AUTH_SYS_GIDS, MAX_MACHINE_NAME,
};
use nfsl_xdr::{decode_exact, encode_to_vec};

use crate::alloc::{bounded, input_bound};

/// The record limit the fuzzed [`RecordDecoder`] enforces (the server's
/// and client's are larger; the logic is the same, and a small one lets
/// the fuzzer reach it).
pub const RECORD_LIMIT: usize = 64 * 1024;

/// RPC record marking (RFC 5531 §11), as both sides reassemble a stream.
///
/// The first input byte chooses how the rest is cut into reads (1 to 256
/// bytes each), so chunking that splits markers is covered. Checks, beyond
/// not panicking:
/// - the records delivered are exactly those a reference reassembler
///   (written here, the simplest possible) finds, in order, and the error
///   (too large, too many fragments) is the one it predicts;
/// - no record exceeds the limit; re-framing each record and decoding it
///   again gives it back;
/// - memory held is bounded by the input plus one fragment's reservation,
///   itself at most the record limit (reserving a whole fragment on its
///   marker is the decoder's design; the transport charges it to a budget).
pub fn rpc_record(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk) + 1;
    let max_fragments = 8;
    let records = bounded(
        "RecordDecoder",
        input_bound(data.len()) + 2 * RECORD_LIMIT,
        || {
            let mut dec = RecordDecoder::new(RECORD_LIMIT).with_max_fragments(max_fragments);
            let mut records = Vec::new();
            let mut end = Ok(());
            for piece in stream.chunks(chunk) {
                dec.push(piece);
                loop {
                    match dec.next_record() {
                        Ok(Some(r)) => records.push(r),
                        Ok(None) => break,
                        Err(e) => {
                            end = Err(e);
                            break;
                        }
                    }
                }
                if end.is_err() {
                    break;
                }
            }
            (records, end, dec.is_mid_record())
        },
    );
    let (records, end, mid) = records;
    let (want, want_end, want_mid) = reference_records(stream, max_fragments);
    assert_eq!(records, want, "records differ from the reference");
    assert_eq!(end, want_end, "stream error differs from the reference");
    if end.is_ok() {
        assert_eq!(mid, want_mid, "mid-record state differs");
    }
    for r in &records {
        assert!(r.len() <= RECORD_LIMIT);
        let mut framed = Vec::new();
        frame_record(r, &mut framed);
        let mut dec = RecordDecoder::new(RECORD_LIMIT);
        dec.push(&framed);
        assert_eq!(dec.next_record(), Ok(Some(r.clone())));
        assert!(dec.is_empty());
    }
}

/// The plainest record reassembler: records, the error, whether a record
/// was left unfinished.
fn reference_records(
    mut s: &[u8],
    max_fragments: usize,
) -> (Vec<Vec<u8>>, Result<(), RecordError>, bool) {
    let mut records = Vec::new();
    let mut current = Vec::new();
    let mut fragments = 0;
    loop {
        let Some((marker, rest)) = s.split_first_chunk::<4>() else {
            return (records, Ok(()), fragments > 0 || !s.is_empty());
        };
        let marker = u32::from_be_bytes(*marker);
        let len = (marker & 0x7fff_ffff) as usize;
        let last = marker & 0x8000_0000 != 0;
        fragments += 1;
        if fragments > max_fragments {
            let e = RecordError::TooManyFragments { max: max_fragments };
            return (records, Err(e), true);
        }
        let total = current.len() as u64 + len as u64;
        if total > RECORD_LIMIT as u64 {
            let e = RecordError::TooLarge {
                len: total,
                max: RECORD_LIMIT,
            };
            return (records, Err(e), true);
        }
        if rest.len() < len {
            return (records, Ok(()), true);
        }
        current.extend_from_slice(&rest[..len]);
        s = &rest[len..];
        if last {
            records.push(std::mem::take(&mut current));
            fragments = 0;
        }
    }
}

/// A call record as a server triages it: [`CallHeader::decode_prefix`],
/// then [`Auth::from_credential`] (which decodes AUTH_SYS bodies).
///
/// Checks: a decoded header re-encodes to exactly the bytes it was decoded
/// from (opaque padding aside: the header's bodies are re-encoded with zero
/// padding, so the comparison is of re-decoded values) and the arguments
/// are the rest of the record; the xid reported by an error is the first
/// word; credential and verifier bodies respect their limits; an AUTH_SYS
/// credential that parses respects its limits, round-trips, and rejects
/// trailing bytes; memory is bounded by the input.
pub fn rpc_call(data: &[u8]) {
    bounded(
        "rpc_call",
        input_bound(data.len()),
        || match CallHeader::decode_prefix(data) {
            Ok((header, args)) => {
                assert_eq!(header.rpc_version, 2);
                assert!(header.credential.body.len() <= MAX_AUTH_BODY);
                assert!(header.verifier.body.len() <= MAX_AUTH_BODY);
                let mut again = Vec::new();
                header.encode_call(args, &mut again);
                assert_eq!(again.len(), data.len());
                let (h2, a2) = CallHeader::decode_prefix(&again).expect("re-encoded header");
                assert_eq!((h2, a2), (header.clone(), args));
                credential(&header);
            }
            Err(e) => {
                let first = data.first_chunk::<4>().map(|w| u32::from_be_bytes(*w));
                assert_eq!(e.xid(), first);
            }
        },
    );
}

fn credential(header: &CallHeader) {
    let cred = &header.credential;
    match Auth::from_credential(cred) {
        Ok(Auth::None) => assert!(cred.flavor == AuthFlavor::NONE && cred.body.is_empty()),
        Ok(Auth::Sys(p)) => {
            assert_eq!(cred.flavor, AuthFlavor::SYS);
            assert!(p.machine_name.len() <= MAX_MACHINE_NAME);
            assert!(p.gids.len() <= MAX_AUTH_SYS_GIDS);
            let body = encode_to_vec(&p);
            assert_eq!(
                body.len(),
                cred.body.len(),
                "AUTH_SYS body has trailing bytes"
            );
            assert_eq!(decode_exact::<AuthSysParams>(&body), Ok(p));
        }
        Ok(Auth::Other(f)) => assert!(f != AuthFlavor::NONE && f != AuthFlavor::SYS),
        Err(_) => assert!(matches!(cred.flavor, AuthFlavor::NONE | AuthFlavor::SYS)),
    }
}

/// A reply record as the client decodes it: [`decode_reply`], then the
/// client's own matching of replies to pending calls
/// ([`nfsl_client::exchange::PendingCalls`]).
///
/// Checks: a decoded reply re-encodes to a record that decodes to the same
/// value, of the same length (no trailing bytes accepted outside the
/// results); the client delivers a reply for a registered xid and counts
/// any other as unmatched; memory is bounded by the input.
pub fn rpc_reply(data: &[u8]) {
    bounded("rpc_reply", input_bound(data.len()), || {
        match decode_reply(data) {
            Ok((xid, body)) => {
                let mut again = Vec::new();
                encode_reply(xid, &body, &mut again);
                assert_eq!(again.len(), data.len());
                assert_eq!(decode_reply(&again), Ok((xid, body)));
            }
            Err(e) => {
                let first = data.first_chunk::<4>().map(|w| u32::from_be_bytes(*w));
                assert_eq!(e.xid, first);
            }
        }
        client_delivery(data);
    });
}

fn client_delivery(data: &[u8]) {
    use nfsl_client::exchange::{Delivery, PendingCalls};
    let Some(xid) = data.first_chunk::<4>().map(|w| u32::from_be_bytes(*w)) else {
        return;
    };
    let mut pending = PendingCalls::new();
    pending.register(xid, ()).expect("register");
    match pending.on_record(data.to_vec()) {
        Delivery::Reply {
            xid: got, reply, ..
        } => {
            assert_eq!(got, xid);
            assert_eq!(reply.is_ok(), successful(data));
            assert!(pending.is_empty());
        }
        Delivery::Unmatched { .. } => panic!("a reply to a pending xid was not delivered"),
    }
    let mut other = PendingCalls::<()>::new();
    other.register(xid.wrapping_add(1), ()).expect("register");
    assert!(matches!(
        other.on_record(data.to_vec()),
        Delivery::Unmatched { .. }
    ));
    assert_eq!(other.len(), 1);
}

fn successful(data: &[u8]) -> bool {
    matches!(
        decode_reply(data),
        Ok((
            _,
            nfsl_rpc::ReplyBody::Accepted {
                stat: nfsl_rpc::AcceptedReply::Success(_),
                ..
            }
        ))
    )
}
