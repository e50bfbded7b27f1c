//! Root privileges: the sensor loads eBPF programs, and the tests install packages, start dockerd
//! and mount tracefs, so both need root. Without root, sudo is used when it is installed.

use std::{ffi::OsString, os::unix::process::CommandExt, path::Path, process::Command};

use anyhow::{bail, Context, Result};

use crate::cmd::{self, say};

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fails early (before any long build) when root is needed but cannot be had.
pub fn check_can_become_root(what: &str) -> Result<()> {
    if is_root() || cmd::which("sudo", &[]).is_some() {
        return Ok(());
    }
    bail!("{what} needs root, and sudo is not installed; run it as root")
}

/// A command that runs `program` as root: directly when we are root, else through `sudo -E`.
///
/// sudo's `secure_path` replaces PATH and it may reset HOME, which would hide the caller's
/// rustup toolchains and bpf-linker; `env` puts them back explicitly.
pub fn as_root(program: &Path) -> Result<Command> {
    if is_root() {
        return Ok(Command::new(program));
    }
    let sudo = cmd::which("sudo", &[]).with_context(|| {
        format!(
            "{} needs root, and sudo is not installed",
            program.display()
        )
    })?;
    let mut command = Command::new(sudo);
    command.args(["-E", "env"]);
    let mut keep = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        keep.push(("PATH", path));
    }
    if let Ok(home) = cmd::cargo_home() {
        keep.push(("CARGO_HOME", home.into_os_string()));
    }
    if let Some(home) = cmd::rustup_home() {
        keep.push(("RUSTUP_HOME", home.into_os_string()));
    }
    for (key, value) in keep {
        let mut assignment = OsString::from(format!("{key}="));
        assignment.push(value);
        command.arg(assignment);
    }
    command.arg(program);
    Ok(command)
}

/// Replaces this process with the same xtask invocation run as root, unless already root.
pub fn reexec_as_root(what: &str) -> Result<()> {
    if is_root() {
        return Ok(());
    }
    check_can_become_root(what)?;
    let exe = std::env::current_exe().context("finding the xtask executable to re-run failed")?;
    let mut command = as_root(&exe)?;
    command.args(std::env::args_os().skip(1));
    say!("{what} needs root; re-running through sudo");
    // exec only returns on failure.
    let err = command.exec();
    Err(err).with_context(|| format!("re-running `{}` failed", cmd::describe(&command)))
}
