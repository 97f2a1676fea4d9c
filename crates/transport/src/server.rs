//! The accept loop and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::TransportConfig;
use crate::connection;
use crate::dispatch::ServerCore;
use crate::limits::{Limits, RateLimitedLog, Refused, TransportStats};
use nfsl_rpc_service::RpcService;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// At most one log line per this interval for each flood-prone event
/// (accept failures, connections refused by a limit).
const LOG_INTERVAL: Duration = Duration::from_secs(5);

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
    serve_with_stats(listener, service, config, Arc::default(), shutdown).await
}

/// [`serve`], keeping `stats` up to date (connections, memory held,
/// connections refused or reaped).
///
/// Connections beyond [`TransportConfig::max_connections`] (or
/// [`TransportConfig::max_connections_per_address`] from one source
/// address) are closed as soon as they are accepted, so a peer holding
/// many connections cannot starve the others, and the file-descriptor
/// limit is not reached by connections alone; failures to accept (that
/// limit reached anyway) and refusals are logged at most once per 5 s
/// with a count of those left out.
pub async fn serve_with_stats<S: RpcService>(
    listener: TcpListener,
    service: Arc<S>,
    config: TransportConfig,
    stats: Arc<TransportStats>,
    shutdown: impl Future<Output = ()>,
) {
    match listener.local_addr() {
        Ok(addr) => info!(%addr, "serving ONC RPC over TCP"),
        Err(e) => warn!(error = %e, "serving ONC RPC over TCP on an unknown address"),
    }
    let shared = Arc::new(ServerCore::new(service, config.drc_capacity));
    let limits = Arc::new(Limits::new(&config, stats));
    let config = Arc::new(config);
    let mut accept_log = RateLimitedLog::new(LOG_INTERVAL);
    let mut refused_log = RateLimitedLog::new(LOG_INTERVAL);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match limits.admit(peer.ip()) {
                    Ok(admitted) => {
                        let (shared, config) = (shared.clone(), config.clone());
                        conns.spawn(connection::run(
                            stream,
                            peer,
                            admitted,
                            shared,
                            config,
                            stop_rx.clone(),
                        ));
                    }
                    Err(why) => {
                        drop(stream);
                        limits.stats.refused_connections.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        if let Some(suppressed) = refused_log.check(Instant::now()) {
                            let limit = match why {
                                Refused::Total => "max_connections",
                                Refused::PerAddress => "max_connections_per_address",
                            };
                            warn!(%peer, limit, suppressed, "connection refused: limit reached");
                        }
                    }
                },
                Err(e) => {
                    if let Some(suppressed) = accept_log.check(Instant::now()) {
                        warn!(error = %e, suppressed, "accept failed");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = done {
                    warn!(error = %e, "connection task failed");
                }
                if limits.stats.connections() == 0 {
                    // Load has gone: give the recycled buffers back.
                    shared.buffers.clear();
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
