//! The repository map for a session's start: files and their top-level definitions, the
//! most referenced first, cut to a budget.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::code::language::Language;
use crate::code::outline::outline_source;
use crate::fs::read_source;
use crate::output::group_thousands;
use crate::paths::display_path;
use crate::walk::walk_files;
use crate::ToolError;

/// Files larger than this are neither outlined nor scanned for references: they are
/// generated or vendored far more often than written.
const MAX_MAPPED_FILE_BYTES: u64 = 1024 * 1024;

/// Names shorter than this are not ranked by mentions.
const MIN_RANKED_NAME_LEN: usize = 3;

/// Room kept for the closing note that says what did not fit.
const NOTE_RESERVE: usize = 80;

/// A top-level definition and how much the rest of the repository uses its name.
struct Ranked {
    file: usize,
    line: usize,
    entry: String,
    /// Other files that mention the name, per file defining it, times 1000.
    score: u64,
    /// Occurrences of the name anywhere: the tie-breaker.
    occurrences: u64,
}

/// A map of the repository at `root` in at most `budget_chars` bytes (so at most that many
/// characters): each file's path, and under it its top-level definitions as
/// `  line kind name`.
///
/// Which definitions make the cut is decided by how many other files of the repository
/// mention their name (a cheap stand-in for references), shared among the files that define
/// the same name; total occurrences break ties. Definitions are taken best first until the next would not fit;
/// then the paths of the remaining files, in path order, while they fit; a last line says
/// how much was left out. The result depends only on the repository's files.
pub fn repo_map(root: &Path, budget_chars: usize) -> Result<String, ToolError> {
    let root = root.canonicalize().map_err(|e| ToolError::io(root, e))?;
    let files = walk_files(&root, &root);
    let paths: Vec<String> = files.iter().map(|file| display_path(&root, file)).collect();

    let mut ranked = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let Some(language) = Language::from_path(file) else {
            continue;
        };
        let Some(source) = read_source(file, MAX_MAPPED_FILE_BYTES) else {
            continue;
        };
        for definition in outline_source(language, &source)? {
            if definition.parent.is_none() {
                let entry = format!(
                    "  {} {} {}\n",
                    definition.line,
                    definition.kind.as_str(),
                    definition.name
                );
                ranked.push((index, definition.line, definition.name, entry));
            }
        }
    }

    let names: HashSet<&str> = ranked.iter().map(|(_, _, name, _)| name.as_str()).collect();
    // For each name: the files that mention it, and how often it occurs in all.
    let mut mentioned_in: HashMap<&str, HashSet<usize>> = HashMap::new();
    let mut occurrences: HashMap<&str, u64> = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        let Some(text) = read_source(file, MAX_MAPPED_FILE_BYTES) else {
            continue;
        };
        for identifier in identifiers(&text) {
            if let Some(&name) = names.get(identifier) {
                mentioned_in.entry(name).or_default().insert(index);
                *occurrences.entry(name).or_default() += 1;
            }
        }
    }
    let mut definers: HashMap<&str, HashSet<usize>> = HashMap::new();
    for (file, _, name, _) in &ranked {
        definers.entry(name.as_str()).or_default().insert(*file);
    }
    let mut ranked: Vec<Ranked> = ranked
        .iter()
        .map(|(file, line, name, entry)| {
            let name = name.as_str();
            let files_elsewhere = mentioned_in
                .get(name)
                .map_or(0, |files| files.len() - usize::from(files.contains(file)));
            let sharing = definers.get(name).map_or(1, |files| files.len().max(1));
            // One- and two-letter names occur everywhere by accident; they rank last.
            let score = if name.len() < MIN_RANKED_NAME_LEN {
                0
            } else {
                (files_elsewhere * 1000 / sharing) as u64
            };
            let occurrences = occurrences.get(name).copied().unwrap_or(0);
            Ranked {
                file: *file,
                line: *line,
                entry: entry.clone(),
                score,
                occurrences,
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        (b.score, b.occurrences)
            .cmp(&(a.score, a.occurrences))
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });

    Ok(render(&paths, &ranked, budget_chars))
}

/// The map text: the chosen definitions and paths, grouped by file in path order.
fn render(paths: &[String], ranked: &[Ranked], budget: usize) -> String {
    let room = budget.saturating_sub(NOTE_RESERVE);
    let mut chosen: BTreeMap<usize, Vec<&Ranked>> = BTreeMap::new();
    let mut used = 0usize;
    let mut definitions_shown = 0usize;
    for item in ranked {
        let header = if chosen.contains_key(&item.file) {
            0
        } else {
            paths[item.file].len() + 2
        };
        if used + header + item.entry.len() > room {
            break;
        }
        used += header + item.entry.len();
        chosen.entry(item.file).or_default().push(item);
        definitions_shown += 1;
    }
    let mut bare_files = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        if chosen.contains_key(&index) {
            continue;
        }
        if used + path.len() + 1 > room {
            break;
        }
        used += path.len() + 1;
        bare_files.push(index);
    }

    let mut order: Vec<usize> = chosen
        .keys()
        .copied()
        .chain(bare_files.iter().copied())
        .collect();
    order.sort_unstable();
    let mut text = String::with_capacity(used + NOTE_RESERVE);
    for index in order {
        match chosen.get_mut(&index) {
            Some(entries) => {
                entries.sort_by_key(|item| item.line);
                text.push_str(&paths[index]);
                text.push_str(":\n");
                for item in entries.iter() {
                    text.push_str(&item.entry);
                }
            }
            None => {
                text.push_str(&paths[index]);
                text.push('\n');
            }
        }
    }
    let definitions_left = ranked.len() - definitions_shown;
    let files_left = paths.len() - chosen.len() - bare_files.len();
    if definitions_left > 0 || files_left > 0 {
        let note = format!(
            "[… {} more definitions and {} more files not shown]\n",
            group_thousands(definitions_left),
            group_thousands(files_left)
        );
        if text.len() + note.len() <= budget {
            text.push_str(&note);
        }
    }
    text
}

/// The identifiers in a text (`[A-Za-z_][A-Za-z0-9_]*`), in order.
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut position = 0usize;
    std::iter::from_fn(move || {
        while position < bytes.len() {
            let start = position;
            let byte = bytes[position];
            if byte.is_ascii_alphabetic() || byte == b'_' {
                while position < bytes.len()
                    && (bytes[position].is_ascii_alphanumeric() || bytes[position] == b'_')
                {
                    position += 1;
                }
                // Only ASCII bytes were consumed, so both ends are character boundaries.
                return Some(&text[start..position]);
            }
            position += 1;
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_split_out_of_code() {
        let found: Vec<&str> = identifiers("let x_1 = parse(é, _y2) + 3;").collect();
        assert_eq!(found, ["let", "x_1", "parse", "_y2"]);
    }
}
