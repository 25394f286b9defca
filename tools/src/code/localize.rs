//! Fault localization: from a failing test run's output, the functions most likely at fault.
//!
//! Small models repair a bug far better when shown the one function under suspicion beside
//! the failure than when shown the whole repository (the localize step of Agentless). The
//! evidence, strongest first:
//! - a `file:line` of the output (a traceback frame, a panic's location, a stack line)
//!   inside a function of a source file;
//! - a function's name written in the output (an assertion's text, a shell test's message);
//! - a function called by a test that the output points into (by a `file:line`, or by a
//!   test's name that the output quotes);
//! - a function's name among the task's words;
//! - a function that another suspect calls.
//!
//! Test files are never suspects: the tests say what is right.

use std::collections::HashMap;
use std::path::Path;

use crate::code::language::Language;
use crate::code::outline::{outline_source, Definition, SymbolKind};
use crate::code::source::Source;
use crate::code::terms::identifiers;
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
const CALLED_BY_SUSPECT: u32 = 1;

/// A word of the output found on this many test-file lines or fewer names a failing test.
const MAX_QUOTED_LINES: usize = 2;

/// Shorter words are too common to name a test.
const MIN_QUOTED_WORD: usize = 4;

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

/// A failing test's code, as far as the output shows it: the test function the output points
/// into, or the test file's line when the test is not a function (a script of asserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingTest {
    /// The test file, relative to the repository root with `/` separators.
    pub path: String,
    /// Its first line, 1-based.
    pub start_line: usize,
    /// Its text, whole lines.
    pub text: String,
}

/// What a failing run points at: the suspects, strongest first, and the failing tests' code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Localized {
    /// The functions most likely at fault, strongest first.
    pub suspects: Vec<Suspect>,
    /// The failing tests, in the output's order, each once.
    pub failing_tests: Vec<FailingTest>,
}

/// The functions of the repository at `root` most likely at fault for the failing test
/// run whose output is `failure`, given the `task`'s words (at most `limit`, strongest
/// first, ties in path and line order; empty when nothing points anywhere), and the code
/// of the tests that fail.
pub fn localize(
    root: &Path,
    failure: &str,
    task: &str,
    limit: usize,
) -> Result<Localized, ToolError> {
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
    let add = |scores: &mut HashMap<(usize, usize), u32>, file, definition, points| {
        *scores.entry((file, definition)).or_default() += points;
    };

    let mut failing_tests: Vec<FailingTest> = Vec::new();
    for (path, line) in locations(failure, &root_prefix) {
        let Some(&i) = index_of.get(path.as_str()) else {
            continue;
        };
        let file = &files[i];
        if is_test_path(&file.source.path) {
            note_test(&mut failing_tests, file, line);
        } else if let Some(d) = file.enclosing(line) {
            add(&mut scores, i, d, AT_FAILING_LINE);
        }
    }
    let output_words = words(failure);
    // A test's own name in the output ("FAIL join_slash") finds its line when no location
    // did: a word on only a line or two of the test files.
    if failing_tests.is_empty() {
        for (file, line) in quoted_test_lines(&files, &output_words) {
            note_test(&mut failing_tests, file, line);
        }
    }
    let test_words: Vec<&str> = failing_tests.iter().flat_map(|t| words(&t.text)).collect();
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
                add(&mut scores, i, d, NAMED_IN_OUTPUT);
            }
            if test_words.contains(&name) {
                add(&mut scores, i, d, CALLED_BY_FAILING_TEST);
            }
            if task_words.contains(&name) {
                add(&mut scores, i, d, NAMED_IN_TASK);
            }
        }
    }
    // The functions a suspect calls may hold the fault instead (a test calls `low_items`,
    // the bug is in the `is_low` it calls).
    let callers: Vec<(usize, usize)> = scores.keys().copied().collect();
    let mut callees = Vec::new();
    for (i, d) in callers {
        let file = &files[i];
        let caller = &file.definitions[d];
        let body = words(file.source.span(caller.line, caller.end_line));
        for (j, other) in files.iter().enumerate() {
            if is_test_path(&other.source.path) {
                continue;
            }
            for (e, callee) in other.definitions.iter().enumerate() {
                if is_callable(callee.kind)
                    && (j, e) != (i, d)
                    && body.contains(&callee.name.as_str())
                {
                    callees.push((j, e));
                }
            }
        }
    }
    callees.sort_unstable();
    callees.dedup();
    for (j, e) in callees {
        add(&mut scores, j, e, CALLED_BY_SUSPECT);
    }

    let mut ranked: Vec<((usize, usize), u32)> = scores.into_iter().collect();
    ranked.sort_by(|(a, sa), (b, sb)| sb.cmp(sa).then(a.cmp(b)));
    let suspects = ranked
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
        .collect();
    Ok(Localized {
        suspects,
        failing_tests,
    })
}

