//! [`Router`]: one mount's LOCALIO state (off, local with a session, or
//! down until the next probe), the probes (at mount, then by one
//! re-prober task per mount), the shared IO engine, and the LOCALIO part
//! of [`crate::ClientStats`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use nfsl_io_engine::{DirectPolicy, EngineConfig, IoEngine};
use nfsl_localio::LocalioChannel;
use tokio::sync::Notify;

use super::file_route::OpenFds;
use super::verify::Devices;
use super::LocalioMode;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::session::{MountState, Nfs};
use crate::stats::{ClientStats, Counters};

/// A probe (socket, UUID_IS_LOCAL, confirm) that takes longer is a
/// failure: the mount goes on over RPC. Short, because a busy or hostile
/// socket must never hold a command up for long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a LOCALIO open (and the check of its fds) may take before
/// the IO goes over RPC instead.
pub(crate) const LOCAL_WAIT: Duration = Duration::from_secs(2);
/// First pause before re-probing after a lost session.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between probes (also the pause after a failed probe at
/// mount: a server that was not local then is unlikely to become so).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A confirmed LOCALIO session: the channel, tied to the NFS connection it
/// was confirmed on.
pub(crate) struct Session {
    /// The confirmed channel (opens).
    pub channel: LocalioChannel,
    /// Numbers sessions: a file's cached fds belong to one.
    pub epoch: u64,
    /// The client's connection count when the session was confirmed: a
    /// reconnection (the server restarted) ends the session.
    connects: u64,
    started: Instant,
    /// Set by the session's watcher when the server closed the channel
    /// (it revoked the session: its export rules changed).
    closed: Arc<AtomicBool>,
    /// The device of each NFS `fsid` whose fds were verified.
    pub devices: Devices,
    /// The fd caches of the files that hold fds of this session: emptied
    /// when the server closes the channel and when the session ends, so
    /// that no fd outlives its session in this library (only IO already
    /// in flight, and unsynced writes' fds until their `fsync`, hold one
    /// a moment longer).
    files: Arc<Mutex<Vec<Weak<Mutex<OpenFds>>>>>,
    /// The watcher task; stopped when the session is dropped, so that it
    /// does not keep the channel open.
    watcher: tokio::task::AbortHandle,
}

/// Empties every tracked cache of the fds of session `epoch`.
fn forget_all(files: &Mutex<Vec<Weak<Mutex<OpenFds>>>>, epoch: u64) {
    let tracked = std::mem::take(&mut *files.lock().unwrap_or_else(|p| p.into_inner()));
    for cache in tracked.iter().filter_map(Weak::upgrade) {
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(epoch);
    }
}

impl Session {
    /// A session on `channel`, with a task that watches the channel close.
    fn new(channel: LocalioChannel, epoch: u64, connects: u64) -> Session {
        let closed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&closed);
        let files = Arc::new(Mutex::new(Vec::new()));
        let tracked = Arc::clone(&files);
        let watch = channel.closed();
        let watcher = tokio::spawn(async move {
            watch.await;
            // The fds go first: once the session shows closed, none is
            // cached any more.
            forget_all(&tracked, epoch);
            flag.store(true, Ordering::SeqCst);
            tracing::debug!("LOCALIO: the server closed the local channel");
        })
        .abort_handle();
        Session {
            channel,
            epoch,
            connects,
            started: Instant::now(),
            closed,
            devices: Devices::default(),
            files,
            watcher,
        }
    }

    /// Registers a file's fd cache that now holds fds of this session.
    pub(crate) fn track(&self, cache: &Arc<Mutex<OpenFds>>) {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files.retain(|w| w.strong_count() > 0);
        files.push(Arc::downgrade(cache));
    }

    /// Whether the server has closed the channel.
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        forget_all(&self.files, self.epoch);
        self.watcher.abort();
    }
}

enum State {
    /// `localio=off`.
    Off,
    /// IO goes local.
    Local(Arc<Session>),
    /// On RPC until `retry_at`, then a background re-probe.
    Down { retry_at: Instant },
}

/// One mount's LOCALIO routing state.
pub(crate) struct Router {
    mode: LocalioMode,
    socket: Option<PathBuf>,
    direct: DirectPolicy,
    state: Mutex<State>,
    /// The pause the next loss of a session waits before re-probing.
    backoff: Mutex<Duration>,
    next_epoch: AtomicU64,
    engine: Mutex<Option<Arc<IoEngine>>>,
    /// Wakes the re-prober: the state changed (a session was lost, the
    /// mount was unmounted).
    changed: Arc<Notify>,
}

