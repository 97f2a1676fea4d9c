//! Per-client export options (`rw,no_root_squash,...`).

use std::fmt;

use super::ExportsError;

/// Which callers are mapped to the anonymous uid/gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Squash {
    /// `no_root_squash`: identities are used as sent.
    None,
    /// `root_squash` (default): uid 0 and gid 0 become anonymous.
    Root,
    /// `all_squash`: every caller becomes anonymous.
    All,
}

/// What a client may do with an export. [`Default`] gives knfsd's defaults:
/// `ro,root_squash,secure,sync,anonuid=65534,anongid=65534`.
///
/// Options accepted and ignored, because nfsl's behaviour is fixed:
/// `wdelay`/`no_wdelay` (no write gathering), `hide`/`nohide`/
/// `crossmnt`/`nocrossmnt` (an export never crosses into other mounts),
/// `acl`/`no_acl` (no NFSACL protocol; the kernel still enforces ACLs),
/// `mountpoint[=path]`/`mp[=path]` (not checked), `secure_locks`/
/// `insecure_locks`/`auth_nlm`/`no_auth_nlm` (no NLM locking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// `ro` (true, default) or `rw`.
    pub read_only: bool,
    /// `root_squash` (default), `no_root_squash`, `all_squash`.
    pub squash: Squash,
    /// `anonuid=N`: uid for squashed and AUTH_NONE callers (default 65534).
    pub anon_uid: u32,
    /// `anongid=N`: gid for squashed and AUTH_NONE callers (default 65534).
    pub anon_gid: u32,
    /// `secure` (true, default): requests must come from a source port
    /// below 1024; `insecure` allows any port.
    pub secure: bool,
    /// `sync` (true, default): reply to WRITE/COMMIT only once data is
    /// stable; `async` may reply earlier.
    pub sync: bool,
    /// `subtree_check` (false, default `no_subtree_check`): every handle a
    /// request uses must name a file that is beneath the export root now
    /// (a file moved out of the export answers STALE). Costs a few system
    /// calls per request (see README). `..` is checked either way.
    pub subtree_check: bool,
    /// `fsid=N` (`fsid=root` is 0): when set, the export's
    /// [`ExportId`](super::ExportId).
    pub fsid: Option<u32>,
    /// `localio` (true, default) or `nolocalio` (nfsl's own option): under
    /// `nolocalio` the server hands out no file descriptors for this
    /// export (every LOCALIO open is refused, so same-host clients do all
    /// IO over RPC, where each request is checked against the rules in
    /// force). Use it where a client must not keep access to files after
    /// the export is removed or its rules change: an fd, once passed,
    /// cannot be taken back.
    pub localio: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            read_only: true,
            squash: Squash::Root,
            anon_uid: 65534,
            anon_gid: 65534,
            secure: true,
            sync: true,
            subtree_check: false,
            fsid: None,
            localio: true,
        }
    }
}

impl ExportOptions {
    /// Parses a comma-separated option list (without parentheses) applied
    /// on top of the defaults, e.g. `"rw,no_root_squash,insecure"`.
    /// Later options override earlier ones. An empty string gives defaults.
    pub fn parse_list(list: &str) -> Result<ExportOptions, ExportsError> {
        let mut o = ExportOptions::default();
        o.apply(list).map_err(ExportsError::Options)?;
        Ok(o)
    }

