//! The unstable-write safety net against a server that really loses data:
//! an in-memory fake NFSv3 server whose "crash" throws away everything not
//! yet COMMITted, changes its write verifier and drops its connections
//! (what a real server may do on a power cut, where `nfsl serve` killed
//! with SIGKILL usually keeps the data in the page cache). The client must
//! notice the new verifier, write the lost data again, and end with the
//! server holding exactly what was written.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nfsl_client::nfs3::*;
use nfsl_client::{ClientConfig, ErrorKind, FileRange, Nfs, PortPolicy};
use nfsl_proto::mount3::{Mount3Procedure, MOUNT_PROGRAM};
use nfsl_rpc::{CallHeader, RecordDecoder};
use nfsl_xdr::{decode_exact, encode_to_vec};
use support::{fsinfo_results, mnt_results, success_record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The one file the fake serves (its handle; the root is another).
const ROOT: &[u8] = &[1; 8];
const FILE: &[u8] = &[2; 8];
/// The fake's largest READ/WRITE, small so a few MiB are many pieces.
const IO: u32 = 64 << 10;

#[derive(Default)]
struct Disk {
    /// What reads see (unstable writes included).
    current: Vec<u8>,
    /// What survives a crash (as of the last COMMIT).
    durable: Vec<u8>,
    verifier: u64,
    commits: usize,
}

struct Fake {
    disk: Mutex<Disk>,
    /// Bumped on every crash; connections of an older epoch close.
    epoch: watch::Sender<u64>,
}

impl Fake {
    fn crash(&self) {
        let mut d = self.disk.lock().unwrap();
        d.current = d.durable.clone();
        d.verifier += 1;
        self.epoch.send_modify(|e| *e += 1);
    }
}

fn attrs(size: u64) -> Fattr3 {
    support::attrs(Ftype3::Reg, 0o644, 1, size)
}

/// The results of one call, from the fake's disk.
fn answer(fake: &Fake, program: u32, procedure: u32, args: &[u8]) -> Vec<u8> {
    let mut d = fake.disk.lock().unwrap();
    let verf = d.verifier.to_be_bytes();
    if program == MOUNT_PROGRAM {
        return if procedure == Mount3Procedure::Mnt as u32 {
            mnt_results(ROOT)
        } else {
            Vec::new()
        };
    }
    match Nfs3Procedure::from_u32(procedure) {
        Some(Nfs3Procedure::Fsinfo) => fsinfo_results(IO),
        Some(Nfs3Procedure::Getattr) => {
            let size = d.current.len() as u64;
            encode_to_vec(&Getattr3Res::Ok(Getattr3ResOk {
                obj_attributes: attrs(size),
            }))
        }
        Some(Nfs3Procedure::Write) => {
            let a: Write3Args = decode_exact(args).expect("WRITE args");
            assert_eq!(a.file.0, FILE);
            let (off, data) = (a.offset as usize, &a.data.0[..a.count as usize]);
            if d.current.len() < off + data.len() {
                d.current.resize(off + data.len(), 0);
            }
            d.current[off..off + data.len()].copy_from_slice(data);
            encode_to_vec(&Write3Res::Ok(Write3ResOk {
                file_wcc: WccData::default(),
                count: a.count,
                committed: StableHow::Unstable,
                verf,
            }))
        }
        Some(Nfs3Procedure::Commit) => {
            d.durable = d.current.clone();
            d.commits += 1;
            encode_to_vec(&Commit3Res::Ok(Commit3ResOk {
                file_wcc: WccData::default(),
                verf,
            }))
        }
        Some(Nfs3Procedure::Read) => {
            let a: Read3Args = decode_exact(args).expect("READ args");
            let start = (a.offset as usize).min(d.current.len());
            let end = (start + a.count as usize).min(d.current.len());
            encode_to_vec(&Read3Res::Ok(Read3ResOk {
                file_attributes: None,
                count: (end - start) as u32,
                eof: end == d.current.len(),
                data: Data(d.current[start..end].to_vec()),
            }))
        }
        other => panic!("the fake does not serve {other:?}"),
    }
}

async fn serve(mut stream: TcpStream, fake: Arc<Fake>) {
    let mut epoch = fake.epoch.subscribe();
    let mine = *epoch.borrow_and_update();
    let mut decoder = RecordDecoder::new(4 << 20);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = epoch.wait_for(|e| *e != mine) => return, // crashed
        };
        decoder.push(&buf[..n]);
        while let Ok(Some(record)) = decoder.next_record() {
            let (call, args) = CallHeader::decode_prefix(&record).expect("call");
            if *epoch.borrow() != mine {
                return; // a crashed server answers nothing more
            }
            let results = answer(&fake, call.program, call.procedure, args);
            if stream
                .write_all(&success_record(call.xid, &results))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

async fn start() -> (Arc<Fake>, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = Arc::new(Fake {
        disk: Mutex::new(Disk::default()),
        epoch: watch::channel(0).0,
    });
    let f = Arc::clone(&fake);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, Arc::clone(&f)));
        }
    });
    (fake, port)
}

