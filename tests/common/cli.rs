//! Running the real `nfsl` binary in a test: its output, and the checks
//! every command test makes (success is quiet on stderr; a failure is one
//! `nfsl: ` line and exit status 1).

use std::process::{Command, Output};

use super::peers::{assert_success, run_peer};

/// Runs `nfsl ARGS` (never hangs: killed after the peer timeout).
pub fn nfsl(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nfsl"));
    c.args(args);
    run_peer(c)
}

/// `nfsl ARGS` that must succeed silently on stderr (no progress bar or
/// log lines when not on a terminal); returns stdout.
pub fn ok(args: &[&str]) -> Vec<u8> {
    let out = nfsl(args);
    assert_success(&out, &format!("nfsl {args:?}"));
    assert!(
        out.stderr.is_empty(),
        "nfsl {args:?} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`ok`] as text.
pub fn ok_text(args: &[&str]) -> String {
    String::from_utf8(ok(args)).expect("UTF-8 output")
}

/// `nfsl ARGS` that must fail with exactly one line on stderr; returns it.
pub fn fails(args: &[&str]) -> String {
    let out = nfsl(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "nfsl {args:?} succeeded: {err}");
    assert_eq!(out.status.code(), Some(1), "nfsl {args:?}: {err}");
    assert!(
        err.ends_with('\n') && err.lines().count() == 1,
        "nfsl {args:?}: not exactly one stderr line: {err:?}"
    );
    assert!(err.starts_with("nfsl: "), "{err}");
    err
}
