//! `cargo xtask test`: everything CI runs, on a clean machine, as root.

use std::{path::Path, process::Command};

use anyhow::{Context, Result};

use crate::{
    build,
    cmd::{self, say},
    docker, image,
    prereqs::{self, Prereqs},
    root,
};

pub struct Options {
    pub unit_only: bool,
    pub e2e_only: bool,
    /// Passed to the end-to-end test binary (e.g. a test-name filter).
    pub e2e_args: Vec<String>,
}

pub fn main(options: Options) -> Result<()> {
    // apt-get, dockerd, mount and loading eBPF all need root.
    root::reexec_as_root("`cargo xtask test`")?;

    let prereqs = step("prerequisites", prereqs::ensure)?;
    let sensor = step("release build", || build::build_sensor(&prereqs, true))?;
    // Before the unit tests: the Docker watcher's tests talk to the real daemon.
    step("docker engine", docker::ensure_engine)?;
    step("static busybox", image::ensure_static_busybox)?;
    step("test image", image::ensure_test_image)?;
    step("tracefs", ensure_tracefs)?;
    if !options.e2e_only {
        step("unit tests", || unit_tests(&prereqs))?;
    }
    if options.unit_only {
        say!("all steps passed (--unit-only)");
        return Ok(());
    }
    step("end-to-end tests", || {
        e2e_tests(&prereqs, &sensor, &options.e2e_args)
    })?;
    say!("all steps passed");
    Ok(())
}

/// Runs one step; a failure names the step, then the cause.
fn step<T>(name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    say!("step: {name}");
    run().with_context(|| format!("step `{name}` failed"))
}

fn unit_tests(prereqs: &Prereqs) -> Result<()> {
    // Release, so the sensor crate and its embedded eBPF object are reused from the build step.
    let mut cargo = cmd::cargo();
    cargo
        .args([
            "test",
            "--release",
            "--workspace",
            "--exclude",
            "sensor-e2e",
        ])
        .env("PATH", prereqs.path_env()?);
    cmd::run(&mut cargo)
}

/// aya reads tracepoint ids from tracefs, which a fresh machine may not have mounted.
pub(crate) fn ensure_tracefs() -> Result<()> {
    if Path::new("/sys/kernel/tracing/events").exists() {
        say!("tracefs is mounted");
        return Ok(());
    }
    cmd::run(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]))
        .context("mounting tracefs at /sys/kernel/tracing failed")
}

fn e2e_tests(prereqs: &Prereqs, sensor: &Path, extra: &[String]) -> Result<()> {
    // One test at a time: each one starts its own sensor, and they would see each other's events.
    let mut cargo = cmd::cargo();
    cargo
        .args([
            "test",
            "--release",
            "-p",
            "sensor-e2e",
            "--",
            "--test-threads=1",
        ])
        .args(extra)
        .env("PATH", prereqs.path_env()?)
        .env("SENSOR_BIN", sensor)
        .env("SENSOR_TEST_IMAGE", image::TEST_IMAGE);
    say!(
        "SENSOR_BIN={} SENSOR_TEST_IMAGE={}",
        sensor.display(),
        image::TEST_IMAGE
    );
    cmd::run(&mut cargo)
}
