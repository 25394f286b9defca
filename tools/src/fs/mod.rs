//! The file tools: read, list, search, edit and create files inside the repository, and
//! the one path by which every tool of this crate reads and writes a file's text.

pub(crate) mod atomic;
pub(crate) mod edit_file;
pub(crate) mod grep;
pub(crate) mod list_files;
pub(crate) mod read_file;
pub(crate) mod write_file;

use std::fs::{File, Metadata, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::paths::display_path;
use crate::{FileChange, ToolContext, ToolError};

/// Whether bytes are binary by the rule git and grep use: a NUL byte anywhere.
pub(crate) fn is_binary(bytes: &[u8]) -> bool {
    bytes.contains(&0)
}

/// Reads the text file at `path`, named `shown` in errors (the path as the model or user
/// gave it), refusing what does not exist ([`ToolError::NotFound`]), directories
/// ([`ToolError::IsDirectory`]), every other thing that is not a regular file (a FIFO or a
/// device would block the read or never end: [`ToolError::NotARegularFile`]), files over
/// `max_bytes` ([`ToolError::TooLarge`]) and binary files ([`ToolError::Binary`]).
///
/// This is the one way hearth reads a file of the repository: the tools, and the agent for
/// `@path` attachments, instruction files and undo. The type is checked before the file is
/// opened, and the file is opened without blocking and checked again, so a path swapped for
/// a FIFO in between cannot hang the call. `path` is used as given: resolve it with
/// [`crate::resolve_path`] first to keep the read inside the repository.
pub fn read_text_file(path: &Path, shown: &str, max_bytes: u64) -> Result<Vec<u8>, ToolError> {
    let Some(meta) = metadata(path)? else {
        return Err(ToolError::NotFound {
            path: shown.to_string(),
        });
    };
    check_regular(&meta, shown)?;
    check_size(meta.len(), shown, max_bytes)?;
    let file = open_nonblocking(OpenOptions::new().read(true), path, shown)?;
    let meta = file.metadata().map_err(|e| ToolError::io(path, e))?;
    check_regular(&meta, shown)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells a file that grew since the check from one that fits.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(path, e))?;
    check_size(bytes.len() as u64, shown, max_bytes)?;
    if is_binary(&bytes) {
        return Err(ToolError::Binary {
            path: shown.to_string(),
        });
    }
    Ok(bytes)
}

/// A text file's content for a tool that reads many files (search, symbols, the
/// repository map), or `None` when [`read_text_file`] refuses it: such a file is skipped, as
/// grep skips binary files, and one unreadable file does not sink the whole search.
pub(crate) fn read_source(path: &Path, max_bytes: u64) -> Option<String> {
    let bytes = read_text_file(path, &path.to_string_lossy(), max_bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// [`read_text_file`] for text that must be valid UTF-8 ([`ToolError::NotUtf8`] otherwise):
/// a file that is edited, since what is not would not survive the round trip (and undo)
/// intact, or one whose text goes into a prompt.
pub fn read_utf8_file(path: &Path, shown: &str, max_bytes: u64) -> Result<String, ToolError> {
    let bytes = read_text_file(path, shown, max_bytes)?;
    String::from_utf8(bytes).map_err(|_| ToolError::NotUtf8 {
        path: shown.to_string(),
    })
}

/// A file's metadata (symlinks followed), `None` when nothing is there.
fn metadata(path: &Path) -> Result<Option<Metadata>, ToolError> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(ToolError::io(path, e)),
    }
}

/// Refuses a directory or any other thing that is not a regular file.
pub(crate) fn check_regular(meta: &Metadata, shown: &str) -> Result<(), ToolError> {
    let file_type = meta.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    if file_type.is_dir() {
        return Err(ToolError::IsDirectory {
            path: shown.to_string(),
        });
    }
    Err(ToolError::NotARegularFile {
        path: shown.to_string(),
        kind: special_kind(meta),
    })
}

