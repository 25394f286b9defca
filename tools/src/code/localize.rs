//! Fault localization: from a failing test run's output, the functions most likely at fault.
//!
//! Small models repair a bug far better when shown the one function under suspicion beside
//! the failure than when shown the whole repository (the localize step of Agentless). The
//! evidence, strongest first:
//! - a `file:line` of the output (a traceback frame, a panic's location, a stack line)
//!   inside a function of a source file;
//! - a function's name written in the output (an assertion's text, a shell test's message);
//! - a function called by a test that the output points into;
//! - a function's name among the task's words.
//!
//! Test files are never suspects: the tests say what is right.

use std::collections::HashMap;
use std::path::Path;

use crate::code::language::Language;
use crate::code::outline::{outline_source, Definition, SymbolKind};
use crate::code::source::Source;
use crate::fs::read_source;
use crate::paths::display_path;
use crate::walk::walk_files;
use crate::ToolError;

/// Source files larger than this are not searched for suspects: generated far more often
/// than written.
const MAX_SOURCE_BYTES: u64 = 256 * 1024;

/// At most this many files are read, in path order, so a huge tree stays quick.
const MAX_FILES: usize = 5_000;

/// How much each kind of evidence counts.
const AT_FAILING_LINE: u32 = 8;
const NAMED_IN_OUTPUT: u32 = 4;
const CALLED_BY_FAILING_TEST: u32 = 2;
const NAMED_IN_TASK: u32 = 1;

/// A function that may hold the fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    /// The file, relative to the repository root with `/` separators.
    pub path: String,
    /// The function's language.
    pub language: Language,
    /// Its qualified name (`Type::method`, `Class.method`).
    pub name: String,
    /// Its first line, 1-based.
    pub start_line: usize,
    /// Its last line, 1-based.
    pub end_line: usize,
    /// Its source text, lines `start_line..=end_line` with their line ends.
    pub text: String,
    /// How strongly the evidence points at it (higher is stronger).
    pub score: u32,
}

/// Whether `path` (relative, `/`-separated) is a test file: in a `test`, `tests`,
/// `__tests__` or `spec` directory, or named as a test (`test_x.py`, `x_test.go`,
/// `x.test.js`, `x.spec.ts`).
pub fn is_test_path(path: &str) -> bool {
    let mut parts = path.split('/').collect::<Vec<_>>();
    let name = parts.pop().unwrap_or(path);
    if parts
        .iter()
        .any(|dir| matches!(*dir, "test" | "tests" | "__tests__" | "spec" | "testing"))
    {
        return true;
    }
    let stem = name.split('.').next().unwrap_or(name);
    stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_spec")
        || name.contains(".test.")
        || name.contains(".spec.")
}

/// One parsed source file and its definitions.
struct Parsed {
    source: Source,
    language: Language,
    definitions: Vec<Definition>,
}

impl Parsed {
    /// The index of the innermost function or method holding `line`.
    fn enclosing(&self, line: usize) -> Option<usize> {
        self.definitions
            .iter()
            .enumerate()
            .filter(|(_, d)| is_callable(d.kind) && d.line <= line && line <= d.end_line)
            .min_by_key(|(_, d)| d.end_line - d.line)
            .map(|(i, _)| i)
    }
}

fn is_callable(kind: SymbolKind) -> bool {
    matches!(kind, SymbolKind::Function | SymbolKind::Method)
}

