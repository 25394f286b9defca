//! The TUI's "approve for the session" (`a`) through a spawned session: the approval
//! becomes a rule for that exact command, so the same command runs without asking and a
//! longer or chained one is asked about again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{repo, scripted_call as call, within_timeout};
use hearth_agent::protocol::{Event, Op, SessionApproval, UserTurn};
use hearth_agent::{Mode, Permissions, ScriptedBackend, ScriptedReply, Session, SessionConfig};
use serde_json::json;

#[test]
fn an_approval_for_the_session_covers_the_same_command_and_nothing_chained_to_it() {
    let (_dir, root) = repo();
    let backend = Arc::new(ScriptedBackend::new(vec![
        call("c1", "shell", json!({"command": "echo one"})),
        call("c2", "shell", json!({"command": "echo one"})),
        call("c3", "shell", json!({"command": "echo one && echo two"})),
        call("c4", "shell", json!({"command": "echo one two"})),
        ScriptedReply::Text("done".into()),
    ]));
    let mut config = SessionConfig::new(&root);
    config.answer_from_context = false;
    config.permissions = Permissions::new(Mode::AutoEdit);
    let session = Session::start(config, Box::new(backend)).unwrap();
    let asked = within_timeout("the session", move || {
        let handle = hearth_agent::spawn(session);
        handle
            .ops
            .send(Op::UserTurn(UserTurn {
                text: "echo things".into(),
            }))
            .unwrap();
        let mut asked = Vec::new();
        loop {
            match handle.events.recv().unwrap() {
                Event::ApprovalRequested(call) => {
                    let op = if call.call_id == "c1" {
                        Op::ApproveForSession {
                            call_id: call.call_id.clone(),
                            scope: SessionApproval::ThisCall,
                        }
                    } else {
                        Op::Deny {
                            call_id: call.call_id.clone(),
                            reason: "no".into(),
                        }
                    };
                    asked.push(call.call_id);
                    handle.ops.send(op).unwrap();
                }
                Event::TurnFinished(_) => break,
                _ => {}
            }
        }
        handle.ops.send(Op::Shutdown).unwrap();
        handle.join().unwrap();
        asked
    });
    assert_eq!(asked, ["c1", "c3", "c4"]);
}
