//! Issue 4, kind 6: a process in a container cgroup joins the host's mount namespace (C12:
//! nsenter into a host process). The host process is a `sleep` the test starts and owns; PID 1
//! is never a target.

use std::fs;

use sensor_e2e::{
    canary, checks::assert_detection, docker, field, test_image, text, HostSleeper, Scope, Sensor,
    Value, DETECTION_TIMEOUT,
};

/// What joining needs: the host's pid namespace, SYS_ADMIN and SYS_PTRACE, no seccomp.
const JOINER: &[&str] = &[
    "--pid=host",
    "--cap-add",
    "SYS_ADMIN",
    "--cap-add",
    "SYS_PTRACE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
];

/// Runs nsenter in a container against the host sleeper; returns the container's output.
fn nsenter(name: &str, target: &HostSleeper, namespaces: &[&str], command: &str) -> String {
    let image = test_image();
    let pid = target.pid();
    let mut args: Vec<&str> = JOINER.to_vec();
    args.extend([image.as_str(), "nsenter", "-t", &pid]);
    args.extend(namespaces);
    args.extend(["--", "/bin/sh", "-c", command]);
    docker::run_rm_ok(name, &args)
}

/// The single host-namespace-joined detection of `name` (setns and the execs that follow fold
/// into it).
fn expect_one_join(sensor: &Sensor, name: &str) -> Value {
    let d = sensor.expect(
        &format!("a critical host-namespace-joined for {name}"),
        |d| {
            text(d, "rule") == "host-namespace-joined"
                && text(d, "container.name") == name
                && text(d, "severity") == "critical"
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "host-namespace-joined", "critical", "T1611", name);
    assert_eq!(
        field(&d, "evidence.mount_namespace"),
        field(&d, "evidence.host_mount_namespace"),
        "{d}"
    );
    assert!(
        field(&d, "count").as_u64().is_some_and(|c| c >= 1),
        "count: {d}"
    );
    d
}

fn joins_of(sensor: &Sensor, name: &str) -> Vec<String> {
    sensor
        .detections_for_container(name)
        .iter()
        .filter(|d| text(d, "rule") == "host-namespace-joined")
        .map(Value::to_string)
        .collect()
}

#[test]
fn nsenter_into_a_host_process_mount_namespace() {
    let target = HostSleeper::start();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("debugger");
    let host_release = fs::read_to_string("/etc/os-release").expect("host /etc/os-release");
    let first_line = host_release.lines().next().unwrap_or_default().to_string();
    // Several execs in the host's namespace after the setns: all one detection.
    let output = nsenter(
        &name,
        &target,
        &["-m"],
        "head -n 1 /etc/os-release; ls / >/dev/null; cat /proc/version >/dev/null",
    );
    assert!(
        output.contains(&first_line),
        "the container did not see the host's files: {output}"
    );

    let d = expect_one_join(&sensor, &name);
    assert_eq!(field(&d, "evidence.pid_namespace_is_host"), true, "{d}");
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
    let joins = joins_of(&sensor, &name);
    assert_eq!(
        joins.len(),
        1,
        "expected one detection:\n{}",
        joins.join("\n")
    );
}

#[test]
fn nsenter_into_several_host_namespaces() {
    let target = HostSleeper::start();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("netdiag");
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    let output = nsenter(
        &name,
        &target,
        &["-m", "-u", "-i", "-n"],
        "cat /proc/sys/kernel/hostname; ls /sys/class/net >/dev/null",
    );
    assert!(
        output.contains(host_name.trim()),
        "the container did not join the host's uts namespace: {output}"
    );

    let d = expect_one_join(&sensor, &name);
    // The mount namespace is joined last, after the network namespace.
    if text(&d, "evidence.seen_on") == "setns" {
        assert_eq!(field(&d, "evidence.network_namespace_is_host"), true, "{d}");
    }
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
    // nsenter enters the network namespace before the mount namespace: a high detection for the
    // first may precede the critical one (a more severe repeat is never folded); nothing more.
    let joins = joins_of(&sensor, &name);
    let critical = joins
        .iter()
        .filter(|j| j.contains(r#""severity":"critical""#))
        .count();
    assert_eq!(
        critical,
        1,
        "expected one critical detection:\n{}",
        joins.join("\n")
    );
    assert!(
        joins.len() <= 2,
        "expected at most one more (high) detection:\n{}",
        joins.join("\n")
    );
}

#[test]
fn nsenter_into_the_host_network_namespace_only() {
    let target = HostSleeper::start();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("sniffer");
    // The container's own file system, the host's network interfaces.
    // (/proc/net follows the reader's network namespace; the container's /sys does not.)
    let output = nsenter(&name, &target, &["-n"], "cat /proc/net/dev");
    let host_interfaces: Vec<String> = fs::read_dir("/sys/class/net")
        .expect("host interfaces")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        host_interfaces.iter().all(|i| output.contains(i.as_str())),
        "the container did not see the host's interfaces {host_interfaces:?}: {output}"
    );

    let d = sensor.expect(
        &format!("a host namespace join by {name}"),
        |d| text(d, "rule") == "host-namespace-joined" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_eq!(text(&d, "mitre.technique_id"), "T1611", "{d}");
    assert_eq!(
        text(&d, "severity"),
        "high",
        "the network namespace alone: {d}"
    );
    assert_eq!(field(&d, "evidence.network_namespace_is_host"), true, "{d}");
    assert_eq!(field(&d, "evidence.mount_namespace_is_host"), false, "{d}");
}
