//! Slash commands as the TUI runs them: each turns into an op for the session, a note, or
//! a block of the transcript. Their names, help and completion are `crate::commands`.

use hearth_agent::protocol::Op;
use hearth_agent::Mode;

use super::{App, Stats};
use crate::commands::help_text;
use crate::transcript::Entry;

impl App {
    /// Runs the slash command `line` (`/name args`).
    pub(super) fn run_command(&mut self, line: &str) {
        let (name, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match name {
            "/help" => self.entries.push(Entry::Block(help_text())),
            "/quit" | "/exit" => self.quit = true,
            "/model" if !arg.is_empty() => {
                self.note(format!("loading {arg} …"));
                self.outbox.push(Op::SetModel { model: arg.into() });
            }
            "/model" => {
                let model = self
                    .loaded
                    .as_ref()
                    .map_or(self.settings.model.clone(), |l| l.model.clone());
                self.note(format!("model: {model} (switch with /model NAME|PATH)"));
            }
            "/mode" if arg.is_empty() => self.note(format!(
                "mode: {} (choose with /mode read-only|ask|auto-edit|full-auto)",
                self.mode
            )),
            "/mode" => match arg.parse::<Mode>() {
                Ok(mode) => self.outbox.push(Op::SetMode { mode }),
                Err(e) => self.entries.push(Entry::Error(e.to_string())),
            },
            "/think" => self.think(arg),
            "/compact" => self.outbox.push(Op::Compact),
            "/clear" => {
                self.entries.clear();
                self.stats = Stats::default();
                self.outbox.push(Op::Clear);
            }
            "/resume" => self.outbox.push(Op::Resume {
                id: (!arg.is_empty()).then(|| arg.to_string()),
            }),
            "/diff" => self.outbox.push(Op::ListChanges),
            "/undo" => self.outbox.push(Op::Undo),
            "/status" => self.entries.push(Entry::Block(self.status_text())),
            other => self.entries.push(Entry::Error(format!(
                "unknown command {other}; /help lists the commands"
            ))),
        }
    }

    /// `/think N|off`: parsed as `--think` is; the session sizes its requests from it
    /// with the same budget code (`hearth_agent::RequestBudget`).
    fn think(&mut self, arg: &str) {
        let budget = match hearth_agent::parse_thinking(arg) {
            Ok(budget) => budget,
            Err(e) => {
                self.entries.push(Entry::Error(format!("/think: {e}")));
                return;
            }
        };
        self.settings.thinking_budget = budget;
        self.outbox.push(Op::SetThinking {
            budget_tokens: budget,
        });
        match budget {
            Some(n) => self.note(format!("thinking budget: {n} tokens")),
            None => self.note("thinking off"),
        }
    }

    fn status_text(&self) -> String {
        let (id, model, window) = match &self.loaded {
            Some(l) => (l.session_id.as_str(), l.model.as_str(), l.context_window),
            None => ("(loading)", self.settings.model.as_str(), None),
        };
        let session = self.stats.turn_usage;
        format!(
            "session  {id}\nmodel    {model}\nmode     {}\ncontext  {} of {} tokens\nthinking {}\nlast turn: {} prompt tokens ({} from cache), {} output tokens",
            self.mode,
            self.stats.context_used.map_or("-".into(), |n| n.to_string()),
            window.map_or("?".into(), |n| n.to_string()),
            self.settings
                .thinking_budget
                .map_or("off".into(), |n| format!("{n} tokens")),
            session.prompt_tokens(),
            session.cache_read_input_tokens,
            session.output_tokens,
        )
    }
}
