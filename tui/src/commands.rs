//! Slash commands: their names and help, and completion of commands and `@path`s.

/// Every slash command with its one-line help, in the order `/help` lists them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/help", "keys and commands"),
    (
        "/model",
        "show the model, or switch: /model NAME|PATH (the conversation carries over)",
    ),
    (
        "/mode",
        "show or set the permission mode: read-only, ask, auto-edit, full-auto",
    ),
    (
        "/think",
        "set the thinking budget: /think N (tokens) or /think off",
    ),
    ("/compact", "summarize older history now"),
    (
        "/clear",
        "clear the screen and start the conversation afresh",
    ),
    (
        "/resume",
        "continue a saved session: /resume [ID] (default: the latest here)",
    ),
    ("/diff", "what the session's tools changed"),
    ("/undo", "revert the session's last edit"),
    ("/status", "session, model, mode and token counts"),
    ("/quit", "leave hearth"),
];

/// The keys, for `/help`.
pub const KEYS: &[(&str, &str)] = &[
    ("Enter", "send (or accept the highlighted completion)"),
    ("Alt+Enter, Shift+Enter, Ctrl-J", "new line"),
    ("Up / Down", "previous / next prompt"),
    ("Tab", "complete a /command or @path"),
    ("Esc, Ctrl-C", "stop the running turn"),
    ("Ctrl-C twice, Ctrl-D", "quit (on an empty prompt)"),
    ("PageUp / PageDown, wheel", "scroll the transcript"),
    ("Ctrl-T / Ctrl-O", "show or fold thinking / tool output"),
    (
        "y / n / a",
        "approve / deny (with a reason) / approve exactly this for the session",
    ),
];

/// The most completions shown at once.
pub const MAX_COMPLETIONS: usize = 8;

/// The completions of `word`, the word the cursor ends; `first` says whether it is the
/// prompt's first word (only there is a `/command` completed).
pub fn complete(word: &str, first: bool, files: &[String]) -> Vec<String> {
    if first && word.starts_with('/') {
        return COMMANDS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| name.starts_with(word) && *name != word)
            .map(str::to_string)
            .collect();
    }
    if let Some(partial) = word.strip_prefix('@') {
        let mut found: Vec<String> = files
            .iter()
            .filter(|f| f.starts_with(partial))
            .take(MAX_COMPLETIONS)
            .map(|f| format!("@{f}"))
            .collect();
        if found.len() < MAX_COMPLETIONS && !partial.is_empty() {
            // Then paths that merely contain what was typed, as fuzzy finders do.
            let more = files
                .iter()
                .filter(|f| !f.starts_with(partial) && f.contains(partial))
                .take(MAX_COMPLETIONS - found.len())
                .map(|f| format!("@{f}"));
            found.extend(more.collect::<Vec<_>>());
        }
        found.retain(|f| f != word);
        return found;
    }
    Vec::new()
}

/// The `/help` text.
pub fn help_text() -> String {
    let mut text = String::from("Commands\n");
    for (name, help) in COMMANDS {
        text.push_str(&format!("  {name:<10} {help}\n"));
    }
    text.push_str("Keys\n");
    for (keys, help) in KEYS {
        text.push_str(&format!("  {keys:<32} {help}\n"));
    }
    text.push_str("Write @path to attach a file.");
    text
}
