//! Property tests across the crate: round trips, no panics on garbage,
//! record reassembly independent of chunking, DRC against a naive model.

use std::collections::HashMap;

use bytes::BufMut;
use nfsl_xdr::{decode_exact, encode_to_vec};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::*;

fn opaque_auth() -> impl Strategy<Value = OpaqueAuth> {
    (any::<u32>(), vec(any::<u8>(), 0..=MAX_AUTH_BODY))
        .prop_map(|(flavor, body)| OpaqueAuth { flavor, body })
}

fn auth_sys() -> impl Strategy<Value = AuthSysParams> {
    (
        any::<u32>(),
        vec(any::<u8>(), 0..=MAX_MACHINE_NAME),
        any::<u32>(),
        any::<u32>(),
        vec(any::<u32>(), 0..=MAX_AUTH_SYS_GIDS),
    )
        .prop_map(|(stamp, machine_name, uid, gid, gids)| AuthSysParams {
            stamp,
            machine_name,
            uid,
            gid,
            gids,
        })
}

fn call_header() -> impl Strategy<Value = CallHeader> {
    (any::<[u32; 5]>(), opaque_auth(), opaque_auth()).prop_map(|(n, credential, verifier)| {
        CallHeader {
            xid: n[0],
            rpc_version: n[1],
            program: n[2],
            version: n[3],
            procedure: n[4],
            credential,
            verifier,
        }
    })
}

fn rejected() -> impl Strategy<Value = RejectedReply> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(low, high)| RejectedReply::RpcMismatch { low, high }),
        proptest::sample::select(AuthStat::ALL).prop_map(RejectedReply::AuthError),
    ]
}

/// An owned stand-in for `AcceptedReply`, which borrows its results.
#[derive(Debug, Clone)]
enum Accepted {
    Success(Vec<u8>),
    Mismatch(u32, u32),
    Simple(AcceptStat),
}

fn accepted() -> impl Strategy<Value = Accepted> {
    prop_oneof![
        vec(any::<u8>(), 0..64).prop_map(Accepted::Success),
        (any::<u32>(), any::<u32>()).prop_map(|(l, h)| Accepted::Mismatch(l, h)),
        proptest::sample::select(vec![
            AcceptStat::ProgUnavail,
            AcceptStat::ProcUnavail,
            AcceptStat::GarbageArgs,
            AcceptStat::SystemErr,
        ])
        .prop_map(Accepted::Simple),
    ]
}

fn as_reply(a: &Accepted) -> AcceptedReply<'_> {
    match a {
        Accepted::Success(r) => AcceptedReply::Success(r),
        Accepted::Mismatch(low, high) => AcceptedReply::ProgMismatch {
            low: *low,
            high: *high,
        },
        Accepted::Simple(AcceptStat::ProgUnavail) => AcceptedReply::ProgUnavail,
        Accepted::Simple(AcceptStat::ProcUnavail) => AcceptedReply::ProcUnavail,
        Accepted::Simple(AcceptStat::GarbageArgs) => AcceptedReply::GarbageArgs,
        Accepted::Simple(_) => AcceptedReply::SystemErr,
    }
}

/// Splits `bytes` at the given (sorted, deduplicated) cut points.
fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([bytes.len()]) {
        out.push(bytes[start..p].to_vec());
        start = p;
    }
    out
}

fn decode_all(chunks: &[Vec<u8>], max: usize) -> (Vec<Vec<u8>>, Option<RecordError>) {
    let mut d = RecordDecoder::new(max);
    let mut records = Vec::new();
    for c in chunks {
        d.push(c);
        loop {
            match d.next_record() {
                Ok(Some(r)) => records.push(r),
                Ok(None) => break,
                Err(e) => return (records, Some(e)),
            }
        }
    }
    (records, None)
}

/// Decodes `stream` pull-style, reading at most `reads[i]` bytes per read
/// (cycling), and checks after every read that the decoder holds no more
/// than the record limit.
fn pull_all(stream: &[u8], reads: &[usize], max: usize) -> (Vec<Vec<u8>>, Option<RecordError>) {
    let mut d = RecordDecoder::new(max);
    let mut records = Vec::new();
    let mut rest = stream;
    for read in reads.iter().cycle() {
        loop {
            match d.next_record() {
                Ok(Some(r)) => records.push(r),
                Ok(None) => break,
                Err(e) => return (records, Some(e)),
            }
        }
        if rest.is_empty() {
            break;
        }
        let n = match d.read_target() {
            ReadTarget::Failed => unreachable!("an error is reported first"),
            ReadTarget::Marker(buf) => {
                let n = buf.len().min(rest.len()).min(*read);
                buf[..n].copy_from_slice(&rest[..n]);
                n
            }
            ReadTarget::Payload(mut room) => {
                let n = room.remaining_mut().min(rest.len()).min(*read);
                room.put_slice(&rest[..n]);
                n
            }
        };
        d.filled(n);
        rest = &rest[n..];
        assert!(d.buffered_capacity() <= max, "holds more than a record");
    }
    (records, None)
}

