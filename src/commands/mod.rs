//! One file per subcommand; this module dispatches.

use crate::cli::{Cli, Command};
use crate::error::{Exit, UserError};

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        _ => Err(UserError::new("not implemented yet").into()),
    }
}
