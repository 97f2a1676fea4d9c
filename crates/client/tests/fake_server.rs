//! The client against a fake server on 127.0.0.1 that mounts fine and
//! then answers GETATTR badly: garbage, truncated records, wrong xids,
//! oversized record markers, malformed results, RPC rejections, or
//! silence. Every case must end in a clear error, without a panic and
//! without hanging (short timeouts; each test is bounded).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nfsl_client::nfs3::*;
use nfsl_client::{ClientConfig, Error, ErrorKind, Nfs, PortPolicy, RpcError};
use nfsl_proto::mount3::{Mount3Procedure, MOUNT_PROGRAM};
use nfsl_rpc::{frame_record, AcceptedReply, CallHeader, RecordDecoder};
use nfsl_xdr::encode_to_vec;
use support::{accepted_record, fsinfo_results, mnt_results, success_record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake does with a GETATTR call.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// A well-framed record of random bytes.
    GarbageRecord,
    /// Random bytes with no framing (read as a huge marker).
    UnframedGarbage,
    /// Half a reply, then the connection is closed.
    TruncatedThenClose,
    /// A valid reply with the xid plus one.
    WrongXid,
    /// A marker announcing a 2 GiB record.
    OversizedMarker,
    /// A valid RPC reply whose NFS results do not decode.
    MalformedResults,
    /// PROG_UNAVAIL.
    ProgUnavail,
    /// Never answers.
    Silent,
    /// Answers correctly (control case).
    Correct,
    /// NFS3ERR_JUKEBOX twice, then correctly.
    JukeboxTwice,
}

const ROOT: &[u8] = &[0xab; 16];

fn attrs() -> Fattr3 {
    support::attrs(Ftype3::Dir, 0o755, 2, 4096)
}

/// The xids of the GETATTR calls the fake received.
type Seen = Arc<Mutex<Vec<u32>>>;

/// Starts the fake; returns its port and the GETATTR xids it will see.
async fn fake(mode: Misbehaviour) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let getattrs = Seen::default();
    let seen = Arc::clone(&getattrs);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, mode, Arc::clone(&seen)));
        }
    });
    (port, getattrs)
}

async fn serve(mut stream: TcpStream, mode: Misbehaviour, getattrs: Seen) {
    let mut decoder = RecordDecoder::new(1 << 20);
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        while let Ok(Some(record)) = decoder.next_record() {
            let Ok((call, _args)) = CallHeader::decode_prefix(&record) else {
                return;
            };
            let xid = call.xid;
            let reply = match (call.program, call.procedure) {
                (MOUNT_PROGRAM, p) if p == Mount3Procedure::Mnt as u32 => {
                    success_record(xid, &mnt_results(ROOT))
                }
                (NFS_PROGRAM, p) if p == Nfs3Procedure::Fsinfo as u32 => {
                    success_record(xid, &fsinfo_results(65536))
                }
                (NFS_PROGRAM, p) if p == Nfs3Procedure::Getattr as u32 => {
                    let seen = {
                        let mut g = getattrs.lock().unwrap();
                        g.push(xid);
                        g.len()
                    };
                    let good = success_record(
                        xid,
                        &encode_to_vec(&Getattr3Res::Ok(Getattr3ResOk {
                            obj_attributes: attrs(),
                        })),
                    );
                    match mode {
                        Misbehaviour::Correct => good,
                        Misbehaviour::JukeboxTwice if seen > 2 => good,
                        Misbehaviour::JukeboxTwice => success_record(
                            xid,
                            &encode_to_vec(&Getattr3Res::Err(Nfsstat3::Jukebox, ())),
                        ),
                        Misbehaviour::GarbageRecord => {
                            let mut out = Vec::new();
                            frame_record(&[0x5a; 37], &mut out);
                            out
                        }
                        Misbehaviour::UnframedGarbage => vec![0xff; 64],
                        Misbehaviour::TruncatedThenClose => {
                            let _ = stream.write_all(&good[..good.len() / 2]).await;
                            return;
                        }
                        Misbehaviour::WrongXid => success_record(
                            xid.wrapping_add(1),
                            &encode_to_vec(&Getattr3Res::Ok(Getattr3ResOk {
                                obj_attributes: attrs(),
                            })),
                        ),
                        Misbehaviour::OversizedMarker => 0xffff_ffffu32.to_be_bytes().to_vec(),
                        Misbehaviour::MalformedResults => {
                            success_record(xid, &[0, 0, 0, 0, 0, 0, 0, 9])
                        }
                        Misbehaviour::ProgUnavail => {
                            accepted_record(xid, AcceptedReply::ProgUnavail)
                        }
                        Misbehaviour::Silent => continue,
                    }
                }
                _ => success_record(xid, &[]),
            };
            if stream.write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

fn config() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(300),
        retries: 2,
        privileged_port: PortPolicy::Never,
        ..ClientConfig::default()
    }
}

