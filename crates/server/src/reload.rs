//! The exports in force and how a reload replaces them, as `exportfs -r`
//! does for knfsd (and SIGHUP for NFS-Ganesha).
//!
//! Every request reads one immutable [`ExportSet`] snapshot (an
//! `arc-swap` load: no lock, no contention between request threads); a
//! reload builds a whole new set and swaps it in, so each later request
//! (NFS, MOUNT, LOCALIO open) sees either the old table or the new one,
//! never a mix. A request already running finishes with the snapshot it
//! took.
//!
//! What a reload keeps and changes:
//! - An export with the same canonical path and the same [`ExportId`] keeps
//!   its open [`ExportFs`], so its file handles stay valid; new options
//!   and client lists apply from the next request.
//! - An export that is gone (or whose id changed, e.g. a new `fsid=`) is
//!   unexported: its handles get `NFS3ERR_STALE`, as knfsd answers for
//!   handles of an unexported file system, and MNT of it is refused.
//! - A new export is opened as at startup.
//! - If anything about an existing export changed (removed, options or
//!   clients), every LOCALIO session that holds fds is revoked
//!   ([`nfsl_localio::revoke`]): those fds were authorized under the old
//!   rules. Adding exports revokes nothing.
//!
//! A table that fails validation, or an export directory that cannot be
//! opened, fails the whole reload and changes nothing.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::exports::{Export, ExportId, ExportTable};
use crate::handle::{ExportFs, HandleKey};
use crate::server::{ProgramState, ServerError};

/// One export, opened: its configuration and its file system access.
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    pub(crate) export: Export,
    pub(crate) fs: Arc<ExportFs>,
}

impl ExportRuntime {
    /// The export's id (the one its file handles carry).
    pub(crate) fn id(&self) -> ExportId {
        self.export.id
    }
}

/// One immutable snapshot of the exports, in table order.
#[derive(Debug, Default)]
pub(crate) struct ExportSet {
    pub(crate) exports: Vec<Arc<ExportRuntime>>,
}

impl ExportSet {
    /// Opens every export of a validated `table`, reusing the open
    /// [`ExportFs`] of `old` exports with the same path and id.
    fn open(
        table: ExportTable,
        key: &HandleKey,
        old: Option<&ExportSet>,
    ) -> Result<ExportSet, ServerError> {
        let mut exports = Vec::with_capacity(table.exports.len());
        for export in table.exports {
            let kept = old.and_then(|o| o.same_export(&export));
            let fs = match kept {
                Some(rt) => Arc::clone(&rt.fs),
                None => Arc::new(
                    ExportFs::open(&export.path, export.id, key.clone()).map_err(|source| {
                        ServerError::Export {
                            path: export.path.clone(),
                            source,
                        }
                    })?,
                ),
            };
            exports.push(Arc::new(ExportRuntime { export, fs }));
        }
        Ok(ExportSet { exports })
    }

    /// The export with id `id`.
    pub(crate) fn by_id(&self, id: ExportId) -> Option<&Arc<ExportRuntime>> {
        self.exports.iter().find(|e| e.export.id == id)
    }

    /// The export serving the same directory under the same id as `e`.
    fn same_export(&self, e: &Export) -> Option<&Arc<ExportRuntime>> {
        self.by_id(e.id).filter(|rt| rt.export.path == e.path)
    }
}

/// The live exports of one server: the current snapshot, and what a
/// reload needs to build the next one.
#[derive(Debug)]
pub(crate) struct LiveExports {
    current: ArcSwap<ExportSet>,
    key: HandleKey,
    /// One reload at a time (readers never take it).
    reloading: Mutex<()>,
}

impl LiveExports {
    /// Opens the exports of a validated `table`.
    pub(crate) fn open(table: ExportTable, key: HandleKey) -> Result<LiveExports, ServerError> {
        let set = ExportSet::open(table, &key, None)?;
        Ok(LiveExports {
            current: ArcSwap::from_pointee(set),
            key,
            reloading: Mutex::new(()),
        })
    }

