//! The allowlist (`--config`): a socket-mounted status board allowed by label to read (its
//! notices lowered), a CI runner allowed by name pattern to create ordinary containers (its
//! notices silenced) — and a privileged creation by that runner still reported as critical. Bad
//! config files are refused with the file and the problem named.
//!
//! The poller and the runner take turns (the poller finishes before the runner creates
//! anything): the sensor attributes a creation to the most recent runtime API client, and a
//! poll in the middle of the runner's request would take it.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use sensor_e2e::{
    canary, checks::assert_detection, docker, field, poll, run_with_timeout, sensor_bin,
    test_image, text, token, Scope, Sensor, TempDir, Value, DETECTION_TIMEOUT,
};

const ROLE_LABEL: &str = "org.e2e-test.role";

/// A config file allowing a status board (by label) and a CI runner (by name pattern).
struct Allowlist {
    _dir: TempDir,
    path: PathBuf,
    board_role: String,
    board_description: String,
    runner_name: String,
}

impl Allowlist {
    fn write(scope: &Scope) -> Allowlist {
        let tag = token(5);
        let board_role = format!("board-{tag}");
        let board_description = format!("status board {tag} lists containers");
        let runner_suffix = format!("ci{tag}");
        let runner_name = scope.name(&runner_suffix);
        let pattern = format!("{}*-{runner_suffix}", scope.prefix());
        let config = format!(
            r#"# written by the allowlist end-to-end test
[[allow]]
description = "{board_description}"
labels = {{ "{ROLE_LABEL}" = "{board_role}" }}
runtime_api = "read"
action = "lower"

[[allow]]
description = "ci runner {tag}"
names = ["{pattern}"]
runtime_api = "create"
action = "silence"
"#
        );
        let dir = TempDir::new("allow");
        let path = dir.write("sensor.toml", config.as_bytes(), 0o644);
        Allowlist {
            _dir: dir,
            path,
            board_role,
            board_description,
            runner_name,
        }
    }

    fn sensor_args(&self) -> [String; 2] {
        ["--config".to_string(), self.path.display().to_string()]
    }
}

fn start_sensor(allow: &Allowlist) -> Sensor {
    let args = allow.sensor_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Sensor::start(&args)
}

/// Whether `d` is the report of `name`'s own creation by the test (a host client): the
/// allowlist does not cover it, and it is not about what the container did.
fn is_creation_by_the_test(d: &Value, name: &str) -> bool {
    text(d, "rule") == "dangerous-container-created"
        && text(d, "evidence.created_container.name") == name
}

/// `docker ps` every half second, `times` times.
fn poll_script(socket: &str, times: u32) -> String {
    format!(
        "i=0; while [ $i -lt {times} ]; do docker -H unix://{socket} ps >/dev/null; \
         sleep 0.5; i=$((i+1)); done"
    )
}

fn expect_escape(sensor: &Sensor, runner: &str, child: &str) -> Value {
    let d = sensor.expect(
        &format!("runtime-socket-escape creating {child}"),
        |d| {
            text(d, "rule") == "runtime-socket-escape"
                && text(d, "evidence.created_container.name") == child
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "runtime-socket-escape", "critical", "T1611", runner);
    assert_eq!(
        field(&d, "evidence.created_container.privileged"),
        true,
        "{d}"
    );
    assert!(field(&d, "evidence.allowlisted").is_null(), "{d}");
    d
}

fn lines(detections: &[Value]) -> String {
    let all: Vec<String> = detections.iter().map(Value::to_string).collect();
    if all.is_empty() {
        "(none)".into()
    } else {
        all.join("\n")
    }
}

#[test]
fn allowlisted_poller_is_lowered_and_ci_runner_silenced() {
    let scope = Scope::new();
    let allow = Allowlist::write(&scope);
    let sensor = start_sensor(&allow);
    let image = test_image();

    // The status board: polls for about five seconds.
    let board = scope.name("board");
    let board_socket = format!("/run/{}.sock", token(5));
    let label = format!("{ROLE_LABEL}={}", allow.board_role);
    docker::run_socket_user(
        &board,
        &board_socket,
        &["--label", &label],
        &poll_script(&board_socket, 10),
    );
    docker::wait_exited(&board, Duration::from_secs(60));

    // The CI runner: an ordinary container, then a privileged one.
    let runner = allow.runner_name.clone();
    let plain = scope.name("unit");
    let privileged = scope.name("sneaky");
    let runner_socket = format!("/var/run/{}/api.sock", token(4));
    let cli = format!("docker -H unix://{runner_socket}");
    let script = format!(
        "sleep 1; {cli} create --name {plain} {image} true; sleep 2; \
         {cli} create --name {privileged} --privileged {image} true; sleep 5"
    );
    docker::run_socket_user(&runner, &runner_socket, &[], &script);

    expect_escape(&sensor, &runner, &privileged);
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);

    let board_all = sensor.detections_for_container(&board);
    let notices: Vec<Value> = board_all
        .iter()
        .filter(|d| text(d, "rule") == "runtime-socket-connect")
        .cloned()
        .collect();
    assert_eq!(
        notices.len(),
        1,
        "one socket notice expected for the board:\n{}",
        lines(&board_all)
    );
    let notice = &notices[0];
    assert_detection(notice, "runtime-socket-connect", "low", "T1611", &board);
    assert_eq!(
        text(notice, "evidence.allowlisted"),
        allow.board_description,
        "{notice}"
    );
    let other: Vec<Value> = board_all
        .iter()
        .filter(|d| text(d, "rule") != "runtime-socket-connect")
        .filter(|d| !is_creation_by_the_test(d, &board))
        .cloned()
        .collect();
    assert!(other.is_empty(), "more about the board:\n{}", lines(&other));

    let runner_all = sensor.detections_for_container(&runner);
    let unexpected: Vec<Value> = runner_all
        .iter()
        .filter(|d| !is_creation_by_the_test(d, &runner))
        .filter(|d| text(d, "evidence.created_container.name") != privileged)
        .cloned()
        .collect();
    assert!(
        unexpected.is_empty(),
        "the allowlisted runner was reported:\n{}",
        lines(&unexpected)
    );
    // The silenced creation did happen.
    docker::container_id(&plain);
}

