//! The command line: help texts, refusing a bad Docker socket, refusing to run without root, and
//! the rule list.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use sensor_e2e::{run_with_timeout, sensor_bin, token, TempDir};

/// A sensor invocation that must finish quickly (no probes loaded).
fn sensor(args: &[&str]) -> Output {
    run_with_timeout(
        Command::new(sensor_bin()).args(args),
        Duration::from_secs(30),
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_works_for_every_command() {
    for (args, must_mention) in [
        (vec!["--help"], vec!["run", "check", "rules"]),
        (
            vec!["run", "--help"],
            vec!["--format", "--docker-socket", "--ring-buffer-size"],
        ),
        (vec!["check", "--help"], vec!["--docker-socket"]),
        (vec!["rules", "--help"], vec!["Usage:"]),
    ] {
        let output = sensor(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.contains("Usage:"),
            "{args:?} printed no usage:\n{text}"
        );
        for word in must_mention {
            assert!(text.contains(word), "{args:?} help lacks {word}:\n{text}");
        }
    }
}

#[test]
fn missing_docker_socket_is_an_error() {
    let path = format!("/nonexistent-{}/d.sock", token(6));
    let output = sensor(&["run", "--format", "json", "--docker-socket", &path]);
    assert!(
        !output.status.success(),
        "ran with {path}: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains(&path),
        "error does not name {path}: {}",
        stderr(&output)
    );
    assert!(
        stdout(&output).is_empty(),
        "detections from a failed start: {}",
        stdout(&output)
    );
}

/// A copy of the sensor that an unprivileged user can execute, so the test exercises the
/// sensor's root check rather than the permissions of the build directory.
fn world_executable_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("sensor");
    fs::copy(sensor_bin(), &copy).expect("copying the sensor");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod sensor copy");
    copy
}

#[test]
fn refuses_to_run_without_root() {
    let dir = TempDir::new("unpriv");
    let copy = world_executable_copy(dir.path());
    assert!(
        Path::new("/usr/bin/setpriv").exists(),
        "setpriv (util-linux) is needed to drop privileges"
    );
    let output = run_with_timeout(
        Command::new("/usr/bin/setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(&copy)
            .args(["run", "--format", "json"])
            .current_dir(dir.path()),
        Duration::from_secs(30),
    );
    let err = stderr(&output);
    assert!(!output.status.success(), "ran as uid 65534: {err}");
    assert!(
        !err.contains("setpriv:"),
        "the sensor did not even start: {err}"
    );
    assert!(err.contains("root"), "error does not mention root: {err}");
}

#[test]
fn rules_lists_the_seed_rules() {
    let output = sensor(&["rules"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for (rule, severity, technique) in [
        ("cryptominer", "critical", "T1496"),
        ("runtime-socket-escape", "critical", "T1611"),
        ("dropped-executable", "high", "T1105"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(rule))
            .unwrap_or_else(|| panic!("{rule} not listed:\n{text}"));
        assert!(
            line.contains(severity) && line.contains(technique),
            "{rule}: {line}"
        );
    }
}
