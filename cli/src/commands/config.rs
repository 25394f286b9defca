//! `hearth config show`: the policy in force and where each value came from.

use hearth_agent::{landlock_abi, Mode, SandboxLevel, ALLOWED_VARIABLES, CREDENTIAL_PATHS};

use crate::args::{ConfigAction, ConfigArgs};
use crate::config::Environment;
use crate::error::CliError;
use crate::policy::Policy;

/// Prints the settings as an aligned table, then what commands can see.
pub fn run(env: &Environment, args: ConfigArgs) -> Result<(), CliError> {
    let ConfigAction::Show { mode } = args.action;
    let policy = Policy::load(&env.policy_file)?;
    print!("{}", render(&policy, env, mode));
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

fn render(policy: &Policy, env: &Environment, mode: Mode) -> String {
    let v = &policy.values;
    let mode_default = match mode {
        Mode::ReadOnly => SandboxLevel::ReadOnly,
        Mode::Ask | Mode::AutoEdit | Mode::FullAuto => SandboxLevel::WorkspaceWrite,
    };
    let level = v.sandbox.level.unwrap_or(mode_default);
    let level_origin = match v.sandbox.level {
        Some(_) => policy.origin(true),
        None => format!("default for --mode {}", mode.name()),
    };
    let enforcement = match (level, landlock_abi()) {
        (SandboxLevel::Off, _) => "not confined (--sandbox off)".to_string(),
        (_, Some(abi)) => format!("Landlock ABI {abi}, seccomp, a private mount namespace"),
        (_, None) => "refused: this kernel has no Landlock (use --sandbox off)".to_string(),
    };
    let rows = [
        (
            "policy file",
            match &policy.source {
                Some(path) => path.display().to_string(),
                None => format!("{} (not found: defaults)", env.policy_file.display()),
            },
            String::new(),
        ),
        ("sandbox.level", level.name().to_string(), level_origin),
        ("sandbox.enforced by", enforcement, "kernel".to_string()),
        (
            "sandbox.network",
            v.sandbox.network.unwrap_or(false).to_string(),
            policy.origin(v.sandbox.network.is_some()),
        ),
        (
            "permissions.allow",
            list(&v.permissions.allow),
            policy.origin(!v.permissions.allow.is_empty()),
        ),
        (
            "permissions.deny",
            list(&v.permissions.deny),
            policy.origin(!v.permissions.deny.is_empty()),
        ),
        (
            "shell.env",
            list(&v.shell.env),
            policy.origin(!v.shell.env.is_empty()),
        ),
        (
            "files.allow_secret_files",
            list(&v.files.allow_secret_files),
            policy.origin(!v.files.allow_secret_files.is_empty()),
        ),
    ];
    let mut out = format!("{:<26} {:<56} from\n", "setting", "value");
    for (name, value, origin) in rows {
        out.push_str(&format!("{name:<26} {value:<56} {origin}\n"));
    }
    out.push_str(&format!(
        "\ncommands get these variables (and LC_*, and shell.env): {}\n",
        ALLOWED_VARIABLES.join(", ")
    ));
    let home = env
        .home
        .as_ref()
        .map_or_else(|| "~".to_string(), |h| h.display().to_string());
    out.push_str(&format!(
        "commands cannot read, under {home}: {}\n",
        CREDENTIAL_PATHS.join(", ")
    ));
    out.push_str("flags add to the file (--allow, --deny, --network) or override it (--sandbox)\n");
    out
}
