//! The `nfsl-client` side of the end-to-end tests: the runtime they block
//! on, the client settings they share, and mounts of a test's server.

use std::path::Path;
use std::time::Duration;

use nfsl_client::{ClientConfig, LocalioMode, Nfs, NfsUrl};

use super::ganesha::Ganesha;
use super::server::NfslServer;

/// A multi-threaded tokio runtime with two workers (the test machines have
/// two cores).
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The client settings the end-to-end tests start from: a 20 s timeout and
/// 3 retries, otherwise the defaults.
pub fn client_config() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(20),
        retries: 3,
        ..ClientConfig::default()
    }
}

/// [`client_config`] with LOCALIO `mode`, probing the server's channel at
/// `socket`.
pub fn localio_config(mode: LocalioMode, socket: &Path) -> ClientConfig {
    ClientConfig {
        localio: mode,
        localio_socket: Some(socket.to_path_buf()),
        ..client_config()
    }
}

/// Mounts `export` of `server` (NFS and MOUNT share its port) with
/// `config`.
pub async fn try_mount_export(
    server: &NfslServer,
    export: &str,
    config: ClientConfig,
) -> nfsl_client::Result<Nfs> {
    let p = server.port();
    Nfs::mount("127.0.0.1", p, p, export, config).await
}

/// [`try_mount_export`] that must succeed.
pub async fn mount_export(server: &NfslServer, export: &str, config: ClientConfig) -> Nfs {
    try_mount_export(server, export, config)
        .await
        .expect("mount")
}

/// Mounts the export `server` was started with; must succeed.
pub async fn mount(server: &NfslServer, config: ClientConfig) -> Nfs {
    mount_export(server, server.export(), config).await
}

/// Mounts Ganesha's export with `config`.
pub async fn try_mount_ganesha(
    ganesha: &Ganesha,
    config: ClientConfig,
) -> nfsl_client::Result<Nfs> {
    Nfs::mount(
        "127.0.0.1",
        ganesha.nfs_port(),
        ganesha.mount_port(),
        ganesha.export(),
        config,
    )
    .await
}

/// Connects to an `nfs://` URL with `config`; must succeed. Returns the
/// mount and the URL's path below the export.
pub async fn connect_url(url: &str, config: ClientConfig) -> (Nfs, String) {
    let url = NfsUrl::parse(url).expect("url");
    Nfs::connect(&url, config).await.expect("connect")
}
