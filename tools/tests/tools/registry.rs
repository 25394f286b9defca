//! The registry: a stable order, complete schemas, the mutating flags, unknown names.

use hearth_tools::{ReadFileTool, ShellTool, Tool, ToolError, ToolRegistry};
use serde_json::json;

use crate::common::TestRepo;

#[test]
fn tools_are_sorted_by_name_with_their_mutating_flags() {
    let registry = ToolRegistry::standard();
    assert_eq!(
        registry.names(),
        [
            "edit_file",
            "find_symbol",
            "git_blame",
            "git_diff",
            "git_log",
            "git_show",
            "git_status",
            "grep",
            "list_files",
            "outline",
            "read_file",
            "rename_symbol",
            "shell",
            "write_file"
        ]
    );
    let mutating: Vec<&str> = registry
        .iter()
        .filter(|tool| tool.mutates())
        .map(|tool| tool.name())
        .collect();
    assert_eq!(
        mutating,
        ["edit_file", "rename_symbol", "shell", "write_file"]
    );
}

#[test]
fn schemas_are_complete_objects_in_a_stable_order() {
    let registry = ToolRegistry::standard();
    let first = serde_json::to_string(&registry.schemas()).unwrap();
    assert_eq!(
        first,
        serde_json::to_string(&ToolRegistry::standard().schemas()).unwrap()
    );
    for spec in registry.schemas() {
        let schema = &spec.input_schema;
        assert_eq!(schema["type"], "object", "{}", spec.name);
        assert_eq!(schema["additionalProperties"], false, "{}", spec.name);
        let properties = schema["properties"].as_object().unwrap();
        for required in schema
            .get("required")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            assert!(
                properties.contains_key(required.as_str().unwrap()),
                "{}: {required}",
                spec.name
            );
        }
        for (name, property) in properties {
            assert!(
                property["description"].is_string() || property["enum"].is_array(),
                "{}.{name}",
                spec.name
            );
        }
        assert!(!spec.description.is_empty());
    }
    // The derived schemas, byte for byte: they are part of the cached prompt prefix, so a
    // change of key order or wording (a schemars upgrade, an attribute) must show up here.
    let exact = |name: &str| {
        let spec = registry.schemas().into_iter().find(|s| s.name == name);
        serde_json::to_string(&spec.unwrap().input_schema).unwrap()
    };
    assert_eq!(
        exact("read_file"),
        r#"{"type":"object","additionalProperties":false,"properties":{"path":{"type":"string","description":"File path relative to the repository root"},"start_line":{"type":"integer","description":"First line to show (default 1)","minimum":1},"end_line":{"type":"integer","description":"Last line to show (default: the end)","minimum":1}},"required":["path"]}"#
    );
    assert_eq!(
        exact("find_symbol"),
        r#"{"type":"object","additionalProperties":false,"properties":{"name":{"type":"string","description":"The exact name to find, optionally qualified by its type"},"kind":{"type":"string","description":"Only definitions of this kind","enum":["function","method","class","struct","enum","union","trait","interface","type","const","module","macro"]}},"required":["name"]}"#
    );
    assert_eq!(
        exact("git_status"),
        r#"{"type":"object","additionalProperties":false,"properties":{}}"#
    );
    let read = serde_json::to_value(&registry.schemas()[10]).unwrap();
    assert_eq!(read["name"], "read_file");
    let keys: Vec<&String> = read.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "description", "input_schema"]);
}

#[test]
fn unknown_tools_and_duplicates_are_errors() {
    let repo = TestRepo::plain();
    let error = repo.error("delete_everything", json!({}));
    assert!(matches!(error, ToolError::UnknownTool { .. }), "{error}");
    assert!(error.is_model_fixable());
    assert!(error.to_string().contains("read_file"));
    let duplicate: Vec<Box<dyn Tool>> = vec![Box::new(ReadFileTool), Box::new(ReadFileTool)];
    assert!(ToolRegistry::from_tools(duplicate).is_err());
    let mut registry =
        ToolRegistry::from_tools(vec![Box::new(ShellTool), Box::new(ReadFileTool)]).unwrap();
    assert_eq!(registry.names(), ["read_file", "shell"]);
    registry.retain(|tool| !tool.mutates());
    assert_eq!(registry.names(), ["read_file"]);
}

#[test]
fn only_failures_on_our_side_end_the_turn() {
    let io = ToolError::Io {
        path: "x".into(),
        source: std::io::Error::other("disk on fire"),
    };
    assert!(!io.is_model_fixable());
    assert!(ToolError::NotUnique {
        count: 2,
        path: "a".into(),
        lines: "1, 2".into()
    }
    .is_model_fixable());
    assert!(ToolError::GitDirWrite {
        path: ".git/config".into()
    }
    .is_model_fixable());
}
