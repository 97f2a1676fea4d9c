//! LOCALIO's local channel: frames and the messages in them.

use nfsl_localio::codec::{
    decode_body, encode_frame, FrameDecoder, FrameError, Reply, Request, MAX_ERROR_TEXT, MAX_FRAME,
    MAX_GIDS, MAX_HANDLE,
};
use nfsl_xdr::encode_to_vec;

use crate::alloc::{bounded, input_bound};

/// A byte stream from the local socket, read as frames by
/// [`FrameDecoder`], each frame body decoded both as a [`Request`] (the
/// server's view) and as a [`Reply`] (the client's view). The first byte
/// chooses how the stream is cut into reads (1 to 256 bytes).
///
/// Checks: frames come out in order and are exactly the length-prefixed
/// bodies of the stream; an oversized length word is an error before
/// anything is buffered for it; decoded messages respect their limits and
/// re-encode to frames that decode to the same message (an error text is
/// cut to its limit at a character boundary, so it must come back a
/// prefix of itself); memory is bounded by the input.
pub fn localio_frames(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk) + 1;
    bounded("localio_frames", input_bound(data.len()), || {
        let mut dec = FrameDecoder::new();
        let mut rest = stream;
        for piece in stream.chunks(chunk) {
            dec.push(piece);
            loop {
                match dec.next_frame() {
                    Ok(Some(body)) => {
                        let (len, tail) = rest.split_first_chunk::<4>().expect("a frame's length");
                        let len = u32::from_be_bytes(*len) as usize;
                        assert_eq!(body, tail[..len], "frame differs from the stream");
                        rest = &tail[len..];
                        message(&body);
                    }
                    Ok(None) => break,
                    Err(FrameError::TooLong(n)) => {
                        assert!(n as usize > MAX_FRAME);
                        let head = rest.first_chunk::<4>().expect("length word");
                        assert_eq!(u32::from_be_bytes(*head), n);
                        return;
                    }
                    Err(e) => panic!("unexpected frame error {e}"),
                }
            }
        }
    });
}

fn message(body: &[u8]) {
    assert!(body.len() <= MAX_FRAME);
    if let Ok(req) = decode_body::<Request>(body) {
        if let Request::Open { handle, creds, .. } = &req {
            assert!(handle.len() <= MAX_HANDLE && creds.gids.len() <= MAX_GIDS);
        }
        assert_eq!(encode_to_vec(&req).len(), body.len());
        let frame = encode_frame(&req);
        assert_eq!(decode_body::<Request>(&frame[4..]), Ok(req));
    }
    if let Ok(reply) = decode_body::<Reply>(body) {
        let frame = encode_frame(&reply);
        let again = decode_body::<Reply>(&frame[4..]).expect("re-encoded reply");
        match (&reply, &again) {
            (Reply::Error(text), Reply::Error(cut)) => {
                assert!(cut.len() <= MAX_ERROR_TEXT && text.starts_with(cut.as_str()));
            }
            _ => assert_eq!(again, reply),
        }
    }
}