/// A fake server, and its one file opened through a client with `config`.
async fn fake_file(config: ClientConfig) -> (Arc<Fake>, nfsl_client::File) {
    let (fake, port) = start().await;
    let nfs = Nfs::mount("127.0.0.1", port, port, "/fake", config)
        .await
        .unwrap();
    let file = nfs.open_handle(nfsl_client::FileHandle::from_bytes(FILE));
    (fake, file)
}

fn config() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(5),
        retries: 3,
        privileged_port: PortPolicy::Never,
        ..ClientConfig::default()
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_lost_in_a_crash_is_written_again() {
    let (fake, file) = fake_file(config()).await;
    let first = pattern(3 << 20, 7);
    file.write_at(&first, 0).await.unwrap();
    assert_eq!(fake.disk.lock().unwrap().current, first);

    // The crash loses all of it.
    fake.crash();
    assert!(fake.disk.lock().unwrap().current.is_empty());

    // More data after the restart, then sync: the first 3 MiB are
    // noticed lost (new verifier) and written again.
    let second = pattern(1 << 20, 9);
    file.write_at(&second, first.len() as u64).await.unwrap();
    file.sync().await.unwrap();
    let expected = [first.clone(), second].concat();
    {
        let d = fake.disk.lock().unwrap();
        assert!(d.durable == expected, "durable data differs after sync");
    }
    let stats = file.stats();
    assert!(stats.verifier_changes >= 1, "{stats:?}");
    assert!(stats.resent_bytes >= first.len() as u64, "{stats:?}");
    assert_eq!(file.unstable_bytes(), 0);

    // A crash after the COMMIT loses nothing more.
    fake.crash();
    assert!(fake.disk.lock().unwrap().current == expected);
    let mut back = vec![0u8; expected.len() + 10];
    let n = file.read_at(&mut back, 0).await.unwrap();
    assert!(n == expected.len() && back[..n] == expected[..]);
    file.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_rounds_is_survived() {
    let (fake, file) = fake_file(ClientConfig {
        max_unstable_bytes: 1 << 20,
        ..config()
    })
    .await;
    let data = pattern(4 << 20, 3);
    // Crash repeatedly while writing in 512 KiB calls: each crash loses
    // whatever was not committed yet.
    for (i, chunk) in data.chunks(512 << 10).enumerate() {
        file.write_at(chunk, (i * (512 << 10)) as u64)
            .await
            .unwrap();
        if i % 3 == 1 {
            fake.crash();
        }
    }
    file.close().await.unwrap();
    let d = fake.disk.lock().unwrap();
    assert!(d.durable == data, "durable data differs");
    assert!(d.commits >= 4, "{} commits", d.commits);
}

/// A local file with `data` in it.
fn source_file(data: &[u8]) -> Arc<std::fs::File> {
    use std::io::Write;
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(data).unwrap();
    Arc::new(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sent_from_a_file_is_sent_again_from_it() {
    let (fake, file) = fake_file(config()).await;
    // 3 MiB + 5 bytes from offset 3 of the source: pieces not aligned to
    // anything, the last one needing XDR padding.
    let data = pattern((3 << 20) + 8, 5);
    let src = source_file(&data);
    let range = FileRange::new(Arc::clone(&src), 3, data.len() - 3).unwrap();
    assert_eq!(
        file.write_from_file(range, 0).await.unwrap(),
        data.len() - 3
    );
    assert!(fake.disk.lock().unwrap().current == data[3..]);
    // The journal holds ranges of the file: a crash loses the data and
    // sync re-sends it from the file.
    fake.crash();
    file.sync().await.unwrap();
    assert!(fake.disk.lock().unwrap().durable == data[3..]);
    assert!(file.stats().resent_bytes >= (3 << 20), "{:?}", file.stats());
    file.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_file_without_the_range_fails_only_that_write() {
    let (fake, file) = fake_file(config()).await;
    let data = pattern(100 << 10, 1);
    let src = source_file(&data);
    // The file has 100 KiB; the range asks for 200 KiB (as if the file
    // shrank after the range was made).
    let range = FileRange::new(Arc::clone(&src), 0, 200 << 10).unwrap();
    let err = file.write_from_file(range, 0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Source, "{err}");
    // The client goes on: a later write and its COMMIT work.
    let range = FileRange::new(src, 0, data.len()).unwrap();
    file.write_from_file(range, 0).await.unwrap();
    file.sync().await.unwrap();
    let d = fake.disk.lock().unwrap();
    assert!(d.durable[..data.len()] == data[..], "durable data differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_ranges_are_not_bounded_by_the_memory_bound() {
    let (fake, file) = fake_file(ClientConfig {
        max_unstable_bytes: 1 << 20,
        ..config()
    })
    .await;
    let data = pattern(4 << 20, 11);
    let range = FileRange::new(source_file(&data), 0, data.len()).unwrap();
    file.write_from_file(range, 0).await.unwrap();
    // 4 MiB of ranges held, no COMMIT yet: they take no memory.
    assert_eq!(file.unstable_bytes(), 4 << 20);
    assert_eq!(fake.disk.lock().unwrap().commits, 0);
    file.close().await.unwrap();
    let d = fake.disk.lock().unwrap();
    assert!(d.durable == data, "durable data differs");
    assert_eq!(d.commits, 1);
}
