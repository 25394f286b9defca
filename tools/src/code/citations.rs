//! Whether an answer's citations exist. A small model that guesses names a function or a
//! file the repository does not have; checking the names an answer quotes against the files
//! costs one walk of a small tree, and a guess caught here is one the user never sees.

use std::collections::HashSet;
use std::path::{Component, Path};

use crate::code::terms::identifiers;
use crate::fs::read_source;
use crate::paths::display_path;
use crate::walk::walk_files;

/// Files larger than this are not searched for a name: generated, not written.
const MAX_SOURCE_BYTES: u64 = 256 * 1024;

/// At most this many files are read, so a huge tree stays quick (a name found nowhere in
/// them is then not reported: the check only speaks when it is sure).
const MAX_FILES: usize = 2_000;

/// Names shorter than this are too common to be a guess worth reporting.
const MIN_NAME_LEN: usize = 3;

/// What a quoted span refers to.
#[derive(Debug, PartialEq, Eq)]
enum Citation<'a> {
    /// A file, by path from the root or by bare name.
    Path(&'a str),
    /// An identifier: a function, a type, a constant, a variable.
    Name(&'a str),
}

/// The spans of `answer` quoted in backticks that name a file or an identifier the
/// repository at `root` does not have, in the answer's order, each once. Names the `task`
/// itself uses are not checked (the user's words), nor spans that are commands, code
/// expressions, numbers or commit hashes. Empty when the tree is larger than the check reads.
pub fn missing_citations(root: &Path, answer: &str, task: &str) -> Vec<String> {
    let task_words: HashSet<&str> = identifiers(task).collect();
    let cited: Vec<(&str, Citation)> = quoted(answer)
        .filter_map(|span| classify(span).map(|c| (span, c)))
        .filter(|(_, c)| !matches!(c, Citation::Name(n) if task_words.contains(n)))
        .collect();
    if cited.is_empty() {
        return Vec::new();
    }
    let files = walk_files(root, root);
    if files.len() > MAX_FILES {
        return Vec::new();
    }
    let paths: HashSet<String> = files.iter().map(|f| display_path(root, f)).collect();
    let file_names: HashSet<&str> = files
        .iter()
        .filter_map(|f| f.file_name()?.to_str())
        .collect();
    let mut unresolved: Vec<(&str, Citation)> = cited
        .into_iter()
        // A bare name may be a folder's or a file's (`tests`, `Makefile`).
        .filter(|(_, Citation::Path(path) | Citation::Name(path))| {
            !path_exists(path, &paths, &file_names)
        })
        .collect();
    // A path some file holds word for word is the repository's own (a README's
    // `HF_ENDPOINT/HF_TOKEN`, a script a doc mentions), not a guess; a name counts only
    // as a whole identifier (`load` is no proof of `load_items`).
    for file in &files {
        if unresolved.is_empty() {
            break;
        }
        let Some(text) = read_source(file, MAX_SOURCE_BYTES) else {
            continue;
        };
        let known: HashSet<&str> = identifiers(&text).collect();
        unresolved.retain(|(span, citation)| match citation {
            Citation::Name(name) => !known.contains(name),
            Citation::Path(_) => !text.contains(span.trim()),
        });
    }
    let mut missing: Vec<String> = Vec::new();
    for (span, _) in unresolved {
        if !missing.iter().any(|m| m == span) {
            missing.push(span.to_string());
        }
    }
    missing
}

/// Whether `path` (as an answer cites it) names one of the repository's files (`paths`,
/// from the root) or folders: by its path from the root, by a path from a folder inside
/// it (`src/lib.rs` of a workspace member), or, without a `/`, by its file name.
fn path_exists(path: &str, paths: &HashSet<String>, file_names: &HashSet<&str>) -> bool {
    let path = path.trim_end_matches('/');
    if !path.contains('/') && file_names.contains(path) {
        return true;
    }
    let inner = format!("/{path}");
    let folder = format!("{path}/");
    let inner_folder = format!("/{path}/");
    paths.iter().any(|p| {
        p == path || p.ends_with(&inner) || p.starts_with(&folder) || p.contains(&inner_folder)
    })
}

/// The spans between pairs of single backticks.
fn quoted(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// What `span` cites, or `None` for a span the check does not judge.
fn classify(span: &str) -> Option<Citation<'_>> {
    let span = span.trim();
    if span.is_empty() || span.contains(char::is_whitespace) {
        return None;
    }
    if looks_like_path(span) {
        // `src/case.js:12` cites the file.
        let path = span.split(':').next().unwrap_or(span);
        let path = path.strip_prefix("./").unwrap_or(path);
        let inside = Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        return inside.then_some(Citation::Path(path));
    }
    // `Type::method`, `obj.method()`, `name()`: the last name is the one defined.
    let name = span.strip_suffix("()").unwrap_or(span);
    let name = name.rsplit([':', '.']).next().unwrap_or(name);
    let is_identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    let is_hash = name.len() >= 7 && name.chars().all(|c| c.is_ascii_hexdigit());
    (is_identifier && !is_hash && name.len() >= MIN_NAME_LEN).then_some(Citation::Name(name))
}

/// Whether `span` is written as a path: with a `/`, or a name with a source file's
/// extension.
fn looks_like_path(span: &str) -> bool {
    const EXTENSIONS: [&str; 16] = [
        "rs", "py", "js", "mjs", "ts", "tsx", "jsx", "sh", "go", "c", "h", "cpp", "md", "toml",
        "json", "yml",
    ];
    let file = span.split(':').next().unwrap_or(span);
    if file.contains('/') {
        return !file.starts_with('/') && !file.contains("://");
    }
    file.rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && EXTENSIONS.contains(&ext))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::repo_with as repo;

    #[test]
    fn spans_are_told_apart() {
        assert_eq!(
            classify("lib/paths.sh"),
            Some(Citation::Path("lib/paths.sh"))
        );
        assert_eq!(
            classify("src/case.js:12"),
            Some(Citation::Path("src/case.js"))
        );
        assert_eq!(classify("stock.py"), Some(Citation::Path("stock.py")));
        assert_eq!(classify("join_path"), Some(Citation::Name("join_path")));
        assert_eq!(classify("Rect::area"), Some(Citation::Name("area")));
        assert_eq!(classify("kit.slugify()"), Some(Citation::Name("slugify")));
        for skipped in [
            "sh tests/run.sh",
            "x < 5",
            "42",
            "c106391",
            "/etc/passwd",
            "../up.py",
            "ok",
            "https://x.org/a",
        ] {
            assert_eq!(classify(skipped), None, "{skipped}");
        }
    }

    #[test]
    fn names_and_files_the_repository_lacks_are_reported_once_in_order() {
        let dir = repo(&[
            (
                "lib/paths.sh",
                "join_path() {\n    echo \"$1/$2\"\n}\nARCHIVE_EXT=tgz\n",
            ),
            ("tests/run.sh", ". lib/paths.sh\n"),
        ]);
        let answer = "`join_slash` in `lib/path.sh` joins them; see `join_path` in \
                      `lib/paths.sh`, `run.sh` and `ARCHIVE_EXT`. `join_slash` again, and \
                      `prune_old` from the task.";
        assert_eq!(
            missing_citations(dir.path(), answer, "what does prune_old do?"),
            vec!["join_slash".to_string(), "lib/path.sh".to_string()]
        );
        assert!(missing_citations(dir.path(), "It is `join_path`.", "").is_empty());
        // Folders, paths from a folder inside the tree, and paths a file mentions exist.
        let cited = "`lib/`, `tests`, `paths.sh`, `run.sh`, `lib/paths.sh:2` and `bin/x.sh`";
        assert_eq!(
            missing_citations(dir.path(), cited, ""),
            vec!["bin/x.sh".to_string()]
        );
        let mentioned = repo(&[
            (
                "README.md",
                "Set `HF_ENDPOINT/HF_TOKEN`; tests are in `tests/run.sh`.\n",
            ),
            ("engine/src/lib.rs", "pub fn load_items() {}\n"),
        ]);
        let answer = "`HF_ENDPOINT/HF_TOKEN`, `tests/run.sh`, `src/lib.rs`, `engine/`, `load`";
        assert_eq!(
            missing_citations(mentioned.path(), answer, ""),
            vec!["load".to_string()]
        );
        assert!(missing_citations(dir.path(), "no quotes at all", "").is_empty());
    }
}
