//! Extracting the definitions of one source file with the language's tree-sitter query.

use std::collections::HashMap;

use tree_sitter::{Node, Parser, QueryCursor, StreamingIterator};

use crate::code::language::Language;
use crate::ToolError;

/// What kind of thing a definition defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymbolKind {
    /// A free function.
    Function,
    /// A function that belongs to a type (its parent).
    Method,
    /// A class.
    Class,
    /// A struct.
    Struct,
    /// An enum.
    Enum,
    /// A union.
    Union,
    /// A trait.
    Trait,
    /// An interface.
    Interface,
    /// A type alias or other named type.
    Type,
    /// A constant (or a static).
    Const,
    /// A module or namespace.
    Module,
    /// A macro.
    Macro,
}

impl SymbolKind {
    /// The kind as one lower-case word, as the tools print it.
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Union => "union",
            SymbolKind::Trait => "trait",
            SymbolKind::Interface => "interface",
            SymbolKind::Type => "type",
            SymbolKind::Const => "const",
            SymbolKind::Module => "module",
            SymbolKind::Macro => "macro",
        }
    }

    /// The kind a word names (the inverse of [`SymbolKind::as_str`]).
    pub fn parse(word: &str) -> Option<SymbolKind> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "function" | "fn" | "func" => SymbolKind::Function,
            "method" => SymbolKind::Method,
            "class" => SymbolKind::Class,
            "struct" => SymbolKind::Struct,
            "enum" => SymbolKind::Enum,
            "union" => SymbolKind::Union,
            "trait" => SymbolKind::Trait,
            "interface" => SymbolKind::Interface,
            "type" => SymbolKind::Type,
            "const" | "constant" | "static" => SymbolKind::Const,
            "module" | "mod" | "namespace" => SymbolKind::Module,
            "macro" => SymbolKind::Macro,
            _ => return None,
        })
    }

    /// Kinds whose members are listed with them as parent (and functions become methods).
    fn holds_members(self) -> bool {
        matches!(
            self,
            SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Union
                | SymbolKind::Trait
                | SymbolKind::Interface
                | SymbolKind::Module
        )
    }
}

/// One definition in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The defined name.
    pub name: String,
    /// What it defines.
    pub kind: SymbolKind,
    /// The type, module or namespace it belongs to, `None` at the top level.
    pub parent: Option<String>,
    /// `parent` and `name` joined by the language's separator (`Type::method`).
    pub qualified_name: String,
    /// The 1-based line where the definition starts.
    pub line: usize,
    /// The 1-based line where it ends.
    pub end_line: usize,
}

/// A definition or container as the query found it, before parents are worked out.
struct Found<'tree> {
    node: Node<'tree>,
    name: String,
    /// `None` for a container that is not itself listed (a Rust impl block).
    kind: Option<SymbolKind>,
    explicit_parent: Option<String>,
    /// Where the name starts: two patterns capturing the same name are one definition.
    name_start: usize,
    pattern: usize,
}

/// What became of a found definition once its enclosing definitions are known.
#[derive(Clone)]
enum Placement {
    /// Listed, with this qualified name (also the parent name of what it holds).
    Listed(String),
    /// An impl block: not listed, but its members belong to this type.
    Container(String),
    /// Inside a function body (or a value): a local, not part of the outline.
    Local,
}

/// The definitions in `source`, in order of position: functions, types, methods (with the
/// type they belong to), constants, modules and macros. Definitions local to a function
/// body are left out.
pub fn outline_source(language: Language, source: &str) -> Result<Vec<Definition>, ToolError> {
    let query = language.definition_query()?;
    let mut parser = Parser::new();
    parser
        .set_language(&language.grammar())
        .map_err(|e| ToolError::Query {
            language: language.name(),
            message: e.to_string(),
        })?;
    // Parsing only fails when cancelled or timed out, and neither is set here.
    let Some(tree) = parser.parse(source, None) else {
        return Ok(Vec::new());
    };

    let mut found = collect_matches(query, tree.root_node(), source);
    found.sort_by_key(|f| {
        (
            f.node.start_byte(),
            std::cmp::Reverse(f.node.end_byte()),
            f.pattern,
        )
    });
    let mut by_node: HashMap<usize, usize> = HashMap::new();
    for (index, item) in found.iter().enumerate() {
        by_node.entry(item.node.id()).or_insert(index);
    }

    let separator = language.separator();
    let mut placements: Vec<Placement> = Vec::with_capacity(found.len());
    let mut definitions = Vec::new();
    for (index, item) in found.iter().enumerate() {
        let enclosing = enclosing_index(item.node, &by_node)
            .filter(|&e| e < index)
            .map(|e| (e, &placements[e]));
        let enclosing_kind = enclosing.and_then(|(e, _)| found[e].kind);
        let (parent, local) = match enclosing {
            None => (None, false),
            Some((_, Placement::Local)) => (None, true),
            Some((_, Placement::Container(name))) => (Some(name.clone()), false),
            Some((_, Placement::Listed(name))) => match enclosing_kind {
                Some(kind) if kind.holds_members() => (Some(name.clone()), false),
                _ => (None, true),
            },
        };
        let parent = item.explicit_parent.clone().or(parent);
        let qualified = match &parent {
            Some(parent) => format!("{parent}{separator}{}", item.name),
            None => item.name.clone(),
        };
        let Some(kind) = item.kind else {
            placements.push(if local {
                Placement::Local
            } else {
                Placement::Container(qualified)
            });
            continue;
        };
        if local {
            placements.push(Placement::Local);
            continue;
        }
        let member_of_type = enclosing_kind.is_some_and(|k| k != SymbolKind::Module)
            || matches!(enclosing.map(|(_, p)| p), Some(Placement::Container(_)));
        let kind = if kind == SymbolKind::Function && member_of_type {
            SymbolKind::Method
        } else {
            kind
        };
        placements.push(Placement::Listed(qualified.clone()));
        definitions.push(Definition {
            name: item.name.clone(),
            kind,
            parent,
            qualified_name: qualified,
            line: item.node.start_position().row + 1,
            end_line: item.node.end_position().row + 1,
        });
    }
    definitions.sort_by_key(|d| d.line);
    Ok(definitions)
}

