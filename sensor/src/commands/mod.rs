//! One module per subcommand.

mod check;
mod rules;
mod run;

use crate::cli::{Cli, Command};

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(&args),
        Command::Rules => {
            rules::print();
            Ok(())
        }
    }
}
