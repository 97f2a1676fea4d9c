//! A server crash between WRITE and COMMIT loses nothing: the client
//! keeps unstable data until a COMMIT answers with the write verifier it
//! was written under, and re-sends it when the verifier changed.
//!
//! `nfsl serve` is killed with SIGKILL while the client holds unstable
//! data, and restarted (same port, same state directory, so handles stay
//! valid and the write verifier is new). Whether the killed process's data
//! survived is up to the page cache (it usually does: SIGKILL does not
//! drop it), so the test asserts the client *noticed* the verifier change
//! and re-sent, and that the file ends up byte-identical.

mod common;

use std::thread;
use std::time::Duration;

use common::*;
use nfsl_client::{ClientConfig, Nfs, NfsUrl};

const OPTIONS: &str = "rw,no_root_squash";
const MIB: usize = 1 << 20;

fn config() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(10),
        retries: 5,
        ..ClientConfig::default()
    }
}

#[test]
fn unstable_writes_survive_kill9_and_restart() {
    let export = tempdir();
    let mut server = NfslServer::start(export.path(), OPTIONS);
    let first = pseudo_random_bytes(12 * MIB, 1);
    let second = pseudo_random_bytes(4 * MIB, 2);
    let rt = rt();
    let url = NfsUrl::parse(&server.url("")).unwrap();
    let (nfs, _) = rt.block_on(Nfs::connect(&url, config())).expect("connect");
    let file = rt.block_on(nfs.create("/victim.bin")).expect("create");

    // 12 MiB written UNSTABLE in 1 MiB WRITEs (which the server streams
    // with RWF_DONTCACHE); nothing committed yet.
    rt.block_on(file.write_at(&first, 0)).expect("first write");
    assert_eq!(file.unstable_bytes(), first.len() as u64);
    assert_eq!(file.stats().commits, 0);

    let port = server.port();
    server.kill9();
    // The server comes back while the client is already writing again:
    // the writes wait (reconnect with backoff) and retransmit.
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(300));
            server.restart();
            assert_eq!(server.port(), port, "nfsl came back on another port");
        });
        rt.block_on(file.write_at(&second, first.len() as u64))
            .expect("write across the restart");
    });
    rt.block_on(file.sync()).expect("sync");

    let stats = file.stats();
    assert!(
        stats.verifier_changes >= 1,
        "verifier change not seen: {stats:?}"
    );
    assert!(
        stats.resent_bytes >= first.len() as u64,
        "the first 12 MiB were not re-sent: {stats:?}"
    );
    assert!(stats.resent_writes >= 12, "{stats:?}");
    assert_eq!(file.unstable_bytes(), 0);
    let client_stats = nfs.stats();
    assert!(client_stats.connects >= 2, "{client_stats:?}");
    assert_eq!(client_stats.resent_writes, stats.resent_writes);

    // Byte-identical, through the client and on the server's disk.
    let mut back = Vec::new();
    rt.block_on(file.read_to_end(&mut back)).unwrap();
    let expected = [first, second].concat();
    assert!(back == expected, "read back through the client differs");
    rt.block_on(file.close()).unwrap();
    let on_disk = std::fs::read(export.path().join("victim.bin")).unwrap();
    assert!(on_disk == expected, "file on the server differs");
}

#[test]
fn max_unstable_bytes_commits_on_its_own() {
    let export = tempdir();
    let server = NfslServer::start(export.path(), OPTIONS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = NfsUrl::parse(&server.url("")).unwrap();
        let config = ClientConfig {
            max_unstable_bytes: 2 * MIB as u64,
            ..config()
        };
        let (nfs, _) = Nfs::connect(&url, config).await.unwrap();
        let file = nfs.create("/bounded.bin").await.unwrap();
        let data = pseudo_random_bytes(MIB, 3);
        for i in 0..8u64 {
            file.write_at(&data, i * MIB as u64).await.unwrap();
            assert!(
                file.unstable_bytes() <= 2 * MIB as u64,
                "{}",
                file.unstable_bytes()
            );
        }
        assert!(file.stats().commits >= 3, "{:?}", file.stats());
        file.close().await.unwrap();
    });
}

#[test]
fn kill9_in_the_middle_of_a_write_loses_nothing() {
    let export = tempdir();
    let mut server = NfslServer::start(export.path(), OPTIONS);
    let data = pseudo_random_bytes(32 * MIB, 4);
    let rt = rt();
    let url = NfsUrl::parse(&server.url("")).unwrap();
    let (nfs, _) = rt.block_on(Nfs::connect(&url, config())).expect("connect");
    let file = rt.block_on(nfs.create("/midway.bin")).expect("create");
    // The server dies while WRITEs are in flight (the 32 MiB take longer
    // than 50 ms) and comes back: the calls in flight are retransmitted,
    // with their xids, to the new process.
    let port = server.port();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(50));
            server.kill9();
            thread::sleep(Duration::from_millis(300));
            server.restart();
            assert_eq!(server.port(), port, "nfsl came back on another port");
        });
        rt.block_on(file.write_at(&data, 0))
            .expect("write across the crash");
    });
    rt.block_on(file.sync()).expect("sync");
    let stats = nfs.stats();
    eprintln!("client stats across the crash: {stats:?}");
    assert!(stats.connects >= 2, "{stats:?}");
    let mut back = Vec::new();
    rt.block_on(file.read_to_end(&mut back)).unwrap();
    assert!(back == data, "read back differs");
    rt.block_on(file.close()).unwrap();
    let on_disk = std::fs::read(export.path().join("midway.bin")).unwrap();
    assert!(on_disk == data, "file on the server differs");
}
