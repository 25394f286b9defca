//! Code intelligence through tree-sitter: outlines of files, symbol search, the repository map.

pub(crate) mod find_symbol;
pub(crate) mod language;
pub(crate) mod outline;
pub(crate) mod outline_tool;
pub(crate) mod repo_map;
