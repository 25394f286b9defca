//! hearth's interactive terminal front end.
//!
//! It renders [`hearth_agent::protocol::Event`]s and sends [`hearth_agent::protocol::Op`]s,
//! and holds no model or tool logic of its own. [`App`] is the state (events and keys in,
//! ops out), [`draw`] renders it, and [`run`] drives both on a real terminal.

mod app;
mod commands;
mod input;
mod markdown;
mod render;
mod terminal;
mod theme;
mod transcript;
mod wrap;

pub use app::{App, Loaded, PendingApproval, Settings, Stats, APPROVAL_ARMING};
pub use input::Editor;
pub use render::draw;
pub use terminal::{run, Startup};
pub use transcript::{Entry, Folding};
