//! The progress bar of long copies: bytes done of the total, rate and
//! ETA, drawn on stderr.
//!
//! It is shown only when both stdout and stderr are terminals (so nothing
//! extra lands in pipes, files or test captures), the copy is large enough
//! to take a noticeable time, and `--quiet` was not given. A hidden bar
//! costs nothing but an atomic add per chunk.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Copies smaller than this finish too fast for a bar to help.
const MIN_BYTES_FOR_BAR: u64 = 32 << 20;

/// Progress of one copy (one file or a whole tree).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` bytes, visible if the terminal rules above allow
    /// and `quiet` is false.
    pub fn new(total: u64, quiet: bool) -> Progress {
        let visible = !quiet
            && total >= MIN_BYTES_FOR_BAR
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal();
        Self::with_visibility(total, visible)
    }

    /// A bar that is never drawn (the demo and tests use it).
    pub fn hidden() -> Progress {
        Self::with_visibility(0, false)
    }

    fn with_visibility(total: u64, visible: bool) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{wide_msg} {bar:30} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
            )
            .expect("progress template is valid")
            .progress_chars("=> "),
        );
        if visible {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar }
    }

    /// Names what is being copied now (the file, for recursive copies).
    pub fn set_message(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Counts `n` more bytes copied.
    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Removes the bar from the terminal (success or failure alike), so the
    /// final message or error line stands alone.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}
