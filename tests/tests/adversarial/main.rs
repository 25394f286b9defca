//! Planted repositories and a scripted model that tries every escape the sandbox issue
//! lists: reading and writing outside the repository, writing `.git`, exfiltrating the
//! environment, reaching the network, leaving a process behind, chaining commands after an
//! approval, and crashes mid-write. Each attempt must get a clear refusal and leave the
//! repository (outside the allowed edits) byte-identical.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crash;
mod git_dirs;
mod instructions;
mod sandbox;
