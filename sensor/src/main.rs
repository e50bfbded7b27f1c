//! `sensor`: a host agent that watches containers with eBPF and reports container escapes and
//! cryptominers as they happen.

mod cgroup;
mod cli;
mod commands;
mod config;
mod containers;
mod detection;
mod docker;
mod engine;
mod event;
mod host;
mod logging;
mod output;
mod probes;
mod processes;
mod rules;
mod stats;
#[cfg(test)]
mod testutil;
mod timefmt;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.log_level);
    match commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sensor: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
