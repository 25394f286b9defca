//! Every tool of hearth-tools, run on temporary repositories built by the tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod atomic_writes;
mod code;
mod common;
mod edits;
mod files;
mod git;
mod registry;
mod retrieve;
mod sandbox;
mod secrets;
mod shell;
