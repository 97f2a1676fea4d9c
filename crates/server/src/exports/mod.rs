//! The export table: which directories are served, to whom, and how.
//!
//! [`ExportTable::parse`] reads Linux `exports(5)` syntax and is pure except
//! for resolving host names (see [`ExportTable::parse_with_resolver`] for a
//! fully pure variant). [`ExportTable::validate`] is the separate,
//! filesystem-touching step run at startup: it canonicalizes every path and
//! rejects duplicates. [`ExportTable::single`] builds the one-export table
//! the command line uses.
//!
//! Differences from knfsd/`exportfs`, all deliberate:
//! - host names are resolved to addresses once, at parse time (knfsd does a
//!   reverse lookup of each client); wildcard names (`*.domain`) are
//!   matched against the client's forward-confirmed reverse name, cached;
//!   `@netgroup`s and `gss/...` clients are not supported (an entry naming
//!   one skips that client with a warning, see [`ExportTable::parse_lenient`]);
//! - `fsid=` must be a number (or `root`, meaning 0); UUIDs are rejected;
//! - one [`ExportId`] per path: every rule of an export shares it, and the
//!   same path on several lines is merged into one [`Export`];
//! - only `sec=sys` is supported.

mod client;
mod host_names;
mod options;
mod parse;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_options;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

pub use client::ClientMatch;
pub use options::{ExportOptions, Squash};

/// Why an exports file, option list or export path was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportsError {
    /// A syntax or semantic error at a (1-based) line of the exports text.
    #[error("line {line}: {message}")]
    Syntax {
        /// Physical line where the offending token starts.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An invalid option list given to [`ExportOptions::parse_list`].
    #[error("invalid export options: {0}")]
    Options(String),
    /// An export path that failed validation (missing, not a directory...).
    #[error("export {}: {message}", path.display())]
    Path {
        /// The path as written.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Two exports with the same [`ExportId`] (same `fsid=`, same directory,
    /// or a hash collision: then give one of them an explicit `fsid=`).
    #[error("exports {} and {} have the same id {id}", first.display(), second.display())]
    DuplicateId {
        /// The shared id.
        id: ExportId,
        /// The first export with it.
        first: PathBuf,
        /// The second export with it.
        second: PathBuf,
    },
}

/// The stable identity of an export, carried in every file handle.
///
/// It is the export's `fsid=` value when given, else a hash of its path as
/// written (lexically normalized), so handles survive server restarts as
/// long as the exports file keeps naming the directory the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExportId(pub u32);

impl ExportId {
    /// The hash-derived id of an export path (blake3, first 4 bytes).
    pub fn from_path(path: &Path) -> ExportId {
        let mut h = blake3::Hasher::new_derive_key("nfsl 2025 export id v1");
        h.update(normalize(path).as_os_str().as_bytes());
        let b = h.finalize();
        let b = b.as_bytes();
        ExportId(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl fmt::Display for ExportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// One client specification with the options it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRule {
    /// Which clients this rule applies to.
    pub client: ClientMatch,
    /// What they get.
    pub options: ExportOptions,
}

/// One exported directory and its access rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Identity carried in file handles.
    pub id: ExportId,
    /// The directory: as written (normalized) after parsing, canonical after
    /// [`ExportTable::validate`].
    pub path: PathBuf,
    /// Rules in file order; see [`Export::options_for`] for precedence.
    pub rules: Vec<ExportRule>,
}

/// Why [`Export::admit`] refused a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No rule of the export names the client.
    NotListed,
    /// The export is `secure` and the call came from port 1024 or above.
    InsecurePort,
}

impl Refusal {
    /// Why `peer` was refused `export`, as an admin reads it in the log.
    pub fn explain(self, peer: SocketAddr, export: &Export) -> String {
        let path = export.path.display();
        match self {
            Refusal::NotListed => {
                let clients: Vec<String> =
                    export.rules.iter().map(|r| r.client.to_string()).collect();
                format!(
                    "{} is not in the client list of {path} ({})",
                    peer.ip(),
                    clients.join(" ")
                )
            }
            Refusal::InsecurePort => format!(
                "source port {} is not privileged (< 1024) and {path} is exported `secure` \
                 (export it `insecure` to allow unprivileged ports)",
                peer.port()
            ),
        }
    }
}

impl Export {
    /// The options a client at `ip` gets, or `None` if it may not access
    /// this export at all.
    ///
    /// Precedence follows exports(5): a single-host rule beats a network
    /// rule, which beats a wildcard name, which beats `*`; within one kind
    /// the first rule wins.
    /// IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) match IPv4 rules.
    pub fn options_for(&self, ip: IpAddr) -> Option<&ExportOptions> {
        let ip = ip.to_canonical();
        (0..4).find_map(|rank| {
            self.rules
                .iter()
                .find(|r| r.client.rank() == rank && r.client.matches(ip))
                .map(|r| &r.options)
        })
    }

    /// The options a client calling from `peer` gets: its rule
    /// ([`options_for`](Export::options_for)), then that rule's `secure`
    /// option (a source port below 1024). Every protocol checks a caller
    /// with this one function and maps the refusal to its own status.
    pub fn admit(&self, peer: SocketAddr) -> Result<&ExportOptions, Refusal> {
        let options = self.options_for(peer.ip()).ok_or(Refusal::NotListed)?;
        if options.secure && peer.port() >= 1024 {
            return Err(Refusal::InsecurePort);
        }
        Ok(options)
    }
}

/// All exports, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportTable {
    /// The exports.
    pub exports: Vec<Export>,
}