/// Every query match as a [`Found`], one per name (the earliest pattern wins).
fn collect_matches<'tree>(
    query: &tree_sitter::Query,
    root: Node<'tree>,
    source: &str,
) -> Vec<Found<'tree>> {
    let names = query.capture_names();
    let text = |node: Node<'_>| source[node.byte_range()].to_string();
    // Keyed by (is a container, where its name starts or its node id).
    let mut best: HashMap<(bool, usize), Found<'tree>> = HashMap::new();
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(query, root, source.as_bytes());
    while let Some(m) = matches.next() {
        let mut node = None;
        let mut kind = None;
        let mut name = None;
        let mut explicit_parent = None;
        for capture in m.captures {
            let capture_name = names[capture.index as usize];
            match capture_name {
                "name" => name = Some((capture.node.start_byte(), text(capture.node))),
                "qualified" => {
                    let (member, scope) = split_qualified(capture.node, source);
                    name = Some((member.start_byte(), text(member)));
                    explicit_parent = scope;
                }
                "impl_type" => {
                    name = Some((
                        capture.node.start_byte(),
                        type_base_name(&text(capture.node)),
                    ))
                }
                "parent" => explicit_parent = Some(text(capture.node)),
                "container" => node = Some(capture.node),
                other => {
                    if let Some(kind_word) = other.strip_prefix("definition.") {
                        node = Some(capture.node);
                        kind = SymbolKind::parse(kind_word);
                    }
                }
            }
        }
        let (Some(node), Some((name_start, name))) = (node, name) else {
            continue;
        };
        let candidate = Found {
            node,
            name,
            kind,
            explicit_parent,
            name_start,
            pattern: m.pattern_index,
        };
        let key = match candidate.kind {
            Some(_) => (false, candidate.name_start),
            None => (true, node.id()),
        };
        match best.get(&key) {
            Some(existing) if existing.pattern <= candidate.pattern => {}
            _ => {
                best.insert(key, candidate);
            }
        }
    }
    best.into_values().collect()
}

/// The nearest ancestor of `node` that is itself a found definition or container.
fn enclosing_index(node: Node<'_>, by_node: &HashMap<usize, usize>) -> Option<usize> {
    let mut ancestor = node.parent();
    while let Some(current) = ancestor {
        if let Some(&index) = by_node.get(&current.id()) {
            return Some(index);
        }
        ancestor = current.parent();
    }
    None
}

/// `a::B::f` as its last name (`f`) and the scope before it (`a::B`).
fn split_qualified<'tree>(node: Node<'tree>, source: &str) -> (Node<'tree>, Option<String>) {
    let mut member = node;
    while let Some(inner) = member.child_by_field_name("name") {
        member = inner;
    }
    let scope = source[node.start_byte()..member.start_byte()]
        .trim_end()
        .trim_end_matches("::")
        .trim();
    (member, (!scope.is_empty()).then(|| scope.to_string()))
}

/// The name of the type an impl block is for: `Holder` for `Holder<T>`, `Point` for `&'a Point`.
fn type_base_name(type_text: &str) -> String {
    let without_generics = type_text.split('<').next().unwrap_or(type_text);
    let without_reference = without_generics.trim_start_matches('&').trim_start();
    let without_lifetime = match without_reference.strip_prefix('\'') {
        Some(rest) => rest.split_once(' ').map_or(rest, |(_, after)| after),
        None => without_reference,
    };
    without_lifetime
        .trim_start_matches("mut ")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impl_types_lose_generics_and_references() {
        assert_eq!(type_base_name("Holder<T>"), "Holder");
        assert_eq!(type_base_name("&'a mut Point"), "Point");
        assert_eq!(type_base_name("fmt::Formatter"), "fmt::Formatter");
    }

    #[test]
    fn kinds_round_trip_through_words() {
        for kind in [
            SymbolKind::Function,
            SymbolKind::Method,
            SymbolKind::Interface,
            SymbolKind::Macro,
        ] {
            assert_eq!(SymbolKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SymbolKind::parse("namespace"), Some(SymbolKind::Module));
        assert_eq!(SymbolKind::parse("widget"), None);
    }
}
