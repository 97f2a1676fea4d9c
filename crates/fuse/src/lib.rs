//! nfsl's FUSE file system: an NFSv3 export (any server) mounted for every
//! program on the host, through nfsl-client's public API.
//!
//! Each FUSE request runs as a task on a tokio runtime and goes to the
//! server as the calling process's AUTH_SYS identity (uid, gid and the
//! supplementary groups from `/proc/PID/status`), one client session per
//! identity, so the server decides permissions ([`identity`]). Attributes
//! and names are cached by the kernel for the nfs(5) times
//! (`acregmin`..`acdirmax`, `noac`, [`MountOptions`]); opens revalidate
//! (close-to-open: the kernel keeps its cached pages only if the file did
//! not change since), and every close and fsync makes the data durable
//! (COMMIT). When the file's LOCALIO open works and the daemon may
//! (CAP_SYS_ADMIN, a kernel with FUSE passthrough), an open is answered
//! as a passthrough file backed by the very fd the server opened: the
//! kernel then reads, writes and maps the server's file without the
//! daemon. Otherwise the daemon serves the IO through the client library
//! (its LOCALIO engine when local, RPC otherwise), and says once why
//! ([`MountStats`]).
//!
//! What it deliberately does not do: mounting itself (the `nfsl mount`
//! command does, with [`fuser`]), byte-range locks (NLM), extended
//! attributes, `RENAME_NOREPLACE`/`RENAME_EXCHANGE` (no NFSv3 form), or
//! caching data beyond the kernel's page cache.

mod attr;
mod dirs;
mod errno;
mod fs;
pub mod identity;
mod inodes;
mod io;
mod names;
mod options;
mod stats;

pub use errno::{from_error as errno_of, from_status as errno_of_status};
pub use fs::{MountHandle, NfsFs};
pub use identity::Identity;
pub use options::{MountOptions, OptionError, PassthroughMode};
pub use stats::MountStats;
