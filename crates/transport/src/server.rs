//! The accept loop and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::TransportConfig;
use crate::connection;
use crate::dispatch::ServerCore;
use nfsl_rpc_service::RpcService;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves ONC RPC over TCP on `listener` until `shutdown` resolves.
///
/// Each connection gets its own reader and writer; calls run concurrently
/// on tokio's blocking pool and replies are written as they complete. One
/// duplicate request cache is shared by all connections.
///
/// On shutdown: stops accepting, stops reading new requests, lets calls in
/// flight finish and their replies be written, and returns — at the latest
/// after `config.shutdown_timeout`, when the remaining connections are
/// dropped (calls still running on the blocking pool then finish unseen).
/// Must be called within a tokio runtime with the `time` driver enabled.
pub async fn serve<S: RpcService>(
    listener: TcpListener,
    service: Arc<S>,
    config: TransportConfig,
    shutdown: impl Future<Output = ()>,
) {
    match listener.local_addr() {
        Ok(addr) => info!(%addr, "serving ONC RPC over TCP"),
        Err(e) => warn!(error = %e, "serving ONC RPC over TCP on an unknown address"),
    }
    let shared = Arc::new(ServerCore::new(service, config.drc_capacity));
    let config = Arc::new(config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (shared, config) = (shared.clone(), config.clone());
                    conns.spawn(connection::run(stream, peer, shared, config, stop_rx.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = done {
                    warn!(error = %e, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    info!(connections = conns.len(), "shutting down");
    let _ = stop_tx.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(config.shutdown_timeout, drain)
        .await
        .is_err()
    {
        warn!(
            connections = conns.len(),
            "shutdown timeout: dropping connections with calls still in flight"
        );
        conns.abort_all();
    }
}
