//! The listener and the client handshake over a real Unix socket, with a
//! test authorizer that opens one temporary file.

mod common;

use std::io::{Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use common::{confirmation, me, register};
use nfsl_localio::client::Connected;
use nfsl_localio::{
    Access, Authorizer, Confirmation, Creds, DioAlignment, ListenerConfig, LocalioError,
    LocalioListener, NonceRegistry, OpenRefusal, OpenRequest, OpenedFile,
};
use nfsl_proto::nfs3::Nfsstat3;

struct OneFile(PathBuf);

impl Authorizer for OneFile {
    fn open(&self, r: &OpenRequest) -> Result<OpenedFile, OpenRefusal> {
        if r.handle != b"fh" {
            return Err(OpenRefusal::Nfs(Nfsstat3::Stale));
        }
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(r.access == Access::ReadWrite)
            .open(&self.0)
            .map_err(|e| OpenRefusal::Errno(e.raw_os_error().unwrap_or(5)))?;
        let size = f.metadata().unwrap().len();
        Ok(OpenedFile {
            buffered: OwnedFd::from(f),
            direct: None,
            alignment: DioAlignment::default(),
            size,
        })
    }
}

fn conf() -> Confirmation {
    confirmation(800)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_open_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"hello localio").unwrap();
    let sock = dir.path().join("run/nfsl/localio-1.sock");
    // A stale socket file from a dead server is replaced.
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let registry = Arc::new(NonceRegistry::default());
    let listener = LocalioListener::bind(
        &ListenerConfig::new(&sock),
        registry.clone(),
        OneFile(file.clone()),
    )
    .unwrap();
    // A second server on the same path is refused.
    let again = LocalioListener::bind(
        &ListenerConfig::new(&sock),
        registry.clone(),
        OneFile(file.clone()),
    );
    assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener.run(async {
        let _ = stop_rx.await;
    }));

    // Not confirmed: stays not local.
    let reg = register(&sock).await;
    assert!(matches!(
        reg.confirm().await,
        Err(LocalioError::NotConfirmed)
    ));

    // Confirmed by the "RPC side".
    let reg = register(&sock).await;
    assert!(registry.confirm(&reg.nonce(), conf(), Instant::now()));
    let used = reg.nonce();
    let chan = reg.confirm().await.unwrap();
    let f = chan.open(b"fh", Access::Read, &me()).await.unwrap();
    assert_eq!(f.size, 13);
    let mut std_file = std::fs::File::from(f.buffered);
    let mut s = String::new();
    std_file.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello localio");
    assert!(std_file.write_all(b"x").is_err(), "read-only fd");

    let rw = chan.open(b"fh", Access::ReadWrite, &me()).await.unwrap();
    let mut rw = std::fs::File::from(rw.buffered);
    rw.seek(std::io::SeekFrom::Start(0)).unwrap();
    rw.write_all(b"H").unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"Hello localio");

    let e = chan.open(b"other", Access::Read, &me()).await.unwrap_err();
    assert_eq!(e.nfsstat(), Some(Nfsstat3::Stale));
    if rustix::process::geteuid().as_raw() != 0 {
        let e = chan
            .open(
                b"fh",
                Access::Read,
                &Creds {
                    uid: 0,
                    gid: 0,
                    gids: vec![],
                },
            )
            .await
            .unwrap_err();
        assert!(e.is_permission_denied());
    }

    // The spent nonce can neither be registered again nor confirmed.
    let c = Connected::connect(&sock).await.unwrap();
    assert!(matches!(
        c.register_nonce(used).await,
        Err(LocalioError::Register(_))
    ));
    assert!(!registry.confirm(&used, conf(), Instant::now()));
    // Another connection cannot take someone else's confirmation.
    let victim = register(&sock).await;
    assert!(registry.confirm(&victim.nonce(), conf(), Instant::now()));
    let thief = register(&sock).await;
    let stolen = victim.nonce();
    assert!(matches!(
        thief.confirm_nonce(stolen).await,
        Err(LocalioError::NotConfirmed)
    ));
    victim.confirm().await.unwrap();

    stop_tx.send(()).unwrap();
    server.await.unwrap();
    assert!(!sock.exists(), "socket removed at shutdown");
    assert!(matches!(
        Connected::connect(&sock).await,
        Err(LocalioError::Unreachable { .. })
    ));
}
