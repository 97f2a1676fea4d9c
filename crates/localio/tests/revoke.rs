//! Revocation over a real Unix socket: a revoke closes sessions that hold
//! fds (the client's `closed()` sees it without any request), leaves
//! sessions without fds alone, and an open authorized across a revoke
//! passes no fds.

mod common;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{confirmation, confirmed, me, register};
use nfsl_localio::{
    Access, Authorizer, DioAlignment, ListenerConfig, LocalioChannel, LocalioError,
    LocalioListener, NonceRegistry, OpenRefusal, OpenRequest, OpenedFile, Revocations,
};

/// Opens one file; an open of handle `slow` first reports that it started
/// and then waits for the test's go-ahead.
struct Gated {
    file: PathBuf,
    revocations: Revocations,
    started: Mutex<mpsc::Sender<()>>,
    go: Mutex<mpsc::Receiver<()>>,
}

impl Authorizer for Gated {
    fn open(&self, r: &OpenRequest) -> Result<OpenedFile, OpenRefusal> {
        if r.handle == b"slow" {
            let _ = self.started.lock().unwrap().send(());
            let _ = self.go.lock().unwrap().recv();
        }
        let f = std::fs::File::open(&self.file).map_err(|_| OpenRefusal::Errno(5))?;
        Ok(OpenedFile {
            buffered: OwnedFd::from(f),
            direct: None,
            alignment: DioAlignment::default(),
            size: 0,
        })
    }

    fn revocations(&self) -> Option<Revocations> {
        Some(self.revocations.clone())
    }
}

/// `closed()` has not resolved within a short wait (it is not expected to).
async fn still_open(chan: &LocalioChannel) -> bool {
    tokio::time::timeout(Duration::from_millis(50), chan.closed())
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_closes_sessions_that_hold_fds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"x").unwrap();
    let sock = dir.path().join("localio.sock");
    let registry = Arc::new(NonceRegistry::default());
    let revocations = Revocations::new();
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let listener = LocalioListener::bind(
        &ListenerConfig::new(&sock),
        registry.clone(),
        Gated {
            file,
            revocations: revocations.clone(),
            started: Mutex::new(started_tx),
            go: Mutex::new(go_rx),
        },
    )
    .unwrap();
    assert_eq!(listener.revocations().generation(), 0);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener.run(async {
        let _ = stop_rx.await;
    }));

    let chan = confirmed(&sock, &registry).await;
    chan.open(b"fh", Access::Read, &me()).await.unwrap();
    assert!(still_open(&chan).await, "an idle channel is not closed");
    // Opens while the watcher runs are unaffected by it.
    let watcher = tokio::spawn(chan.closed());
    for _ in 0..20 {
        chan.open(b"fh", Access::Read, &me()).await.unwrap();
    }
    assert!(!watcher.is_finished());

    // A session still in its handshake, and one confirmed without an
    // open, survive a revoke.
    let idle = confirmed(&sock, &registry).await;
    let pending = register(&sock).await;
    assert_eq!(revocations.revoke_all(), 1);
    tokio::time::timeout(Duration::from_secs(20), watcher)
        .await
        .expect("closed() resolves after a revoke")
        .unwrap();
    assert!(chan.open(b"fh", Access::Read, &me()).await.is_err());
    assert!(still_open(&idle).await);
    idle.open(b"fh", Access::Read, &me()).await.unwrap();
    assert!(registry.confirm(&pending.nonce(), confirmation(801), Instant::now()));
    let later = pending.confirm().await.expect("handshake finishes");
    later.open(b"fh", Access::Read, &me()).await.unwrap();
    assert!(still_open(&later).await);

    // An open authorized across a revoke passes no fds: the server
    // closes the connection instead.
    let open = tokio::spawn(async move { later.open(b"slow", Access::Read, &me()).await });
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    revocations.revoke_all();
    go_tx.send(()).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), open)
        .await
        .expect("the open ends")
        .unwrap();
    assert!(matches!(r, Err(LocalioError::Wire(_))), "{r:?}");

    // New sessions work under the new generation.
    let fresh = confirmed(&sock, &registry).await;
    fresh.open(b"fh", Access::Read, &me()).await.unwrap();
    assert!(still_open(&fresh).await);

    // Stopping the listener closes the channel too.
    stop_tx.send(()).unwrap();
    server.await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), fresh.closed())
        .await
        .expect("closed() resolves when the server stops");
}
