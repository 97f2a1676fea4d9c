//! Concurrency, ordering, the duplicate request cache and shutdown.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use nfsl_transport::TransportConfig;
use tokio::net::TcpStream;

// No test here reads a clock: calls that must still be running block at a
// gate (see `Gates`) that the test opens only after it has seen what must
// come first. A test that would hang fails at `HANG_GUARD` instead.

/// Calls `xids` of `procedure`, each at the gate named by its xid, framed
/// back to back for one write.
fn gated_calls(procedure: u32, xids: std::ops::Range<u32>) -> Vec<u8> {
    xids.flat_map(|xid| call(xid, procedure, &words(&[xid])))
        .collect()
}

/// A gated WAIT then an ECHO on `s`: the ECHO is answered while the WAIT
/// still waits (its gate opens only after the ECHO's reply is read).
async fn quick_call_overtakes_slow_one(srv: &TestServer, s: &mut TcpStream) {
    send(s, &call(1, WAIT, &words(&[1]))).await;
    send(s, &call(2, ECHO, &words(&[5]))).await;
    assert_eq!(read_record(s).await, success(2, &words(&[5])));
    srv.service.gates.open(1);
    assert_eq!(read_record(s).await, success(1, &words(&[1])));
}

#[tokio::test]
async fn replies_go_out_of_order_as_calls_finish() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    quick_call_overtakes_slow_one(&srv, &mut s).await;
}

#[tokio::test]
async fn calls_on_one_connection_run_concurrently() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    send(&mut s, &gated_calls(WAIT, 0..16)).await;
    // All sixteen are in the service at once.
    srv.service.gates.until_waiting(16).await;
    for xid in 0..16 {
        srv.service.gates.open(xid);
    }
    let mut xids: Vec<u32> = Vec::new();
    for _ in 0..16 {
        xids.push(xid_of(&read_record(&mut s).await));
    }
    xids.sort_unstable();
    assert_eq!(xids, (0..16).collect::<Vec<_>>());
}

#[tokio::test]
async fn in_flight_limit_applies_backpressure() {
    let config = TransportConfig {
        max_in_flight_per_connection: 2,
        ..TransportConfig::default()
    };
    let srv = TestServer::start(config).await;
    let mut s = srv.connect().await;
    send(&mut s, &gated_calls(WAIT, 0..6)).await;
    // The calls run in waves: two at a time, the next starting only when
    // an earlier one has been answered.
    for xid in 0..6u32 {
        let expected: Vec<u32> = (xid..6).take(2).collect();
        let state = srv
            .service
            .gates
            .until(&format!("calls {expected:?} waiting"), |s| {
                s.waiting.len() == expected.len()
            })
            .await;
        let mut waiting = state.waiting;
        waiting.sort_unstable();
        assert_eq!(waiting, expected);
        srv.service.gates.open(xid);
        assert_eq!(read_record(&mut s).await, success(xid, &words(&[xid])));
    }
    assert_eq!(srv.service.gates.now().max_waiting, 2);
}

