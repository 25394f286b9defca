//! A question answered from the code the first message already shows.
//!
//! Retrieval puts the code a question is about into the session's first message (a small
//! repository whole). Made to answer, the default model answers "which function reads the
//! CSV file?" from that code at once; free to call any tool, it reads unrelated files and
//! runs out of turns. So the first turn of a question that needs no history opens with one
//! request whose only allowed step is the `answer` call. Its answer is kept only when it rests on the code
//! shown (it uses a name or a value from it that the question does not) and cites nothing
//! the repository lacks; otherwise it never enters the history, and the turn goes on with
//! the tools as usual.

use std::collections::HashSet;
use std::ops::ControlFlow;

use hearth_engine::api::{self, ContentBlock, Message, Role, ToolChoice, ToolDefinition, Usage};
use hearth_tools::missing_citations;

use crate::acting::tool_named_in;
use crate::answer::{take_answer, ANSWER_TOOL, BRIEF_ANSWER_TOKENS};
use crate::error::AgentError;
use crate::grounding::ANSWER_CHECKED;
use crate::history::text_of;
use crate::prompt::is_repository_context;
use crate::session::{Session, TurnIo};

/// What the side request adds to the question: answer now, from what is shown.
const ANSWER_FROM_CONTEXT: &str = "[hearth] Answer the question above from the code shown in \
this message, briefly, quoting the exact names (functions, files, values) in backticks.";

/// Answers asked for at most: the first, and one more told what its citations lack.
const MAX_ATTEMPTS: u32 = 2;

/// Words of a task that say its answer is in the history, which no file shows.
const HISTORY_WORDS: [&str; 9] = [
    "commit",
    "commits",
    "history",
    "git",
    "blame",
    "author",
    "introduced",
    "removed",
    "added",
];

/// Long prose words an answer must share with the code shown (and not with the question)
/// to count as resting on it when it names nothing code-like.
const MIN_SHARED_WORDS: usize = 3;

