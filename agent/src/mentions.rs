//! `@path` in a user's message attaches that file: its text is appended to the message, so
//! the model sees it without spending a tool call.

use std::path::Path;

use hearth_tools::{read_utf8_file, resolve_path, Access, ToolError};

/// The largest file attached whole; a bigger one is left for the model to read in parts.
const MAX_ATTACHED_BYTES: u64 = 64 * 1024;

/// `text` with the files it mentions as `@path` appended, each in a `<file>` element. A
/// mention of nothing inside `root` stays plain text (`@` may not start a path at all); a
/// mention of something that is not attached (a directory, a FIFO, a large or binary file)
/// gets a `<not-attached>` element saying why.
pub fn attach_mentions(root: &Path, text: &str) -> String {
    let mut attached = String::new();
    let mut seen = Vec::new();
    for word in text.split_whitespace() {
        let Some(path) = word.strip_prefix('@') else {
            continue;
        };
        // Sentence punctuation after a mention is not part of the path.
        let path = path.trim_end_matches([',', '.', ':', ';', ')', '?', '!']);
        if path.is_empty() || seen.contains(&path) {
            continue;
        }
        let read = resolve_path(root, path, Access::Read)
            .and_then(|file| read_utf8_file(&file, path, MAX_ATTACHED_BYTES));
        let content = match read {
            Ok(content) => content,
            Err(
                ToolError::NotFound { .. }
                | ToolError::OutsideRepository { .. }
                | ToolError::InvalidPath { .. },
            ) => continue,
            Err(e) => {
                seen.push(path);
                let hint = match e {
                    ToolError::TooLarge { .. } => "; read it with read_file, in parts",
                    _ => "",
                };
                attached.push_str(&format!(
                    "\n\n<not-attached path=\"{path}\">{e}{hint}</not-attached>"
                ));
                continue;
            }
        };
        seen.push(path);
        attached.push_str(&format!("\n\n<file path=\"{path}\">\n{content}"));
        if !content.ends_with('\n') {
            attached.push('\n');
        }
        attached.push_str("</file>");
    }
    format!("{text}{attached}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn attaches_files_inside_the_repository_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "alpha").unwrap();
        let root = dir.path().canonicalize().unwrap();
        let text = attach_mentions(&root, "see @a.txt, not @../etc/passwd or @missing");
        assert_eq!(
            text,
            "see @a.txt, not @../etc/passwd or @missing\n\n<file path=\"a.txt\">\nalpha\n</file>"
        );
    }

    #[test]
    fn what_is_there_but_not_attached_says_why() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let big = "x".repeat(MAX_ATTACHED_BYTES as usize + 1);
        std::fs::write(dir.path().join("big.txt"), big).unwrap();
        let root = dir.path().canonicalize().unwrap();
        let text = attach_mentions(&root, "@src and @big.txt");
        assert!(
            text.contains("<not-attached path=\"src\">`src` is a directory"),
            "{text}"
        );
        assert!(
            text.contains("<not-attached path=\"big.txt\">`big.txt` is 65537 bytes")
                && text.contains("read it with read_file, in parts</not-attached>"),
            "{text}"
        );
    }
}
