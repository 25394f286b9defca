//! One tool call from proposal to result: the permission check, the dry run shown for
//! approval, the run, and what the model sees back (including for a call that did not parse).

use hearth_tools::{FileChange, SandboxLevel, ToolError};
use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::error::AgentError;
use crate::permissions::{Decision, SHELL_TOOL};
use crate::protocol::{Event, ToolCall, ToolOutput};
use crate::session::{Approval, Session, TurnIo};
use crate::store::Record;

/// A tool call's result as the model will see it.
pub(crate) struct CallResult {
    pub(crate) text: String,
    pub(crate) is_error: bool,
    truncated: bool,
}

impl CallResult {
    fn error(text: String) -> CallResult {
        CallResult {
            text,
            is_error: true,
            truncated: false,
        }
    }
}

impl Session {
    /// Checks, runs and reports one tool call. Errors the model can fix come back as an
    /// error result; the others end the turn.
    pub(crate) fn run_call(
        &mut self,
        id: &str,
        name: &str,
        input: &Value,
        io: &mut dyn TurnIo,
    ) -> Result<CallResult, AgentError> {
        let mut call = ToolCall {
            call_id: id.to_string(),
            tool: name.to_string(),
            input: input.clone(),
            diff: None,
        };
        let result = match self.permit(&mut call, io)? {
            Ok(planned) => self.run_permitted(&call, planned)?,
            Err(refused) => {
                io.emit(Event::ToolCallProposed(call));
                refused
            }
        };
        io.emit(Event::ToolOutput(ToolOutput {
            call_id: id.to_string(),
            output: result.text.clone(),
            is_error: result.is_error,
            truncated: result.truncated,
        }));
        Ok(result)
    }

    /// Decides whether `call` may run and, when it may, proposes it (with the diff of its
    /// dry run for a file edit) and asks the user where the permissions say so. `Ok` holds
    /// the changes the call plans; `Err` the result of a call that does not run (it is not
    /// proposed yet).
    ///
    /// The dry run comes after the permission check, so a call that is refused never touches
    /// the file; and the edit that runs is computed by the same code as the diff shown.
    fn permit(
        &mut self,
        call: &mut ToolCall,
        io: &mut dyn TurnIo,
    ) -> Result<Result<Vec<FileChange>, CallResult>, AgentError> {
        let name = call.tool.as_str();
        if let Some(problem) = malformed(&call.input) {
            return Ok(Err(CallResult::error(
                self.malformed_message(name, &problem),
            )));
        }
        let Some(tool) = self.tools.get(name) else {
            return Ok(Err(CallResult::error(format!(
                "there is no tool named `{name}`; the tools are: {}",
                self.tools.names().join(", ")
            ))));
        };
        let decision = self
            .config
            .permissions
            .decide(name, tool.mutates(), &call.input);
        if let Decision::Deny(reason) = decision {
            return Ok(Err(CallResult::error(format!("refused: {reason}"))));
        }
        // The file tools hold to the sandbox the commands run in: at read-only nothing
        // changes a file, whatever the mode allows. (A command's writes are stopped by the
        // kernel; these run in this process, so they are stopped here.)
        if self.config.sandbox == SandboxLevel::ReadOnly && tool.mutates() && name != SHELL_TOOL {
            return Ok(Err(CallResult::error(format!(
                "refused: `{name}` changes files, and the read-only sandbox allows no changes \
                 (--sandbox read-only); answer without editing"
            ))));
        }
        let planned = match self.tools.dry_run(name, &self.ctx, &call.input) {
            Ok(change) => change,
            // The call would fail the same way: the model hears why at once, and the user is
            // not asked to approve a call that cannot run.
            Err(error) => return self.failed(name, error).map(Err),
        };
        call.diff = (!planned.is_empty()).then(|| {
            planned
                .iter()
                .map(|change| change.diff.as_str())
                .collect::<String>()
        });
        io.emit(Event::ToolCallProposed(call.clone()));
        if decision != Decision::Ask {
            return Ok(Ok(planned));
        }
        io.emit(Event::ApprovalRequested(call.clone()));
        match io.approve(call) {
            Approval::Approved => {}
            Approval::ApprovedForSession(scope) => {
                match self
                    .config
                    .permissions
                    .approve_for_session(name, &call.input, &scope)
                {
                    Ok(approved) => io.log(&format!("approved for the session: {approved}")),
                    // This call was approved all the same; only the rule for later ones
                    // could not be made, so those will be asked about.
                    Err(error) => io.log(&format!("no approval for the session: {error}")),
                }
            }
            Approval::Denied(reason) => {
                return Ok(Err(CallResult::error(format!(
                    "refused: the call to `{name}` was not approved ({reason})"
                ))));
            }
        }
        // The user approved a diff, maybe minutes ago: a file changed since (by the user, in
        // an editor) would make the edit another one than the one approved.
        match self.tools.dry_run(name, &self.ctx, &call.input) {
            Ok(now) if now == planned => Ok(Ok(planned)),
            Ok(_) => Ok(Err(CallResult::error(format!(
                "refused: the file changed while the call to `{name}` waited for approval, so \
                 the approved change was not made; read the file again"
            )))),
            Err(error) => self.failed(name, error).map(Err),
        }
    }

