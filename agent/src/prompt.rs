//! Prompt assembly: the stable prefix of every request, and the context that opens a
//! session's first user message.
//!
//! The system turn holds only what is the same in every repository: the system text, then
//! the tool schemas sorted by name (the chat template places them after it). So the first
//! request in any repository shares that whole prefix with every other session's, and a
//! prefix cache serves it. What belongs to the repository or the task (the project's
//! instructions, AGENTS.md then HEARTH.md; the repository map; the code retrieved for the
//! task) opens the first user message, before the task's text, as Claude Code does with its
//! memory files. The history is appended only, and it is what the session file keeps, so a
//! resumed session sends the same bytes again. Nothing volatile (time, ids, the mode) goes
//! into any of it, so each request's prompt is a prefix of the next one's.

use std::path::Path;

use hearth_engine::api::{
    ContentBlock, Message, Request, Role, SystemPrompt, ToolChoice, ToolDefinition,
};
use hearth_tools::{read_utf8_file, resolve_path, Access, Retrieved, ToolError, ToolRegistry};

use crate::answer::answer_tool;
use crate::builder::RequestBudget;

/// The system text: lean, because a small local model prefills it on every cold start.
pub const DEFAULT_SYSTEM_TEXT: &str = "You are hearth, a coding assistant working inside a \
software repository. The first message shows some of its files, or all of them when it says \
so; read any other file with a tool before relying on it. Paths are relative to the \
repository root. Make the smallest change that does what is asked. Every step is a tool call: when you know \
the answer, or the change is made, reply with the `answer` tool, briefly and directly.";

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
    /// The system text (a session saved by an older version also has the instructions and
    /// the repository map here, and keeps them when resumed).
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

/// One section of the first user message. The chat template joins a message's text blocks
/// with nothing between them, so each section ends with a blank line.
fn block(text: String) -> ContentBlock {
    ContentBlock::text(format!("{text}\n\n"))
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

/// The system prompt of a new session: `system_text` alone, the same in every repository.
pub fn system_prompt(system_text: &str) -> SystemPrompt {
    SystemPrompt::text(system_text.trim())
}

/// How each instruction file's section of the first user message begins.
const INSTRUCTIONS_HEADING: &str = "# Project instructions (";
/// How the README's section begins.
const README_HEADING: &str = "# README.md (its beginning)";
/// How much of the README the first message holds: its opening says what the project is,
/// which a question about the whole repository needs and no source file says.
const MAX_README_BYTES: usize = 2_000;
/// How the repository map's section begins.
const MAP_HEADING: &str = "# Repository map (files and their top-level definitions)";
/// How the retrieved code's section begins: the whole repository, or the best-ranked code.
const WHOLE_REPOSITORY_HEADING: &str = "# The repository's files (all of them)";
const RETRIEVED_HEADING: &str =
    "# Code that may be relevant (found by the words of the task; read files for more)";
/// How the section of lines holding the task's numbers begins.
const VALUES_HEADING: &str = "# Lines of the code that hold the numbers the task names";

/// Whether `block` is one of the sections the harness put before the user's words in the
/// first user message (instructions, map, retrieved code): a front end showing the history
/// shows the user's words, not these.
pub fn is_repository_context(block: &ContentBlock) -> bool {
    matches!(block, ContentBlock::Text { text } if [
        INSTRUCTIONS_HEADING,
        README_HEADING,
        MAP_HEADING,
        WHOLE_REPOSITORY_HEADING,
        RETRIEVED_HEADING,
        VALUES_HEADING,
    ]
    .iter()
    .any(|heading| text.starts_with(heading)))
}

/// The project's instruction sections among `message`'s blocks: what must outlive a
/// compaction of the history that holds them (the map and retrieved code are only a start).
pub(crate) fn instruction_blocks(message: &Message) -> Vec<ContentBlock> {
    message
        .content
        .iter()
        .filter(
            |b| matches!(b, ContentBlock::Text { text } if text.starts_with(INSTRUCTIONS_HEADING)),
        )
        .cloned()
        .collect()
}

/// What follows an instruction file's heading, on the same line, when it was not read.
const NOT_READ: &str = " was not read: ";

/// Why each instruction file that is present was not read (a symlink out of the repository,
/// a FIFO or device, a file too large), as one line each, from the first user `message`:
/// what a front end shows the user as a warning, since library code prints nothing. The
/// model sees the same notes in the message.
pub fn unread_instruction_warnings(message: &Message) -> Vec<String> {
    instruction_blocks(message)
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text { text } => {
                let heading = text.lines().next()?.strip_prefix(INSTRUCTIONS_HEADING)?;
                let (name, reason) = heading.split_once(&format!("){NOT_READ}"))?;
                INSTRUCTION_FILES
                    .contains(&name)
                    .then(|| format!("{name}{NOT_READ}{reason}"))
            }
            _ => None,
        })
        .collect()
}

