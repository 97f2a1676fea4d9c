//! [`LocalBacking`]: the server-opened fd behind a [`crate::File`] on the
//! LOCALIO path, handed out so that a front end can let the kernel do the
//! IO on it (FUSE passthrough).

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use nfsl_io_engine::IoFile;

/// The exported file itself, as the server opened it for this client
/// under the session's AUTH_SYS identity (read-only or read-write).
///
/// IO through it bypasses the client: its writes are in the server host's
/// page cache at once (a server restart loses nothing), and are made
/// durable by [`LocalBacking::sync`] (what the server's COMMIT does: an
/// `fsync` of the file). Keep it no longer than the file is open: the
/// server authorised it for that open.
#[derive(Debug, Clone)]
pub struct LocalBacking {
    pub(crate) file: Arc<IoFile>,
    pub(crate) writable: bool,
}

impl LocalBacking {
    /// Whether the fd was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Makes what was written through the fd durable (`fsync`, or
    /// `fdatasync` with `data_only`), as a COMMIT on the server would.
    /// Runs on the blocking pool.
    pub async fn sync(&self, data_only: bool) -> std::io::Result<()> {
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || {
            let fd = file.buffered_fd();
            if data_only {
                rustix::fs::fdatasync(fd)
            } else {
                rustix::fs::fsync(fd)
            }
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::from)
    }
}

impl AsFd for LocalBacking {
    /// The buffered fd (never the `O_DIRECT` one).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.buffered_fd()
    }
}
