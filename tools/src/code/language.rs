//! The languages the code tools understand: grammar, definition query, file extensions.

use std::path::Path;
use std::sync::OnceLock;

use tree_sitter::Query;

use crate::ToolError;

/// A programming language with outline support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// Rust (`.rs`).
    Rust,
    /// Python (`.py`, `.pyi`).
    Python,
    /// JavaScript, JSX included (`.js`, `.jsx`, `.mjs`, `.cjs`).
    JavaScript,
    /// TypeScript (`.ts`, `.mts`, `.cts`).
    TypeScript,
    /// TypeScript with JSX (`.tsx`).
    Tsx,
    /// Go (`.go`).
    Go,
    /// C (`.c`).
    C,
    /// C++ (`.cc`, `.cpp`, `.cxx`, `.hpp`, …), and `.h` headers, which may be either C or
    /// C++: the C++ grammar reads both.
    Cpp,
    /// Shell scripts (`.sh`, `.bash`): POSIX sh and Bash, which the Bash grammar reads.
    Bash,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Language; 9] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::C,
        Language::Cpp,
        Language::Bash,
    ];

    /// The language of a file, by its extension.
    pub fn from_path(path: &Path) -> Option<Language> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match extension.as_str() {
            "rs" => Language::Rust,
            "py" | "pyi" => Language::Python,
            "js" | "jsx" | "mjs" | "cjs" => Language::JavaScript,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" => Language::Go,
            "c" => Language::C,
            "h" | "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" => Language::Cpp,
            "sh" | "bash" => Language::Bash,
            _ => return None,
        })
    }

    /// The language's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
            Language::C => "c",
            Language::Cpp => "c++",
            Language::Bash => "shell",
        }
    }

    /// How the language joins a parent's name to a member's (`Type::method`, `Class.method`).
    pub fn separator(self) -> &'static str {
        match self {
            Language::Rust | Language::Cpp | Language::C => "::",
            Language::Python
            | Language::JavaScript
            | Language::TypeScript
            | Language::Tsx
            | Language::Go
            | Language::Bash => ".",
        }
    }

    pub(crate) fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::C => tree_sitter_c::LANGUAGE.into(),
            Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Language::Bash => tree_sitter_bash::LANGUAGE.into(),
        }
    }

    fn query_source(self) -> String {
        const JAVASCRIPT: &str = include_str!("queries/javascript.scm");
        match self {
            Language::Rust => include_str!("queries/rust.scm").to_string(),
            Language::Python => include_str!("queries/python.scm").to_string(),
            Language::JavaScript => JAVASCRIPT.to_string(),
            Language::TypeScript | Language::Tsx => {
                format!("{JAVASCRIPT}\n{}", include_str!("queries/typescript.scm"))
            }
            Language::Go => include_str!("queries/go.scm").to_string(),
            Language::C => include_str!("queries/c.scm").to_string(),
            Language::Cpp => include_str!("queries/cpp.scm").to_string(),
            Language::Bash => include_str!("queries/bash.scm").to_string(),
        }
    }

    /// The compiled definition query, built once per language and shared.
    pub(crate) fn definition_query(self) -> Result<&'static Query, ToolError> {
        static QUERIES: [OnceLock<Result<Query, String>>; Language::ALL.len()] =
            [const { OnceLock::new() }; Language::ALL.len()];
        let slot = &QUERIES[self as usize];
        let compiled = slot.get_or_init(|| {
            Query::new(&self.grammar(), &self.query_source()).map_err(|e| e.to_string())
        });
        compiled.as_ref().map_err(|message| ToolError::Query {
            language: self.name(),
            message: message.clone(),
        })
    }

    /// The supported languages and their extensions, for error messages.
    pub(crate) fn supported_list() -> &'static str {
        "Rust (.rs), Python (.py), JavaScript (.js, .jsx, .mjs), TypeScript (.ts, .tsx), Go (.go), \
         C (.c), C++ (.cc, .cpp, .h, .hpp) and shell (.sh, .bash)"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_query_compiles_against_its_grammar() {
        for language in Language::ALL {
            if let Err(e) = language.definition_query() {
                panic!("{}: {e}", language.name());
            }
        }
    }

    #[test]
    fn extensions_map_to_languages() {
        assert_eq!(
            Language::from_path(Path::new("src/lib.rs")),
            Some(Language::Rust)
        );
        assert_eq!(
            Language::from_path(Path::new("a/b.TSX")),
            Some(Language::Tsx)
        );
        assert_eq!(Language::from_path(Path::new("x.h")), Some(Language::Cpp));
        assert_eq!(
            Language::from_path(Path::new("lib/paths.sh")),
            Some(Language::Bash)
        );
        assert_eq!(Language::from_path(Path::new("README.md")), None);
        assert_eq!(Language::from_path(Path::new("Makefile")), None);
    }
}
