//! What `edit_file` answers when `old` is not in the file: the lines of the file most like
//! it, numbered, so that the next attempt can copy them instead of guessing again.

use std::collections::HashMap;

use similar::TextDiff;

use crate::output::cut_line;

/// How similar (0 to 1) a region must be, on average per line, to be offered.
const CUTOFF: f32 = 0.5;

/// The most lines a hint shows.
const MAX_SHOWN: usize = 30;

/// How many characters of a line are compared, and shown.
const MAX_LINE_CHARS: usize = 200;

/// How many pairs of lines a hint may bound cheaply: past this (a long snippet in a long
/// file) only the regions that share a line with the snippet exactly are considered.
const MAX_COMPARISONS: usize = 200_000;

/// The hint appended to "the `old` snippet was not found": the region of `content` whose
/// lines are most like the snippet's, line for line, with line numbers as read_file gives.
pub(super) fn hint(content: &str, old: &str) -> String {
    let snippet: Vec<&str> = trim_blank_ends(old.lines().map(str::trim).collect());
    if snippet.is_empty() {
        return String::new();
    }
    let file: Vec<&str> = content.lines().collect();
    let trimmed: Vec<&str> = file.iter().map(|line| line.trim()).collect();
    let window = snippet.len().min(trimmed.len());
    let Some((start, score)) = best_region(&trimmed, &snippet) else {
        return "; nothing in the file is close to it: read the file again and copy the text exactly"
            .to_string();
    };
    let shown = window.min(MAX_SHOWN);
    let last = start + shown;
    let width = last.to_string().len();
    let what = if shown == 1 {
        format!("line is {}", start + 1)
    } else {
        format!("lines are {}-{last}", start + 1)
    };
    let mut text = format!(
        "; the closest {what} ({:.0}% alike). Copy the text exactly, without the line numbers:",
        score * 100.0
    );
    for (index, line) in file[start..last].iter().enumerate() {
        text.push_str(&format!(
            "\n{:>width$}\t{}",
            start + index + 1,
            cut_line(line, MAX_LINE_CHARS)
        ));
    }
    if window > shown {
        text.push_str("\n…");
    }
    text
}

/// Lines without the blank ones at either end, which only misalign the comparison.
fn trim_blank_ends(mut lines: Vec<&str>) -> Vec<&str> {
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    let leading = lines.iter().take_while(|line| line.is_empty()).count();
    lines.split_off(leading)
}

