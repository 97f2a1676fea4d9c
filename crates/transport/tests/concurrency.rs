//! Concurrency, ordering, the duplicate request cache and shutdown.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use nfsl_transport::TransportConfig;
use tokio::net::TcpStream;

/// Calls `xids` of `procedure` (a sleep of `ms`), framed back to back for
/// one write.
fn sleep_calls(procedure: u32, xids: std::ops::Range<u32>, ms: u32) -> Vec<u8> {
    xids.flat_map(|xid| call(xid, procedure, &words(&[ms])))
        .collect()
}

/// A 300 ms SLEEP then an ECHO on `s`: the ECHO's reply comes first.
async fn quick_call_overtakes_slow_one(s: &mut TcpStream) {
    send(s, &call(1, SLEEP, &words(&[300]))).await;
    send(s, &call(2, ECHO, &words(&[5]))).await;
    assert_eq!(read_record(s).await, success(2, &words(&[5])));
    assert_eq!(read_record(s).await, success(1, &words(&[300])));
}

#[tokio::test]
async fn replies_go_out_of_order_as_calls_finish() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    quick_call_overtakes_slow_one(&mut s).await;
}

#[tokio::test]
async fn calls_on_one_connection_run_concurrently() {
    let srv = TestServer::default().await;
    let mut s = srv.connect().await;
    let start = Instant::now();
    let batch = sleep_calls(SLEEP, 0..16, 200);
    send(&mut s, &batch).await;
    let mut xids: Vec<u32> = Vec::new();
    for _ in 0..16 {
        xids.push(xid_of(&read_record(&mut s).await));
    }
    xids.sort_unstable();
    assert_eq!(xids, (0..16).collect::<Vec<_>>());
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn in_flight_limit_applies_backpressure() {
    let config = TransportConfig {
        max_in_flight_per_connection: 2,
        ..TransportConfig::default()
    };
    let srv = TestServer::start(config).await;
    let mut s = srv.connect().await;
    let start = Instant::now();
    let batch = sleep_calls(SLEEP, 0..6, 100);
    send(&mut s, &batch).await;
    for _ in 0..6 {
        read_record(&mut s).await;
    }
    // Three waves of two.
    assert!(
        start.elapsed() >= Duration::from_millis(290),
        "{:?}",
        start.elapsed()
    );
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
    // Retransmission, on another connection too: same reply, no execution.
    assert_eq!(roundtrip(&mut s, &call(7, INCR, &[])).await, first);
    let mut other = srv.connect().await;
    assert_eq!(roundtrip(&mut other, &call(7, INCR, &[])).await, first);
    assert_eq!(srv.service.counter.load(Ordering::SeqCst), 1);
    // A new xid, or the same xid with different arguments, executes.
    assert_eq!(
        roundtrip(&mut s, &call(8, INCR, &[])).await,
        success(8, &words(&[2]))
    );
    assert_eq!(
        roundtrip(&mut s, &call(7, INCR, &words(&[0]))).await,
        success(7, &words(&[3]))
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
    let slow = call(9, SLOW_INCR, &words(&[200]));
    send(&mut s, &slow).await;
    send(&mut s, &slow).await;
    send(&mut s, &call(10, NULL, &[])).await;
    assert_eq!(read_record(&mut s).await, success(10, &[]));
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
    send(&mut s, &call(2, SLEEP, &words(&[300]))).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    srv.shutdown();
    assert_eq!(read_record(&mut s).await, success(2, &words(&[300])));
    assert!(closed_by_peer(&mut s).await);
    assert!(closed_by_peer(&mut idle).await);
    tokio::time::timeout(Duration::from_secs(2), &mut srv.handle)
        .await
        .expect("serve returns")
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
    send(&mut s, &call(1, SLEEP, &words(&[1000]))).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    srv.shutdown();
    tokio::time::timeout(Duration::from_secs(2), &mut srv.handle)
        .await
        .expect("serve returns")
        .expect("serve task");
    assert!(
        start.elapsed() < Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    assert!(closed_by_peer(&mut s).await);
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
    quick_call_overtakes_slow_one(&mut s).await;
    // A batch of quick calls arrives together: they are not run one by one
    // on the reading thread.
    let batch = sleep_calls(QUICK_SLEEP, 10..26, 200);
    let start = Instant::now();
    send(&mut s, &batch).await;
    for _ in 10..26 {
        read_record(&mut s).await;
    }
    assert!(
        start.elapsed() < Duration::from_millis(1600),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_call_running_inline_does_not_stall_other_connections() {
    let srv = TestServer::default().await;
    let mut slow = srv.connect().await;
    let mut other = srv.connect().await;
    send(&mut slow, &call(1, QUICK_SLEEP, &words(&[600]))).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for xid in 2..12 {
        assert_eq!(
            roundtrip(&mut other, &call(xid, ECHO, &words(&[xid]))).await,
            success(xid, &words(&[xid]))
        );
    }
    // The other connection was served while the first call still ran.
    let mut probe = [0u8; 1];
    assert!(
        slow.try_read(&mut probe).is_err(),
        "slow reply already there"
    );
    assert_eq!(read_record(&mut slow).await, success(1, &words(&[600])));
}
