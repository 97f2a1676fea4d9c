//! What a server lets its peers hold: connections (per source address and
//! in total) and memory (partial records, which are held before the call
//! is authenticated, and replies waiting for a peer that does not read).
//!
//! Every connection charges what it holds to the server-wide budget and to
//! its source address's share, and gives it back when it is done, so one
//! peer (one address, however many connections it opens) can hold at most
//! its share, and all peers together at most the server's budget. A
//! connection that cannot get memory stops reading until some is given
//! back (or it is reaped as idle); one whose unsent replies exceed its
//! budget stops reading requests until the peer has taken them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::TransportConfig;

/// What one source address holds now.
#[derive(Debug, Default, Clone, Copy)]
struct PeerUsage {
    connections: usize,
    record_bytes: usize,
}

/// The server's connection and memory accounting (see the module
/// documentation), with counters a caller may watch ([`TransportStats`]).
#[derive(Debug)]
pub(crate) struct Limits {
    max_connections: usize,
    max_connections_per_address: usize,
    record_budget: usize,
    record_budget_per_address: usize,
    reply_budget: usize,
    peers: Mutex<HashMap<IpAddr, PeerUsage>>,
    /// Woken whenever record memory or queued replies are given back.
    released: Notify,
    pub(crate) stats: Arc<TransportStats>,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The server holds `max_connections`.
    Total,
    /// The address holds `max_connections_per_address`.
    PerAddress,
}

impl Limits {
    pub(crate) fn new(config: &TransportConfig, stats: Arc<TransportStats>) -> Limits {
        Limits {
            max_connections: config.max_connections.max(1),
            max_connections_per_address: config.max_connections_per_address.max(1),
            // Each connection must be able to hold one whole record.
            record_budget: config
                .record_memory_budget
                .max(config.record_memory_per_address)
                .max(config.max_record_len),
            record_budget_per_address: config.record_memory_per_address.max(config.max_record_len),
            reply_budget: config.reply_memory_budget,
            peers: Mutex::new(HashMap::new()),
            released: Notify::new(),
            stats,
        }
    }

    fn peers(&self) -> MutexGuard<'_, HashMap<IpAddr, PeerUsage>> {
        // Every critical section leaves the map consistent.
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection from `ip`, or says why not.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let ip = ip.to_canonical();
        let mut peers = self.peers();
        if self.stats.connections.load(Ordering::Acquire) >= self.max_connections {
            return Err(Refused::Total);
        }
        let usage = peers.entry(ip).or_default();
        if usage.connections >= self.max_connections_per_address {
            return Err(Refused::PerAddress);
        }
        usage.connections += 1;
        self.stats.connections.fetch_add(1, Ordering::AcqRel);
        Ok(Admitted {
            limits: Arc::clone(self),
            ip,
            record_bytes: 0,
        })
    }

    /// A future that completes at the next [`release`](Self::notify_released)
    /// after it was created (create it before checking, then await it).
    pub(crate) fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }

    fn notify_released(&self) {
        self.released.notify_waiters();
    }

    /// Whether replies queued server-wide are within the budget.
    pub(crate) fn replies_within_budget(&self) -> bool {
        self.stats.queued_reply_bytes.load(Ordering::Acquire) < self.reply_budget
    }

    /// Counts `n` more bytes of replies queued for slow peers.
    pub(crate) fn add_queued_replies(&self, n: usize) {
        self.stats.queued_reply_bytes.fetch_add(n, Ordering::AcqRel);
    }

    /// Counts `n` bytes of queued replies as written.
    pub(crate) fn remove_queued_replies(&self, n: usize) {
        self.stats.queued_reply_bytes.fetch_sub(n, Ordering::AcqRel);
        self.notify_released();
    }
}

/// One admitted connection's share of the limits, given back on drop.
#[derive(Debug)]
pub(crate) struct Admitted {
    limits: Arc<Limits>,
    ip: IpAddr,
    /// Record memory charged now.
    record_bytes: usize,
}

impl Admitted {
    /// The server's limits.
    pub(crate) fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    /// Makes the memory charged for this connection's partial record
    /// `bytes`: gives back what is no longer held, or charges what is new
    /// if the server's budget and the address's share both have room.
    /// Returns false (charging nothing) if they do not.
    pub(crate) fn hold_record_bytes(&mut self, bytes: usize) -> bool {
        if bytes <= self.record_bytes {
            self.release_record_bytes(self.record_bytes - bytes);
            return true;
        }
        let more = bytes - self.record_bytes;
        let limits = &self.limits;
        let mut peers = limits.peers();
        let usage = peers.entry(self.ip).or_default();
        let total = limits.stats.record_bytes.load(Ordering::Acquire);
        if usage.record_bytes + more > limits.record_budget_per_address
            || total + more > limits.record_budget
        {
            return false;
        }
        usage.record_bytes += more;
        limits.stats.record_bytes.fetch_add(more, Ordering::AcqRel);
        self.record_bytes = bytes;
        true
    }

