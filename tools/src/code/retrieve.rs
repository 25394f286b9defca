//! Retrieval before a task's first request: the repository's files and definitions ranked
//! by the task's words, and the best of them cut to a token budget, so that a question such
//! as "which function parses the header?" can be answered from what the model already sees.
//!
//! Two BM25 indexes are built over identifier parts ([`crate::split_identifier`]): one document per
//! file (its path, weighted, and its text) and one per tree-sitter definition (its name,
//! weighted, its parent's name and its source text). A definition scores its own BM25 plus
//! half its file's. The result depends only on the task and the repository's files: ties are
//! broken by path and line, so a resumed session sees the same bytes.

use std::path::Path;

use crate::code::language::Language;
use crate::code::outline::outline_source;
use crate::code::source::Source;
use crate::code::terms::{bm25, query_terms, terms, Document};
use crate::fs::read_source;
use crate::paths::display_path;
use crate::walk::walk_files;
use crate::ToolError;

/// Files larger than this are not retrieved: generated or vendored far more often than written.
const MAX_RETRIEVED_FILE_BYTES: u64 = 256 * 1024;

/// At most this many files are indexed, in path order, so a huge tree stays quick.
const MAX_INDEXED_FILES: usize = 5_000;

/// The estimate of a token's size in bytes.
const BYTES_PER_TOKEN: usize = 4;

/// How much more a name (a file's path, a definition's name) counts than a body.
const NAME_WEIGHT: u32 = 3;

/// The share of its file's score a definition adds to its own.
const FILE_SHARE: f64 = 0.5;

/// Candidates scoring under this share of the best are left out: noise costs prefill time.
const RELATIVE_CUTOFF: f64 = 0.25;

/// Lines shown around the best-matching line of a large file without definitions.
const EXCERPT_LINES: usize = 40;

/// Files that are generated, never read for their logic.
fn is_generated(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".lock")
        || name.ends_with(".min.js")
        || name.ends_with(".map")
        || name == "package-lock.json"
}

/// The code retrieved for a task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retrieved {
    /// The chosen code: `<file path="…" lines="…">` elements (`lines` absent for a whole
    /// file), the file of the best match first, each file's pieces in line order; empty when
    /// nothing matched.
    pub text: String,
    /// Whether `text` holds every text file of the repository whole (then a map of the
    /// repository would say nothing more).
    pub whole_repository: bool,
}

/// A piece of code that may be shown: a whole file, a definition, or an excerpt.
struct Candidate {
    score: f64,
    file: usize,
    start: usize,
    end: usize,
    /// Shown whole if small enough, else by its definitions or an excerpt.
    whole_file: bool,
}

/// The code of the repository at `root` that best matches `task`, in at most
/// `budget_tokens` (estimated as bytes / 4). A repository whose text files all fit is
/// included whole, in path order. Files named in `skip` (paths relative to `root`, such as
/// instruction files shown elsewhere), binary files and files over 256 KiB are left out.
pub fn retrieve(
    root: &Path,
    task: &str,
    budget_tokens: usize,
    skip: &[&str],
) -> Result<Retrieved, ToolError> {
    let root = root.canonicalize().map_err(|e| ToolError::io(root, e))?;
    let budget = budget_tokens.saturating_mul(BYTES_PER_TOKEN);
    let mut sources = Vec::new();
    let mut left_out = false;
    for file in walk_files(&root, &root).into_iter().take(MAX_INDEXED_FILES) {
        let path = display_path(&root, &file);
        if skip.contains(&path.as_str()) {
            continue;
        }
        if is_generated(&path)
            || std::fs::metadata(&file).map_or(true, |m| m.len() > MAX_RETRIEVED_FILE_BYTES)
        {
            left_out = true;
            continue;
        }
        // Binary and unreadable files are not code to show.
        let Some(text) = read_source(&file, MAX_RETRIEVED_FILE_BYTES) else {
            continue;
        };
        sources.push(Source::new(path, text));
    }

    if !left_out && budget > 0 {
        let whole: String = sources.iter().map(|s| element(s, None)).collect();
        if whole.len() <= budget {
            return Ok(Retrieved {
                text: whole,
                whole_repository: true,
            });
        }
    }
    let query = query_terms(task);
    if query.is_empty() || budget == 0 {
        return Ok(Retrieved::default());
    }
    let candidates = rank(&sources, &query)?;
    Ok(Retrieved {
        text: select(&sources, &candidates, &query, budget),
        whole_repository: false,
    })
}

/// Every file and definition with a positive score, best first; ties by path, then line.
fn rank(sources: &[Source], query: &[String]) -> Result<Vec<Candidate>, ToolError> {
    let mut file_docs = Vec::with_capacity(sources.len());
    let mut definitions = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let mut doc = Document::default();
        doc.add(&terms(&source.path, false), query, NAME_WEIGHT);
        doc.add(&terms(&source.text, false), query, 1);
        file_docs.push(doc);
        let Some(language) = Language::from_path(Path::new(&source.path)) else {
            continue;
        };
        for definition in outline_source(language, &source.text)? {
            let end = definition.end_line.min(source.lines());
            if definition.line == 0 || definition.line > end {
                continue;
            }
            let start = with_leading_comments(source, definition.line);
            let mut doc = Document::default();
            doc.add(&terms(&definition.name, false), query, NAME_WEIGHT);
            if let Some(parent) = &definition.parent {
                doc.add(&terms(parent, false), query, 1);
            }
            doc.add(&terms(source.span(start, end), false), query, 1);
            definitions.push((index, start, end, doc));
        }
    }
    let file_scores = bm25(&file_docs, query);
    let docs: Vec<Document> = definitions
        .iter_mut()
        .map(|(.., doc)| std::mem::take(doc))
        .collect();
    let definition_scores = bm25(&docs, query);

    let mut candidates: Vec<Candidate> = file_scores
        .iter()
        .enumerate()
        .map(|(file, &score)| Candidate {
            score,
            file,
            start: 1,
            end: sources[file].lines(),
            whole_file: true,
        })
        .chain(definitions.iter().zip(&definition_scores).map(
            |(&(file, start, end, _), &score)| Candidate {
                score: score + FILE_SHARE * file_scores[file],
                file,
                start,
                end,
                whole_file: false,
            },
        ))
        .filter(|c| c.score > 0.0)
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| sources[a.file].path.cmp(&sources[b.file].path))
            .then(a.start.cmp(&b.start))
            .then(b.end.cmp(&a.end))
    });
    Ok(candidates)
}