impl Router {
    pub(crate) fn new(config: &ClientConfig) -> Router {
        let state = match config.localio {
            LocalioMode::Off => State::Off,
            _ => State::Down {
                retry_at: Instant::now(),
            },
        };
        Router {
            mode: config.localio,
            socket: config.localio_socket.clone(),
            direct: config.direct,
            state: Mutex::new(state),
            backoff: Mutex::new(FIRST_BACKOFF),
            next_epoch: AtomicU64::new(1),
            engine: Mutex::new(None),
            changed: Arc::new(Notify::new()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The probe at mount: `Auto` stays on RPC on failure (and re-probes
    /// only after [`MAX_BACKOFF`]), `On` fails the mount. Unless LOCALIO
    /// is off, starts the mount's re-prober ([`Router::reprobe_when_due`]).
    pub(crate) async fn probe_at_mount(&self, nfs: &Nfs) -> Result<()> {
        if self.mode == LocalioMode::Off {
            return Ok(());
        }
        let outcome = self.probe(nfs, false).await;
        if let Err(reason) = &outcome {
            *self.state() = State::Down {
                retry_at: Instant::now() + MAX_BACKOFF,
            };
            tracing::debug!("LOCALIO: staying on RPC: {reason}");
            if self.mode == LocalioMode::On {
                return Err(Error::NotLocal(reason.clone()));
            }
        }
        tokio::spawn(Router::reprobe_when_due(
            Arc::downgrade(&nfs.shared),
            Arc::clone(&self.changed),
        ));
        Ok(())
    }

    /// The mount's re-prober: sleeps while the mount is local (until the
    /// state changes) or down (until its retry time), then probes; ends
    /// when LOCALIO is off or the mount is gone. The only place a re-probe
    /// starts, so looking at the state ([`Router::local_session`]) never
    /// starts work.
    async fn reprobe_when_due(mount: Weak<MountState>, changed: Arc<Notify>) {
        loop {
            let retry_at = {
                let Some(shared) = mount.upgrade() else {
                    return;
                };
                let state = shared.local.state();
                match &*state {
                    State::Off => return,
                    State::Local(_) => None,
                    State::Down { retry_at } => Some(*retry_at),
                }
            };
            let Some(retry_at) = retry_at else {
                changed.notified().await;
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(retry_at.into()) => {}
                _ = changed.notified() => continue,
            }
            let Some(shared) = mount.upgrade() else {
                return;
            };
            let nfs = Nfs { shared };
            let router = &nfs.shared.local;
            if !matches!(&*router.state(), State::Down { retry_at } if Instant::now() >= *retry_at)
            {
                continue;
            }
            if let Err(reason) = router.probe(&nfs, true).await {
                tracing::debug!("LOCALIO re-probe: {reason}");
                let pause = router.next_backoff(false);
                let mut state = router.state();
                if !matches!(&*state, State::Off) {
                    *state = State::Down {
                        retry_at: Instant::now() + pause,
                    };
                }
            }
        }
    }

    /// Stops LOCALIO for good (the mount is unmounted): IO goes over RPC
    /// and the re-prober ends.
    pub(crate) fn stop(&self) {
        *self.state() = State::Off;
        self.changed.notify_one();
    }

    /// Runs the handshake; on success the mount goes local.
    async fn probe(&self, nfs: &Nfs, again: bool) -> std::result::Result<(), String> {
        let counters = &nfs.shared.counters;
        Counters::add(
            if again {
                &counters.localio_reprobes
            } else {
                &counters.localio_probes
            },
            1,
        );
        // A reconnection during the probe (e.g. the probe's own call
        // reconnected) makes its connection count stale: try once more.
        for _ in 0..2 {
            let before = counters.rpc.connects.load(Ordering::SeqCst);
            let channel = match tokio::time::timeout(
                PROBE_TIMEOUT,
                nfs.localio_probe(self.socket.as_deref()),
            )
            .await
            {
                Ok(Ok(channel)) => channel,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err(format!("no answer within {PROBE_TIMEOUT:?}")),
            };
            let after = counters.rpc.connects.load(Ordering::SeqCst);
            if before != after || !nfs.shared.rpc_connected() {
                continue;
            }
            self.engine_started()
                .map_err(|e| format!("IO engine: {e}"))?;
            let epoch = self.next_epoch.fetch_add(1, Ordering::Relaxed);
            let session = Session::new(channel, epoch, after);
            tracing::info!("LOCALIO: the server shares this host: READ/WRITE/COMMIT go local");
            let mut state = self.state();
            if matches!(&*state, State::Off) {
                return Err("the mount was unmounted during the probe".into());
            }
            *state = State::Local(Arc::new(session));
            return Ok(());
        }
        Err("the NFS connection changed during the probe".into())
    }

    /// The IO engine, started on the first successful probe.
    fn engine_started(&self) -> std::result::Result<Arc<IoEngine>, nfsl_io_engine::IoError> {
        let mut slot = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            return Ok(Arc::clone(e));
        }
        let engine = Arc::new(IoEngine::start(EngineConfig {
            direct: super::io_policy(self.direct),
            thread_name: "nfsl-localio".into(),
            ..EngineConfig::default()
        })?);
        *slot = Some(Arc::clone(&engine));
        Ok(engine)
    }

    /// The engine, if one was started.
    pub(crate) fn engine(&self) -> Option<Arc<IoEngine>> {
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current session if IO may go local now, else `None` (IO goes
    /// over RPC). Ends a session whose NFS connection is gone or was
    /// replaced, or whose channel the server closed (a revocation), which
    /// schedules its re-probe; starts nothing itself.
    pub(crate) fn local_session(&self, nfs: &Nfs) -> Option<Arc<Session>> {
        let mut state = self.state();
        let State::Local(s) = &*state else {
            return None;
        };
        let connects = nfs.shared.counters.rpc.connects.load(Ordering::SeqCst);
        let why = if s.is_closed() {
            "the server closed the local channel (its exports changed)"
        } else if connects != s.connects || !nfs.shared.rpc_connected() {
            "the NFS connection was lost or replaced"
        } else {
            return Some(Arc::clone(s));
        };
        let s = Arc::clone(s);
        self.lose(&mut state, &s, &nfs.shared.counters, why);
        None
    }

    /// A local IO failed in `session`: go down (if that session is still
    /// the current one) and re-probe after the backoff.
    pub(crate) fn fail(&self, nfs: &Nfs, session: &Arc<Session>, why: &str) {
        let mut state = self.state();
        if matches!(&*state, State::Local(s) if Arc::ptr_eq(s, session)) {
            self.lose(&mut state, session, &nfs.shared.counters, why);
        }
    }

    /// Ends the session (counted in `localio_fallbacks`).
    fn lose(&self, state: &mut State, session: &Session, counters: &Counters, why: &str) {
        Counters::add(&counters.localio_fallbacks, 1);
        let long_lived = session.started.elapsed() >= MAX_BACKOFF;
        let pause = self.next_backoff(long_lived);
        tracing::info!("LOCALIO: back to RPC ({why}); re-probing in {pause:?}");
        *state = State::Down {
            retry_at: Instant::now() + pause,
        };
        self.changed.notify_one();
    }

    /// The pause to wait now; doubles the next one (up to [`MAX_BACKOFF`]),
    /// or starts over after a session that lasted.
    fn next_backoff(&self, reset: bool) -> Duration {
        let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        if reset {
            *b = FIRST_BACKOFF;
        }
        let now = *b;
        *b = (now * 2).min(MAX_BACKOFF);
        now
    }

    /// Fills the LOCALIO fields that are not plain counters.
    pub(crate) fn fill_stats(&self, s: &mut ClientStats) {
        s.local_active = matches!(&*self.state(), State::Local(l) if !l.is_closed());
        if let Some(engine) = self.engine() {
            let e = engine.stats();
            s.direct_bytes = e.direct_bytes;
            s.buffered_bytes = e.buffered_bytes;
            s.local_cached_reads = e.nowait_reads;
            s.local_uncached_reads = e.nowait_refusals;
            s.misaligned_splits = e.misaligned_splits;
            let f = engine.io_flusher();
            s.io_flusher_granted = f.granted as u64;
            s.io_flusher_refused = f.refused as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_restarts_after_a_long_session() {
        let router = Router::new(&ClientConfig::default());
        let waits: Vec<u64> = (0..8)
            .map(|_| router.next_backoff(false).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(router.next_backoff(true), FIRST_BACKOFF);
        assert_eq!(router.next_backoff(false), 2 * FIRST_BACKOFF);
    }

    #[test]
    fn off_never_goes_local_and_auto_starts_down() {
        let off = Router::new(&ClientConfig {
            localio: LocalioMode::Off,
            ..ClientConfig::default()
        });
        assert!(matches!(&*off.state(), State::Off));
        let auto = Router::new(&ClientConfig::default());
        assert!(matches!(&*auto.state(), State::Down { .. }));
        let mut stats = ClientStats::default();
        auto.fill_stats(&mut stats);
        assert!(!stats.local_active && auto.engine().is_none());
    }
}
