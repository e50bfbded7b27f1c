//! `cargo xtask run [-- <sensor args>]`: builds the agent and runs it as root.

use std::{os::unix::process::ExitStatusExt, process::ExitStatus};

use anyhow::{Context, Result};

use crate::{
    build,
    cmd::{self, say},
    prereqs, root,
};

pub fn main(args: &[String]) -> Result<()> {
    // Only the sensor runs as root (through sudo when needed): building as root would leave
    // root-owned files in the user's target/. Check first so a missing sudo fails before the build.
    root::check_can_become_root("running the sensor")?;
    let prereqs = prereqs::ensure()?;
    let sensor = build::build_sensor(&prereqs, true)?;

    let mut command = root::as_root(&sensor)?;
    if args.is_empty() {
        command.arg("run");
    } else {
        command.args(args);
    }
    say!("starting `{}`", cmd::describe(&command));
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd::describe(&command)))?;

    // The sensor shares our process group, so the terminal delivers Ctrl-C to it directly; xtask
    // ignores SIGINT only to stay alive and report the sensor's exit code. This happens after the
    // spawn because an ignored disposition would be inherited across exec by the sensor.
    // SAFETY: installing SIG_IGN has no preconditions and no handler runs.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let status = child.wait().context("waiting for the sensor failed")?;
    let code = exit_code(status);
    if code != 0 {
        say!("the sensor exited with {status}");
    }
    std::process::exit(code)
}

/// The sensor's exit code, or 128 + signal number when a signal ended it (as shells report it).
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_codes_and_signals() {
        // Raw wait statuses: exit code in the second byte, terminating signal in the low bits.
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(42 << 8)), 42);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGINT)), 130);
    }
}
