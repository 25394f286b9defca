//! The file tools: read, list, search, edit and create files inside the repository.

pub(crate) mod edit_file;
pub(crate) mod grep;
pub(crate) mod list_files;
pub(crate) mod read_file;
pub(crate) mod write_file;

use std::path::Path;

use crate::ToolError;

/// Whether bytes are binary by the rule git and grep use: a NUL byte anywhere.
pub(crate) fn is_binary(bytes: &[u8]) -> bool {
    bytes.contains(&0)
}

/// Reads a text file the model named as `shown` (for messages), refusing directories,
/// files over `max_bytes` and binary files.
pub(crate) fn read_text_file(
    path: &Path,
    shown: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, ToolError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ToolError::NotFound {
                path: shown.to_string(),
            })
        }
        Err(e) => return Err(ToolError::io(path, e)),
    };
    if meta.is_dir() {
        return Err(ToolError::IsDirectory {
            path: shown.to_string(),
        });
    }
    if meta.len() > max_bytes {
        return Err(ToolError::TooLarge {
            path: shown.to_string(),
            bytes: meta.len(),
            limit: max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| ToolError::io(path, e))?;
    if is_binary(&bytes) {
        return Err(ToolError::Binary {
            path: shown.to_string(),
        });
    }
    Ok(bytes)
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
