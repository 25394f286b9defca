//! What runs in the child between fork and exec: a private mount namespace with `.git`
//! read-only, then Landlock, then seccomp. Everything it touches is prepared in the parent,
//! because a forked copy of a multi-threaded process may only make system calls: another
//! thread may have held the allocator's lock at the fork.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::ptr;

use seccompiler::BpfProgram;

use super::landlock_rules::{self, Rulesets};
use super::{seccomp, SandboxLevel, SandboxPolicy};
use crate::ToolError;

/// A command's confinement, ready to enter.
pub(super) struct Confinement {
    rulesets: Rulesets,
    seccomp: BpfProgram,
    /// The `.git` to remount read-only, at [`SandboxLevel::WorkspaceWrite`] in a repository.
    git: Option<GitMount>,
}

impl Confinement {
    /// Builds the confinement of a command in `root` with `tmp` as its temporary directory.
    pub(super) fn prepare(
        policy: &SandboxPolicy,
        root: &Path,
        tmp: &Path,
    ) -> Result<Self, ToolError> {
        let git = match policy.level {
            SandboxLevel::WorkspaceWrite => GitMount::of(root)?,
            SandboxLevel::ReadOnly | SandboxLevel::Off => None,
        };
        Ok(Confinement {
            rulesets: landlock_rules::build(policy, root, tmp)?,
            seccomp: seccomp::program(policy.network)?,
            git,
        })
    }

    /// Makes `command` enter this confinement before it executes.
    pub(super) fn install(self, command: &mut Command) {
        // SAFETY: `enter` only makes system calls on memory prepared before the fork; it
        // allocates nothing and takes no lock, which is what may run between fork and exec.
        unsafe {
            command.pre_exec(move || self.enter());
        }
    }

    fn enter(&self) -> io::Result<()> {
        // Without the read-only mount, the strict rules keep `.git` out of reach instead.
        let git_protected = self.git.as_ref().is_none_or(|git| git.protect().is_ok());
        let ruleset = if git_protected {
            &self.rulesets.full
        } else {
            &self.rulesets.strict
        };
        drop_capabilities()?;
        // SAFETY: prctl and landlock_restrict_self take integers only; the ruleset
        // descriptor is open (owned by `self`, which outlives this call).
        unsafe {
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            check_long(libc::syscall(
                libc::SYS_landlock_restrict_self,
                ruleset.as_raw_fd(),
                0u32,
            ))?;
        }
        seccompiler::apply_filter(&self.seccomp).map_err(|_| io::Error::last_os_error())
    }
}

/// The header and data of capget/capset (`struct __user_cap_header_struct` and two
/// `struct __user_cap_data_struct`, version 3).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Gives up every capability, for good: a command run as root would otherwise bypass file
/// permissions and read other processes' memory and environment (Landlock does not stop a
/// same-user read of `/proc/PID/environ`). The bounding set is emptied first so an exec
/// cannot grant them back.
fn drop_capabilities() -> io::Result<()> {
    // SAFETY: prctl takes integers; capset reads the two structs we own for its duration.
    unsafe {
        for capability in 0..64 {
            // EINVAL past the last capability, EPERM without CAP_SETPCAP (then the process
            // has no capabilities to drop anyway): neither is a failure to confine.
            libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let none = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        check_long(libc::syscall(
            libc::SYS_capset,
            &header as *const CapHeader,
            none.as_ptr(),
        ))
    }
}

/// A `.git` to remount read-only in the command's own mount namespace.
struct GitMount {
    path: CString,
    /// The mount flags of the file system `.git` is on that a remount must keep (a user
    /// namespace may not drop `nosuid`, `nodev` and the like).
    keep_flags: libc::c_ulong,
    /// `/proc/self/uid_map` and `gid_map` contents mapping the user to itself, for when a
    /// user namespace is needed to mount.
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl GitMount {
    /// The `.git` of `root`, `None` when there is none.
    fn of(root: &Path) -> Result<Option<Self>, ToolError> {
        let path = root.join(".git");
        if path.symlink_metadata().is_err() {
            return Ok(None);
        }
        let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| ToolError::Sandbox {
            reason: format!("`{}` holds a NUL byte", path.display()),
        })?;
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Ok(Some(GitMount {
            keep_flags: mount_flags(&path),
            path,
            uid_map: format!("{uid} {uid} 1").into_bytes(),
            gid_map: format!("{gid} {gid} 1").into_bytes(),
        }))
    }

    /// Enters a mount namespace of the process's own (through a user namespace when the
    /// process may not make one directly) and remounts `.git` read-only in it.
    fn protect(&self) -> io::Result<()> {
        // SAFETY: every pointer is a NUL-terminated string owned by `self` or a literal, or
        // null where mount(2) allows it.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS))?;
                write_file(c"/proc/self/setgroups", b"deny")?;
                write_file(c"/proc/self/uid_map", &self.uid_map)?;
                write_file(c"/proc/self/gid_map", &self.gid_map)?;
            }
            // Private first, so the read-only mount does not propagate to the host.
            check(libc::mount(
                ptr::null(),
                c"/".as_ptr(),
                ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                ptr::null(),
            ))?;
            check(libc::mount(
                self.path.as_ptr(),
                self.path.as_ptr(),
                ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                ptr::null(),
            ))?;
            check(libc::mount(
                ptr::null(),
                self.path.as_ptr(),
                ptr::null(),
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | self.keep_flags,
                ptr::null(),
            ))?;
        }
        Ok(())
    }
}

/// The flags of the mount `path` is on that a bind remount must repeat.
fn mount_flags(path: &CString) -> libc::c_ulong {
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return 0;
    }
    [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(st, _)| stat.f_flag & st != 0)
    .fold(0, |flags, (_, ms)| flags | ms)
}

/// Writes `bytes` to the file at `path` with raw system calls.
///
/// # Safety
/// Only the pointers derived from the arguments are used.
unsafe fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: the caller's path is NUL-terminated; `bytes` is valid for its length.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd)?;
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if usize::try_from(written).ok() != Some(bytes.len()) {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn check_long(result: libc::c_long) -> io::Result<()> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