/// Adds the test at `line` of the test `file` to `tests`, unless it is there: its function,
/// or the line itself outside any function.
fn note_test(tests: &mut Vec<FailingTest>, file: &Parsed, line: usize) {
    let (start, end) = match file.enclosing(line) {
        Some(d) => (file.definitions[d].line, file.definitions[d].end_line),
        None => (line, line),
    };
    if !tests
        .iter()
        .any(|t| t.path == file.source.path && t.start_line == start)
    {
        tests.push(FailingTest {
            path: file.source.path.clone(),
            start_line: start,
            text: file.source.span(start, end).to_string(),
        });
    }
}

/// The test-file lines that hold a word of the output found on at most
/// [`MAX_QUOTED_LINES`] lines of all the test files (a test's name, a case's label), in
/// file and line order.
fn quoted_test_lines<'a>(files: &'a [Parsed], output_words: &[&str]) -> Vec<(&'a Parsed, usize)> {
    let mut by_word: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (i, file) in files.iter().enumerate() {
        if !is_test_path(&file.source.path) {
            continue;
        }
        for (n, line) in file.source.text.lines().enumerate() {
            for word in words(line) {
                if word.len() >= MIN_QUOTED_WORD && output_words.contains(&word) {
                    let places = by_word.entry(word).or_default();
                    if places.last() != Some(&(i, n + 1)) {
                        places.push((i, n + 1));
                    }
                }
            }
        }
    }
    let mut lines: Vec<(usize, usize)> = by_word
        .into_values()
        .filter(|places| places.len() <= MAX_QUOTED_LINES)
        .flatten()
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines.into_iter().map(|(i, n)| (&files[i], n)).collect()
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
    identifiers(text).collect()
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
        let found = localize(&root, &failure, "fix the discount", 3)
            .unwrap()
            .suspects;
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
        let found = localize(dir.path(), "FAIL: join_path a/ b gave a//b", "", 3)
            .unwrap()
            .suspects;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "join_path");
        assert_eq!(found[0].language, Language::Bash);
        assert_eq!(found[0].text, "join_path() {\n    echo \"$1/$2\"\n}\n");
    }

    #[test]
    fn a_test_named_in_the_output_points_at_what_its_line_calls() {
        let dir = repo(&[
            (
                "lib/paths.sh",
                "join_path() {\n    echo \"$1/$2\"\n}\n\narchive_name() {\n    echo x\n}\n",
            ),
            (
                "tests/run.sh",
                ". lib/paths.sh\ncheck join_plain \"$(join_path /b a)\" /b/a\n\
                 check join_slash \"$(join_path /b/ a)\" /b/a\n\
                 check archive \"$(archive_name 1)\" backup-1\n",
            ),
        ]);
        let found = localize(
            dir.path(),
            "FAIL join_slash: expected '/b/a', got '/b//a'",
            "",
            3,
        )
        .unwrap();
        assert_eq!(found.suspects.len(), 1, "{found:?}");
        assert_eq!(found.suspects[0].name, "join_path");
        assert_eq!(found.failing_tests.len(), 1, "{found:?}");
        assert_eq!(found.failing_tests[0].path, "tests/run.sh");
        assert_eq!(found.failing_tests[0].start_line, 3);
        assert!(found.failing_tests[0].text.starts_with("check join_slash"));
    }

    #[test]
    fn the_functions_a_suspect_calls_are_suspects_after_it() {
        let dir = repo(&[
            (
                "shop/stock.py",
                "def is_low(item):\n    return item.quantity < 5\n\n\n\
                 def low_items(items):\n    return [i for i in items if is_low(i)]\n\n\n\
                 def unrelated():\n    return 1\n",
            ),
            (
                "tests/test_stock.py",
                "from shop.stock import low_items\n\n\n\
                 def test_low():\n    assert low_items([]) == []\n",
            ),
        ]);
        let root = dir.path().canonicalize().unwrap();
        let failure = format!(
            "  File \"{}/tests/test_stock.py\", line 5, in test_low\nAssertionError",
            root.display()
        );
        let found = localize(&root, &failure, "", 3).unwrap();
        let names: Vec<&str> = found.suspects.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["low_items", "is_low"]);
        assert_eq!(found.failing_tests.len(), 1);
        assert!(found.failing_tests[0].text.starts_with("def test_low"));
    }
}
