//! What uses up a try of [`RpcClient::call`], against a small RPC server
//! on 127.0.0.1 that answers every call with an empty success (except on
//! the connections it is told to keep silent on). No test waits for a
//! timeout: each ends as soon as the call is answered.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

use bytes::Bytes;
use nfsl_rpc::{encode_reply, frame_record, AcceptedReply, CallHeader, RecordDecoder, ReplyBody};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::*;

const NULL_PROC: ProcId = ProcId {
    program: 100003,
    version: 3,
    procedure: 0,
    name: "NFS NULL",
};

/// The fake server's shared state.
#[derive(Default)]
struct Fake {
    /// Connections accepted so far (numbered from 1).
    connections: AtomicUsize,
    /// Connections numbered below this never answer.
    silent_below: AtomicUsize,
    /// Calls received, on any connection.
    calls: AtomicUsize,
    /// Notified for every call received.
    received: Notify,
    /// Answer with TRICKLED_RESULTS bytes of results, sent in pieces with
    /// pauses between them.
    trickle: std::sync::atomic::AtomicBool,
}

/// Results of a trickled reply: a large READ's worth, odd-sized.
const TRICKLED_RESULTS: usize = (1 << 20) + 12;

async fn start(fake: &Arc<Fake>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = Arc::clone(fake);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = fake.connections.fetch_add(1, SeqCst) + 1;
            tokio::spawn(serve(stream, Arc::clone(&fake), n));
        }
    });
    addr
}

async fn serve(mut stream: TcpStream, fake: Arc<Fake>, connection: usize) {
    let mut decoder = RecordDecoder::new(1 << 20);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        while let Ok(Some(record)) = decoder.next_record() {
            let Ok((call, _)) = CallHeader::decode_prefix(&record) else {
                return;
            };
            fake.calls.fetch_add(1, SeqCst);
            fake.received.notify_one();
            if connection < fake.silent_below.load(SeqCst) {
                continue;
            }
            let trickle = fake.trickle.load(SeqCst);
            let results = vec![7u8; if trickle { TRICKLED_RESULTS } else { 0 }];
            let mut msg = Vec::new();
            let body = ReplyBody::Accepted {
                verifier: OpaqueAuth::NONE,
                stat: AcceptedReply::Success(&results),
            };
            encode_reply(call.xid, &body, &mut msg);
            let mut out = Vec::new();
            frame_record(&msg, &mut out);
            // Trickled: most of it, a few bytes, then (after the client
            // has surely waited with less to come than its low-water
            // mark for large replies) the last 100 KiB.
            let len = out.len();
            let cuts = if trickle {
                vec![0, 300 << 10, (300 << 10) + 10, len - (100 << 10), len]
            } else {
                vec![0, len]
            };
            for piece in cuts.windows(2) {
                if piece[0] > 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                if stream.write_all(&out[piece[0]..piece[1]]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A client with no retries: any try used up fails the call.
fn client_without_retries(addr: SocketAddr) -> RpcClient {
    let settings = ClientSettings {
        timeout: Duration::from_secs(20),
        retries: 0,
        max_in_flight: 8,
        port_policy: PortPolicy::Never,
        max_record_len: MAX_REPLY_RECORD,
    };
    RpcClient::new(addr, settings, OpaqueAuth::NONE, Arc::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_found_closing_costs_no_try() {
    let fake = Arc::new(Fake::default());
    let client = client_without_retries(start(&fake).await);
    client.connect().await.unwrap();
    // The state a caller can meet while another thread runs `close` (or
    // just after it picked the connection): its calls are being failed,
    // so registering on it fails. Nothing was sent; this used to burn
    // every try at once ("no connection") when it happened under load.
    client.live().unwrap().pending().close("closing");
    client.call(NULL_PROC, |_| {}, Bytes::new()).await.unwrap();
    let stats = &client.counters;
    assert_eq!(stats.connects.load(SeqCst), 2, "{stats:?}");
    assert_eq!(
        stats.retransmissions.load(SeqCst),
        0,
        "never sent before: {stats:?}"
    );
    assert_eq!(fake.calls.load(SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_client_closes_costs_no_try() {
    let fake = Arc::new(Fake::default());
    // The first connection takes calls and never answers.
    fake.silent_below.store(2, SeqCst);
    let client = client_without_retries(start(&fake).await);
    client.connect().await.unwrap();
    // The client drops the connection while the call waits on it (as when
    // another call timed out there): the call goes again on a new one.
    let (reply, ()) = tokio::join!(client.call(NULL_PROC, |_| {}, Bytes::new()), async {
        fake.received.notified().await;
        client.disconnect();
    });
    reply.unwrap();
    let stats = &client.counters;
    assert_eq!(stats.connects.load(SeqCst), 2, "{stats:?}");
    assert_eq!(stats.retransmissions.load(SeqCst), 1, "{stats:?}");
    assert_eq!(fake.calls.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_reply_arriving_in_pauses_is_received() {
    let fake = Arc::new(Fake::default());
    fake.trickle.store(true, SeqCst);
    let client = client_without_retries(start(&fake).await);
    // The reader asks the kernel to wake it per 256 KiB while a large
    // fragment streams in; its tail (100 KiB after a pause) must still
    // wake it, as must every reply after it.
    for _ in 0..2 {
        let reply = client.call(NULL_PROC, |_| {}, Bytes::new()).await.unwrap();
        assert_eq!(reply.results().len(), TRICKLED_RESULTS);
        assert!(reply.results().iter().all(|b| *b == 7));
    }
    assert_eq!(client.counters.timeouts.load(SeqCst), 0);
}
