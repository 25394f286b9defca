//! Code intelligence through tree-sitter: outlines of files, symbol search, the repository
//! map, retrieval of the code a task is about, localization of a failing test's fault, and
//! the check of an answer's citations.

pub(crate) mod citations;
pub(crate) mod find_symbol;
pub(crate) mod language;
pub(crate) mod localize;
pub(crate) mod outline;
pub(crate) mod outline_tool;
pub(crate) mod rename;
pub(crate) mod repo_map;
pub(crate) mod retrieve;
pub(crate) mod source;
pub(crate) mod task_values;
pub(crate) mod terms;
