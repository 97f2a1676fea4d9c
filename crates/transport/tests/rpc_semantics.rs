//! Exact reply bytes for every transport-level RPC condition, over real TCP.

mod common;

use common::*;
use nfsl_rpc::{AuthFlavor, AuthSysParams, OpaqueAuth};

#[tokio::test]
async fn null_and_echo_succeed() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    assert_eq!(
        roundtrip(&mut s, &call(1, NULL, &[])).await,
        success(1, &[])
    );
    let args = words(&[7, 8, 9]);
    assert_eq!(
        roundtrip(&mut s, &call(2, ECHO, &args)).await,
        success(2, &args)
    );
    // Version 2 is served too.
    let v2 = record(&call_msg(3, 2, PROG, 2, ECHO, &args));
    assert_eq!(roundtrip(&mut s, &v2).await, success(3, &args));
}

#[tokio::test]
async fn rpc_version_mismatch() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let reply = roundtrip(&mut s, &record(&call_msg(10, 3, PROG, 1, NULL, &[]))).await;
    // xid, REPLY, MSG_DENIED, RPC_MISMATCH, low 2, high 2
    assert_eq!(reply, words(&[10, 1, 1, 0, 2, 2]));
    // Even when nothing follows rpcvers.
    let reply = roundtrip(&mut s, &record(&words(&[11, 0, 1]))).await;
    assert_eq!(reply, words(&[11, 1, 1, 0, 2, 2]));
}

#[tokio::test]
async fn program_unavailable_and_mismatch() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let reply = roundtrip(&mut s, &record(&call_msg(20, 2, 100003, 3, 0, &[]))).await;
    // xid, REPLY, MSG_ACCEPTED, verf AUTH_NONE (flavor, len), PROG_UNAVAIL
    assert_eq!(reply, words(&[20, 1, 0, 0, 0, 1]));
    let reply = roundtrip(&mut s, &record(&call_msg(21, 2, PROG, 3, NULL, &[]))).await;
    // ... PROG_MISMATCH, low 1, high 2
    assert_eq!(reply, words(&[21, 1, 0, 0, 0, 2, 1, 2]));
    let reply = roundtrip(&mut s, &record(&call_msg(22, 2, PROG, 0, NULL, &[]))).await;
    assert_eq!(reply, words(&[22, 1, 0, 0, 0, 2, 1, 2]));
}

#[tokio::test]
async fn service_outcomes() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    // PROC_UNAVAIL
    assert_eq!(
        roundtrip(&mut s, &call(30, 99, &[])).await,
        words(&[30, 1, 0, 0, 0, 3])
    );
    // GARBAGE_ARGS from the service
    assert_eq!(
        roundtrip(&mut s, &call(31, ECHO, &[1])).await,
        words(&[31, 1, 0, 0, 0, 4])
    );
    // SYSTEM_ERR when the service panics
    assert_eq!(
        roundtrip(&mut s, &call(32, PANIC, &[])).await,
        words(&[32, 1, 0, 0, 0, 5])
    );
    // AUTH_ERROR chosen by the service: MSG_DENIED, AUTH_ERROR, AUTH_TOOWEAK
    assert_eq!(
        roundtrip(&mut s, &call(33, TOO_WEAK, &[])).await,
        words(&[33, 1, 1, 1, 5])
    );
    // Drop: no reply; the next call is answered.
    send(&mut s, &call(34, DROP, &[])).await;
    assert_eq!(
        roundtrip(&mut s, &call(35, NULL, &[])).await,
        success(35, &[])
    );
}

#[tokio::test]
async fn undecodable_header_is_garbage_args() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    // CALL, rpcvers 2, program and version, then nothing.
    let reply = roundtrip(&mut s, &record(&words(&[40, 0, 2, PROG, 1]))).await;
    assert_eq!(reply, words(&[40, 1, 0, 0, 0, 4]));
    // Credential length beyond the 400-byte limit.
    let reply = roundtrip(&mut s, &record(&words(&[41, 0, 2, PROG, 1, 0, 1, 401]))).await;
    assert_eq!(reply, words(&[41, 1, 0, 0, 0, 4]));
}

#[tokio::test]
async fn bad_credentials_are_denied() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let badcred = |xid| words(&[xid, 1, 1, 1, 1]); // MSG_DENIED, AUTH_ERROR, AUTH_BADCRED
    let gss = OpaqueAuth {
        flavor: AuthFlavor::RPCSEC_GSS,
        body: vec![0; 8],
    };
    let msg = call_msg_cred(50, 2, PROG, 1, NULL, &gss, &[]);
    assert_eq!(roundtrip(&mut s, &record(&msg)).await, badcred(50));

    let truncated = OpaqueAuth {
        flavor: AuthFlavor::SYS,
        body: words(&[1, 0]),
    };
    let msg = call_msg_cred(51, 2, PROG, 1, NULL, &truncated, &[]);
    assert_eq!(roundtrip(&mut s, &record(&msg)).await, badcred(51));

    let too_many_gids = AuthSysParams {
        gids: vec![1; 17],
        ..Default::default()
    };
    let msg = call_msg_cred(52, 2, PROG, 1, NULL, &OpaqueAuth::sys(&too_many_gids), &[]);
    assert_eq!(roundtrip(&mut s, &record(&msg)).await, badcred(52));

    let none_with_body = OpaqueAuth {
        flavor: AuthFlavor::NONE,
        body: vec![0; 4],
    };
    let msg = call_msg_cred(53, 2, PROG, 1, NULL, &none_with_body, &[]);
    assert_eq!(roundtrip(&mut s, &record(&msg)).await, badcred(53));

    // A good AUTH_SYS credential is accepted.
    let sys = AuthSysParams {
        machine_name: b"h".to_vec(),
        uid: 1,
        gid: 1,
        ..Default::default()
    };
    let msg = call_msg_cred(54, 2, PROG, 1, NULL, &OpaqueAuth::sys(&sys), &[]);
    assert_eq!(roundtrip(&mut s, &record(&msg)).await, success(54, &[]));
}