    /// The current snapshot: cheap (no lock, no reference count unless it
    /// is held across many other loads). Take it once per request.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<ExportSet>> {
        self.current.load()
    }

    /// Validates `table`, opens what is new, and swaps the new set in.
    fn replace(&self, mut table: ExportTable) -> Result<ReloadSummary, ServerError> {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        table.validate()?;
        let old = self.current.load_full();
        let new = ExportSet::open(table, &self.key, Some(&old))?;
        let mut summary = ReloadSummary::default();
        for rt in &new.exports {
            match old.same_export(&rt.export) {
                None => summary.added.push(rt.export.path.clone()),
                Some(o) if o.export.rules != rt.export.rules => {
                    summary.changed.push(rt.export.path.clone())
                }
                Some(_) => summary.unchanged += 1,
            }
        }
        for rt in &old.exports {
            if new.same_export(&rt.export).is_none() {
                summary.removed.push(rt.export.path.clone());
            }
        }
        self.current.store(Arc::new(new));
        Ok(summary)
    }
}

/// What a reload did, by canonical export path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Exports that are new (including a path whose id changed).
    pub added: Vec<PathBuf>,
    /// Exports that are gone (their handles are now STALE).
    pub removed: Vec<PathBuf>,
    /// Exports kept (same path and id, handles valid) with new rules.
    pub changed: Vec<PathBuf>,
    /// Exports kept exactly as they were.
    pub unchanged: usize,
    /// LOCALIO sessions (connections to the local channel) open when a
    /// revocation went out because something was removed or changed;
    /// those holding fds end, and their clients drop the fds. 0 when
    /// nothing was, or no client was local (or LOCALIO is off).
    pub localio_sessions_revoked: usize,
}

impl ReloadSummary {
    /// Whether the reload changed nothing.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl fmt::Display for ReloadSummary {
    /// E.g. `1 added (/srv/b), 1 removed (/srv/a), 0 changed, 2 unchanged;
    /// 1 LOCALIO session revoked`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, what: &str, paths: &[PathBuf]| {
            write!(f, "{} {what}", paths.len())?;
            if !paths.is_empty() {
                let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(f, " ({})", shown.join(", "))?;
            }
            Ok(())
        };
        list(f, "added", &self.added)?;
        f.write_str(", ")?;
        list(f, "removed", &self.removed)?;
        f.write_str(", ")?;
        list(f, "changed", &self.changed)?;
        write!(f, ", {} unchanged", self.unchanged)?;
        match self.localio_sessions_revoked {
            0 => {}
            1 => f.write_str("; 1 LOCALIO session revoked")?,
            n => write!(f, "; {n} LOCALIO sessions revoked")?,
        }
        Ok(())
    }
}

/// A cheap, cloneable handle to a running server's exports: keep one
/// (from [`crate::NfsServer::exports_handle`]) to reload after the server
/// has been handed to the transport.
#[derive(Debug, Clone)]
pub struct ExportsHandle {
    shared: Arc<ProgramState>,
}

impl ExportsHandle {
    pub(crate) fn new(shared: Arc<ProgramState>) -> ExportsHandle {
        ExportsHandle { shared }
    }

    /// Replaces the exports with `table` (see the [module docs](self)):
    /// validates it, opens new exports, keeps the open state of exports
    /// whose path and id stay, swaps atomically for every later request,
    /// and revokes LOCALIO sessions if an existing export was removed or
    /// changed. On error nothing changed.
    pub fn reload(&self, table: ExportTable) -> Result<ReloadSummary, ServerError> {
        let mut summary = self.shared.exports.replace(table)?;
        // Open files were authorized under the old table.
        self.shared.files.clear();
        if !summary.removed.is_empty() || !summary.changed.is_empty() {
            // After the swap: an open authorized from now on sees the new
            // table, and one that began before is refused its fds.
            summary.localio_sessions_revoked = self.shared.revocations.sessions();
            self.shared.revocations.revoke_all();
        }
        Ok(summary)
    }

    /// The exports in force, in order.
    pub fn exports(&self) -> Vec<Export> {
        self.shared
            .exports
            .load()
            .exports
            .iter()
            .map(|rt| rt.export.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
