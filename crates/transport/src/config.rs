//! Tunables of the TCP transport.

use std::time::Duration;

/// Limits and timeouts for [`serve`](crate::serve). `Default` gives values
/// suited to an NFS server with 1 MiB READ/WRITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Largest record (call message) accepted, in bytes. A connection that
    /// announces a bigger one is closed. Default: 1 MiB + 64 KiB, so a
    /// 1 MiB WRITE and its headers fit.
    pub max_record_len: usize,
    /// Calls one connection may have executing or awaiting transmission at
    /// once; when reached, the connection's reader stops reading until one
    /// reply has been written (backpressure). Default 64; at least 1.
    pub max_in_flight_per_connection: usize,
    /// Completed replies kept in the server-wide duplicate request cache.
    /// Default 8192.
    pub drc_capacity: usize,
    /// After shutdown is requested, how long in-flight calls get to finish
    /// and have their replies written before connections are dropped.
    /// Default 10 s.
    pub shutdown_timeout: Duration,
    /// Size of each connection's socket read buffer. Default 64 KiB.
    pub read_buffer_size: usize,
    /// Connections open at once; further ones are closed as soon as they
    /// are accepted. Default 1024.
    pub max_connections: usize,
    /// Connections open at once from one source address (so one peer
    /// cannot take every slot). Default 128.
    pub max_connections_per_address: usize,
    /// A connection with no call in flight and nothing received for this
    /// long is closed (a client reconnects when it needs to, as knfsd
    /// expects of it after 6 minutes). Default 6 minutes.
    pub idle_timeout: Duration,
    /// Memory all connections together may hold for partial records:
    /// bytes received (and room reserved for them) before the call can be
    /// authenticated. A connection that would exceed it stops reading
    /// until memory is given back. Default 256 MiB.
    pub record_memory_budget: usize,
    /// The share of [`record_memory_budget`](Self::record_memory_budget)
    /// the connections of one source address may hold. Default 16 MiB.
    pub record_memory_per_address: usize,
    /// Bytes of replies one connection may have waiting for its peer to
    /// read them; above it the connection reads no further requests until
    /// the peer catches up (back-pressure). Default 8 MiB.
    pub reply_memory_per_connection: usize,
    /// Bytes of replies all connections together may have waiting; above
    /// it no connection reads further requests. Default 256 MiB.
    pub reply_memory_budget: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_record_len: (1 << 20) + (64 << 10),
            max_in_flight_per_connection: 64,
            drc_capacity: 8192,
            shutdown_timeout: Duration::from_secs(10),
            read_buffer_size: 64 << 10,
            max_connections: 1024,
            max_connections_per_address: 128,
            idle_timeout: Duration::from_secs(360),
            record_memory_budget: 256 << 20,
            record_memory_per_address: 16 << 20,
            reply_memory_per_connection: 8 << 20,
            reply_memory_budget: 256 << 20,
        }
    }
}
