//! The user-facing error: a message, an optional hint that says how to fix it, and the exit
//! code. Library modules return their own `thiserror` errors; they implement
//! [`Advice`]; the front ends' edge (`app::advice`) finds the advice in an error's chain.
//! This module is a leaf: it imports no other module of the crate.

use std::fmt;

/// The process's exit codes, as the man page lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done = 0,
    Error = 1,
    Usage = 2,
    Blocked = 3,
    Budget = 4,
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What an error can say beyond its message.
pub trait Advice {
    /// How the user can fix it, if we know.
    fn hint(&self) -> Option<String> {
        None
    }
    /// The process exit code it maps to.
    fn exit(&self) -> Exit {
        Exit::Error
    }
}

/// An error raised at the command edge with a hint and an exit code of its own.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
    pub exit: Exit,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            exit: Exit::Error,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(message).exit(Exit::Usage)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn exit(mut self, exit: Exit) -> Self {
        self.exit = exit;
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

impl Advice for UserError {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
    fn exit(&self) -> Exit {
        self.exit
    }
}
