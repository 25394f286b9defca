//! Errors as the user sees them: one line, and an exit code that says whose
//! fault it was (2: the input; 1: something failed while running).

use std::fmt;

/// An error on its way to the user.
#[derive(Debug)]
pub struct CliError {
    usage: bool,
    /// A command-specific exit code (`hearth exec`: 3 when the turn limit was reached).
    code: Option<u8>,
    error: anyhow::Error,
}

impl CliError {
    /// The user's input is wrong (exit code 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            usage: true,
            code: None,
            error: error.into(),
        }
    }

    /// Something failed at run time (exit code 1).
    pub fn failure(error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            usage: false,
            code: None,
            error: error.into(),
        }
    }

    /// A failure with its own exit code.
    pub fn with_code(code: u8, error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            usage: false,
            code: Some(code),
            error: error.into(),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        if let Some(code) = self.code {
            code
        } else if self.usage {
            2
        } else {
            1
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:#}` joins anyhow's context chain on one line.
        write!(f, "{:#}", self.error)
    }
}
