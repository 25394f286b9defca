//! The OS sandbox every command of the `shell` tool runs in.
//!
//! The file tools confine themselves (every path is resolved inside the root and `.git` is
//! never written), but a command is arbitrary code: `cat ~/.aws/credentials`, a `build.rs`
//! that writes outside the repository, `curl … | sh`. So each command is confined by the
//! kernel, between fork and exec, and everything it starts inherits the confinement:
//! - **Landlock** (the file system): read and execute everywhere except the user's credential
//!   files; write only inside the repository and a private temporary directory (or only the
//!   temporary directory, at [`SandboxLevel::ReadOnly`]); no TCP unless the network is allowed.
//! - **A private mount namespace** in which `.git` is remounted read-only: Landlock grants
//!   rights on whole directory trees and cannot carve `.git` out of a writable root. Where no
//!   mount namespace can be made (no privilege and no user namespaces), the root's entries
//!   other than `.git` are made writable instead, so new files cannot be created at the top.
//! - **seccomp**: no sockets but Unix ones unless the network is allowed, no io_uring (whose
//!   operations would bypass the socket rule), and no leaving the process group, which is
//!   how the tool kills everything a command started when it ends.

#[cfg(target_os = "linux")]
mod child;
#[cfg(target_os = "linux")]
mod landlock_rules;
#[cfg(target_os = "linux")]
mod seccomp;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use crate::ToolError;

/// Files and directories under the user's home that hold credentials; no command may read
/// them. Relative to the home directory.
pub const CREDENTIAL_PATHS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config/gcloud",
    ".config/gh",
    ".config/hub",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".local/share/hearth",
];

/// How much a command may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxLevel {
    /// Commands read (outside the credential files) but write only their own temporary
    /// directory.
    ReadOnly,
    /// Commands also write inside the repository, except `.git`.
    #[default]
    WorkspaceWrite,
    /// No OS confinement: commands run with the user's full rights.
    Off,
}

impl SandboxLevel {
    /// Every level, strictest first.
    pub const ALL: [SandboxLevel; 3] = [
        SandboxLevel::ReadOnly,
        SandboxLevel::WorkspaceWrite,
        SandboxLevel::Off,
    ];

    /// The level's name as users write it (`--sandbox NAME`).
    pub fn name(self) -> &'static str {
        match self {
            SandboxLevel::ReadOnly => "read-only",
            SandboxLevel::WorkspaceWrite => "workspace-write",
            SandboxLevel::Off => "off",
        }
    }
}

impl fmt::Display for SandboxLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SandboxLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SandboxLevel::ALL
            .into_iter()
            .find(|level| level.name() == s)
            .ok_or_else(|| {
                format!("unknown sandbox level `{s}`: expected read-only, workspace-write or off")
            })
    }
}

/// Where and how commands are confined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxPolicy {
    /// How much commands may change.
    pub level: SandboxLevel,
    /// Whether commands may open network sockets.
    pub network: bool,
    /// Absolute paths no command may read (see [`CREDENTIAL_PATHS`]).
    pub hidden: Vec<PathBuf>,
}

impl Default for SandboxPolicy {
    /// Workspace writes, no network, nothing hidden (no home directory is known).
    fn default() -> Self {
        SandboxPolicy::new(SandboxLevel::default(), false)
    }
}

impl SandboxPolicy {
    /// A policy at `level`, with or without network, hiding nothing yet.
    pub fn new(level: SandboxLevel, network: bool) -> Self {
        SandboxPolicy {
            level,
            network,
            hidden: Vec::new(),
        }
    }

    /// This policy, also hiding the [`CREDENTIAL_PATHS`] under `home` (those that exist;
    /// symlinks are followed, so the place they lead to is hidden).
    pub fn hiding_credentials_of(mut self, home: &Path) -> Self {
        for relative in CREDENTIAL_PATHS {
            let path = home.join(relative);
            if let Ok(real) = path.canonicalize() {
                if !self.hidden.contains(&real) {
                    self.hidden.push(real);
                }
            }
        }
        self
    }