#[tokio::test]
async fn many_connections_at_once() {
    let srv = TestServer::default().await;
    let mut tasks = Vec::new();
    for c in 0..32u32 {
        let mut s = srv.connect().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..10u32 {
                let xid = c * 100 + i;
                let args = words(&[c, i]);
                assert_eq!(
                    roundtrip(&mut s, &call(xid, ECHO, &args)).await,
                    success(xid, &args)
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
}

#[tokio::test]
async fn duplicate_request_cache_replays_non_idempotent_calls() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let first = roundtrip(&mut s, &call(7, INCR, &[])).await;
    assert_eq!(first, success(7, &words(&[1])));
    // Retransmission, on a new connection from the same port too (as a
    // reconnecting client sends it): same reply, no execution.
    assert_eq!(roundtrip(&mut s, &call(7, INCR, &[])).await, first);
    let port = s.local_addr().unwrap().port();
    s.set_zero_linger().unwrap(); // no TIME_WAIT
    drop(s);
    let mut s = connect_from(&srv, port).await;
    assert_eq!(roundtrip(&mut s, &call(7, INCR, &[])).await, first);
    assert_eq!(srv.service.counter.load(Ordering::SeqCst), 1);
    // The same xid and arguments from another port are another client's
    // call (knfsd's key): executed, not answered with the first's reply.
    let mut other = srv.connect().await;
    assert_eq!(
        roundtrip(&mut other, &call(7, INCR, &[])).await,
        success(7, &words(&[2]))
    );
    // A new xid, or the same xid with different arguments, executes.
    assert_eq!(
        roundtrip(&mut s, &call(8, INCR, &[])).await,
        success(8, &words(&[3]))
    );
    assert_eq!(
        roundtrip(&mut s, &call(7, INCR, &words(&[0]))).await,
        success(7, &words(&[4]))
    );
    // Idempotent calls are not cached: an echo with a reused xid executes.
    assert_eq!(
        roundtrip(&mut s, &call(7, ECHO, &words(&[9]))).await,
        success(7, &words(&[9]))
    );
}

#[tokio::test]
async fn retransmission_of_call_in_progress_is_dropped() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let slow = call(9, WAIT_INCR, &words(&[9]));
    send(&mut s, &slow).await;
    send(&mut s, &slow).await;
    send(&mut s, &call(10, NULL, &[])).await;
    assert_eq!(read_record(&mut s).await, success(10, &[]));
    // The retransmission arrived while the first call waited at its gate.
    srv.service.gates.open(9);
    assert_eq!(read_record(&mut s).await, success(9, &words(&[1])));
    // Had the duplicate run, its reply would come before this one.
    assert_eq!(
        roundtrip(&mut s, &call(11, NULL, &[])).await,
        success(11, &[])
    );
    assert_eq!(srv.service.counter.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_calls() {
    let mut srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let mut idle = srv.connect().await;
    assert_eq!(
        roundtrip(&mut idle, &call(1, NULL, &[])).await,
        success(1, &[])
    );
    send(&mut s, &call(2, WAIT, &words(&[2]))).await;
    srv.service.gates.until_waiting(1).await;
    srv.shutdown();
    // The server is shutting down (the idle connection is closed) while
    // the call still waits; then it finishes and is answered.
    assert!(closed_by_peer(&mut idle).await);
    srv.service.gates.open(2);
    assert_eq!(read_record(&mut s).await, success(2, &words(&[2])));
    assert!(closed_by_peer(&mut s).await);
    tokio::time::timeout(HANG_GUARD, &mut srv.handle)
        .await
        .expect("hang guard: serve never returned")
        .expect("serve task");
    assert!(tokio::net::TcpStream::connect(srv.addr).await.is_err());
}

#[tokio::test]
async fn shutdown_timeout_bounds_the_wait() {
    let config = TransportConfig {
        shutdown_timeout: Duration::from_millis(100),
        ..TransportConfig::default()
    };
    let mut srv = TestServer::start(config).await;
    let mut s = srv.connect().await;
    send(&mut s, &call(1, WAIT, &words(&[1]))).await;
    srv.service.gates.until_waiting(1).await;
    srv.shutdown();
    // serve returns although the call still waits at its closed gate.
    tokio::time::timeout(HANG_GUARD, &mut srv.handle)
        .await
        .expect("hang guard: serve never returned")
        .expect("serve task");
    assert_eq!(srv.service.gates.now().waiting, vec![1]);
    assert!(closed_by_peer(&mut s).await);
    srv.service.gates.open(1);
}

// On a multi-threaded runtime, a quick call alone on its connection runs on
// the thread that read it; everything else still goes to the blocking pool.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_calls_alone_run_and_answer_on_a_multi_thread_runtime() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    for xid in 0..50u32 {
        assert_eq!(
            roundtrip(&mut s, &call(xid, ECHO, &words(&[xid]))).await,
            success(xid, &words(&[xid]))
        );
    }
    assert_eq!(
        roundtrip(&mut s, &call(60, PANIC, &[])).await,
        words(&[60, 1, 0, 0, 0, 5])
    );
    assert_eq!(
        roundtrip(&mut s, &call(61, NULL, &[])).await,
        success(61, &[])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_calls_still_run_concurrently_on_a_multi_thread_runtime() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    quick_call_overtakes_slow_one(&srv, &mut s).await;
    // A batch of quick calls arrives together: they are not run one by one
    // on the reading thread, but all at once.
    send(&mut s, &gated_calls(QUICK_WAIT, 10..26)).await;
    srv.service.gates.until_waiting(16).await;
    for xid in 10..26 {
        srv.service.gates.open(xid);
    }
    let mut xids: Vec<u32> = Vec::new();
    for _ in 10..26 {
        xids.push(xid_of(&read_record(&mut s).await));
    }
    xids.sort_unstable();
    assert_eq!(xids, (10..26).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_call_running_inline_does_not_stall_other_connections() {
    let srv = TestServer::default().await;
    let mut slow = srv.connect().await;
    let mut other = srv.connect().await;
    send(&mut slow, &call(1, QUICK_WAIT, &words(&[1]))).await;
    srv.service.gates.until_waiting(1).await;
    // The other connection is served while the first call still waits.
    for xid in 2..12 {
        assert_eq!(
            roundtrip(&mut other, &call(xid, ECHO, &words(&[xid]))).await,
            success(xid, &words(&[xid]))
        );
    }
    assert_eq!(srv.service.gates.now().waiting, vec![1]);
    srv.service.gates.open(1);
    assert_eq!(read_record(&mut slow).await, success(1, &words(&[1])));
}

// A call the service can answer without waiting (`try_call`) is answered
// on the thread that read it, however many calls are in flight; one it
// declines runs on the blocking pool as any other.

/// While a WAIT call blocks in the service, a batch of NOW calls that
/// `try_call` answers is answered (`call` never ran for them), and one it
/// declines is then run by `call`; file ranges in its results are sent
/// too, and a panic in it is SYSTEM_ERR.
async fn calls_that_need_not_wait_skip_the_pool(srv: &TestServer) {
    let mut s = srv.connect().await;
    send(&mut s, &call(1, WAIT, &words(&[1]))).await;
    srv.service.gates.until_waiting(1).await;
    let batch: Vec<u8> = (10..26)
        .flat_map(|xid| call(xid, NOW, &words(&[NOW_ECHO, xid])))
        .collect();
    send(&mut s, &batch).await;
    let mut xids = Vec::new();
    for _ in 10..26 {
        let reply = read_record(&mut s).await;
        let xid = xid_of(&reply);
        assert_eq!(reply, success(xid, &words(&[NOW_ECHO, xid])));
        xids.push(xid);
    }
    xids.sort_unstable();
    assert_eq!(xids, (10..26).collect::<Vec<_>>());
    assert_eq!(srv.service.blocking_now_calls.load(Ordering::SeqCst), 0);
    // Declined: run by `call`.
    assert_eq!(
        roundtrip(&mut s, &call(30, NOW, &words(&[0, 30]))).await,
        success(30, &words(&[0, 30]))
    );
    assert_eq!(srv.service.blocking_now_calls.load(Ordering::SeqCst), 1);
    let mut file_reply = words(&[4096]);
    file_reply.extend_from_slice(&file_data()[..4096]);
    file_reply.extend_from_slice(&words(&[FILE_TRAILER]));
    assert_eq!(
        roundtrip(&mut s, &call(31, NOW, &words(&[NOW_FILE]))).await,
        success(31, &file_reply)
    );
    assert_eq!(
        roundtrip(&mut s, &call(32, NOW, &words(&[NOW_PANIC]))).await,
        words(&[32, 1, 0, 0, 0, 5])
    );
    // The WAIT call was in flight all along.
    assert_eq!(srv.service.gates.now().waiting, vec![1]);
    srv.service.gates.open(1);
    assert_eq!(read_record(&mut s).await, success(1, &words(&[1])));
    assert_eq!(srv.service.blocking_now_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn calls_that_need_not_wait_skip_the_pool_on_a_current_thread_runtime() {
    calls_that_need_not_wait_skip_the_pool(&TestServer::default().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_need_not_wait_skip_the_pool_on_a_multi_thread_runtime() {
    calls_that_need_not_wait_skip_the_pool(&TestServer::default().await).await;
}

/// A connection to `srv` from local port `port`.
async fn connect_from(srv: &TestServer, port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(([127, 0, 0, 1], port).into()).unwrap();
    socket.connect(srv.addr).await.unwrap()
}

/// Replies answered on the reading thread go out together; when the
/// socket takes only part of them (large replies, a client reading behind
/// its writes), the rest is queued in order and every reply arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_answered_together_survive_a_full_socket() {
    let srv = TestServer::default().await;
    let s = srv.connect().await;
    let (mut rd, mut wr) = s.into_split();
    let payload = |xid: u32| -> Vec<u8> {
        let mut w = vec![NOW_ECHO, xid];
        w.extend((0..16 * 1024).map(|i| i ^ xid));
        words(&w)
    };
    let calls: Vec<u8> = (0..64)
        .flat_map(|xid| call(xid, NOW, &payload(xid)))
        .collect();
    let writer = tokio::spawn(async move {
        tokio::io::AsyncWriteExt::write_all(&mut wr, &calls)
            .await
            .expect("write");
        wr
    });
    let mut seen = Vec::new();
    for _ in 0..64 {
        let mut marker = [0u8; 4];
        tokio::io::AsyncReadExt::read_exact(&mut rd, &mut marker)
            .await
            .expect("marker");
        let len = (u32::from_be_bytes(marker) & 0x7fff_ffff) as usize;
        let mut reply = vec![0u8; len];
        tokio::io::AsyncReadExt::read_exact(&mut rd, &mut reply)
            .await
            .expect("reply");
        let xid = xid_of(&reply);
        assert_eq!(reply, success(xid, &payload(xid)), "reply {xid}");
        seen.push(xid);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..64).collect::<Vec<_>>());
    assert_eq!(srv.service.blocking_now_calls.load(Ordering::SeqCst), 0);
    drop(writer.await.expect("writer"));
}
