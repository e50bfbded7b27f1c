//! Command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use log::LevelFilter;

use crate::output::Format;

/// Container escape and cryptominer detection for Linux container hosts (eBPF).
#[derive(Debug, Parser)]
#[command(name = "sensor", version, about, long_about = None)]
pub struct Cli {
    /// Log level of the messages on stderr.
    #[arg(long, global = true, default_value = "info", value_name = "LEVEL", value_parser = parse_level)]
    pub log_level: LevelFilter,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch containers and stream detections to stdout until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Check that this host can run the sensor (root, BTF, tracepoints, cgroup2, Docker).
    Check(CheckArgs),
    /// List the detection rules with severity and ATT&CK technique.
    Rules,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Output format of the detection stream.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Docker API socket used for container metadata [default: /var/run/docker.sock]. When given,
    /// it must exist; the default may appear later (the sensor retries).
    #[arg(long, value_name = "PATH")]
    pub docker_socket: Option<PathBuf>,

    /// Configuration file (TOML): the allowlist of containers that may use a runtime API. See the
    /// README for the format.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Also send events of host processes (not in containers) to the rules.
    #[arg(long)]
    pub host_events: bool,

    /// Kernel ring buffer size: a power of two from 4K to 1G, e.g. 256K, 4M, 64M. The agent's
    /// resident memory grows by twice this size (the kernel maps the ring twice).
    #[arg(long, default_value = "4M", value_name = "SIZE", value_parser = parse_ring_size)]
    pub ring_buffer_size: u32,

    /// How often counters (events, detections, losses) are logged, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stats_interval: u64,

    /// Also write the counters as JSON to this file, at every stats interval and at exit
    /// (replaced atomically; the keys are listed in the README).
    #[arg(long, value_name = "PATH")]
    pub stats_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Docker API socket to test.
    #[arg(long, value_name = "PATH", default_value = "/var/run/docker.sock")]
    pub docker_socket: PathBuf,
}

/// Default Docker socket.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// `error`, `warn`, `info`, `debug`, `trace` or `off`.
fn parse_level(value: &str) -> Result<LevelFilter, String> {
    value
        .parse()
        .map_err(|_| format!("unknown log level {value:?} (error, warn, info, debug, trace, off)"))
}

/// Parses `4096`, `256K`, `4M`, `1G` (binary units) into a power of two of at least a page.
pub fn parse_ring_size(value: &str) -> Result<u32, String> {
    let value = value.trim();
    let (digits, unit) = match value.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => value.split_at(at),
        None => (value, ""),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{value:?} is not a size like 4M"))?;
    let scale: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {value:?} (use K, M or G)"
            ))
        }
    };
    let bytes = number
        .checked_mul(scale)
        .ok_or_else(|| format!("{value:?} is too large"))?;
    if bytes < 4096 || !bytes.is_power_of_two() || bytes > (1 << 30) {
        return Err(format!(
            "ring buffer size {value} must be a power of two between 4K and 1G"
        ));
    }
    Ok(bytes as u32)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn ring_sizes() {
        assert_eq!(parse_ring_size("4096"), Ok(4096));
        assert_eq!(parse_ring_size("256K"), Ok(256 << 10));
        assert_eq!(parse_ring_size("4M"), Ok(4 << 20));
        assert_eq!(parse_ring_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_ring_size("1g"), Ok(1 << 30));
        for bad in ["3M", "1024", "4X", "M", "", "2G", "99999999999999999999"] {
            assert!(parse_ring_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
