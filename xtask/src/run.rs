//! `cargo xtask run [-- <sensor args>]`: builds the agent and runs it as root.

use std::os::unix::process::CommandExt;

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
    // Become the sensor (or sudo running it): Ctrl-C, SIGTERM and the exit code then reach and
    // come from the sensor itself, with no parent left to forward them or to be orphaned from.
    let err = command.exec();
    Err(err).with_context(|| format!("could not start `{}`", cmd::describe(&command)))
}
