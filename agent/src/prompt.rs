//! Prompt assembly: the stable prefix of every request, built once per session.
//!
//! The order never changes inside a session: the system text, the project's instructions
//! (AGENTS.md, then HEARTH.md), the repository map, then the tool schemas sorted by name
//! (the chat template places them); the history follows, appended only. Nothing volatile
//! (time, ids, the mode) goes into it, so each request's prompt is a prefix of the next
//! one's and a prefix cache can serve it.

use std::path::Path;

use hearth_engine::api::{Message, Request, SystemPrompt, TextBlock, ToolDefinition};
use hearth_tools::{read_utf8_file, resolve_path, Access, ToolError, ToolRegistry};

use crate::builder::RequestBudget;

/// The system text: lean, because a small local model prefills it on every cold start.
pub const DEFAULT_SYSTEM_TEXT: &str = "You are hearth, a coding assistant working inside a \
software repository. You cannot see file contents until you read them with a tool: call \
the tools to look at the code before answering; paths are relative to the repository root. Make the smallest change that does what is asked. When you know the \
answer, reply briefly and directly without calling a tool.";

/// The project instruction files read at session start, in this order.
pub const INSTRUCTION_FILES: [&str; 2] = ["AGENTS.md", "HEARTH.md"];

/// The most bytes of one instruction file included; the rest is cut with a note.
const MAX_INSTRUCTION_BYTES: usize = 16 * 1024;

/// The largest instruction file read at all (its first [`MAX_INSTRUCTION_BYTES`] are
/// included); a larger one is not read, and a note says so.
const MAX_INSTRUCTION_FILE_BYTES: u64 = 1024 * 1024;

/// The part of every request that stays the same for a whole session.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptPrefix {
    /// System blocks: system text, instructions, repository map.
    pub system: SystemPrompt,
    /// Tool definitions, sorted by name.
    pub tools: Vec<ToolDefinition>,
}

/// How requests are sized and sampled.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestSettings {
    /// The model id to ask for (`None`: the backend's).
    pub model: Option<String>,
    /// The answer and thinking budgets, hence `max_tokens` and the thinking setting.
    pub budget: RequestBudget,
    /// Sampling temperature (`None`: the backend's default).
    pub temperature: Option<f32>,
    /// Sampling seed.
    pub seed: Option<u64>,
}

fn block(text: String) -> TextBlock {
    TextBlock {
        kind: "text".to_string(),
        text,
    }
}

/// A file's text cut to `limit` bytes on a character boundary, with a note when cut.
fn bounded(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.trim_end().to_string();
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n[… {} more bytes cut]", &text[..cut], text.len() - cut)
}

/// The system prompt of a new session in the repository at `root`: `system_text`, each
/// instruction file present, and the repository map when it is not empty.
pub fn system_prompt(system_text: &str, root: &Path, repo_map: &str) -> SystemPrompt {
    let mut blocks = vec![block(system_text.trim().to_string())];
    for name in INSTRUCTION_FILES {
        let text = match instructions(root, name) {
            Ok(Some(text)) => bounded(&text, MAX_INSTRUCTION_BYTES),
            Ok(None) => continue,
            // Said in the prompt, so that the model can tell the user why the project's
            // instructions are missing.
            Err(e) => format!("[{name} was not read: {e}]"),
        };
        if !text.is_empty() {
            blocks.push(block(format!("# Project instructions ({name})\n\n{text}")));
        }
    }
    if !repo_map.trim().is_empty() {
        blocks.push(block(format!(
            "# Repository map (files and their top-level definitions)\n\n{}",
            repo_map.trim_end()
        )));
    }
    SystemPrompt(blocks)
}

/// The text of the instruction file `name` in `root`, `None` when there is none. It is read
/// as the tools read a file: inside the repository only, and a FIFO or other special file
/// is refused rather than waited on.
fn instructions(root: &Path, name: &str) -> Result<Option<String>, ToolError> {
    let read = resolve_path(root, name, Access::Read)
        .and_then(|path| read_utf8_file(&path, name, MAX_INSTRUCTION_FILE_BYTES));
    match read {
        Ok(text) => Ok(Some(text)),
        Err(ToolError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The tool definitions of `registry`, in its (sorted) order.
pub fn tool_definitions(registry: &ToolRegistry) -> Vec<ToolDefinition> {
    registry
        .schemas()
        .into_iter()
        .map(|spec| ToolDefinition {
            name: spec.name.to_string(),
            description: spec.description.to_string(),
            input_schema: spec.input_schema,
        })
        .collect()
}

impl PromptPrefix {
    /// The request for the next reply after `history`.
    pub fn request(&self, history: &[Message], settings: &RequestSettings) -> Request {
        Request {
            model: settings.model.clone(),
            system: self.system.clone(),
            messages: history.to_vec(),
            tools: self.tools.clone(),
            max_tokens: settings.budget.max_tokens(),
            temperature: settings.temperature,
            seed: settings.seed,
            thinking: settings.budget.thinking(),
            stream: true,
            ..Request::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn instructions_follow_the_system_text_in_a_fixed_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("HEARTH.md"), "use tabs").unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "run make test").unwrap();
        let system = system_prompt("be brief", dir.path(), "src/a.rs\n  1 fn main\n");
        let texts: Vec<&str> = system.0.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts[0], "be brief");
        assert!(texts[1].contains("AGENTS.md") && texts[1].ends_with("run make test"));
        assert!(texts[2].contains("HEARTH.md") && texts[2].ends_with("use tabs"));
        assert!(texts[3].contains("fn main"));
        // The same inputs give the same bytes.
        assert_eq!(
            system,
            system_prompt("be brief", dir.path(), "src/a.rs\n  1 fn main\n")
        );
    }

    #[test]
    fn long_instructions_are_cut_on_a_character_boundary() {
        let text = "é".repeat(10);
        let cut = bounded(&text, 5);
        assert!(cut.starts_with("éé\n[… 16 more bytes cut]"), "{cut}");
    }

    #[test]
    fn tools_are_listed_sorted_by_name() {
        let tools = tool_definitions(&ToolRegistry::standard());
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(names.contains(&"read_file"));
    }
}
