//! The diff a file edit would make, computed before the call runs, so a user asked to
//! approve it sees what it does.

use std::path::Path;

use hearth_tools::{resolve_path, Access};
use serde_json::Value;

/// The unified diff `edit_file` or `write_file` would make with `input`, or `None` when it
/// cannot be known in advance (another tool, or arguments the tool will refuse).
pub fn preview_diff(root: &Path, tool: &str, input: &Value) -> Option<String> {
    let path = input.get("path")?.as_str()?;
    let file = resolve_path(root, path, Access::Write).ok()?;
    let before = std::fs::read_to_string(&file).ok();
    let after = match tool {
        "edit_file" => {
            let old = input.get("old")?.as_str()?;
            let new = input.get("new")?.as_str()?;
            let before = before.as_deref()?;
            if old.is_empty() || before.matches(old).count() != 1 {
                return None;
            }
            before.replacen(old, new, 1)
        }
        "write_file" => input.get("content")?.as_str()?.to_string(),
        _ => return None,
    };
    let before = before.unwrap_or_default();
    Some(
        similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn an_edit_previews_as_a_unified_diff() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
        let diff = preview_diff(
            &root,
            "edit_file",
            &json!({"path": "a.txt", "old": "two", "new": "three"}),
        )
        .unwrap();
        assert!(diff.contains("-two") && diff.contains("+three"), "{diff}");
        assert!(preview_diff(
            &root,
            "edit_file",
            &json!({"path": "a.txt", "old": "zzz", "new": "y"})
        )
        .is_none());
        assert!(preview_diff(&root, "shell", &json!({"command": "ls"})).is_none());
    }
}
