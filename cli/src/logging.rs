//! Log lines from the library crates (the `log` facade) to stderr, at the level
//! `HEARTH_LOG` names: stdout belongs to the result.

use std::io::Write as _;

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut err = std::io::stderr().lock();
            // Nowhere better to report a failed write to stderr.
            let _ = writeln!(
                err,
                "[{} {}] {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Sends log lines at `level` (e.g. `debug`) and above to stderr; warnings and errors
/// when `level` is absent. An unknown level is an error that names it.
pub fn init(level: Option<&str>) -> Result<(), String> {
    let filter = match level {
        None => LevelFilter::Warn,
        Some(name) => name.parse::<LevelFilter>().map_err(|_| {
            format!("HEARTH_LOG={name:?}: expected off, error, warn, info, debug or trace")
        })?,
    };
    // Only fails when a logger is already set, which only a second call can do.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(filter);
    Ok(())
}
