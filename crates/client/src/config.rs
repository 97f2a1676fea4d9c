//! Client settings: identity (AUTH_SYS), timeouts, pipelining and the
//! unstable-write bound.

use std::path::PathBuf;
use std::time::Duration;

use nfsl_rpc::{AuthSysParams, OpaqueAuth, MAX_AUTH_SYS_GIDS, MAX_MACHINE_NAME};

use crate::error::{Error, Result};
use crate::local::{DirectPolicy, LocalioMode};

pub use nfsl_transport::socket::PortPolicy;

/// How the client behaves; [`ClientConfig::default`] suits most uses.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// AUTH_SYS user id (default: the process's effective uid).
    pub uid: u32,
    /// AUTH_SYS group id (default: the process's effective gid).
    pub gid: u32,
    /// Supplementary groups (at most 16; default: the process's, the
    /// first 16 if it has more, as AUTH_SYS carries no more).
    pub gids: Vec<u32>,
    /// AUTH_SYS machine name (default: the host name).
    pub machine_name: String,
    /// How long one try of a call may wait for its reply (default 30 s).
    pub timeout: Duration,
    /// Tries after the first before a call fails (default 5). A try is
    /// used up by no reply within `timeout`, or by the connection failing
    /// under the call; after that, the next try waits up to `timeout` for
    /// the server to accept connections again. A connection found closing
    /// before the call was sent, or closed by the client because another
    /// call timed out on it, costs no try: the call goes again at once.
    pub retries: u32,
    /// Calls in flight on one connection (default 64).
    pub max_in_flight: usize,
    /// READ/WRITE pieces in flight for one `read_at`/`write_at` (default 16).
    pub io_window: usize,
    /// Source port policy (default [`PortPolicy::Auto`]).
    pub privileged_port: PortPolicy,
    /// Unstable (not yet committed) bytes a file keeps in memory for
    /// re-sending before it COMMITs on its own (default 256 MiB). A WRITE
    /// is not sent while this much is held, so a file holds at most this
    /// plus the pieces in flight (`io_window` x wsize). Data written from
    /// a local file ([`crate::File::write_from_file`]) is kept as ranges
    /// of it, up to 1 GiB (or this, if larger) before a COMMIT.
    pub max_unstable_bytes: u64,
    /// Largest READ/WRITE piece, whatever the server allows (default 1 MiB).
    pub max_io_size: u32,
    /// Whether READ/WRITE/COMMIT go through LOCALIO when the server shares
    /// this host (default [`LocalioMode::Auto`]; see [`crate::local`]).
    pub localio: LocalioMode,
    /// Direct IO on the local path (default [`DirectPolicy::Auto`]:
    /// buffered, the client keeping no cache of its own; see
    /// [`crate::local`]).
    pub direct: DirectPolicy,
    /// The server's LOCALIO socket (default: `nfsl-localio`'s default path
    /// for the NFS port, `$XDG_RUNTIME_DIR/nfsl/localio-PORT.sock` or
    /// `/run/nfsl/localio-PORT.sock`).
    pub localio_socket: Option<PathBuf>,
    /// Bytes read ahead of a file's sequential reader on the LOCALIO path
    /// (default 4 MiB; 0: none; URL option `readahead=`, as in libnfs).
    /// Over RPC, large reads are pipelined instead (`io_window`).
    pub readahead: usize,
    /// Bytes of LOCALIO writes per file answered once queued on the IO
    /// engine, before they are done (default 4 MiB; 0: every write waits;
    /// writes under 256 KiB always wait; URL `write-behind=`).
    /// See [`crate::local`] ("Write-behind").
    pub write_behind: usize,
}

/// Largest [`ClientConfig::readahead`] and [`ClientConfig::write_behind`]:
/// they are memory held per file.
pub const MAX_READAHEAD: usize = 256 << 20;

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            gids: process_groups(),
            machine_name: host_name(),
            timeout: Duration::from_secs(30),
            retries: 5,
            max_in_flight: 64,
            io_window: 16,
            privileged_port: PortPolicy::Auto,
            max_unstable_bytes: 256 << 20,
            max_io_size: 1 << 20,
            localio: LocalioMode::Auto,
            direct: DirectPolicy::Auto,
            localio_socket: None,
            readahead: 4 << 20,
            write_behind: 4 << 20,
        }
    }
}

fn process_groups() -> Vec<u32> {
    let mut gids: Vec<u32> = rustix::process::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    gids.truncate(MAX_AUTH_SYS_GIDS);
    gids
}

fn host_name() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

impl ClientConfig {
    /// Checks the settings and builds the AUTH_SYS credential.
    pub(crate) fn credential(&self) -> Result<OpaqueAuth> {
        if self.gids.len() > MAX_AUTH_SYS_GIDS {
            return Err(Error::InvalidArgument(format!(
                "{} supplementary groups; AUTH_SYS carries at most {MAX_AUTH_SYS_GIDS}",
                self.gids.len()
            )));
        }
        let mut machine_name = self.machine_name.as_bytes().to_vec();
        machine_name.truncate(MAX_MACHINE_NAME);
        Ok(OpaqueAuth::sys(&AuthSysParams {
            stamp: std::process::id(),
            machine_name,
            uid: self.uid,
            gid: self.gid,
            gids: self.gids.clone(),
        }))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_in_flight == 0 || self.io_window == 0 {
            return Err(Error::InvalidArgument(
                "max_in_flight and io_window must be at least 1".into(),
            ));
        }
        if self.write_behind > MAX_READAHEAD {
            return Err(Error::InvalidArgument(format!(
                "write_behind of {} bytes is more than the {MAX_READAHEAD} allowed",
                self.write_behind
            )));
        }
        if self.readahead > MAX_READAHEAD {
            return Err(Error::InvalidArgument(format!(
                "readahead of {} bytes is more than the {MAX_READAHEAD} allowed",
                self.readahead
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::InvalidArgument("timeout must not be zero".into()));
        }
        let largest = (crate::MAX_REPLY_RECORD - (64 << 10)) as u32;
        if !(4096..=largest).contains(&self.max_io_size) {
            return Err(Error::InvalidArgument(format!(
                "max_io_size must be between 4096 and {largest}"
            )));
        }
        self.credential().map(|_| ())
    }
}

/// The transport settings a [`ClientConfig`] asks for.
pub(crate) fn client_settings(c: &ClientConfig) -> nfsl_transport::client::ClientSettings {
    nfsl_transport::client::ClientSettings {
        timeout: c.timeout,
        retries: c.retries,
        max_in_flight: c.max_in_flight,
        port_policy: c.privileged_port,
        max_record_len: nfsl_transport::client::MAX_REPLY_RECORD,
    }
}
