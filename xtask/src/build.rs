//! `cargo xtask build`: prerequisites, then the agent (sensor/build.rs embeds the eBPF object).

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};

use crate::{
    cmd::{self, say},
    prereqs::{self, Prereqs},
};

pub fn main(debug: bool) -> Result<()> {
    let prereqs = prereqs::ensure()?;
    let sensor = build_sensor(&prereqs, !debug)?;
    // The path goes to stdout so scripts can capture it; progress went to stderr.
    println!("{}", sensor.display());
    Ok(())
}

/// Builds the `sensor` package and returns the absolute path of its binary.
pub fn build_sensor(prereqs: &Prereqs, release: bool) -> Result<PathBuf> {
    let mut cargo = cmd::cargo();
    cargo.args(["build", "-p", "sensor"]);
    if release {
        cargo.arg("--release");
    }
    cargo.env("PATH", prereqs.path_env()?);
    cmd::run(&mut cargo).context("building the sensor agent failed; see cargo's output above")?;

    let profile = if release { "release" } else { "debug" };
    let sensor = cmd::target_dir().join(profile).join("sensor");
    ensure!(
        sensor.is_file(),
        "cargo succeeded but the sensor binary {} is missing",
        sensor.display()
    );
    say!("built {}", sensor.display());
    Ok(sensor)
}