    /// Runs a call that [`Session::permit`] let through, checkpointing the files it changes.
    ///
    /// The checkpoints of the changes the call plans (`planned`, its dry run) are saved and
    /// flushed to disk before the call writes: a crash in the middle of the write leaves a
    /// file that holds its old or its new content (the tools write atomically) and an undo
    /// record that restores the old one either way.
    fn run_permitted(
        &mut self,
        call: &ToolCall,
        planned: Vec<FileChange>,
    ) -> Result<CallResult, AgentError> {
        let planned: Vec<Checkpoint> = planned
            .into_iter()
            .map(|change| Checkpoint::new(&call.call_id, change))
            .collect();
        for checkpoint in &planned {
            self.record(Record::Checkpoint {
                checkpoint: checkpoint.clone(),
            })?;
        }
        if !planned.is_empty() {
            self.sync_store()?;
        }
        let result = self.tools.call(&call.tool, &self.ctx, &call.input);
        let made: Vec<Checkpoint> = match &result {
            Ok(output) => output
                .changes
                .iter()
                .map(|change| Checkpoint::new(&call.call_id, change.clone()))
                .collect(),
            Err(_) => Vec::new(),
        };
        // Normally the call makes exactly the planned changes. A rename stopped by an error
        // makes fewer, and a file changed between the dry run and the call gets another
        // change: the file says which were not made, and records the others.
        for checkpoint in planned.iter().filter(|c| !made.contains(c)) {
            self.record(Record::Abandoned {
                call_id: checkpoint.call_id.clone(),
                path: checkpoint.path.clone(),
            })?;
        }
        for checkpoint in made {
            if !planned.contains(&checkpoint) {
                self.record(Record::Checkpoint {
                    checkpoint: checkpoint.clone(),
                })?;
            }
            self.checkpoints.record(checkpoint);
        }
        match result {
            Ok(output) => Ok(CallResult {
                text: output.text,
                is_error: false,
                truncated: output.truncated,
            }),
            Err(error) => self.failed(&call.tool, error),
        }
    }

    /// A tool error as the model sees it, or the end of the turn for one it cannot fix.
    fn failed(&self, tool: &str, error: ToolError) -> Result<CallResult, AgentError> {
        if error.is_model_fixable() {
            Ok(CallResult::error(error.to_string()))
        } else {
            Err(AgentError::Tool {
                tool: tool.to_string(),
                source: error,
            })
        }
    }

    /// What a malformed call gets back: what was wrong, what was written, and the shape
    /// that works, with the tool's own schema when the name is known.
    fn malformed_message(&self, name: &str, problem: &Malformed) -> String {
        let mut message = format!(
            "your call to `{name}` was not understood: {}.",
            problem.error
        );
        if let Some(raw) = &problem.raw {
            message.push_str(&format!(" You wrote: {raw}"));
        }
        message.push_str(
            "\nCall a tool with one JSON object inside <tool_call></tool_call> tags: \
             {\"name\": \"<tool name>\", \"arguments\": {<arguments as a JSON object>}}.",
        );
        match self.tools.get(name) {
            Some(tool) => {
                message.push_str(&format!("\nThe arguments of `{name}`: {}", tool.schema()))
            }
            None => message.push_str(&format!(
                "\nThe tools are: {}",
                self.tools.names().join(", ")
            )),
        }
        message
    }
}

/// What the engine reported about a call it could not parse.
struct Malformed {
    error: String,
    raw: Option<String>,
}

/// Whether a call's input is unusable: the engine's `{"_error", "_raw"}` marker for a call it
/// could not parse, or arguments that are not a JSON object.
fn malformed(input: &Value) -> Option<Malformed> {
    match input {
        Value::Object(map) => map.get("_error").map(|error| Malformed {
            error: error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_string),
            raw: map
                .get("_raw")
                .map(|raw| raw.as_str().map_or_else(|| raw.to_string(), str::to_string)),
        }),
        other => Some(Malformed {
            error: format!("the arguments must be a JSON object, not {other}"),
            raw: None,
        }),
    }
}
