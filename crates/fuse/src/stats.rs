//! The mount's counters (what the daemon served, how files were opened,
//! why passthrough is not used) and the text `nfsl stats MOUNTPOINT`
//! prints.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nfsl_client::ClientStats;

/// Counters of one mount.
#[derive(Default)]
pub struct MountStats {
    /// READs the daemon served (not passthrough).
    pub daemon_reads: AtomicU64,
    /// Bytes of those.
    pub daemon_read_bytes: AtomicU64,
    /// WRITEs the daemon served.
    pub daemon_writes: AtomicU64,
    /// Bytes of those.
    pub daemon_write_bytes: AtomicU64,
    /// Opens answered as passthrough files.
    pub passthrough_opens: AtomicU64,
    /// Opens whose IO the daemon serves.
    pub daemon_opens: AtomicU64,
    /// Flushes and fsyncs made durable (COMMIT or fsync of the backing file).
    pub commits: AtomicU64,
    /// Why passthrough is not used ("" while it is available).
    pub passthrough_off: Mutex<String>,
}

impl MountStats {
    /// Adds `n` to `c`.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Records why passthrough is not used; logs each reason once.
    pub fn passthrough_unavailable(&self, why: &str) {
        let mut off = self
            .passthrough_off
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !off.contains(why) {
            tracing::warn!("passthrough not used: {why}; the daemon serves the IO");
            if !off.is_empty() {
                off.push_str("; ");
            }
            off.push_str(why);
        }
    }

    /// The stats as `key value` lines, with the client sessions' totals.
    pub fn render(&self, sessions: &[ClientStats]) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let off = self
            .passthrough_off
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let status = if off.is_empty() {
            "available".to_string()
        } else {
            format!("off ({off})")
        };
        let _ = writeln!(out, "passthrough {status}");
        for (k, v) in [
            ("passthrough_opens", g(&self.passthrough_opens)),
            ("daemon_opens", g(&self.daemon_opens)),
            ("daemon_reads", g(&self.daemon_reads)),
            ("daemon_read_bytes", g(&self.daemon_read_bytes)),
            ("daemon_writes", g(&self.daemon_writes)),
            ("daemon_write_bytes", g(&self.daemon_write_bytes)),
            ("commits", g(&self.commits)),
            ("sessions", sessions.len() as u64),
        ] {
            let _ = writeln!(out, "{k} {v}");
        }
        let sum = |f: fn(&ClientStats) -> u64| sessions.iter().map(f).sum::<u64>();
        for (k, v) in [
            ("rpc_calls", sum(|s| s.calls)),
            ("rpc_reads", sum(|s| s.rpc_reads)),
            ("rpc_writes", sum(|s| s.rpc_writes)),
            ("local_reads", sum(|s| s.local_reads)),
            ("local_writes", sum(|s| s.local_writes)),
            ("localio_opens", sum(|s| s.localio_opens)),
            ("localio_denied", sum(|s| s.localio_denied)),
            ("retransmissions", sum(|s| s.retransmissions)),
            ("resent_writes", sum(|s| s.resent_writes)),
        ] {
            let _ = writeln!(out, "{k} {v}");
        }
        let local = sessions.first().is_some_and(|s| s.local_active);
        let _ = writeln!(out, "localio {}", if local { "active" } else { "inactive" });
        out
    }
}