#[cfg(unix)]
fn special_kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let file_type = meta.file_type();
    if file_type.is_fifo() {
        "FIFO (named pipe)"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_meta: &Metadata) -> &'static str {
    "special file"
}

fn check_size(bytes: u64, shown: &str, max_bytes: u64) -> Result<(), ToolError> {
    if bytes > max_bytes {
        return Err(ToolError::TooLarge {
            path: shown.to_string(),
            bytes,
            limit: max_bytes,
        });
    }
    Ok(())
}

/// Opens `path` without waiting: opening a FIFO blocks until its other end is opened, which
/// may be never. O_NONBLOCK changes nothing for the reads and writes of a regular file.
fn open_nonblocking(
    options: &mut OpenOptions,
    path: &Path,
    shown: &str,
) -> Result<File, ToolError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => ToolError::NotFound {
            path: shown.to_string(),
        },
        _ => ToolError::io(path, e),
    })
}

/// A file change computed without writing anything: what a dry run shows a user asked to
/// approve it, and exactly what applying it writes.
#[derive(Debug)]
pub(crate) struct Planned {
    /// The physical path to write.
    path: PathBuf,
    /// The path as the model gave it, for messages.
    shown: String,
    /// The tool that plans it, for messages.
    tool: &'static str,
    /// The change, with its diff.
    pub(crate) change: FileChange,
}

impl Planned {
    /// The change of the file at `path` (resolved inside `ctx.root`) from `before` (`None`:
    /// it does not exist yet) to `after`.
    pub(crate) fn new(
        ctx: &ToolContext,
        tool: &'static str,
        path: PathBuf,
        shown: &str,
        before: Option<String>,
        after: String,
    ) -> Self {
        let relative = display_path(&ctx.root, &path);
        let diff = unified_diff(&relative, before.as_deref(), &after);
        Planned {
            path,
            shown: shown.to_string(),
            tool,
            change: FileChange {
                path: relative,
                before,
                after,
                diff,
            },
        }
    }

    /// Writes the planned content, creating missing parent directories. Like reading,
    /// writing refuses whatever is not a regular file and never waits on one.
    ///
    /// The file is replaced atomically ([`atomic::write_file_atomically`]), keeping its
    /// mode: a crash mid-write leaves the old content, which the agent's undo record (written
    /// before this) can still restore, or the new content; never a truncated file.
    pub(crate) fn apply(self) -> Result<FileChange, ToolError> {
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists | ErrorKind::NotADirectory => self.parent_is_a_file(),
                _ => ToolError::io(parent, e),
            })?;
        }
        // The target is never opened (it is renamed over), so a FIFO cannot block the write;
        // it is still refused rather than replaced, as is a directory.
        if let Some(meta) = metadata(&self.path)? {
            check_regular(&meta, &self.shown)?;
        }
        atomic::write_file_atomically(&self.path, self.change.after.as_bytes())
            .map_err(|e| ToolError::io(&self.path, e))?;
        Ok(self.change)
    }

    /// Refuses a path below an existing file, which could never be created.
    pub(crate) fn check_parents(&self) -> Result<(), ToolError> {
        let mut ancestor = self.path.parent();
        while let Some(dir) = ancestor {
            match metadata(dir)? {
                Some(meta) if meta.is_dir() => return Ok(()),
                Some(_) => return Err(self.parent_is_a_file()),
                None => ancestor = dir.parent(),
            }
        }
        Ok(())
    }

    fn parent_is_a_file(&self) -> ToolError {
        ToolError::bad_arguments(
            self.tool,
            format!("a parent of `{}` is a file, not a directory", self.shown),
        )
    }
}

/// A unified diff of two versions of the file at `path` (relative, `/`-separated), in
/// git's form; `before` is `None` for a new file.
pub(crate) fn unified_diff(path: &str, before: Option<&str>, after: &str) -> String {
    let old_header = if before.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_string()
    };
    similar::TextDiff::from_lines(before.unwrap_or(""), after)
        .unified_diff()
        .context_radius(3)
        .header(&old_header, &format!("b/{path}"))
        .to_string()
}
