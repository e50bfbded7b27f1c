//! S2 and C05: a container with the Docker socket mounted creates a privileged container that
//! binds the host's root (T1611). On these machines the privileged child is created but cannot
//! start; the create request is what the sensor must catch.

use sensor_e2e::{docker, field, test_image, text, token, Scope, Sensor, Value, DETECTION_TIMEOUT};

/// The critical escape detection for `child`, created from `origin`.
fn expect_escape(sensor: &Sensor, origin: &str, child: &str, bind: &str) -> Value {
    let d = sensor.expect(
        &format!("runtime-socket-escape creating {child}"),
        |d| {
            text(d, "rule") == "runtime-socket-escape"
                && text(d, "evidence.created_container.name") == child
        },
        DETECTION_TIMEOUT,
    );
    assert_eq!(text(&d, "severity"), "critical", "{d}");
    assert_eq!(text(&d, "mitre.technique_id"), "T1611", "{d}");
    assert_eq!(text(&d, "container.name"), origin, "origin not named: {d}");
    assert_eq!(
        field(&d, "evidence.created_container.privileged"),
        true,
        "{d}"
    );
    let binds = field(&d, "evidence.created_container.binds")
        .as_array()
        .unwrap_or_else(|| panic!("no binds: {d}"));
    assert!(binds.iter().any(|b| b == bind), "binds lack {bind}: {d}");
    d
}

#[test]
fn mounted_socket_used_to_create_a_privileged_container() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let origin = scope.name("frontend");
    let child = scope.name("spawned");
    let image = test_image();
    let script = format!(
        "sleep 2; docker run -d --name {child} --privileged -v /:/host {image} sleep 30; sleep 30"
    );
    docker::run_detached(
        &origin,
        &[
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            &image,
            "sh",
            "-c",
            &script,
        ],
    );

    let connect = sensor.expect(
        &format!("runtime-socket-connect from {origin}"),
        |d| text(d, "rule") == "runtime-socket-connect" && text(d, "container.name") == origin,
        DETECTION_TIMEOUT,
    );
    assert_eq!(text(&connect, "mitre.technique_id"), "T1611", "{connect}");
    assert_eq!(
        text(&connect, "evidence.socket"),
        "/var/run/docker.sock",
        "{connect}"
    );

    let d = expect_escape(&sensor, &origin, &child, "/:/host");
    // The child really exists with that configuration: the detection reports, not guesses.
    let child_id = docker::container_id(&child);
    assert_eq!(text(&d, "evidence.created_container.id"), child_id, "{d}");
    assert_eq!(
        docker::inspect(&child, "{{.HostConfig.Privileged}}"),
        "true"
    );
}

#[test]
fn renamed_socket_and_client_still_escape() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let origin = scope.name("worker");
    let child = scope.name("job");
    let image = test_image();
    let socket = format!("/run/{}.sock", token(6));
    let client = format!("k{}", token(5));
    let host_dir = format!("/{}", token(5));
    let bind = format!("/:{host_dir}");
    let endpoint = format!("unix://{socket}");
    let socket_mount = format!("/var/run/docker.sock:{socket}");
    let client_mount = format!("/usr/local/bin/docker:/usr/local/bin/{client}:ro");
    let id = docker::run_detached(
        &origin,
        &[
            "-v",
            &socket_mount,
            "-v",
            &client_mount,
            &image,
            &client,
            "-H",
            &endpoint,
            "run",
            "--rm",
            "--name",
            &child,
            "--privileged",
            "-v",
            &bind,
            &image,
            "chroot",
            &host_dir,
            "/bin/true",
        ],
    );

    let d = expect_escape(&sensor, &origin, &child, &bind);
    assert_eq!(text(&d, "container.id"), id, "{d}");
    assert_eq!(text(&d, "evidence.origin.endpoint"), socket, "{d}");
    assert!(
        text(&d, "title").contains(&child),
        "title does not name the created container: {d}"
    );
}
