//! Progress bars: drawn on a terminal, silent in pipes (indicatif hides itself when stderr
//! is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` samples showing throughput and ETA.
pub fn samples_bar(total: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} samples  {per_sec}  eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}
