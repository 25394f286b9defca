//! `list_files`: the repository's files, optionally filtered by a glob.

use std::path::Path;

use globset::GlobMatcher;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::output::BoundedText;
use crate::paths::{display_path, resolve_path, Access};
use crate::walk::walk_files_with;
use crate::{SecretFiles, ToolContext, ToolError, ToolOutput, TypedTool};

/// Lists files (sorted, .gitignore respected), optionally under a directory and matching a glob.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListFilesTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// Glob to filter by, e.g. "*.py" or "src/**/test_*.py"
    #[serde(default)]
    pattern: Option<String>,
    /// Directory to list, relative to the repository root (default: the root)
    #[serde(default)]
    path: Option<String>,
}

const NAME: &str = "list_files";

/// A glob as the model means it: without a `/` it matches file names at any depth (like
/// `find -name`), with one it matches the whole path from the repository root.
pub(crate) struct FileGlob {
    matcher: GlobMatcher,
    whole_path: bool,
}

impl FileGlob {
    pub(crate) fn new(pattern: &str) -> Result<Self, ToolError> {
        let whole_path = pattern.contains('/');
        let glob = globset::GlobBuilder::new(pattern.trim_start_matches("./"))
            .literal_separator(whole_path)
            .build()
            .map_err(|e| ToolError::InvalidPattern {
                what: "glob",
                pattern: pattern.to_string(),
                message: e.kind().to_string(),
            })?;
        Ok(FileGlob {
            matcher: glob.compile_matcher(),
            whole_path,
        })
    }

    /// Whether the file at `relative` (from the root, `/`-separated) matches.
    pub(crate) fn matches(&self, relative: &str) -> bool {
        if self.whole_path {
            self.matcher.is_match(relative)
        } else {
            let name = relative.rsplit('/').next().unwrap_or(relative);
            self.matcher.is_match(name)
        }
    }
}

impl TypedTool for ListFilesTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "List the repository's files (ignoring what .gitignore ignores), sorted by path. \
         Filter with a glob: `*.rs` matches file names at any depth, `src/**/*.rs` matches paths.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let shown_dir = args.path.as_deref().unwrap_or(".");
        let start = resolve_path(&ctx.root, shown_dir, Access::Read)?;
        if !start.exists() {
            return Err(ToolError::NotFound {
                path: shown_dir.to_string(),
            });
        }
        let glob = args.pattern.as_deref().map(FileGlob::new).transpose()?;
        let mut listing = BoundedText::new(ctx.limits);
        let mut count = 0usize;
        // Names only: a secret file is listed, and reading it is refused with the rule.
        for file in walk_files_with(&ctx.root, &start, &SecretFiles::none()) {
            let relative = display_path(&ctx.root, &file);
            if glob.as_ref().is_none_or(|glob| glob.matches(&relative)) {
                listing.push_line(&relative);
                count += 1;
            }
        }
        if count == 0 {
            return Ok(ToolOutput::text(
                no_files_message(args.pattern.as_deref(), shown_dir),
                false,
            ));
        }
        let (text, truncated) =
            listing.finish_with("files", "; narrow the listing with path or pattern");
        Ok(ToolOutput::text(text, truncated))
    }
}

fn no_files_message(pattern: Option<&str>, dir: &str) -> String {
    let under = if Path::new(dir) == Path::new(".") {
        String::new()
    } else {
        format!(" under {dir}")
    };
    match pattern {
        Some(pattern) => format!("(no files match `{pattern}`{under})\n"),
        None => format!("(no files{under})\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_without_a_slash_match_names_at_any_depth() {
        let glob = FileGlob::new("*.rs").unwrap_or_else(|e| panic!("{e}"));
        assert!(glob.matches("src/deep/lib.rs"));
        assert!(!glob.matches("src/lib.py"));
        let glob = FileGlob::new("Cargo.toml").unwrap_or_else(|e| panic!("{e}"));
        assert!(glob.matches("tools/Cargo.toml"));
    }

    #[test]
    fn globs_with_a_slash_match_whole_paths() {
        let glob = FileGlob::new("src/*.rs").unwrap_or_else(|e| panic!("{e}"));
        assert!(glob.matches("src/lib.rs"));
        assert!(!glob.matches("src/deep/lib.rs"));
        let glob = FileGlob::new("./src/**/*.rs").unwrap_or_else(|e| panic!("{e}"));
        assert!(glob.matches("src/deep/lib.rs"));
    }

    #[test]
    fn bad_globs_are_reported() {
        assert!(matches!(
            FileGlob::new("src/[a"),
            Err(ToolError::InvalidPattern { what: "glob", .. })
        ));
    }
}
