//! `nfsl`: the command line of nfsl.
//!
//! Subcommands live in their own modules; this file only parses arguments,
//! sets up logging and turns errors into one line and a non-zero exit.

mod bench;
mod commands;
mod demo;
mod demo_mount;
mod endpoint;
mod format;
mod heap;
mod mount;
mod progress;
mod rpcbind;
mod serve;
mod transfer;

use clap::{Parser, Subcommand};

/// nfsl: a user-space NFSv3 server and client with LOCALIO.
#[derive(Parser)]
#[command(name = "nfsl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve directories over NFSv3 + MOUNT v3 on one TCP port.
    Serve(serve::ServeArgs),
    /// Start an embedded server on a temporary export and show the client
    /// writing, listing and reading a file through it.
    Demo(demo::DemoArgs),
    /// Mount an NFS export with FUSE (passthrough onto LOCALIO when local).
    Mount(mount::MountArgs),
    /// Unmount an `nfsl mount` and wait for its daemon to finish.
    Umount(mount::UmountArgs),
    #[command(flatten)]
    Client(commands::ClientCommand),
}

fn main() {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        heap::return_freed_memory();
    } else {
        heap::keep_freed_memory();
    }
    // The server logs what it does; client commands and the demo only
    // report problems (their output is the point), unless RUST_LOG says.
    let default_level = match &cli.command {
        Command::Serve(_) => "info",
        Command::Mount(m) if m.foreground || m.daemon_child => "info",
        _ => "error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        .init();
    // A bug must still end in one line, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "nfsl: internal error: {}",
            info.to_string().replace('\n', " ")
        );
    }));
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Mount(args) => mount::run(args),
        Command::Umount(args) => mount::umount(args),
        Command::Client(cmd) => commands::run(cmd),
    };
    if let Err(e) = result {
        eprintln!("nfsl: {}{}", one_line(&e), hint(&e));
        std::process::exit(1);
    }
}

/// Whether log lines may carry colour: only on a terminal, and never when
/// `NO_COLOR` is set to anything (no-color.org).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// What the user can do about `e`, where nfsl knows more than the error
/// says: root refused by a server, which by default squashes root to an
/// anonymous user (`root_squash`).
fn hint(e: &anyhow::Error) -> &'static str {
    let denied = e.chain().any(|c| {
        c.downcast_ref::<nfsl_client::Error>()
            .is_some_and(|e| e.is(nfsl_client::ErrorKind::PermissionDenied))
    });
    match denied && rustix::process::geteuid().is_root() {
        true => " (you are root: unless the export has no_root_squash, the server treats root as an anonymous user; try uid=N&gid=N in the URL)",
        false => "",
    }
}

/// The error and its causes on one line, `: `-separated, leaving out a
/// cause whose text its parent's message already ends with (library
/// errors often print their source themselves).
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}