proptest! {
    #[test]
    fn opaque_auth_round_trips(a in opaque_auth()) {
        prop_assert_eq!(decode_exact::<OpaqueAuth>(&encode_to_vec(&a)).unwrap(), a);
    }

    #[test]
    fn auth_sys_round_trips(p in auth_sys()) {
        let cred = OpaqueAuth::sys(&p);
        prop_assert_eq!(Auth::from_credential(&cred).unwrap(), Auth::Sys(p));
    }

    #[test]
    fn call_header_round_trips(mut h in call_header(), args in vec(any::<u8>(), 0..32)) {
        prop_assert_eq!(decode_exact::<CallHeader>(&encode_to_vec(&h)).unwrap(), h.clone());
        h.rpc_version = RPC_VERSION;
        let mut msg = Vec::new();
        h.encode_call(&args, &mut msg);
        let (decoded, rest) = CallHeader::decode_prefix(&msg).unwrap();
        prop_assert_eq!(decoded, h);
        prop_assert_eq!(rest, &args[..]);
    }

    #[test]
    fn accepted_reply_round_trips(xid: u32, verifier in opaque_auth(), a in accepted()) {
        let body = ReplyBody::Accepted { verifier, stat: as_reply(&a) };
        let mut out = Vec::new();
        encode_reply(xid, &body, &mut out);
        prop_assert_eq!(decode_reply(&out).unwrap(), (xid, body));
    }

    #[test]
    fn denied_reply_round_trips(xid: u32, r in rejected()) {
        prop_assert_eq!(decode_exact::<RejectedReply>(&encode_to_vec(&r)).unwrap(), r);
        let body = ReplyBody::Denied(r);
        let mut out = Vec::new();
        encode_reply(xid, &body, &mut out);
        prop_assert_eq!(decode_reply(&out).unwrap(), (xid, body));
    }

    #[test]
    fn garbage_never_panics(bytes in vec(any::<u8>(), 0..128)) {
        let _ = CallHeader::decode_prefix(&bytes);
        let _ = decode_exact::<CallHeader>(&bytes);
        let _ = decode_reply(&bytes);
        let _ = AuthSysParams::from_body(&bytes);
        let _ = Auth::from_credential(&OpaqueAuth { flavor: AuthFlavor::SYS, body: bytes.clone() });
        let _ = decode_exact::<RejectedReply>(&bytes);
    }

    #[test]
    fn garbage_after_valid_prefix_never_panics(
        h in call_header(), cut in any::<prop::sample::Index>(), tail in vec(any::<u8>(), 0..16)
    ) {
        let mut msg = encode_to_vec(&CallHeader { rpc_version: RPC_VERSION, ..h });
        msg.truncate(cut.index(msg.len() + 1));
        msg.extend_from_slice(&tail);
        let _ = CallHeader::decode_prefix(&msg);
    }

    #[test]
    fn record_decoder_survives_arbitrary_chunks(
        // Bytes biased towards 0 and 0x80 so that short fragment markers occur.
        chunks in vec(vec(prop_oneof![any::<u8>(), Just(0u8), Just(0x80u8), 0u8..8], 0..64), 0..16),
        max in 0usize..256,
    ) {
        let _ = decode_all(&chunks, max);
    }

    #[test]
    fn pull_matches_push_on_any_stream(
        // Bytes biased towards 0 and 0x80 so that short fragment markers occur.
        stream in vec(prop_oneof![any::<u8>(), Just(0u8), Just(0x80u8), 0u8..8], 0..256),
        reads in vec(1usize..40, 1..8),
        max in 0usize..256,
    ) {
        prop_assert_eq!(pull_all(&stream, &reads, max), decode_all(std::slice::from_ref(&stream), max));
    }

    #[test]
    fn records_independent_of_chunking(
        records in vec(vec(any::<u8>(), 0..200), 0..8),
        frag_size in 1usize..64,
        cuts in vec(any::<usize>(), 0..20),
    ) {
        // Frame each record as fragments of at most `frag_size` bytes.
        let mut stream = Vec::new();
        for r in &records {
            let mut pieces = r.chunks(frag_size).peekable();
            if pieces.peek().is_none() {
                stream.extend_from_slice(&encode_record_marker(0, true));
            }
            while let Some(p) = pieces.next() {
                stream.extend_from_slice(&encode_record_marker(p.len() as u32, pieces.peek().is_none()));
                stream.extend_from_slice(p);
            }
        }
        let whole = decode_all(&[stream.clone()], 200);
        prop_assert_eq!(&whole, &(records.clone(), None));
        prop_assert_eq!(decode_all(&chunked(&stream, &cuts), 200), whole);
        let bytewise: Vec<Vec<u8>> = stream.iter().map(|b| vec![*b]).collect();
        prop_assert_eq!(decode_all(&bytewise, 200), (records.clone(), None));
        let reads: Vec<usize> = cuts.iter().map(|c| c % 300 + 1).chain([7]).collect();
        prop_assert_eq!(pull_all(&stream, &reads, 200), (records, None));
    }

    #[test]
    fn drc_matches_model(ops in vec((0u8..3, 0u32..6), 0..200)) {
        // With capacity >= key space, nothing is evicted: compare with a map.
        let mut c: DuplicateRequestCache<u32, u32> = DuplicateRequestCache::new(8);
        let mut model: HashMap<u32, Option<u32>> = HashMap::new();
        for (i, (op, key)) in ops.into_iter().enumerate() {
            match op {
                0 => {
                    let expected = match model.get(&key) {
                        None => { model.insert(key, None); DrcLookup::New }
                        Some(None) => DrcLookup::InProgress,
                        Some(Some(v)) => DrcLookup::Done(*v),
                    };
                    prop_assert_eq!(c.begin(&key), expected);
                }
                1 => {
                    let was_pending = model.get(&key) == Some(&None);
                    if was_pending { model.insert(key, Some(i as u32)); }
                    prop_assert_eq!(c.complete(&key, i as u32), was_pending);
                }
                _ => {
                    if model.get(&key) == Some(&None) { model.remove(&key); }
                    c.abandon(&key);
                }
            }
            prop_assert_eq!(c.len(), model.len());
        }
    }
}
