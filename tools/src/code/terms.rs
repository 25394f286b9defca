//! The words retrieval matches on: identifiers split into parts, lower-cased and stemmed,
//! and BM25 scoring of documents made of them.

use std::collections::HashMap;

/// Words of a task that say nothing about which code it is about.
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "by", "can", "code",
    "could", "do", "does", "file", "files", "find", "for", "from", "function", "functions",
    "get", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "method",
    "methods", "my", "of", "on", "or", "please", "repo", "repository", "should", "show", "so",
    "tell", "that", "the", "their", "them", "then", "there", "this", "to", "use", "used",
    "using", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with",
    "would", "you", "your",
];

/// BM25's term-frequency saturation.
const K1: f64 = 1.2;
/// BM25's length normalization.
const B: f64 = 0.75;

/// The identifiers of `text`, as written: runs of letters, digits and `_` that do not
/// start with a digit.
pub(crate) fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
        })
}

/// The parts of an identifier or path, lower-cased: `parse_header`, `parseHeader`,
/// `parse-header` and `src/parse/header.rs` all contain `parse` and `header`; a run of
/// capitals is one part (`HTTPServer`: `http`, `server`), and digits stay with their letters.
pub fn split_identifier(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = word.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (before, here) = (chars[i - 1], chars[i]);
            let lower_to_upper = here.is_uppercase() && !before.is_uppercase();
            // The last capital of a run starts the next word: HTTP|Server.
            let run_ends = here.is_uppercase()
                && before.is_uppercase()
                && chars.get(i + 1).is_some_and(|c| c.is_lowercase());
            if lower_to_upper || run_ends {
                parts.push(chars[start..i].iter().collect::<String>());
                start = i;
            }
        }
        if start < chars.len() {
            parts.push(chars[start..].iter().collect::<String>());
        }
    }
    parts.into_iter().map(|p| p.to_lowercase()).collect()
}

/// A crude stem, applied alike to the task and the code, so that `parses`, `parsing`,
/// `parsed` and `parse` meet.
fn stem(word: &str) -> String {
    let mut w = word.to_string();
    if w.chars().count() <= 3 {
        return w;
    }
    if let Some(base) = w.strip_suffix("ies") {
        w = format!("{base}y");
    } else if w.ends_with('s') && !w.ends_with("ss") {
        w.pop();
    }
    for suffix in ["ing", "ed"] {
        if let Some(base) = w.strip_suffix(suffix) {
            if base.chars().count() >= 3 {
                w = base.to_string();
                break;
            }
        }
    }
    if w.ends_with('e') && w.chars().count() > 3 {
        w.pop();
    }
    // A doubled last letter (`stopp`, `pass`) is one.
    let mut chars = w.chars().rev();
    if let (Some(last), Some(before)) = (chars.next(), chars.next()) {
        if last == before && w.chars().count() > 3 {
            w.pop();
        }
    }
    w
}

/// The terms of a text: each identifier's stemmed parts, and for an identifier of several
/// parts also the parts joined by `_` (so `parseHeader` and `parse_header` match whole).
/// A task's text (`query`) drops [`STOPWORDS`].
pub(crate) fn terms(text: &str, query: bool) -> Vec<String> {
    let mut out = Vec::new();
    for identifier in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let parts = split_identifier(identifier);
        for part in &parts {
            if part.len() < 2 || part.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if query && STOPWORDS.contains(&part.as_str()) {
                continue;
            }
            out.push(stem(part));
        }
        if parts.len() > 1 {
            out.push(parts.join("_"));
        }
    }
    out
}

/// One document: how often each query term occurs in it, and its length in terms.
#[derive(Debug, Default)]
pub(crate) struct Document {
    counts: HashMap<String, u32>,
    length: u32,
}

impl Document {
    /// Adds `terms`, each counted `weight` times (a name weighs more than a body).
    pub(crate) fn add(&mut self, terms: &[String], query: &[String], weight: u32) {
        for term in terms {
            self.length += weight;
            if query.contains(term) {
                *self.counts.entry(term.clone()).or_default() += weight;
            }
        }
    }
}

/// BM25 scores of documents against the (deduplicated) query terms.
pub(crate) fn bm25(documents: &[Document], query: &[String]) -> Vec<f64> {
    let n = documents.len() as f64;
    if documents.is_empty() {
        return Vec::new();
    }
    let average = documents.iter().map(|d| f64::from(d.length)).sum::<f64>() / n;
    let idf: Vec<f64> = query
        .iter()
        .map(|term| {
            let df = documents
                .iter()
                .filter(|d| d.counts.contains_key(term))
                .count() as f64;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    documents
        .iter()
        .map(|d| {
            let norm = K1 * (1.0 - B + B * f64::from(d.length) / average.max(1.0));
            query
                .iter()
                .zip(&idf)
                .map(|(term, idf)| {
                    let tf = f64::from(d.counts.get(term).copied().unwrap_or(0));
                    idf * tf * (K1 + 1.0) / (tf + norm)
                })
                .sum()
        })
        .collect()
}

/// The query terms of a task, deduplicated in first-seen order.
pub(crate) fn query_terms(task: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for term in terms(task, true) {
        if !seen.contains(&term) {
            seen.push(term);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_meet() {
        for word in ["parses", "parse", "parsing", "parsed"] {
            assert_eq!(stem(word), "pars", "{word}");
        }
        assert_eq!(stem("headers"), "header");
        assert_eq!(stem("class"), "clas");
        assert_eq!(stem("classes"), stem("class"));
        assert_eq!(stem("ids"), "ids");
    }

    #[test]
    fn query_terms_drop_stopwords_and_keep_compounds() {
        assert_eq!(
            query_terms("Which function parses the header? See parseHeader."),
            ["pars", "header", "see", "parse_header"]
        );
    }

    #[test]
    fn a_document_with_more_matches_scores_higher() {
        let query = query_terms("parse header");
        let mut a = Document::default();
        a.add(&terms("fn parse_header(h: Header)", false), &query, 1);
        let mut b = Document::default();
        b.add(&terms("fn render(page: Page)", false), &query, 1);
        let scores = bm25(&[a, b], &query);
        assert!(scores[0] > scores[1] && scores[1] == 0.0, "{scores:?}");
    }
}