    fn release_record_bytes(&mut self, less: usize) {
        if less == 0 {
            return;
        }
        {
            let mut peers = self.limits.peers();
            if let Some(usage) = peers.get_mut(&self.ip) {
                usage.record_bytes = usage.record_bytes.saturating_sub(less);
            }
        }
        self.record_bytes -= less;
        self.limits
            .stats
            .record_bytes
            .fetch_sub(less, Ordering::AcqRel);
        self.limits.notify_released();
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.release_record_bytes(self.record_bytes);
        let mut peers = self.limits.peers();
        if let Some(usage) = peers.get_mut(&self.ip) {
            usage.connections = usage.connections.saturating_sub(1);
            if usage.connections == 0 {
                peers.remove(&self.ip);
            }
        }
        drop(peers);
        self.limits.stats.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Live counters of a serving transport (for monitoring and tests); pass
/// one to [`serve_with_stats`](crate::serve_with_stats) to watch them.
#[derive(Debug, Default)]
pub struct TransportStats {
    connections: AtomicUsize,
    record_bytes: AtomicUsize,
    queued_reply_bytes: AtomicUsize,
    pub(crate) refused_connections: AtomicUsize,
    pub(crate) reaped_connections: AtomicUsize,
    pub(crate) waiting_for_memory: AtomicUsize,
    pub(crate) paused_for_replies: AtomicUsize,
}

impl TransportStats {
    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Memory charged now for partial records (received before their call
    /// could be authenticated).
    pub fn record_bytes(&self) -> usize {
        self.record_bytes.load(Ordering::Acquire)
    }

    /// Bytes of replies queued for peers that do not read them fast enough.
    pub fn queued_reply_bytes(&self) -> usize {
        self.queued_reply_bytes.load(Ordering::Acquire)
    }

    /// Connections refused at accept by a connection limit, so far.
    pub fn refused_connections(&self) -> usize {
        self.refused_connections.load(Ordering::Acquire)
    }

    /// Connections closed for being idle, so far.
    pub fn reaped_connections(&self) -> usize {
        self.reaped_connections.load(Ordering::Acquire)
    }

    /// Connections that stopped reading now because the record memory
    /// budget (server-wide or their address's share) is spent.
    pub fn waiting_for_memory(&self) -> usize {
        self.waiting_for_memory.load(Ordering::Acquire)
    }

    /// Connections that stopped reading requests now because their unsent
    /// replies (or all connections') exceed the budget.
    pub fn paused_for_replies(&self) -> usize {
        self.paused_for_replies.load(Ordering::Acquire)
    }
}

/// Logs a recurring event at most once per `every`, with the number of
/// occurrences left unlogged meanwhile (accept failures and refused
/// connections come in floods exactly when logging them costs most).
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub(crate) fn new(every: Duration) -> Self {
        RateLimitedLog {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether an event at `now` should be logged, and how many were
    /// suppressed since the last one logged.
    pub(crate) fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(config: TransportConfig) -> Arc<Limits> {
        Arc::new(Limits::new(&config, Arc::default()))
    }

    #[test]
    fn connections_are_limited_per_address_and_in_total() {
        let l = limits(TransportConfig {
            max_connections: 3,
            max_connections_per_address: 2,
            ..TransportConfig::default()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refused::PerAddress);
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).unwrap_err(), Refused::Total);
        drop(a1);
        // IPv4-mapped IPv6 is the same address (one slot left for it).
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let _a3 = l.admit(mapped).expect("a closed connection frees its slot");
        assert_eq!(l.admit(mapped).unwrap_err(), Refused::Total);
        assert_eq!(l.stats.connections(), 3);
    }

    #[test]
    fn record_memory_is_capped_per_address_and_given_back() {
        let l = limits(TransportConfig {
            record_memory_budget: 3 << 20,
            record_memory_per_address: 2 << 20,
            ..TransportConfig::default()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let (mut a1, mut a2, mut a3) = (
            l.admit(a).unwrap(),
            l.admit(a).unwrap(),
            l.admit(a).unwrap(),
        );
        assert!(a1.hold_record_bytes(1 << 20));
        assert!(a2.hold_record_bytes(1 << 20));
        assert!(!a3.hold_record_bytes(1 << 20), "over the address's share");
        let mut b1 = l.admit(b).unwrap();
        assert!(b1.hold_record_bytes(1 << 20), "another address has room");
        let mut b2 = l.admit(b).unwrap();
        assert!(!b2.hold_record_bytes(1 << 20), "over the server's budget");
        assert_eq!(l.stats.record_bytes(), 3 << 20);
        assert!(a1.hold_record_bytes(0));
        drop(a2);
        assert_eq!(l.stats.record_bytes(), 1 << 20);
        assert!(a3.hold_record_bytes(1 << 20));
    }

    #[test]
    fn rate_limited_log_counts_what_it_suppresses() {
        let mut log = RateLimitedLog::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(log.check(t0), Some(0));
        assert_eq!(log.check(t0 + Duration::from_millis(10)), None);
        assert_eq!(log.check(t0 + Duration::from_millis(20)), None);
        assert_eq!(log.check(t0 + Duration::from_secs(2)), Some(2));
    }
}
