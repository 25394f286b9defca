//! The lines of code that hold the values a task names: "keep backups for 14 days instead
//! of 7" changes the line where 7 is the default. A small model shown a whole repository
//! looks for that line in the wrong file (the README, most often); shown the line beside the
//! task, it edits it. Numbers are what such a task quotes, and what a word search misses.

use std::path::Path;

use crate::code::language::Language;
use crate::code::localize::is_test_path;
use crate::code::terms::terms;
use crate::fs::read_source;
use crate::paths::display_path;
use crate::walk::walk_files;

/// Files larger than this are not searched: generated, not written.
const MAX_SOURCE_BYTES: u64 = 256 * 1024;

/// At most this many files are read, so a huge tree stays quick.
const MAX_FILES: usize = 2_000;

/// A line longer than this is shown cut: it is data, not code.
const MAX_LINE_CHARS: usize = 160;

/// The lines of the source files under `root` (tests left out: a task changes the code)
/// where a number of `task` occurs as a whole number, as `path:line: text`, at most `max`,
/// those sharing more of the task's words first, then in path and line order. Empty when
/// the task names no number.
pub fn value_lines(root: &Path, task: &str, max: usize) -> Vec<String> {
    let numbers = numbers_in(task);
    if numbers.is_empty() || max == 0 {
        return Vec::new();
    }
    let task_terms = terms(task, true);
    let mut found: Vec<(usize, String)> = Vec::new();
    for file in walk_files(root, root).into_iter().take(MAX_FILES) {
        if Language::from_path(&file).is_none() {
            continue;
        }
        let relative = display_path(root, &file);
        if is_test_path(&relative) {
            continue;
        }
        let Some(source) = read_source(&file, MAX_SOURCE_BYTES) else {
            continue;
        };
        for (index, line) in source.lines().enumerate() {
            if !numbers.iter().any(|n| holds_number(line, n)) {
                continue;
            }
            let shared = terms(line, false)
                .iter()
                .filter(|t| task_terms.contains(t))
                .count();
            let text: String = line.trim().chars().take(MAX_LINE_CHARS).collect();
            found.push((shared, format!("{relative}:{}: {text}", index + 1)));
        }
    }
    // Stable: equal scores keep the walk's path and line order.
    found.sort_by_key(|(shared, _)| std::cmp::Reverse(*shared));
    found.into_iter().take(max).map(|(_, line)| line).collect()
}

/// The numbers written in `text` (`14`, `3.50`), each once, in order.
fn numbers_in(text: &str) -> Vec<&str> {
    let mut numbers: Vec<&str> = Vec::new();
    for token in text.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let token = token.trim_matches('.');
        if !token.is_empty()
            && token.chars().any(|c| c.is_ascii_digit())
            && !numbers.contains(&token)
        {
            numbers.push(token);
        }
    }
    numbers
}

/// Whether `number` occurs in `line` with no digit, `.` or letter on either side (so `7`
/// is found in `:-7}` and `= 7;`, not in `17`, `7.5`, `v7` or `0x7f`).
fn holds_number(line: &str, number: &str) -> bool {
    let joins = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_';
    line.match_indices(number).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + number.len()..].chars().next();
        !before.is_some_and(joins) && !after.is_some_and(joins)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::repo_with;

    #[test]
    fn numbers_are_read_whole() {
        assert_eq!(
            numbers_in("Keep backups for 14 days by default instead of 7."),
            ["14", "7"]
        );
        assert_eq!(numbers_in("e.g. €3.50, not 3.50"), ["3.50"]);
        assert!(numbers_in("Rename fmt_money").is_empty());
    }

    #[test]
    fn a_number_is_found_only_standing_alone() {
        assert!(holds_number("KEEP_DAYS=${KEEP_DAYS:-7}", "7"));
        assert!(holds_number("const WIDTH = 72;", "72"));
        assert!(!holds_number("x = 17", "7"));
        assert!(!holds_number("x = 7.5", "7"));
        assert!(!holds_number("v7 = 1", "7"));
    }

    #[test]
    fn lines_with_the_task_words_come_first_and_tests_are_left_out() {
        let repo = repo_with(&[
            (
                "bin/backup.sh",
                "#!/bin/sh\nretry=7\nKEEP_DAYS=${KEEP_DAYS:-7}\n",
            ),
            ("tests/run.sh", "KEEP_DAYS=7 sh bin/backup.sh\n"),
            ("README.md", "Backups are kept 7 days.\n"),
        ]);
        let lines = value_lines(
            repo.path(),
            "Keep backups for 14 days by default instead of 7.",
            5,
        );
        assert_eq!(
            lines,
            [
                "bin/backup.sh:3: KEEP_DAYS=${KEEP_DAYS:-7}",
                "bin/backup.sh:2: retry=7"
            ]
        );
    }
}