impl Session {
    /// For the first turn of a session whose task only asks a question about the code
    /// (`question_only`), one request that must answer; the answer, when it rests on the
    /// code the first message shows. `None`: the turn goes on with the tools.
    pub(crate) fn answer_from_context(
        &mut self,
        task: &str,
        question_only: bool,
        usage: &mut Usage,
        io: &mut dyn TurnIo,
    ) -> Result<Option<String>, AgentError> {
        let [first] = self.history.as_slice() else {
            return Ok(None);
        };
        let shown: String = first
            .content
            .iter()
            .filter(|block| is_repository_context(block))
            .filter_map(|block| match block {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if !question_only || shown.is_empty() || asks_about_history(task) {
            return Ok(None);
        }
        // The answer tool is how every answer is given: naming it is no talk of acting.
        let tools: Vec<ToolDefinition> = self
            .prefix
            .tools
            .iter()
            .filter(|t| t.name != ANSWER_TOOL)
            .cloned()
            .collect();
        // "Use read_file to read calc.py, then tell me …": the user asked for the tool.
        if tool_named_in(task, task, &tools).is_some() {
            return Ok(None);
        }
        let mut history = self.history.clone();
        if let Some(last) = history.last_mut() {
            last.content.push(ContentBlock::text(ANSWER_FROM_CONTEXT));
        }
        let mut attempts = 0;
        let answer = loop {
            attempts += 1;
            let answer = self.side_answer(&history, usage, io)?;
            if io.interrupted() || answer.is_empty() {
                return Ok(None);
            }
            if let Some(tool) = tool_named_in(&answer, task, &tools) {
                io.log(&format!(
                    "the answer from the code shown talks about `{tool}`: asking with the tools \
                     (it began: {:?})",
                    answer.chars().take(160).collect::<String>()
                ));
                return Ok(None);
            }
            let missing = missing_citations(&self.ctx.root, &answer, task);
            let began = answer.chars().take(160).collect::<String>();
            let note = if !missing.is_empty() {
                let quoted: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
                format!(
                    "{ANSWER_CHECKED} Your answer cites {}, which no file of the repository \
                     has. Answer again from the code shown, citing only names and paths that \
                     appear in it.",
                    quoted.join(", ")
                )
            } else if !rests_on(&answer, &shown, task) {
                format!(
                    "{ANSWER_CHECKED} Your answer uses nothing from the code shown. Answer the \
                     question with the exact name or value the code holds."
                )
            } else {
                break answer;
            };
            if attempts == MAX_ATTEMPTS {
                io.log(&format!(
                    "the answer from the code shown does not rest on it: asking with the tools \
                     (it began: {began:?})"
                ));
                return Ok(None);
            }
            io.log(&format!(
                "the answer from the code shown is asked for again: {}",
                note.trim_start_matches(ANSWER_CHECKED).trim()
            ));
            // Once more, told what was wrong: the function named is often right and only
            // the file made up, or the question was only repeated.
            history.push(Message::assistant(answer));
            history.push(Message::user(note));
        };
        io.log("answered from the code the first message shows");
        Ok(Some(answer))
    }

    /// One side request after `history` whose only step is the `answer` call: its text,
    /// trimmed. The call, not free text: offered tools in its prompt, a small model asked
    /// for prose writes a tool call as a code block instead; made to answer, it answers,
    /// and the prompt stays the cached prefix of the turn's requests.
    fn side_answer(
        &mut self,
        history: &[Message],
        usage: &mut Usage,
        io: &mut dyn TurnIo,
    ) -> Result<String, AgentError> {
        let mut request = self.prefix.request(history, &self.config.request);
        request.tool_choice = Some(ToolChoice::Tool {
            name: ANSWER_TOOL.to_string(),
        });
        request.thinking = None;
        request.max_tokens = request.max_tokens.min(BRIEF_ANSWER_TOKENS);
        let mut on_event = |_: &api::Event| {
            if io.interrupted() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let response = self.backend.stream(&request, &mut on_event)?;
        self.count_usage(response.usage, usage, io)?;
        // A backend that does not enforce the choice may answer in prose: that is the text.
        let delivered = take_answer(response.content);
        let text = match delivered.answer {
            Some(answer) => answer,
            None => text_of(&Message {
                role: Role::Assistant,
                content: delivered.content,
            }),
        };
        Ok(text.trim().to_string())
    }
}

/// Whether `task` asks about the repository's history, which the first message does not show.
fn asks_about_history(task: &str) -> bool {
    words(task).any(|w| HISTORY_WORDS.contains(&w.to_lowercase().as_str()))
}

/// Whether `answer` uses what `shown` holds and `task` does not: a code-like word (with a
/// `_`, a digit or an inner capital, as names and values are written), a word the answer
/// quotes as code (`` `add` ``), a path written in prose (`src/shapes.rs`), or several
/// long words.
fn rests_on(answer: &str, shown: &str, task: &str) -> bool {
    if paths_in(answer).any(|p| shown.contains(p) && !task.contains(p)) {
        return true;
    }
    let in_shown: HashSet<&str> = words(shown).collect();
    let in_task: HashSet<&str> = words(task).collect();
    let from_code = |w: &&str| in_shown.contains(w) && !in_task.contains(w);
    // Odd pieces between backticks are the quoted spans.
    let quoted = answer.split('`').skip(1).step_by(2);
    if quoted.flat_map(words).any(|w| from_code(&w)) {
        return true;
    }
    let new: Vec<&str> = words(answer).filter(from_code).collect();
    let code_like = |w: &&str| {
        w.contains('_')
            || w.chars().any(|c| c.is_ascii_digit())
            || w.chars().skip(1).any(char::is_uppercase)
    };
    if new.iter().any(code_like) {
        return true;
    }
    let long: HashSet<&str> = new.into_iter().filter(|w| w.len() >= 6).collect();
    long.len() >= MIN_SHARED_WORDS
}

/// The spans of `text` written as paths: between spaces, without the punctuation around
/// them, holding a `/` or an inner `.` (`inventory/models.py`, `stock.py`).
fn paths_in(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .map(|span| span.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_' || c == '/')))
        .filter(|span| span.len() >= 3 && (span.contains('/') || is_file_name(span)))
}

/// Whether `span` is written as a file's name: a stem of two or more characters, a dot, and
/// a short extension of letters (`stock.py`; not `e.g`).
fn is_file_name(span: &str) -> bool {
    span.rsplit_once('.').is_some_and(|(stem, ext)| {
        stem.chars().count() >= 2
            && (1..=5).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphabetic())
    })
}

/// The words of `text`: runs of letters, digits and `_`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWN: &str = "<file path=\"inventory/storage.py\">\ndef load_items(path):\n    \
                         \"\"\"Reads items from a CSV file.\"\"\"\n</file>\n\
                         <file path=\"inventory/stock.py\">\nLOW_STOCK_THRESHOLD = 5\n</file>";

    #[test]
    fn an_answer_rests_on_the_code_when_it_uses_a_name_or_value_from_it() {
        let task = "Which function reads the items from a CSV file?";
        assert!(rests_on("It is `load_items`.", SHOWN, task));
        assert!(rests_on(
            "An item is low at 5 or below.",
            SHOWN,
            "At what quantity is an item low?"
        ));
        // Only the question's own words, or words the code does not have: a guess.
        assert!(!rests_on(
            "The function reads items from a CSV file.",
            SHOWN,
            task
        ));
        assert!(!rests_on("It is `read_csv_items`.", SHOWN, task));
        // A path from the code shown, written in prose, as a file's name is answered.
        let which = "In which file is the Item class defined?";
        assert!(rests_on(
            "The Item class is defined in inventory/stock.py.",
            SHOWN,
            which
        ));
        assert!(!rests_on("It is in inventory/items.py.", SHOWN, which));
        assert!(!rests_on("Items. Classes, e.g. this.", SHOWN, which));
        // A short name is code when the answer quotes it; the same word in prose is not.
        let shown = "<file path=\"hello.py\">\ndef add(a, b):\n    return a + b\n</file>";
        assert!(rests_on(
            "`add` adds two numbers.",
            shown,
            "Which function adds?"
        ));
        assert!(!rests_on(
            "It will add them.",
            shown,
            "Which function adds?"
        ));
        assert!(!rests_on(
            "`adds`, as asked.",
            shown,
            "Which function adds?"
        ));
    }

    #[test]
    fn history_questions_are_left_to_the_tools() {
        assert!(asks_about_history("Which commit removed legacy_price?"));
        assert!(asks_about_history("Who introduced the cache?"));
        assert!(!asks_about_history("Which function computes the tax?"));
    }
}
