//! Turns that must act: a small model often writes about a tool ("you can use the `git_log`
//! function to …") instead of calling it, and the turn ends as prose. The engine enforces
//! `tool_choice: any` on every request (`answer.rs`), so this happens only with a backend
//! that does not; there, such an answer is not kept and the request is made again with a
//! call required. Once per turn: after a forced call the model answers freely, so a
//! question whose answer really is about a tool still ends.

use hearth_engine::api::ToolDefinition;

/// The tool an answer talks about without calling it: the first of `tools` whose name
/// stands in `answer` as a word of its own and reads as a tool's name. A name with an
/// underscore (`read_file`) always does; a plain word (`grep`, `shell`, `outline`) only in
/// backticks or followed by `(` or the word tool or function, since "an outline of the
/// code" or "in your shell" is no call. "`shell` function" where the `task` itself says so
/// is a kind of code, not a tool: "which shell function prunes the backups?" is answered
/// "the shell function that prunes them is …". Pass the task as `answer` to ask whether
/// the user named a tool.
pub(crate) fn tool_named_in(answer: &str, task: &str, tools: &[ToolDefinition]) -> Option<String> {
    tools
        .iter()
        .filter_map(|tool| first_mention(answer, task, &tool.name).map(|at| (at, &tool.name)))
        .min()
        .map(|(_, name)| name.clone())
}

/// Where `name` is first mentioned in `text` as a tool (see [`tool_named_in`]).
fn first_mention(text: &str, task: &str, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let described_in_task = task
        .to_lowercase()
        .contains(&format!("{} function", name.to_lowercase()));
    text.match_indices(name).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let rest = &text[at + name.len()..];
        let after = rest.chars().next();
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            return false;
        }
        let next_word = rest
            .trim_start()
            .split(|c: char| !c.is_alphanumeric())
            .next();
        name.contains('_')
            || (before == Some('`') && after == Some('`'))
            || after == Some('(')
            || next_word == Some("tool")
            || (next_word == Some("function") && !described_in_task)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools(names: &[&str]) -> Vec<ToolDefinition> {
        names
            .iter()
            .map(|name| ToolDefinition {
                name: name.to_string(),
                description: String::new(),
                input_schema: json!({"type": "object"}),
            })
            .collect()
    }

    #[test]
    fn a_tool_named_as_a_word_is_found_and_the_earliest_wins() {
        let tools = tools(&["read_file", "git_log"]);
        assert_eq!(
            tool_named_in(
                "To find the commit, you can use the `git_log` function, then read_file.",
                "",
                &tools
            ),
            Some("git_log".to_string())
        );
        assert_eq!(
            tool_named_in("Call read_file(path)", "", &tools).as_deref(),
            Some("read_file")
        );
    }

    #[test]
    fn a_plain_word_is_a_tool_only_where_it_reads_as_one() {
        let tools = tools(&["shell", "outline"]);
        assert_eq!(
            tool_named_in("Here is an outline of the code.", "", &tools),
            None
        );
        assert_eq!(tool_named_in("Run it in your shell.", "", &tools), None);
        for mention in [
            "use `shell`",
            "call shell(\"ls\")",
            "the shell tool",
            "the outline function",
        ] {
            assert!(tool_named_in(mention, "", &tools).is_some(), "{mention}");
        }
    }

    #[test]
    fn a_name_inside_a_longer_identifier_or_absent_is_not_a_mention() {
        let tools = tools(&["grep", "read_file"]);
        assert_eq!(tool_named_in("The answer is 42.", "", &tools), None);
        assert_eq!(
            tool_named_in("see my_read_file_helper and grepper", "", &tools),
            None
        );
    }

    #[test]
    fn a_kind_of_function_the_task_names_is_no_tool() {
        let tools = tools(&["shell", "grep"]);
        let task = "Which shell function deletes old backup archives?";
        // The task describes code, so it asks for no tool, and its answer may echo it.
        assert_eq!(tool_named_in(task, task, &tools), None);
        assert_eq!(
            tool_named_in(
                "The shell function that deletes them is `prune_old`.",
                task,
                &tools
            ),
            None
        );
        // Elsewhere the phrase still reads as a tool, and so does any other form.
        assert!(tool_named_in(
            "Use the shell function to list them.",
            "Which file?",
            &tools
        )
        .is_some());
        assert!(tool_named_in("Run `shell` to list them.", task, &tools).is_some());
        assert!(tool_named_in("Use the grep function.", task, &tools).is_some());
    }
}