    /// Applies a comma-separated option list on top of `self`.
    ///
    /// Squashing follows knfsd's two independent flags (root, all) as far
    /// as [`Squash`] can: `all_squash` wins over `no_root_squash`, and
    /// `no_all_squash` after an inherited `all_squash` gives root squashing.
    pub(crate) fn apply(&mut self, list: &str) -> Result<(), String> {
        if list.is_empty() {
            return Ok(());
        }
        let mut root = self.squash != Squash::None;
        let mut all = self.squash == Squash::All;
        for item in list.split(',') {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            match (key, value) {
                ("", _) => return Err("empty option".into()),
                ("anonuid", Some(v)) => self.anon_uid = number(key, v)?,
                ("anongid", Some(v)) => self.anon_gid = number(key, v)?,
                ("fsid", Some("root")) => self.fsid = Some(0),
                ("fsid", Some(v)) => self.fsid = Some(number(key, v)?),
                ("sec", Some(v)) => security(v)?,
                ("mountpoint" | "mp", _) => {}
                (_, Some(_)) => return Err(unknown_or_flag(key)),
                (_, None) => {
                    flag(key, self, &mut root, &mut all)?;
                }
            }
        }
        self.squash = if all {
            Squash::All
        } else if root {
            Squash::Root
        } else {
            Squash::None
        };
        Ok(())
    }
}

/// Applies a value-less option.
fn flag(key: &str, o: &mut ExportOptions, root: &mut bool, all: &mut bool) -> Result<(), String> {
    match key {
        "ro" => o.read_only = true,
        "rw" => o.read_only = false,
        "root_squash" => *root = true,
        "no_root_squash" => *root = false,
        "all_squash" => *all = true,
        "no_all_squash" => *all = false,
        "secure" => o.secure = true,
        "insecure" => o.secure = false,
        "sync" => o.sync = true,
        "async" => o.sync = false,
        "localio" => o.localio = true,
        "nolocalio" => o.localio = false,
        "subtree_check" => o.subtree_check = true,
        "no_subtree_check" => o.subtree_check = false,
        k if IGNORED.contains(&k) => {}
        "anonuid" | "anongid" | "fsid" | "sec" => {
            return Err(format!("option '{key}' needs a value"))
        }
        _ => return Err(format!("unknown export option '{key}'")),
    }
    Ok(())
}

/// Options accepted for compatibility and ignored (see [`ExportOptions`]).
const IGNORED: &[&str] = &[
    "wdelay",
    "no_wdelay",
    "hide",
    "nohide",
    "crossmnt",
    "nocrossmnt",
    "acl",
    "no_acl",
    "secure_locks",
    "insecure_locks",
    "auth_nlm",
    "no_auth_nlm",
];

fn unknown_or_flag(key: &str) -> String {
    const FLAGS: &[&str] = &[
        "ro",
        "rw",
        "root_squash",
        "no_root_squash",
        "all_squash",
        "no_all_squash",
        "secure",
        "insecure",
        "sync",
        "async",
        "localio",
        "nolocalio",
        "subtree_check",
        "no_subtree_check",
    ];
    if FLAGS.contains(&key) || IGNORED.contains(&key) {
        format!("option '{key}' takes no value")
    } else {
        format!("unknown export option '{key}'")
    }
}

fn number(key: &str, v: &str) -> Result<u32, String> {
    if key == "fsid" && v.contains('-') {
        return Err(format!(
            "fsid={v}: UUID fsids are not supported; use a number"
        ));
    }
    v.parse::<u32>()
        .map_err(|_| format!("{key}={v}: expected a number from 0 to {}", u32::MAX))
}

fn security(v: &str) -> Result<(), String> {
    match v.split(':').find(|f| *f != "sys") {
        None => Ok(()),
        Some(f) => Err(format!("sec={f} is not supported (only sec=sys)")),
    }
}

impl fmt::Display for ExportOptions {
    /// The canonical option list, as `exportfs -v` would show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let squash = match self.squash {
            Squash::None => "no_root_squash",
            Squash::Root => "root_squash",
            Squash::All => "all_squash",
        };
        write!(
            f,
            "{},{},{},{},anonuid={},anongid={}",
            if self.read_only { "ro" } else { "rw" },
            squash,
            if self.secure { "secure" } else { "insecure" },
            if self.sync { "sync" } else { "async" },
            self.anon_uid,
            self.anon_gid,
        )?;
        if self.subtree_check {
            f.write_str(",subtree_check")?;
        }
        if let Some(id) = self.fsid {
            write!(f, ",fsid={id}")?;
        }
        if !self.localio {
            f.write_str(",nolocalio")?;
        }
        Ok(())
    }
}