#[tokio::test]
async fn silent_drops_keep_the_connection() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    send(&mut s, &record(&[1, 2])).await; // shorter than an xid
    send(&mut s, &record(&words(&[60]))).await; // no msg_type
    send(&mut s, &record(&words(&[61, 1, 0, 0, 0, 0]))).await; // a REPLY
    assert_eq!(
        roundtrip(&mut s, &call(62, NULL, &[])).await,
        success(62, &[])
    );
}

#[tokio::test]
async fn multi_fragment_record() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let args = words(&[1, 2, 3, 4, 5]);
    let msg = call_msg(70, 2, PROG, 1, ECHO, &args);
    let mut stream = Vec::new();
    for (i, piece) in [&msg[..5], &msg[5..5], &msg[5..30], &msg[30..]]
        .iter()
        .enumerate()
    {
        let last = if i == 3 { 0x8000_0000 } else { 0 };
        stream.extend_from_slice(&(last | piece.len() as u32).to_be_bytes());
        stream.extend_from_slice(piece);
    }
    // Dribble it in small writes too.
    for chunk in stream.chunks(7) {
        send(&mut s, chunk).await;
    }
    assert_eq!(read_record(&mut s).await, success(70, &args));
}

#[tokio::test]
async fn one_mebibyte_call_and_reply() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let args: Vec<u8> = (0..(1u32 << 18)).flat_map(|i| i.to_be_bytes()).collect();
    assert_eq!(args.len(), 1 << 20);
    assert_eq!(
        roundtrip(&mut s, &call(80, ECHO, &args)).await,
        success(80, &args)
    );
}

#[tokio::test]
async fn oversized_record_closes_only_that_connection() {
    let srv = TestServer::default().await;
    let mut good = srv.connect().await;
    let mut bad = srv.connect().await;
    send(&mut bad, &(0x8000_0000u32 | (2 << 20)).to_be_bytes()).await;
    send(&mut bad, &[0; 64]).await;
    assert!(closed_by_peer(&mut bad).await);
    assert_eq!(
        roundtrip(&mut good, &call(90, NULL, &[])).await,
        success(90, &[])
    );
    let mut fresh = srv.connect().await;
    assert_eq!(
        roundtrip(&mut fresh, &call(91, NULL, &[])).await,
        success(91, &[])
    );
}

/// The expected results of a FILE call.
fn file_results(offset: usize, len: usize) -> Vec<u8> {
    let mut r = words(&[len as u32]);
    r.extend_from_slice(&file_data()[offset..offset + len]);
    r.extend_from_slice(&words(&[FILE_TRAILER]));
    r
}

#[tokio::test]
async fn file_ranges_are_sent_in_place() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    for (xid, proc_, offset, len) in [
        (1, FILE, 0, 1 << 20),
        (2, FILE, 12345, 70_001),
        (3, FILE, 0, 0),
        (4, FILE_ONCE, 777, 1 << 20),
    ] {
        assert_eq!(
            roundtrip(&mut s, &call(xid, proc_, &words(&[offset, len]))).await,
            success(xid, &file_results(offset as usize, len as usize)),
            "xid {xid}"
        );
    }
    // The DRC kept the whole reply, file data included.
    assert_eq!(
        roundtrip(&mut s, &call(4, FILE_ONCE, &words(&[777, 1 << 20]))).await,
        success(4, &file_results(777, 1 << 20))
    );
}

#[tokio::test]
async fn file_ranges_survive_a_full_socket() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    // Many large replies before reading any: the socket fills, the rest is
    // queued (file data read in) and written as the client drains it.
    let calls: Vec<(u32, u32)> = (0..24).map(|i| (i * 4099, (1 << 20) - i)).collect();
    let mut batch = Vec::new();
    for (xid, (offset, len)) in calls.iter().enumerate() {
        batch.extend_from_slice(&call(xid as u32, FILE, &words(&[*offset, *len])));
    }
    send(&mut s, &batch).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut replies = std::collections::HashMap::new();
    for _ in &calls {
        let r = read_record(&mut s).await;
        replies.insert(xid_of(&r), r);
    }
    for (xid, (offset, len)) in calls.iter().enumerate() {
        assert_eq!(
            replies[&(xid as u32)],
            success(xid as u32, &file_results(*offset as usize, *len as usize)),
            "xid {xid}"
        );
    }
}

#[tokio::test]
async fn file_range_beyond_the_file_closes_the_connection() {
    let srv = TestServer::default().await;
    let mut bad = srv.connect().await;
    let past = FILE_SIZE as u32 - 10;
    send(&mut bad, &call(1, FILE, &words(&[past, 4096]))).await;
    let mut got = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        use tokio::io::AsyncReadExt;
        bad.read_to_end(&mut got).await
    })
    .await;
    assert!(closed.is_ok(), "connection not closed");
    // Whatever was sent is a strict prefix of the reply: never a complete one.
    assert!(got.len() < 4 + 24 + 4 + 4096 + 4, "{}", got.len());
    let mut good = srv.connect().await;
    assert_eq!(
        roundtrip(&mut good, &call(2, FILE, &words(&[0, 100]))).await,
        success(2, &file_results(0, 100))
    );
}