/// The best candidates that fit in `budget` bytes, rendered by [`render`]. A small file is
/// shown whole; two pieces of one file never overlap.
fn select(sources: &[Source], candidates: &[Candidate], query: &[String], budget: usize) -> String {
    let Some(best) = candidates.first().map(|c| c.score) else {
        return String::new();
    };
    let small_file = budget / 4;
    let mut shown: Vec<(usize, usize, usize)> = Vec::new();
    let mut used = 0;
    let has_definitions = |file: usize| candidates.iter().any(|c| c.file == file && !c.whole_file);
    for candidate in candidates {
        if candidate.score < best * RELATIVE_CUTOFF {
            break;
        }
        let source = &sources[candidate.file];
        let whole = source.text.len() <= small_file
            || (candidate.whole_file && source.text.len() <= budget / 2);
        let (start, end) = if whole {
            (1, source.lines())
        } else if !candidate.whole_file {
            (candidate.start, candidate.end)
        } else if has_definitions(candidate.file) {
            // A large file is shown by its best definitions, which are candidates too.
            continue;
        } else {
            excerpt(source, query)
        };
        let overlaps = shown
            .iter()
            .any(|&(file, s, e)| file == candidate.file && s <= end && start <= e);
        if overlaps || source.lines() == 0 {
            continue;
        }
        let lines = (!whole).then_some((start, end));
        // Rendering joins pieces of a file, which only saves bytes: this sum bounds the text.
        let size = element(source, lines).len();
        if used + size > budget {
            continue;
        }
        used += size;
        shown.push((candidate.file, start, end));
    }
    render(sources, &shown)
}

/// The chosen pieces as text: files in the order of their best piece, each file's pieces in
/// line order, touching pieces joined into one.
fn render(sources: &[Source], shown: &[(usize, usize, usize)]) -> String {
    let mut files: Vec<usize> = Vec::new();
    for &(file, ..) in shown {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    let mut text = String::new();
    for file in files {
        let source = &sources[file];
        let mut spans: Vec<(usize, usize)> = shown
            .iter()
            .filter(|&&(f, ..)| f == file)
            .map(|&(_, start, end)| (start, end))
            .collect();
        spans.sort_unstable();
        let mut joined: Vec<(usize, usize)> = Vec::new();
        for (start, end) in spans {
            match joined.last_mut() {
                // A blank line or two between two pieces cost less than a second header.
                Some(last)
                    if start <= last.1 + 1
                        || (start <= last.1 + 3 && blank(source, last.1 + 1, start - 1)) =>
                {
                    last.1 = last.1.max(end)
                }
                _ => joined.push((start, end)),
            }
        }
        for (start, end) in joined {
            let whole = start == 1 && end >= source.lines();
            text.push_str(&element(source, (!whole).then_some((start, end))));
        }
    }
    text
}

/// The first line of the comments, doc comments, attributes and decorators right above
/// line `line`, or `line` itself: they say what a definition is for.
fn with_leading_comments(source: &Source, line: usize) -> usize {
    let mut start = line;
    while start > 1 {
        let above = source.span(start - 1, start - 1).trim();
        let annotation = ["//", "#", "@", "/*", "*"]
            .iter()
            .any(|prefix| above.starts_with(prefix));
        if !annotation {
            break;
        }
        start -= 1;
    }
    start
}

/// Whether lines `from..=to` are all blank (true when the range is empty).
fn blank(source: &Source, from: usize, to: usize) -> bool {
    (from..=to).all(|line| source.span(line, line).trim().is_empty())
}

/// The lines of a large file around its line with the most query terms.
fn excerpt(source: &Source, query: &[String]) -> (usize, usize) {
    let mut best = (0usize, 1usize);
    for line in 1..=source.lines() {
        let hits = terms(source.span(line, line), false)
            .iter()
            .filter(|t| query.contains(t))
            .count();
        if hits > best.0 {
            best = (hits, line);
        }
    }
    let start = best.1.saturating_sub(EXCERPT_LINES / 4).max(1);
    (start, (start + EXCERPT_LINES - 1).min(source.lines()))
}

/// One piece of code as the model sees it: the whole file, or lines `start-end` of it.
fn element(source: &Source, lines: Option<(usize, usize)>) -> String {
    let (attribute, body) = match lines {
        Some((start, end)) => (format!(" lines=\"{start}-{end}\""), source.span(start, end)),
        None => (String::new(), source.text.as_str()),
    };
    let newline = if body.ends_with('\n') || body.is_empty() {
        ""
    } else {
        "\n"
    };
    format!(
        "<file path=\"{}\"{attribute}>\n{body}{newline}</file>\n",
        source.path
    )
}
