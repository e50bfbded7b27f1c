//! Developer and CI tasks for the sensor: `cargo xtask <build|run|test|bench>`.
//!
//! This file only parses the command line; each subcommand lives in its own module.

mod bench;
mod bpf_linker;
mod build;
mod cmd;
mod docker;
mod elf;
mod image;
mod prereqs;
mod root;
mod run;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Build, run and test the sensor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the prerequisites (rust-src, bpf-linker) and build the agent.
    Build {
        /// Build the dev profile (target/debug/sensor) instead of release.
        #[arg(long)]
        debug: bool,
    },
    /// Build the agent, then run it as root (`sensor run` when no arguments are given).
    Run {
        /// Arguments for the sensor, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run everything CI runs: build, unit tests, Docker set-up and end-to-end tests (as root).
    Test {
        /// Only build and run the unit tests.
        #[arg(long, conflicts_with = "e2e_only")]
        unit_only: bool,
        /// Skip the unit tests.
        #[arg(long)]
        e2e_only: bool,
        /// Arguments for the end-to-end test binary (e.g. a name filter), after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Measure the sensor side by side with no sensor, auditd and bpftrace (as root); writes
    /// BENCHMARKS.md.
    Bench {
        /// A short smoke run (fewer rounds and events); writes target/xtask/BENCHMARKS-quick.md
        /// unless --output says otherwise.
        #[arg(long)]
        quick: bool,
        /// Rounds per variant of the exec storms [default: 9, 2 with --quick].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        rounds: Option<u64>,
        /// Execs per storm [default: 5000, 1000 with --quick].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        execs: Option<u64>,
        /// Run only these phases (repeat or comma-separate) [default: all].
        #[arg(long, value_enum, value_delimiter = ',', value_name = "PHASE")]
        only: Vec<bench::Phase>,
        /// Where to write the report [default: BENCHMARKS.md in the workspace root].
        #[arg(long, value_name = "PATH")]
        output: Option<std::path::PathBuf>,
        /// How long a full run waits for other sensors on the machine to finish, in seconds.
        #[arg(long, default_value_t = 1800, value_name = "SECS")]
        wait_idle: u64,
    },
}

fn main() -> ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The cause chain only: a backtrace (RUST_BACKTRACE is often set in CI) would bury
            // which step failed and why.
            eprintln!("xtask: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("xtask:   caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Build { debug } => build::main(debug),
        Command::Run { args } => run::main(&args),
        Command::Test {
            unit_only,
            e2e_only,
            args,
        } => test::main(test::Options {
            unit_only,
            e2e_only,
            e2e_args: args,
        }),
        Command::Bench {
            quick,
            rounds,
            execs,
            only,
            output,
            wait_idle,
        } => bench::main(bench::Options {
            quick,
            rounds: rounds.map(|r| r as usize),
            execs,
            only,
            output,
            wait_idle,
            command_line: bench_command_line(),
        }),
    }
}

/// `cargo xtask bench ...` as it was typed, for the report.
fn bench_command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn passes_arguments_after_the_separator() {
        let cli = Cli::parse_from(["xtask", "test", "--e2e-only", "--", "seed", "--nocapture"]);
        let Command::Test { e2e_only, args, .. } = cli.command else {
            panic!("not the test command");
        };
        assert!(e2e_only);
        assert_eq!(args, ["seed", "--nocapture"]);

        let cli = Cli::parse_from(["xtask", "run", "--", "run", "--json"]);
        let Command::Run { args } = cli.command else {
            panic!("not the run command");
        };
        assert_eq!(args, ["run", "--json"]);
    }
}