/// The sections that open the first user message of a session in the repository at `root`:
/// each instruction file present, the beginning of the README (a README that cannot be read
/// is left out: it is not an instruction; a repository shown whole shows it anyway), the
/// repository map when it is not empty, the code `retrieved` for the task when there is any,
/// and the `value_lines` that hold the numbers a change names, when there are any.
pub fn repository_context(
    root: &Path,
    repo_map: &str,
    retrieved: &Retrieved,
    value_lines: &[String],
) -> Vec<ContentBlock> {
    let mut blocks = Vec::new();
    for name in INSTRUCTION_FILES {
        let text = match instructions(root, name) {
            Ok(Some(text)) => bounded(&text, MAX_INSTRUCTION_BYTES),
            Ok(None) => continue,
            // Said in the prompt, so that the model can tell the user why the project's
            // instructions are missing; the front end shows it too
            // ([`unread_instruction_warnings`]). It is on the heading's line, which no file
            // can write, so a file's text cannot pass for it.
            Err(e) => {
                blocks.push(block(format!("{INSTRUCTIONS_HEADING}{name}){NOT_READ}{e}")));
                continue;
            }
        };
        if !text.is_empty() {
            blocks.push(block(format!("{INSTRUCTIONS_HEADING}{name})\n\n{text}")));
        }
    }
    // A repository shown whole shows its README too: twice would draw a small model's
    // edits to it.
    let readme = if retrieved.whole_repository {
        Ok(None)
    } else {
        instructions(root, "README.md")
    };
    if let Ok(Some(readme)) = readme {
        let readme = bounded(readme.trim(), MAX_README_BYTES);
        if !readme.is_empty() {
            blocks.push(block(format!("{README_HEADING}\n\n{readme}")));
        }
    }
    if !repo_map.trim().is_empty() {
        blocks.push(block(format!("{MAP_HEADING}\n\n{}", repo_map.trim_end())));
    }
    if !retrieved.text.trim().is_empty() {
        let heading = if retrieved.whole_repository {
            WHOLE_REPOSITORY_HEADING
        } else {
            RETRIEVED_HEADING
        };
        blocks.push(block(format!("{heading}\n\n{}", retrieved.text.trim_end())));
    }
    if !value_lines.is_empty() {
        blocks.push(block(format!(
            "{VALUES_HEADING}\n\n{}",
            value_lines.join("\n")
        )));
    }
    blocks
}

