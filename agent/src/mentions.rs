//! `@path` in a user's message attaches that file: its text is appended to the message, so
//! the model sees it without spending a tool call.

use std::path::Path;

use hearth_tools::{resolve_path, Access};

/// The largest file attached whole; a bigger one is left for the model to read in parts.
const MAX_ATTACHED_BYTES: u64 = 64 * 1024;

/// `text` with the files it mentions as `@path` appended, each in a `<file>` element. A
/// mention that is not a readable text file inside `root` stays plain text.
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
        let Ok(file) = resolve_path(root, path, Access::Read) else {
            continue;
        };
        let small =
            std::fs::metadata(&file).is_ok_and(|m| m.is_file() && m.len() <= MAX_ATTACHED_BYTES);
        if !small {
            continue;
        }
        let Ok(content) = std::fs::read_to_string(&file) else {
            continue;
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
}
