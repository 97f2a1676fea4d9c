//! `nfsl`: the command line of nfsl.
//!
//! Subcommands live in their own modules; this file only parses arguments,
//! sets up logging and turns errors into one line and a non-zero exit.

mod serve;

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
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
    };
    if let Err(e) = result {
        eprintln!("nfsl: {e:#}");
        std::process::exit(1);
    }
}
