//! Progress bars for long fetches, on stderr (stdout belongs to the result).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a bar redraws while nothing moves (e.g. while pip runs), so the
/// spinner shows the process is alive.
const STEADY_TICK: Duration = Duration::from_millis(120);

/// The look of a byte-counting bar.
const BYTES_TEMPLATE: &str =
    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";

/// A byte-counting bar of `total` bytes on stderr, or a hidden one when
/// `enabled` is false (hidden bars accept every call and draw nothing).
pub(crate) fn bytes_bar(enabled: bool, total: u64, message: impl Into<String>) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    // The template is a constant, checked by a test; should indicatif ever
    // reject it, the bar still works with its default style.
    if let Ok(style) = ProgressStyle::with_template(BYTES_TEMPLATE) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.into());
    bar.enable_steady_tick(STEADY_TICK);
    bar
}

/// Prints a line on stderr above any bar, when progress output is enabled.
pub(crate) fn note(enabled: bool, bar: Option<&ProgressBar>, line: &str) {
    if !enabled {
        return;
    }
    match bar {
        Some(bar) if !bar.is_hidden() => bar.println(line),
        _ => eprintln!("{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_template_is_valid() {
        assert!(ProgressStyle::with_template(BYTES_TEMPLATE).is_ok());
    }

    #[test]
    fn a_disabled_bar_is_hidden() {
        assert!(bytes_bar(false, 10, "x").is_hidden());
    }
}
