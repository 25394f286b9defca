//! Log lines from the library crates (the `log` facade) to stderr, at the level
//! `HEARTH_LOG` names: stdout belongs to the result.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("[{} {}] {}", record.level(), record.target(), record.args());
        // A poisoned lock only means another thread panicked mid-write; the file is fine.
        let mut file = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner());
        // Nowhere better to report a failed write of a log line.
        match file.as_mut() {
            Some(file) => {
                let _ = writeln!(file, "{line}");
            }
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Where log lines go instead of stderr, when set.
static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);

/// Appends log lines to the file at `path` from now on: the TUI owns the terminal, and a
/// line written to stderr would land in the middle of its screen.
pub fn redirect_to(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::options().create(true).append(true).open(path)?;
    *LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// Sends log lines at `level` (e.g. `debug`) and above to stderr; warnings and errors
/// when `level` is absent. An unknown level is an error that names it.
pub fn init(level: Option<&str>, default: LevelFilter) -> Result<(), String> {
    let filter = match level {
        None => default,
        Some(name) => name.parse::<LevelFilter>().map_err(|_| {
            format!("HEARTH_LOG={name:?}: expected off, error, warn, info, debug or trace")
        })?,
    };
    // Only fails when a logger is already set, which only a second call can do.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(filter);
    Ok(())
}
