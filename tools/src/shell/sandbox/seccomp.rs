//! The seccomp filter of a confined command, compiled by `seccompiler` in the parent.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::ToolError;

/// The filter: `EPERM` for a socket of any family but `AF_UNIX` (unless `network`), for
/// io_uring (its socket and connect operations never pass through the socket syscalls this
/// filter sees), and for `setsid`/`setpgid`, which would take a process out of the process
/// group the tool kills when the command ends. Everything else is allowed: Landlock does
/// the file system.
pub(super) fn program(network: bool) -> Result<BpfProgram, ToolError> {
    let fail = |what: &str, detail: String| ToolError::Sandbox {
        reason: format!("could not build the seccomp filter ({what}): {detail}"),
    };
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| fail("architecture", e.to_string()))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for syscall in [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_setsid,
        libc::SYS_setpgid,
    ] {
        // An empty rule list matches every call of the syscall.
        rules.insert(syscall, Vec::new());
    }
    if !network {
        let not_unix = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )
        .and_then(|condition| SeccompRule::new(vec![condition]))
        .map_err(|e| fail("socket rule", e.to_string()))?;
        rules.insert(libc::SYS_socket, vec![not_unix]);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| fail("filter", e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| fail("compile", e.to_string()))
}