/// The first lines of the regions worth scoring: all of them while that is cheap, else
/// those where one of the snippet's non-blank lines occurs exactly in its place.
fn candidates(file: &[&str], snippet: &[&str]) -> Vec<usize> {
    let window = snippet.len().min(file.len());
    let starts = file.len() + 1 - window;
    if starts.saturating_mul(window) <= MAX_COMPARISONS {
        return (0..starts).collect();
    }
    let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, line) in snippet.iter().enumerate() {
        if !line.is_empty() {
            positions.entry(line).or_default().push(index);
        }
    }
    let mut hits: HashMap<usize, usize> = HashMap::new();
    for (at, line) in file.iter().enumerate() {
        for &index in positions.get(line).into_iter().flatten() {
            if let Some(start) = at.checked_sub(index).filter(|&start| start < starts) {
                *hits.entry(start).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(usize, usize)> = hits.into_iter().collect();
    // Most shared lines first, then earliest, so the choice does not depend on hashing.
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(MAX_COMPARISONS / window.max(1));
    ranked.into_iter().map(|(start, _)| start).collect()
}

/// The first line of the region most like the snippet and its score, if any reaches
/// [`CUTOFF`]; the earliest of equals.
///
/// Every region's score is first bounded from above by counting shared characters, which is
/// cheap; the exact scores (a diff per line) are computed best bound first, and only while
/// a bound can still beat the best score found.
fn best_region(file: &[&str], snippet: &[&str]) -> Option<(usize, f32)> {
    let window = snippet.len().min(file.len());
    let profiles: Vec<Profile> = snippet.iter().map(|line| Profile::of(line)).collect();
    let mut bounded: Vec<(usize, f32)> = candidates(file, snippet)
        .into_iter()
        .map(|start| {
            let region = &file[start..start + window];
            let sum: f32 = region
                .iter()
                .zip(&profiles)
                .map(|(line, profile)| profile.bound(line))
                .sum();
            (start, sum / snippet.len() as f32)
        })
        .collect();
    bounded.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut best: Option<(usize, f32)> = None;
    for (start, bound) in bounded {
        let top = best.map_or(CUTOFF, |(_, top)| top);
        if bound < top {
            break;
        }
        let score = score(&file[start..start + window], snippet);
        let better = match best {
            None => score >= CUTOFF,
            Some((at, top)) => score > top || (score == top && start < at),
        };
        if better {
            best = Some((start, score));
        }
    }
    best
}

/// How alike a region of the file is to the snippet: the mean similarity of their lines
/// taken in order, where the snippet's lines past the region's end count as unlike.
fn score(region: &[&str], snippet: &[&str]) -> f32 {
    let total: f32 = region
        .iter()
        .zip(snippet)
        .map(|(line, wanted)| similarity(line, wanted))
        .sum();
    total / snippet.len() as f32
}

/// difflib's ratio of two lines, skipped (as 0) when their lengths alone rule out a
/// match worth offering.
fn similarity(a: &str, b: &str) -> f32 {
    if a == b {
        return 1.0;
    }
    let (a, b) = (cut_chars(a), cut_chars(b));
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la + lb == 0 || (2 * la.min(lb)) as f32 / ((la + lb) as f32) < CUTOFF {
        return 0.0;
    }
    TextDiff::from_chars(a, b).ratio()
}

/// A snippet line's characters, counted into buckets, to bound its [`similarity`] to a
/// line cheaply (difflib's `quick_ratio`): matched characters cannot outnumber shared ones.
struct Profile {
    /// How many characters fall in each bucket; characters that share a bucket only make
    /// the bound looser, never wrong.
    counts: [u16; 128],
    /// How many characters were counted.
    len: usize,
}

impl Profile {
    /// The profile of a line, as much of it as is compared.
    fn of(line: &str) -> Profile {
        let mut counts = [0u16; 128];
        let mut len = 0;
        for c in cut_chars(line).chars() {
            let slot = &mut counts[c as usize % 128];
            *slot = slot.saturating_add(1);
            len += 1;
        }
        Profile { counts, len }
    }

    /// An upper bound of [`similarity`] between `line` and the profiled line.
    fn bound(&self, line: &str) -> f32 {
        let mut left = self.counts;
        let (mut shared, mut len) = (0usize, 0usize);
        for c in cut_chars(line).chars() {
            len += 1;
            let slot = &mut left[c as usize % 128];
            if *slot > 0 {
                *slot -= 1;
                shared += 1;
            }
        }
        if len + self.len == 0 {
            return 1.0;
        }
        (2 * shared) as f32 / (len + self.len) as f32
    }
}

/// The start of a line, as much as is compared.
fn cut_chars(line: &str) -> &str {
    line.char_indices()
        .nth(MAX_LINE_CHARS)
        .map_or(line, |(at, _)| &line[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_show_the_closest_numbered_lines() {
        let content = "fn main() {\n    let total = 1;\n    println!(\"{total}\");\n}\n";
        assert_eq!(
            hint(content, "let totl = 1;"),
            "; the closest line is 2 (96% alike). Copy the text exactly, without the line numbers:\n2\t    let total = 1;"
        );
        let hint_text = hint(content, "  let totl = 1;\n  println!(\"{totl}\");\n");
        assert!(
            hint_text.contains("closest lines are 2-3")
                && hint_text.ends_with("\n2\t    let total = 1;\n3\t    println!(\"{total}\");"),
            "{hint_text}"
        );
        let hint_text = hint(content, "completely unrelated words here");
        assert!(hint_text.contains("read the file again"), "{hint_text}");
    }

    #[test]
    fn long_regions_are_cut_and_long_files_are_scored_by_shared_lines() {
        let content: String = (1..=100).map(|i| format!("line number {i}\n")).collect();
        let snippet: String = (41..=80).map(|i| format!("line number {i}\n")).collect();
        let snippet = snippet.replace("line number 50\n", "line numbr 50\n");
        let shown = hint(&content, &snippet);
        assert_eq!(shown.lines().count(), 1 + MAX_SHOWN + 1, "{shown}");
        assert!(
            shown.contains("lines are 41-70") && shown.ends_with("\n…"),
            "{shown}"
        );

        let long: String = (1..=20_000).map(|i| format!("value_{i} = {i}\n")).collect();
        // 11 lines in 20,000 is past the budget for bounding every region.
        let snippet: String = (4000..=4010)
            .map(|i| format!("value_{i} = {i}\n"))
            .collect();
        let snippet = snippet.replace("value_4005 = 4005", "value_4005 = 4500");
        const { assert!(20_000 * 11 > MAX_COMPARISONS) };
        let shown = hint(&long, &snippet);
        assert!(shown.contains("lines are 4000-4010"), "{shown}");
    }
}
