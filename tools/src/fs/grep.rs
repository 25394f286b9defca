//! `grep`: a regular expression across the repository, as `file:line: text`.

use regex::RegexBuilder;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::lenient_bool;
use crate::fs::list_files::FileGlob;
use crate::fs::read_source;
use crate::output::BoundedText;
use crate::paths::{display_path, resolve_path, Access};
use crate::walk::walk_files_with;
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Searches file contents line by line with a regular expression (.gitignore respected).
#[derive(Debug, Default, Clone, Copy)]
pub struct GrepTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// Regular expression, e.g. "fn\s+parse_"
    pattern: String,
    /// File or directory to search, relative to the repository root (default: the root)
    #[serde(default)]
    path: Option<String>,
    /// Only search files matching this glob, e.g. "*.rs"
    #[serde(default)]
    glob: Option<String>,
    /// Ignore case (default false)
    #[serde(default, deserialize_with = "lenient_bool")]
    case_insensitive: Option<bool>,
}

const NAME: &str = "grep";

/// A compiled regex may not exceed this, so a pathological pattern fails fast instead of
/// eating memory.
const REGEX_SIZE_LIMIT: usize = 10 * 1024 * 1024;

impl TypedTool for GrepTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Search the repository's files for a regular expression (Rust regex syntax, matched \
         line by line) and list matches as `file:line: text`. Skips ignored and binary files.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let regex = RegexBuilder::new(&args.pattern)
            .case_insensitive(args.case_insensitive.unwrap_or(false))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| ToolError::InvalidPattern {
                what: "regex",
                pattern: args.pattern.clone(),
                message: e.to_string(),
            })?;
        let shown_start = args.path.as_deref().unwrap_or(".");
        let start = resolve_path(&ctx.root, shown_start, Access::Read)?;
        if !start.exists() {
            return Err(ToolError::NotFound {
                path: shown_start.to_string(),
            });
        }
        // A secret file named outright is refused with its rule; one met on the walk is
        // skipped, as an unreadable one is.
        if start.is_file() {
            ctx.secret_files.check(&ctx.root, &start, shown_start)?;
        }
        let glob = args.glob.as_deref().map(FileGlob::new).transpose()?;

        let mut results = BoundedText::new(ctx.limits);
        let mut matches = 0usize;
        for file in walk_files_with(&ctx.root, &start, &ctx.secret_files) {
            let relative = display_path(&ctx.root, &file);
            if glob.as_ref().is_some_and(|glob| !glob.matches(&relative)) {
                continue;
            }
            // Files that cannot be read, are too large or are binary are not searched,
            // as grep -I does; one unreadable file must not sink the whole search.
            let Some(text) = read_source(&file, ctx.limits.max_file_bytes) else {
                continue;
            };
            if !regex.is_match(&text) {
                continue;
            }
            for (index, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    matches += 1;
                    results.push_line(&format!("{relative}:{}: {line}", index + 1));
                }
            }
        }
        if matches == 0 {
            return Ok(ToolOutput::text(
                format!("(no matches for `{}`)\n", args.pattern),
                false,
            ));
        }
        let (text, truncated) =
            results.finish_with("matches", "; narrow the search with path or glob");
        Ok(ToolOutput::text(text, truncated))
    }
}
