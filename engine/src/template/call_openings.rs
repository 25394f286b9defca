//! Where a tool call opens in generated text: the format's tag, a JSON fence, or a bare
//! call's JSON (maybe in one wrapping tag). The parser and the decoding constraint read
//! openings by these same rules, so they agree on where a call starts.

use super::{ToolCallFormat, FENCE};

/// What the text at some position starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opening {
    /// Not a call.
    No,
    /// Possibly a call: the text ends before it can tell.
    Partial,
    /// The format's opening tag, this many bytes long.
    Tag(usize),
    /// A fenced call whose JSON starts this many bytes on.
    Fence(usize),
    /// A bare call whose JSON starts this many bytes on.
    Bare(usize),
}

/// How a reply's text so far stands toward opening with a call written without
/// the format's tags (bare, or in a JSON fence), as [`ToolCallParser`] reads one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UntaggedStart {
    /// It cannot: the text already says otherwise.
    No,
    /// It may: the text ends before it can tell.
    Undecided,
    /// It does: the call's JSON starts this many bytes on, at its `{`.
    Brace(usize),
}

/// Whether a reply that starts with `text` opens with a call without tags, by the
/// same rules the parser reads the reply with (so the decoding constraint, which
/// forces such a call to be valid, and the parser agree on where one starts).
pub(crate) fn untagged_start(text: &str, format: &ToolCallFormat) -> UntaggedStart {
    if !format.fenced_json {
        return UntaggedStart::No;
    }
    let trimmed = text.trim_start();
    let lead = text.len() - trimmed.len();
    let opened = [bare_opening(text, format), fenced_opening(trimmed)];
    if let Some(brace) = opened.iter().find_map(|o| match o {
        Opening::Bare(at) => Some(*at),
        Opening::Fence(at) => Some(lead + at),
        _ => None,
    }) {
        return UntaggedStart::Brace(brace);
    }
    if opened.contains(&Opening::Partial) {
        UntaggedStart::Undecided
    } else {
        UntaggedStart::No
    }
}

/// Whether `text` starts with a call's opening in `format`.
pub(super) fn opening_at(text: &str, format: ToolCallFormat) -> Opening {
    if text.starts_with(format.open) {
        return Opening::Tag(format.open.len());
    }
    if format.open.starts_with(text) {
        return Opening::Partial;
    }
    if format.fenced_json {
        return fenced_opening(text);
    }
    Opening::No
}

/// Matches ```` ``` ````, an optional `json`, blank space, `{`, blank space
/// and `"name"`: the start of a fenced call, as far as `text` goes.
fn fenced_opening(text: &str) -> Opening {
    let steps = || -> Result<Opening, Opening> {
        let rest = literal(text, FENCE)?;
        let rest = match literal(rest, "json") {
            Ok(after) => after,
            // "j" alone may still become "json", or be the start of the JSON.
            Err(Opening::Partial) if !rest.is_empty() => return Err(Opening::Partial),
            Err(_) => rest,
        };
        let rest = rest.trim_start();
        let brace = text.len() - rest.len();
        let rest = literal(rest, "{")?.trim_start();
        literal(rest, "\"name\"")?;
        Ok(Opening::Fence(brace))
    };
    match steps() {
        Ok(found) | Err(found) => found,
    }
}

/// Whether a reply starting with `text` opens with a bare call's JSON
/// (`{"name"` or `{{"name"`, maybe inside one wrapping tag such as `<answer>`,
/// `<response>` or `<tools>`, but not the format's own opening tag).
pub(super) fn bare_opening(text: &str, format: &ToolCallFormat) -> Opening {
    let steps = || -> Result<Opening, Opening> {
        let mut rest = text.trim_start();
        if rest.is_empty() {
            return Err(Opening::Partial);
        }
        if let Some(after) = rest.strip_prefix("<{") {
            // A tag the model never finished (`<{{"name": …}}>`).
            rest = &rest[rest.len() - after.len() - 1..];
        } else if rest.starts_with('<') {
            match wrapping_tag(rest) {
                Some(tag) if tag == format.open => return Err(Opening::No),
                Some(tag) => rest = rest[tag.len()..].trim_start(),
                None if rest.len() < MAX_WRAPPING_TAG && is_tag_prefix(rest) => {
                    return Err(Opening::Partial)
                }
                None => return Err(Opening::No),
            }
        }
        let brace = text.len() - rest.len();
        let rest = literal(rest, "{")?;
        let rest = rest.strip_prefix('{').unwrap_or(rest).trim_start();
        literal(rest, "\"name\"")?;
        Ok(Opening::Bare(brace))
    };
    match steps() {
        Ok(found) | Err(found) => found,
    }
}

/// The longest wrapping tag a bare call is looked for in, `<` and `>` included.
const MAX_WRAPPING_TAG: usize = 24;

/// The tag `text` starts with (`<word>`: letters, digits, `_` and `-`), if it does.
fn wrapping_tag(text: &str) -> Option<&str> {
    let end = text.find('>')?;
    let tag = &text[..=end];
    ((2..MAX_WRAPPING_TAG).contains(&end) && is_tag_prefix(&tag[..end])).then_some(tag)
}

/// Whether `text` may still become a wrapping tag: `<` then word characters.
pub(super) fn is_tag_prefix(text: &str) -> bool {
    text.strip_prefix('<').is_some_and(|name| {
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

/// Consumes `lit` from the front of `rest`; `Err` says how it failed.
fn literal<'t>(rest: &'t str, lit: &str) -> Result<&'t str, Opening> {
    if let Some(after) = rest.strip_prefix(lit) {
        Ok(after)
    } else if lit.starts_with(rest) {
        Err(Opening::Partial)
    } else {
        Err(Opening::No)
    }
}
