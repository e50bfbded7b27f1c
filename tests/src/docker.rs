//! Docker through its CLI, with every container named from a [`Scope`] so that a test removes
//! exactly what it created, whether it passes or fails.

use std::{
    path::Path,
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use crate::{poll, run_with_timeout};

/// The static client the machines have; the packaged one may be absent or older.
const STATIC_CLI: &str = "/usr/local/bin/docker";
/// Upper bound for one docker client call (image is local, so even `run` is quick).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A `docker` command.
pub fn docker() -> Command {
    if Path::new(STATIC_CLI).is_file() {
        Command::new(STATIC_CLI)
    } else {
        Command::new("docker")
    }
}

/// Runs `docker <args>` and returns its output, whatever the exit status.
pub fn docker_output(args: &[&str]) -> Output {
    run_with_timeout(docker().args(args), CALL_TIMEOUT)
}

/// Runs `docker <args>`, fails the test unless it succeeds, returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker_output(args);
    assert!(
        output.status.success(),
        "`docker {}` failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Unique container (and volume) names for one test, and removal of every container and named
/// volume so named on drop.
pub struct Scope {
    prefix: String,
    next: AtomicUsize,
}

impl Scope {
    pub fn new() -> Scope {
        static SCOPES: AtomicUsize = AtomicUsize::new(0);
        let scope = SCOPES.fetch_add(1, Ordering::Relaxed);
        Scope {
            prefix: format!("sx{}s{scope}-", std::process::id()),
            next: AtomicUsize::new(0),
        }
    }

    /// A fresh name `sx<pid>s<scope>-<n>-<label>`.
    pub fn name(&self, label: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}-{label}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Ids of all containers, running or not, whose name starts with the prefix.
    pub fn containers(&self) -> Vec<String> {
        let filter = format!("name=^/{}", self.prefix);
        docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &filter])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::new()
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // Never panic here: a panic while unwinding aborts and hides the test's own failure.
        let filter = format!("name=^/{}", self.prefix);
        let listed = docker_output(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
        let stdout = String::from_utf8_lossy(&listed.stdout).to_string();
        let ids: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
        remove_quietly(&["rm", "-f", "-v"], &ids, "containers");
        // Named volumes outlive their containers; the name filter matches substrings.
        let filter = format!("name={}", self.prefix);
        let listed = docker_output(&["volume", "ls", "-q", "--filter", &filter]);
        let stdout = String::from_utf8_lossy(&listed.stdout).to_string();
        let volumes: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with(&self.prefix))
            .collect();
        remove_quietly(&["volume", "rm", "-f"], &volumes, "volumes");
    }
}

/// Runs `docker <command> <objects…>` when there are objects; failures are printed, not raised
/// (this runs in drop, possibly while a failed test unwinds).
fn remove_quietly(command: &[&str], objects: &[&str], what: &str) {
    if objects.is_empty() {
        return;
    }
    let mut args = command.to_vec();
    args.extend(objects);
    let removed = docker_output(&args);
    if !removed.status.success() {
        eprintln!(
            "[e2e] removing {what} {objects:?} failed: {}",
            String::from_utf8_lossy(&removed.stderr).trim()
        );
    }
}

/// Where the host's Docker socket is.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Runs `script` (with `sh -c`) in a detached container of the test image that has the host's
/// Docker socket bind-mounted at `socket`, with `extra` docker run options; returns its id.
pub fn run_socket_user(name: &str, socket: &str, extra: &[&str], script: &str) -> String {
    let image = crate::test_image();
    let mount = format!("{DOCKER_SOCKET}:{socket}");
    let mut args = vec!["-v", mount.as_str()];
    args.extend(extra);
    args.extend([image.as_str(), "sh", "-c", script]);
    run_detached(name, &args)
}

/// `docker run -d --name <name> <args>`; returns the full container id.
pub fn run_detached(name: &str, args: &[&str]) -> String {
    let mut all = vec!["run", "-d", "--name", name];
    all.extend(args);
    docker_ok(&all)
}

/// Asserts that a docker call (`what`) succeeded, showing its stderr otherwise; returns its
/// stdout.
pub fn ok(what: &str, output: Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// [`run_rm`] that must succeed; returns what the container printed (stdout, then stderr).
pub fn run_rm_ok(name: &str, args: &[&str]) -> String {
    let output = run_rm(name, args);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "container {name} failed ({}): {printed}",
        output.status
    );
    printed
}

/// `docker run --rm --name <name> <args>`, waiting for it to finish.
pub fn run_rm(name: &str, args: &[&str]) -> Output {
    let mut all = vec!["run", "--rm", "--name", name];
    all.extend(args);
    docker_output(&all)
}

/// `docker exec <container> <args>`.
pub fn exec(container: &str, args: &[&str]) -> Output {
    let mut all = vec!["exec", container];
    all.extend(args);
    docker_output(&all)
}

/// `docker inspect --format <format> <container>`.
pub fn inspect(container: &str, format: &str) -> String {
    docker_ok(&["inspect", "--format", format, container])
}

/// The full id of a container.
pub fn container_id(container: &str) -> String {
    inspect(container, "{{.Id}}")
}

/// Waits until the container is no longer running; fails the test after `timeout`.
pub fn wait_exited(container: &str, timeout: Duration) {
    let stopped = poll(timeout, || {
        (inspect(container, "{{.State.Running}}") == "false").then_some(())
    });
    assert!(
        stopped.is_some(),
        "container {container} still runs after {timeout:?}; logs:\n{}",
        logs(container)
    );
}

/// A container's output, for failure messages.
pub fn logs(container: &str) -> String {
    let output = docker_output(&["logs", container]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
