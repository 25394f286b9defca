//! An answer checked against the files it cites: when a turn that changed nothing ends with
//! an answer quoting a name or a file the repository does not have, the model hears which
//! ones, once, and answers again. A small model that answers from its guess rather than the
//! code names functions that do not exist; this is where that guess is caught, cheaply.

use hearth_tools::missing_citations;

use crate::session::{Session, TurnIo};

/// How the note to the model begins: a harness note
/// ([`HARNESS_TAG`](crate::history::HARNESS_TAG)).
pub(crate) const ANSWER_CHECKED: &str = "[hearth checked the answer]";

impl Session {
    /// The note for the model when `answer` to `task` cites names or files the repository
    /// lacks; `None` when everything it cites exists.
    pub(crate) fn check_citations(
        &self,
        task: &str,
        answer: &str,
        io: &mut dyn TurnIo,
    ) -> Option<String> {
        let missing = missing_citations(&self.ctx.root, answer, task);
        if missing.is_empty() {
            return None;
        }
        let quoted: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        io.log(&format!(
            "the answer cites what the repository does not have ({}): asking again",
            quoted.join(", ")
        ));
        Some(format!(
            "{ANSWER_CHECKED} Your answer cites {}, which no file of the repository has. Look \
             the answer up in the code with the tools (grep, find_symbol, read_file) and answer \
             again, citing only names and files that exist.",
            quoted.join(", ")
        ))
    }
}