/// Mounts the fake and makes one GETATTR; bounded so a hang fails.
async fn getattr_against(mode: Misbehaviour) -> (Result<(), Error>, Vec<u32>) {
    let (port, getattrs) = fake(mode).await;
    let run = async {
        let nfs = Nfs::mount("127.0.0.1", port, port, "/fake", config()).await?;
        assert_eq!(nfs.fsinfo().rtmax, 65536);
        let md = nfs.getattr(nfs.root()).await?;
        assert!(md.is_dir());
        Ok(())
    };
    let result = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap_or_else(|_| panic!("{mode:?}: the client hung"));
    let xids = getattrs.lock().unwrap().clone();
    (result, xids)
}

#[tokio::test]
async fn a_correct_fake_works() {
    let (r, calls) = getattr_against(Misbehaviour::Correct).await;
    r.unwrap();
    assert_eq!(calls.len(), 1);
}

#[tokio::test]
async fn garbage_record_is_dropped_and_the_call_times_out() {
    let (r, calls) = getattr_against(Misbehaviour::GarbageRecord).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains("GETATTR"), "{e}");
    assert_eq!(calls.len(), 3, "sent once and retransmitted twice");
}

#[tokio::test]
async fn wrong_xid_is_not_accepted() {
    let (r, _) = getattr_against(Misbehaviour::WrongXid).await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::TimedOut);
}

#[tokio::test]
async fn silence_times_out() {
    let (r, calls) = getattr_against(Misbehaviour::Silent).await;
    let e = r.unwrap_err();
    assert!(matches!(e, Error::TimedOut { tries: 3, .. }), "{e}");
    assert_eq!(calls.len(), 3);
    assert!(
        calls.iter().all(|x| *x == calls[0]),
        "retransmitted with the same xid: {calls:x?}"
    );
}

#[tokio::test]
async fn unframed_garbage_is_a_protocol_error() {
    let (r, _) = getattr_against(Misbehaviour::UnframedGarbage).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("exceeds the limit"), "{e}");
}

#[tokio::test]
async fn oversized_marker_is_a_protocol_error() {
    let (r, _) = getattr_against(Misbehaviour::OversizedMarker).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
}

#[tokio::test]
async fn truncated_records_end_in_a_connection_error() {
    let (r, calls) = getattr_against(Misbehaviour::TruncatedThenClose).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.to_string().contains("in the middle of a reply"), "{e}");
    assert_eq!(calls.len(), 3, "retransmitted on new connections");
    assert!(calls.iter().all(|x| *x == calls[0]), "same xid: {calls:x?}");
}

#[tokio::test]
async fn malformed_results_are_a_protocol_error() {
    let (r, _) = getattr_against(Misbehaviour::MalformedResults).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("GETATTR"), "{e}");
}

#[tokio::test]
async fn rpc_rejection_is_typed() {
    let (r, calls) = getattr_against(Misbehaviour::ProgUnavail).await;
    match r.unwrap_err() {
        Error::Rpc { error, .. } => assert_eq!(error, RpcError::ProgUnavail),
        e => panic!("{e}"),
    }
    assert_eq!(calls.len(), 1, "rejections are not retried");
}

#[tokio::test]
async fn nobody_listening_fails_fast() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = Nfs::mount("127.0.0.1", port, port, "/x", config())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.to_string().contains("refused"), "{e}");
}

#[tokio::test]
async fn many_calls_in_flight_on_one_connection() {
    let (port, getattrs) = fake(Misbehaviour::Correct).await;
    let nfs = Nfs::mount("127.0.0.1", port, port, "/fake", config())
        .await
        .unwrap();
    let calls = (0..200).map(|_| {
        let nfs = nfs.clone();
        tokio::spawn(async move { nfs.getattr(nfs.root()).await.map(|m| m.fileid) })
    });
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), 2);
    }
    assert_eq!(getattrs.lock().unwrap().len(), 200);
    assert_eq!(nfs.stats().connects, 1);
    assert_eq!(nfs.stats().retransmissions, 0);
}

#[tokio::test]
async fn jukebox_is_retried_with_new_xids() {
    let (r, calls) = getattr_against(Misbehaviour::JukeboxTwice).await;
    r.unwrap();
    assert_eq!(calls.len(), 3);
    assert!(calls[0] != calls[1] && calls[1] != calls[2], "{calls:x?}");
}
