//! nfsl's fuzz targets: one `pub fn TARGET(data: &[u8])` for every
//! decoder that sees untrusted bytes, each documenting the properties it
//! checks beyond "no panic" (round trips, trailing bytes rejected, memory
//! bounded by the input: see [`alloc`]).
//!
//! The functions are run two ways: by cargo-fuzz (`fuzz/`, outside the
//! workspace, whose `fuzz_targets/*.rs` only call them) for coverage-guided
//! search, and by this crate's test over the seed corpora in
//! `fuzz/corpus/TARGET/` (so `cargo test --workspace` builds every target
//! and replays its corpus, and neither can rot). [`TARGETS`] lists them.
//! `docs/FUZZING.md` says how to run them and what runs found.
//!
//! What it deliberately does not do: fuzz the sockets themselves (the
//! transport's and LOCALIO's IO loops; their framing state machines are
//! fuzzed here), wildcard client matching (it asks DNS), or DNS names in
//! exports files (the resolver here always fails).
//!
//! This crate installs a counting global allocator ([`alloc::CountingAlloc`])
//! in every binary that links it: link it only into fuzzing and its tests.

pub mod alloc;
mod bulk;
mod dispatch;
mod exports;
mod handles;
mod localio;
mod proto;
mod rpc;
mod url;

pub use dispatch::{call_record, server_dispatch, HANDLE_ALIAS, MAX_IO};
pub use exports::{export_options, exports_file};
pub use handles::{file_handle, root_handle, EXPORT_ID, HANDLE_KEY};
pub use localio::localio_frames;
pub use proto::{mount3_args, mount3_results, nfs3_args, nfs3_results, round_trip};
pub use rpc::{rpc_call, rpc_record, rpc_reply, RECORD_LIMIT};
pub use url::nfs_url;

#[global_allocator]
static ALLOC: alloc::CountingAlloc = alloc::CountingAlloc;

/// A fuzz target: any bytes in, a panic if a property breaks.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz/fuzz_targets/NAME.rs`
/// and of its corpus directory `fuzz/corpus/NAME/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("rpc_record", rpc_record),
    ("rpc_call", rpc_call),
    ("rpc_reply", rpc_reply),
    ("nfs3_args", nfs3_args),
    ("nfs3_results", nfs3_results),
    ("mount3_args", mount3_args),
    ("mount3_results", mount3_results),
    ("localio_frames", localio_frames),
    ("file_handle", file_handle),
    ("exports_file", exports_file),
    ("export_options", export_options),
    ("nfs_url", nfs_url),
    ("server_dispatch", server_dispatch),
];
