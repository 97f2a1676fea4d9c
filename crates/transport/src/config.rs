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
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_record_len: (1 << 20) + (64 << 10),
            max_in_flight_per_connection: 64,
            drc_capacity: 8192,
            shutdown_timeout: Duration::from_secs(10),
            read_buffer_size: 64 << 10,
        }
    }
}
