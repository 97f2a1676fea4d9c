//! `nfsl serve`: export directories over NFSv3 + MOUNT v3.

use std::path::PathBuf;

/// Arguments of `nfsl serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Directory to export (alternative to --exports).
    pub dir: Option<PathBuf>,
    /// exports(5) options for DIR, e.g. "rw,no_root_squash".
    #[arg(short = 'o', long = "options", default_value = "rw")]
    pub options: String,
    /// Exports file in exports(5) syntax.
    #[arg(long, conflicts_with = "dir")]
    pub exports: Option<PathBuf>,
    /// TCP port for NFS and MOUNT (0 = any free port).
    #[arg(long, default_value_t = 2049)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: std::net::IpAddr,
    /// Directory for persistent state (handle key).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("the server is not wired up yet")
}
