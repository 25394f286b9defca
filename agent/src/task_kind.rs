//! What a task asks for, read from its words: a fix of failing tests, a change, or an
//! answer. The harness's levers depend on it (the repairs of `repair.rs`; an edit required of
//! a model that loops on a change task), so a wrong guess only costs a lever, never a result.

/// Whether `task` asks for failing tests or a bug to be fixed.
pub(crate) fn asks_for_a_fix(task: &str) -> bool {
    lower_words(task).any(|word| {
        matches!(
            word.as_str(),
            "fail" | "fails" | "failing" | "failed" | "failure" | "fix" | "bug" | "broken"
        )
    })
}

/// Whether `task` asks for a change to the repository rather than an answer: it asks no
/// question (no `?`, no "which", "tell me", "explain" …). An imperative that only asks to
/// look ("look around") counts as a change too; the lever it feeds acts only after the model
/// has looked twice.
pub(crate) fn asks_for_a_change(task: &str) -> bool {
    const QUESTION: [&str; 9] = [
        "which", "what", "where", "who", "why", "how", "tell", "explain", "describe",
    ];
    !task.contains('?') && !lower_words(task).any(|w| QUESTION.contains(&w.as_str()))
}

/// Whether `task` asks for something to be renamed.
pub(crate) fn asks_for_a_rename(task: &str) -> bool {
    lower_words(task).any(|w| matches!(w.as_str(), "rename" | "renamed" | "renaming"))
}

/// Whether `task` only asks a question: it asks one (see [`asks_for_a_change`]), and no word
/// of it asks for a change or a fix ("Which test fails, and can you fix it?" is not only a
/// question). Such a turn is offered the tools that read, and the answer.
pub(crate) fn asks_only_a_question(task: &str) -> bool {
    // Imperatives only: "which commit", "how do I run" and "what is set" are questions.
    const CHANGE: [&str; 18] = [
        "add",
        "change",
        "create",
        "delete",
        "edit",
        "fix",
        "implement",
        "make",
        "modify",
        "move",
        "refactor",
        "remove",
        "rename",
        "replace",
        "rewrite",
        "update",
        "write",
        "install",
    ];
    !asks_for_a_change(task)
        && !asks_for_a_fix(task)
        && !lower_words(task).any(|w| CHANGE.contains(&w.as_str()))
}

/// The words of `text`, lower case.
fn lower_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_tasks_are_told_apart_from_others() {
        assert!(asks_for_a_fix("The tests fail: fix the discount"));
        assert!(asks_for_a_fix("`cargo test` fails on the area."));
        assert!(asks_for_a_fix("There is a bug in slugify"));
        assert!(!asks_for_a_fix("Which function computes the tax?"));
        assert!(!asks_for_a_fix("Change the default width to 80"));
        // A word that only contains one of them does not count.
        assert!(!asks_for_a_fix("Rename prefix to head"));
    }

    #[test]
    fn only_questions_that_ask_for_no_change_are_questions_only() {
        assert!(asks_only_a_question(
            "Which function reads the items from a CSV file? Answer with its name."
        ));
        assert!(asks_only_a_question(
            "A function named legacy_price used to exist. Which commit removed it?"
        ));
        assert!(asks_only_a_question("what does this repository do?"));
        assert!(!asks_only_a_question("Which test fails? Fix it."));
        assert!(!asks_only_a_question(
            "Can you rename fmt_money to format_money?"
        ));
        assert!(!asks_only_a_question("How do I make the tests pass?"));
        assert!(asks_only_a_question(
            "Which commit added the cache? How do I run it?"
        ));
        assert!(!asks_only_a_question("Change the default width to 80."));
    }

    #[test]
    fn renames_are_named_by_the_word() {
        assert!(asks_for_a_rename("Rename the function die to fail."));
        assert!(!asks_for_a_rename("Make the default width 80."));
        assert!(!asks_for_a_rename("Which file has the renames list?"));
    }

    #[test]
    fn questions_are_not_changes() {
        assert!(asks_for_a_change(
            "Rename camelize to toCamelCase everywhere."
        ));
        assert!(asks_for_a_change(
            "When an item runs low we reorder 20 units. Change that to 30"
        ));
        assert!(!asks_for_a_change(
            "Which commit removed it? Answer with its subject."
        ));
        assert!(!asks_for_a_change("what does this repository do?"));
        assert!(!asks_for_a_change(
            "Use the read_file tool, then tell me which function multiplies."
        ));
        assert!(asks_for_a_change(
            "Keep backups for 14 days by default instead of 7."
        ));
        assert!(asks_for_a_change(
            "The tests fail: an item whose quantity equals the threshold is low. Fix it."
        ));
    }
}