    /// Whether this machine can enforce the policy: `Ok` at [`SandboxLevel::Off`] or where
    /// the kernel has Landlock; otherwise why not, and what the user can do.
    pub fn check(&self) -> Result<(), SandboxUnavailable> {
        if self.level == SandboxLevel::Off {
            return Ok(());
        }
        match landlock_abi() {
            Some(_) => Ok(()),
            None => Err(SandboxUnavailable { level: self.level }),
        }
    }

    /// Confines `command`, which will run in `root` with `tmp` as its private temporary
    /// directory, by this policy. At [`SandboxLevel::Off`] it is left as it is.
    pub(crate) fn confine(
        &self,
        command: &mut Command,
        root: &Path,
        tmp: &Path,
    ) -> Result<(), ToolError> {
        if self.level == SandboxLevel::Off {
            return Ok(());
        }
        self.check().map_err(|e| ToolError::Sandbox {
            reason: e.to_string(),
        })?;
        confine_command(self, command, root, tmp)
    }
}

#[cfg(target_os = "linux")]
fn confine_command(
    policy: &SandboxPolicy,
    command: &mut Command,
    root: &Path,
    tmp: &Path,
) -> Result<(), ToolError> {
    protect_this_process();
    let confinement = child::Confinement::prepare(policy, root, tmp)?;
    confinement.install(command);
    Ok(())
}

/// Makes the process that runs commands undumpable, once: its `/proc/PID/environ` (the
/// unscrubbed environment, every token) and memory then need `CAP_SYS_PTRACE`, which
/// confined commands have given up. Landlock alone does not stop a same-user read of them.
/// As with ssh-agent, the price is no core dumps of this process.
#[cfg(target_os = "linux")]
fn protect_this_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: prctl(PR_SET_DUMPABLE) takes integers and changes only this process's flag.
    ONCE.call_once(|| unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    });
}

#[cfg(not(target_os = "linux"))]
fn confine_command(
    policy: &SandboxPolicy,
    _command: &mut Command,
    _root: &Path,
    _tmp: &Path,
) -> Result<(), ToolError> {
    Err(ToolError::Sandbox {
        reason: SandboxUnavailable {
            level: policy.level,
        }
        .to_string(),
    })
}

/// The kernel cannot enforce a sandbox level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the `{level}` sandbox needs Landlock (Linux 5.13 or later with Landlock enabled), which \
     this system lacks, so commands cannot be confined; pass `--sandbox off` to run them with \
     your full rights"
)]
pub struct SandboxUnavailable {
    /// The level that was asked for.
    pub level: SandboxLevel,
}

/// The Landlock ABI version the kernel supports, `None` without Landlock.
pub fn landlock_abi() -> Option<u32> {
    landlock_abi_of_kernel()
}

#[cfg(target_os = "linux")]
fn landlock_abi_of_kernel() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the call reads and
    // writes no memory; it only returns the ABI version or an error.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).ok().filter(|&v| v > 0)
}

#[cfg(not(target_os = "linux"))]
fn landlock_abi_of_kernel() -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_by_name_and_refuse_others() {
        for level in SandboxLevel::ALL {
            assert_eq!(level.name().parse::<SandboxLevel>(), Ok(level));
        }
        let error = "strict".parse::<SandboxLevel>().unwrap_err();
        assert!(error.contains("`strict`") && error.contains("workspace-write"));
    }

    #[test]
    fn credentials_that_exist_are_hidden_by_their_real_path() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::create_dir_all(home.path().join("elsewhere")).unwrap();
        std::fs::write(home.path().join("elsewhere/creds"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            home.path().join("elsewhere/creds"),
            home.path().join(".netrc"),
        )
        .unwrap();
        let policy = SandboxPolicy::default().hiding_credentials_of(home.path());
        let real = home.path().canonicalize().unwrap();
        assert!(policy.hidden.contains(&real.join(".ssh")));
        #[cfg(unix)]
        assert!(policy.hidden.contains(&real.join("elsewhere/creds")));
        assert!(!policy.hidden.iter().any(|p| p.ends_with(".aws")));
    }
}
