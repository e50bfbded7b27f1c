//! The positive control of negative tests: a container that writes a script and runs it must
//! produce a `dropped-executable` detection. A test that expects silence triggers one in the
//! same sensor run; without it, a dead or blind sensor would pass.

use std::time::Duration;

use serde_json::Value;

use crate::{docker, test_image, text, token, Scope, Sensor};

/// A container that dropped and ran a file.
pub struct Canary {
    pub name: String,
    pub id: String,
    /// The executed path inside the container.
    pub path: String,
}

/// Runs a container that writes `/tmp/<random>` and executes it. The file sleeps a few seconds,
/// so the process is still there when the sensor looks at it even without Docker's help.
pub fn trigger(scope: &Scope, docker_args: &[&str]) -> Canary {
    let name = scope.name("canary");
    let path = format!("/tmp/cn-{}", token(8));
    let script = format!("printf '#!/bin/sh\\nsleep 5\\n' > {path} && chmod +x {path} && {path}");
    let image = test_image();
    let mut args: Vec<&str> = docker_args.to_vec();
    args.extend([image.as_str(), "sh", "-c", script.as_str()]);
    let id = docker::run_detached(&name, &args);
    Canary { name, id, path }
}

impl Canary {
    /// Whether `detection` is this canary's.
    pub fn matches(&self, detection: &Value) -> bool {
        text(detection, "rule") == "dropped-executable"
            && text(detection, "container.id") == self.id
            && text(detection, "process.filename") == self.path
    }

    /// Waits for the canary's detection; fails the test without it.
    pub fn expect(&self, sensor: &Sensor, timeout: Duration) -> Value {
        sensor
            .wait_for(|d| self.matches(d), timeout)
            .unwrap_or_else(|| {
                panic!(
                    "no detection for canary {} ({}) within {timeout:?}; its output: {:?}; \
                 detections:\n{}",
                    self.name,
                    self.path,
                    docker::logs(&self.name),
                    sensor.dump()
                )
            })
    }
}