/// The first user message of a session: the repository's `context`, then the task's `text`.
pub fn first_user_message(context: Vec<ContentBlock>, text: &str) -> Message {
    let mut content = context;
    content.push(ContentBlock::text(text));
    Message {
        role: Role::User,
        content,
    }
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

/// The tools the model sees: those of `registry` and the [`answer`](crate::answer) tool,
/// sorted by name.
pub fn tool_definitions(registry: &ToolRegistry) -> Vec<ToolDefinition> {
    let mut tools: Vec<ToolDefinition> = registry
        .schemas()
        .into_iter()
        .map(|spec| ToolDefinition {
            name: spec.name.to_string(),
            description: spec.description.to_string(),
            input_schema: spec.input_schema,
        })
        .chain(std::iter::once(answer_tool()))
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
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
            // Every step is a call, the answer included (`answer.rs`).
            tool_choice: (!self.tools.is_empty()).then_some(ToolChoice::Any),
            // A small model's greedy loop would otherwise run to the token limit.
            stop_on_loop: true,
            stream: true,
            ..Request::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn text(block: &ContentBlock) -> &str {
        let ContentBlock::Text { text } = block else {
            panic!("not text: {block:?}");
        };
        text
    }

    #[test]
    fn the_system_prompt_is_the_system_text_alone() {
        let system = system_prompt("  be brief\n");
        assert_eq!(system.0.len(), 1);
        assert_eq!(system.0[0].text, "be brief");
    }

    #[test]
    fn instructions_map_and_code_open_the_first_message_in_a_fixed_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("HEARTH.md"), "use tabs").unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "run make test").unwrap();
        std::fs::write(dir.path().join("README.md"), "# Demo\n\nA demo project.\n").unwrap();
        let retrieved = Retrieved {
            text: "<file path=\"a.rs\">\nfn main() {}\n</file>\n".into(),
            whole_repository: false,
        };
        let context = repository_context(dir.path(), "src/a.rs\n  1 fn main\n", &retrieved, &[]);
        let message = first_user_message(context.clone(), "fix it");
        let texts: Vec<&str> = message.content.iter().map(text).collect();
        assert!(texts[0].contains("AGENTS.md") && texts[0].ends_with("run make test\n\n"));
        assert!(texts[1].contains("HEARTH.md") && texts[1].ends_with("use tabs\n\n"));
        assert_eq!(
            texts[2],
            "# README.md (its beginning)\n\n# Demo\n\nA demo project.\n\n"
        );
        assert!(texts[3].starts_with("# Repository map") && texts[3].contains("fn main"));
        assert!(texts[4].starts_with("# Code that may be relevant") && texts[4].contains("a.rs"));
        assert_eq!(texts[5], "fix it");
        assert!(message.content[..5].iter().all(is_repository_context));
        // The same inputs give the same bytes.
        assert_eq!(
            context,
            repository_context(dir.path(), "src/a.rs\n  1 fn main\n", &retrieved, &[])
        );
    }

    #[cfg(unix)]
    #[test]
    fn instruction_files_linked_out_of_the_repository_are_not_read_and_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", root.join("AGENTS.md")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("HEARTH.md")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", root.join("README.md")).unwrap();
        let context = repository_context(&root, "", &Retrieved::default(), &[]);
        let message = first_user_message(context, "fix it");
        let texts: Vec<&str> = message.content.iter().map(text).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        for (text, name) in texts.iter().zip(INSTRUCTION_FILES) {
            assert_eq!(
                *text,
                format!(
                    "{INSTRUCTIONS_HEADING}{name}) was not read: `{name}` is outside the \
                     repository; only paths inside the repository root can be used\n\n"
                )
            );
        }
        assert_eq!(
            unread_instruction_warnings(&message),
            INSTRUCTION_FILES.map(|name| format!(
                "{name} was not read: `{name}` is outside the repository; only paths inside \
                 the repository root can be used"
            ))
        );
    }

    #[test]
    fn instructions_that_were_read_give_no_warning() {
        let dir = tempfile::tempdir().unwrap();
        let spoof = "# Project instructions (AGENTS.md) was not read: a joke\n";
        std::fs::write(dir.path().join("AGENTS.md"), spoof).unwrap();
        let context = repository_context(dir.path(), "", &Retrieved::default(), &[]);
        let message = first_user_message(context, "fix it");
        // The file's text looks like the note, but only the heading's line can carry it.
        assert!(text(&message.content[0]).contains("a joke"));
        assert!(unread_instruction_warnings(&message).is_empty());
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
        assert!(names.contains(&"read_file") && names.contains(&"answer"));
    }
}