/// The functions of the repository at `root` most likely at fault for the failing test
/// run whose output is `failure`, given the `task`'s words: at most `limit`, strongest
/// first (ties in path and line order). Empty when nothing points anywhere.
pub fn suspects(
    root: &Path,
    failure: &str,
    task: &str,
    limit: usize,
) -> Result<Vec<Suspect>, ToolError> {
    let root = root.canonicalize().map_err(|e| ToolError::io(root, e))?;
    let files = parse_files(&root);
    let index_of: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.source.path.as_str(), i))
        .collect();
    let root_prefix = format!("{}/", root.display());

    // (file index, definition index) -> score
    let mut scores: HashMap<(usize, usize), u32> = HashMap::new();
    let mut add = |file: usize, definition: usize, points: u32| {
        *scores.entry((file, definition)).or_default() += points;
    };

    let mut failing_tests = Vec::new();
    for (path, line) in locations(failure, &root_prefix) {
        let Some(&i) = index_of.get(path.as_str()) else {
            continue;
        };
        let file = &files[i];
        let Some(d) = file.enclosing(line) else {
            continue;
        };
        if is_test_path(&file.source.path) {
            let test = &file.definitions[d];
            failing_tests.push(file.source.span(test.line, test.end_line).to_string());
        } else {
            add(i, d, AT_FAILING_LINE);
        }
    }
    let output_words = words(failure);
    let test_words: Vec<&str> = failing_tests.iter().flat_map(|t| words(t)).collect();
    let task_words = words(task);
    for (i, file) in files.iter().enumerate() {
        if is_test_path(&file.source.path) {
            continue;
        }
        for (d, definition) in file.definitions.iter().enumerate() {
            if !is_callable(definition.kind) {
                continue;
            }
            let name = definition.name.as_str();
            if output_words.contains(&name) {
                add(i, d, NAMED_IN_OUTPUT);
            }
            if test_words.contains(&name) {
                add(i, d, CALLED_BY_FAILING_TEST);
            }
            if task_words.contains(&name) {
                add(i, d, NAMED_IN_TASK);
            }
        }
    }

    let mut ranked: Vec<((usize, usize), u32)> = scores.into_iter().collect();
    ranked.sort_by(|(a, sa), (b, sb)| sb.cmp(sa).then(a.cmp(b)));
    Ok(ranked
        .into_iter()
        .take(limit)
        .filter_map(|((i, d), score)| {
            let file = files.get(i)?;
            let definition = file.definitions.get(d)?;
            Some(Suspect {
                path: file.source.path.clone(),
                language: file.language,
                name: definition.qualified_name.clone(),
                start_line: definition.line,
                end_line: definition.end_line,
                text: file
                    .source
                    .span(definition.line, definition.end_line)
                    .to_string(),
                score,
            })
        })
        .collect())
}

/// Every source file under `root` that tree-sitter reads, with its definitions, in path
/// order.
fn parse_files(root: &Path) -> Vec<Parsed> {
    let mut files = Vec::new();
    for file in walk_files(root, root).into_iter().take(MAX_FILES) {
        let Some(language) = Language::from_path(&file) else {
            continue;
        };
        let Some(text) = read_source(&file, MAX_SOURCE_BYTES) else {
            continue;
        };
        let Ok(definitions) = outline_source(language, &text) else {
            continue;
        };
        files.push(Parsed {
            source: Source::new(display_path(root, &file), text),
            language,
            definitions,
        });
    }
    files
}

/// The `(path, line)` places a test run's output points at, relative to the root, in
/// order: Python's `File "x.py", line 12`, and `path:line` (Rust's panics, JavaScript's
/// stack lines, compilers, `sh`'s `x.sh: line 3:` too).
fn locations(output: &str, root_prefix: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for line in output.lines() {
        let mut rest = line;
        while let Some((path, number, after)) = next_location(rest) {
            let path = path.strip_prefix(root_prefix).unwrap_or(path);
            let path = path.strip_prefix("./").unwrap_or(path);
            found.push((path.to_string(), number));
            rest = after;
        }
    }
    found
}

