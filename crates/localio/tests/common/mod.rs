//! What the listener tests share: the caller's credentials, the RPC side's
//! confirmation of a nonce, and the client's first handshake steps.

// Each test binary uses a different part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use nfsl_localio::client::{Connected, Registered};
use nfsl_localio::{Confirmation, Creds, LocalioChannel, NonceRegistry};

/// This process's uid, gid 0, no other groups.
pub fn me() -> Creds {
    Creds {
        uid: rustix::process::geteuid().as_raw(),
        gid: 0,
        gids: vec![],
    }
}

/// What the RPC side records for a nonce confirmed by an NFS connection
/// from client port `client_port` of 127.0.0.1 to port 2049.
pub fn confirmation(client_port: u16) -> Confirmation {
    Confirmation {
        nfs_client: SocketAddr::from(([127, 0, 0, 1], client_port)),
        nfs_server: SocketAddr::from(([127, 0, 0, 1], 2049)),
    }
}

/// Connects to the listener at `sock` and registers a fresh nonce.
pub async fn register(sock: &Path) -> Registered {
    Connected::connect(sock)
        .await
        .unwrap()
        .register()
        .await
        .unwrap()
}

/// A channel through the whole handshake: registered at `sock`, confirmed
/// in `registry` as the RPC side would, then confirmed by the listener.
pub async fn confirmed(sock: &Path, registry: &NonceRegistry) -> LocalioChannel {
    let reg = register(sock).await;
    assert!(registry.confirm(&reg.nonce(), confirmation(800), Instant::now()));
    reg.confirm().await.unwrap()
}