#[test]
fn allowlist_covers_containers_running_before_the_sensor() {
    let scope = Scope::new();
    let allow = Allowlist::write(&scope);
    let image = test_image();
    let triggers = TempDir::new("trig");
    let inside = format!("/t{}", token(4));
    let trigger_mount = format!("{}:{inside}", triggers.path().display());
    let wait_for = |file: &str| format!("while [ ! -e {inside}/{file} ]; do sleep 0.2; done");

    let board = scope.name("board");
    let board_socket = format!("/run/{}.sock", token(5));
    let label = format!("{ROLE_LABEL}={}", allow.board_role);
    let script = format!(
        "{}; {}; touch {inside}/polled; sleep 120",
        wait_for("poll"),
        poll_script(&board_socket, 10)
    );
    docker::run_socket_user(
        &board,
        &board_socket,
        &["--label", &label, "-v", &trigger_mount],
        &script,
    );

    let runner = allow.runner_name.clone();
    let plain = scope.name("unit");
    let privileged = scope.name("sneaky");
    let runner_socket = format!("/srv/{}.sock", token(5));
    let cli = format!("docker -H unix://{runner_socket}");
    let script = format!(
        "{}; {cli} create --name {plain} {image} true; touch {inside}/created; {}; \
         {cli} create --name {privileged} --privileged {image} true; sleep 120",
        wait_for("plain"),
        wait_for("privileged"),
    );
    docker::run_socket_user(&runner, &runner_socket, &["-v", &trigger_mount], &script);

    // Both run before the sensor starts: their start-up posture is judged with the allowlist.
    let sensor = start_sensor(&allow);
    let step = |go: &str, done: &str| {
        triggers.write(go, b"", 0o644);
        let finished = poll(Duration::from_secs(60), || {
            triggers.path().join(done).exists().then_some(())
        });
        assert!(
            finished.is_some(),
            "{done} never appeared; board:\n{}\nrunner:\n{}",
            docker::logs(&board),
            docker::logs(&runner)
        );
    };
    step("poll", "polled");
    step("plain", "created");
    triggers.write("privileged", b"", 0o644);
    expect_escape(&sensor, &runner, &privileged);
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);

    let board_all = sensor.detections_for_container(&board);
    assert_eq!(
        board_all.len(),
        1,
        "at most one notice for the board (its polls fold into it):\n{}",
        lines(&board_all)
    );
    let notice = &board_all[0];
    assert_eq!(text(notice, "severity"), "low", "{notice}");
    assert_eq!(
        text(notice, "evidence.allowlisted"),
        allow.board_description,
        "{notice}"
    );

    let unexpected: Vec<Value> = sensor
        .detections_for_container(&runner)
        .into_iter()
        .filter(|d| text(d, "evidence.created_container.name") != privileged)
        .collect();
    assert!(
        unexpected.is_empty(),
        "the allowlisted runner was reported:\n{}",
        lines(&unexpected)
    );
    docker::container_id(&plain);
}

/// `sensor run --config <file>` with `contents`; it must not start.
fn refused(dir: &Path, label: &str, contents: &str) -> (String, String) {
    let path = dir.join(format!("{label}-{}.toml", token(4)));
    fs::write(&path, contents).expect("writing a config file");
    let shown = path.display().to_string();
    let output: Output = run_with_timeout(
        Command::new(sensor_bin()).args(["run", "--format", "json", "--config", &shown]),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{label}: the sensor accepted {shown}:\n{contents}\nstderr:\n{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "{label}: detections from a refused start: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        !stderr.contains("ready:"),
        "{label}: the sensor got ready: {stderr}"
    );
    assert!(
        stderr.contains(&shown),
        "{label}: the error does not name {shown}: {stderr}"
    );
    (shown, stderr)
}

#[test]
fn invalid_config_files_are_refused() {
    let dir = TempDir::new("badcfg");
    let key = format!("imagez{}", token(3));
    let (_, err) = refused(
        dir.path(),
        "unknown-key",
        &format!("[[allow]]\nnames = [\"web-*\"]\n{key} = [\"x\"]\n"),
    );
    assert!(err.contains(&key), "the unknown key is not named: {err}");

    let description = format!("everything {}", token(4));
    let (_, err) = refused(
        dir.path(),
        "no-criteria",
        &format!("[[allow]]\ndescription = \"{description}\"\naction = \"silence\"\n"),
    );
    assert!(err.contains(&description), "the entry is not named: {err}");
    assert!(
        err.contains("every container"),
        "the problem (it would match every container) is not said: {err}"
    );

    for (label, pattern) in [
        ("lone-star", "images = [\"*\"]"),
        ("any-tag", "images = [\"*:*\"]"),
        ("double-star", "names = [\"**\"]"),
    ] {
        let (_, err) = refused(
            dir.path(),
            label,
            &format!("[[allow]]\ndescription = \"star {label}\"\n{pattern}\n"),
        );
        assert!(err.contains(label), "the entry is not named: {err}");
        assert!(
            err.contains("only wildcards"),
            "the problem is not said: {err}"
        );
    }
}
