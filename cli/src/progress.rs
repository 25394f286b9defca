//! Progress on stderr: spinners and bars that vanish when stderr is not a
//! terminal.

use std::sync::Mutex;
use std::time::Duration;

use hearth_hub::{Phase, Progress};
use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a message, ticking until dropped or finished.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar counting `len` steps.
pub fn bar(len: u64, message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message.into());
    bar
}

/// Draws the model hub's progress on stderr: one byte-counting bar per
/// phase, with the hub's notes printed above it.
#[derive(Default)]
pub struct HubBar {
    /// The bar on screen and the phase it shows.
    current: Mutex<Option<(Phase, ProgressBar)>>,
}

/// The look of the hub's byte-counting bar.
const BYTES_TEMPLATE: &str =
    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";

impl HubBar {
    fn with_bar(&self, f: impl FnOnce(&mut Option<(Phase, ProgressBar)>)) {
        // A panic elsewhere while drawing leaves the bar as it was: keep drawing.
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut current);
    }
}

impl Progress for HubBar {
    fn update(&self, phase: Phase, done: u64, total: u64) {
        self.with_bar(|current| {
            match current {
                Some((shown, bar)) if *shown == phase => bar.set_length(total),
                Some((shown, bar)) => {
                    *shown = phase;
                    bar.set_length(total);
                    bar.set_message(phase.to_string());
                }
                None => {
                    let bar = ProgressBar::new(total);
                    bar.set_style(
                        ProgressStyle::with_template(BYTES_TEMPLATE)
                            .map(|s| s.progress_chars("=> "))
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_message(phase.to_string());
                    // Keeps the spinner alive while nothing moves (pip fetching a part).
                    bar.enable_steady_tick(Duration::from_millis(120));
                    *current = Some((phase, bar));
                }
            }
            if let Some((_, bar)) = current {
                bar.set_position(done);
            }
        });
    }

    fn finish(&self) {
        self.with_bar(|current| {
            if let Some((_, bar)) = current.take() {
                bar.finish_and_clear();
            }
        });
    }

    fn note(&self, line: &str) {
        self.with_bar(|current| match current {
            Some((_, bar)) => bar.println(line),
            None => eprintln!("{line}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_bar_template_is_valid() {
        assert!(ProgressStyle::with_template(BYTES_TEMPLATE).is_ok());
    }
}