/// The first location in `text`: a path with an extension followed by `:N`, `", line N`
/// or `: line N`; and the text after it.
fn next_location(text: &str) -> Option<(&str, usize, &str)> {
    let is_path_char = |c: char| c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-');
    let mut search = 0;
    while search < text.len() {
        // A path ends at a known separator before a line number.
        let rest = &text[search..];
        let (at, separator) = [":", "\", line ", ": line "]
            .iter()
            .filter_map(|sep| rest.find(sep).map(|i| (i, *sep)))
            .min_by_key(|(i, sep)| (*i, std::cmp::Reverse(sep.len())))?;
        let end = search + at;
        let start = text[..end]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_path_char(*c))
            .last()
            .map_or(end, |(i, _)| i);
        let path = &text[start..end];
        let after = &text[end + separator.len()..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        let looks_like_file = path
            .rsplit('/')
            .next()
            .is_some_and(|name| name.contains('.') && !name.starts_with('.'));
        if looks_like_file && !digits.is_empty() {
            if let Ok(number) = digits.parse() {
                return Some((path, number, &after[digits.len()..]));
            }
        }
        search = end + separator.len();
    }
    None
}

/// The identifiers of `text`.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::test_support::repo_with as repo;

    #[test]
    fn test_files_are_known_by_directory_or_name() {
        for path in [
            "tests/a.py",
            "test/run.js",
            "pkg/test_x.py",
            "a_test.go",
            "x.test.js",
        ] {
            assert!(is_test_path(path), "{path}");
        }
        for path in [
            "src/lib.rs",
            "inventory/pricing.py",
            "latest.py",
            "contest/a.py",
        ] {
            assert!(!is_test_path(path), "{path}");
        }
    }

    #[test]
    fn locations_are_read_from_tracebacks_panics_and_stacks() {
        let output = "  File \"/repo/inventory/pricing.py\", line 6, in apply_discount\n\
                      thread 'scale' panicked at tests/geom.rs:15:5:\n\
                      at kebabCase (/repo/src/case.js:12:10)\n\
                      tests/run.sh: line 3: join_path: not found\n\
                      ratio: 0.5 at 10:30";
        assert_eq!(
            locations(output, "/repo/"),
            vec![
                ("inventory/pricing.py".to_string(), 6),
                ("tests/geom.rs".to_string(), 15),
                ("src/case.js".to_string(), 12),
                ("tests/run.sh".to_string(), 3),
            ]
        );
    }

    #[test]
    fn the_function_at_the_traceback_line_ranks_first_and_tests_are_never_suspects() {
        let dir = repo(&[
            (
                "shop/pricing.py",
                "def apply_discount(price, percent):\n    return price * (1 - percent / 10)\n\n\n\
                 def tax_for(price):\n    return price * 0.2\n",
            ),
            (
                "tests/test_pricing.py",
                "from shop.pricing import apply_discount, tax_for\n\n\
                 def test_discount():\n    assert apply_discount(200.0, 25) == 150.0\n",
            ),
        ]);
        let root = dir.path().canonicalize().unwrap();
        let failure = format!(
            "Traceback (most recent call last):\n  File \"{}/tests/test_pricing.py\", line 4, \
             in test_discount\n    assert apply_discount(200.0, 25) == 150.0\nAssertionError",
            root.display()
        );
        let found = suspects(&root, &failure, "fix the discount", 3).unwrap();
        assert_eq!(found[0].name, "apply_discount");
        assert_eq!(found[0].path, "shop/pricing.py");
        assert_eq!((found[0].start_line, found[0].end_line), (1, 2));
        assert!(found[0].text.starts_with("def apply_discount"));
        assert!(found.iter().all(|s| !is_test_path(&s.path)));
        assert!(!found.iter().any(|s| s.name == "tax_for"), "{found:?}");
    }

    #[test]
    fn a_shell_function_named_in_the_output_is_a_suspect() {
        let dir = repo(&[
            (
                "lib/paths.sh",
                "join_path() {\n    echo \"$1/$2\"\n}\n\narchive_name() {\n    echo x\n}\n",
            ),
            (
                "tests/run.sh",
                ". lib/paths.sh\n[ \"$(join_path a/ b)\" = a/b ] || echo FAIL\n",
            ),
        ]);
        let found = suspects(dir.path(), "FAIL: join_path a/ b gave a//b", "", 3).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "join_path");
        assert_eq!(found[0].language, Language::Bash);
        assert_eq!(found[0].text, "join_path() {\n    echo \"$1/$2\"\n}\n");
    }
}