impl ExportTable {
    /// Parses exports(5) text, resolving host names with the system
    /// resolver; any entry or client that cannot be used is an error.
    pub fn parse(text: &str) -> Result<ExportTable, ExportsError> {
        Self::parse_with_resolver(text, &client::system_resolver)
    }

    /// Parses exports(5) text as `exportfs` does: what cannot be used (an
    /// entry with bad options, an unresolvable host, a netgroup) is left
    /// out, and each such thing is one error in the list, for the caller
    /// to warn about. An entry none of whose clients can be used is left
    /// out whole (never exported to everyone instead). Fails only when the
    /// text cannot be split into entries (an unterminated quote).
    pub fn parse_lenient(text: &str) -> Result<(ExportTable, Vec<ExportsError>), ExportsError> {
        parse::parse(text, &client::system_resolver)
    }

    /// Parses exports(5) text, resolving host names with `resolve`, which
    /// returns the addresses of a name or an error message; any entry or
    /// client that cannot be used is an error.
    pub fn parse_with_resolver(
        text: &str,
        resolve: &dyn Fn(&str) -> Result<Vec<IpAddr>, String>,
    ) -> Result<ExportTable, ExportsError> {
        let (table, skipped) = parse::parse(text, resolve)?;
        match skipped.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(table),
        }
    }

    /// A table with one export of `path` to every client (`*`) with
    /// `options`, as the command line builds it. A relative path is made
    /// absolute against the current directory (lexically; see
    /// [`ExportTable::validate`] for canonicalization).
    pub fn single(path: impl Into<PathBuf>, options: ExportOptions) -> ExportTable {
        let path = path.into();
        let path = normalize(&std::path::absolute(&path).unwrap_or(path));
        let id = options
            .fsid
            .map_or_else(|| ExportId::from_path(&path), ExportId);
        ExportTable {
            exports: vec![Export {
                id,
                path,
                rules: vec![ExportRule {
                    client: ClientMatch::Any,
                    options,
                }],
            }],
        }
    }

    /// Canonicalizes every export path (resolving symlinks), requires each
    /// to be an existing directory, and rejects two exports with the same
    /// id or the same canonical directory. Touches the filesystem; ids are
    /// left unchanged.
    pub fn validate(&mut self) -> Result<(), ExportsError> {
        match validate::validate(self).into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Like [`ExportTable::validate`], but an export that fails the checks
    /// (a missing path, not a directory, a duplicate) is removed from the
    /// table instead, as `exportfs` skips it; returns why, one error each.
    pub fn validate_lenient(&mut self) -> Vec<ExportsError> {
        validate::validate(self)
    }

    /// The export whose path is `path` (compared after lexical
    /// normalization: `//`, `/./` and trailing `/` do not matter; symlinks
    /// are not resolved here).
    pub fn find_by_path(&self, path: &Path) -> Option<&Export> {
        let path = normalize(path);
        self.exports.iter().find(|e| e.path == path)
    }

    /// The export with id `id`.
    pub fn find_by_id(&self, id: ExportId) -> Option<&Export> {
        self.exports.iter().find(|e| e.id == id)
    }
}

/// Lexical normalization: drops `.` components, repeated and trailing `/`.
/// `..` is kept (it cannot be resolved without the filesystem).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}
