//! Docker going away must not blind the sensor: detections keep coming (with the container id
//! from the cgroup, and enrichment marked failed), and names come back once Docker does.
//!
//! The sensor talks to Docker through a relay the test owns, so the outage is the relay's; the
//! daemon itself (and the test's own docker client) keep working throughout.

use std::{path::Path, thread, time::Duration};

use sensor_e2e::{
    canary, docker::DOCKER_SOCKET, is_full_id, text, Relay, Scope, Sensor, TempDir,
    DETECTION_TIMEOUT,
};

/// The watcher's backoff grows to 30 s; a reconnect is due within that after the relay is back.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(45);

#[test]
fn detections_survive_a_docker_outage_and_enrichment_recovers() {
    let scope = Scope::new();
    let dir = TempDir::new("relay");
    let relay_path = dir.path().join(format!("d{}.sock", sensor_e2e::token(4)));
    let mut relay = Relay::start(&relay_path, Path::new(DOCKER_SOCKET));
    let relay_arg = relay.path().display().to_string();
    let mut sensor = Sensor::start(&["--docker-socket", &relay_arg]);
    assert!(
        sensor
            .stderr_lines()
            .iter()
            .any(|l| l.contains("docker connected") && l.contains(&relay_arg)),
        "the sensor did not reach Docker through the relay"
    );

    // Outage: cut the event stream and refuse new connections; wait until the sensor knows.
    let mark = sensor.stderr_mark();
    relay.refuse();
    sensor
        .wait_for_stderr(
            mark,
            |l| l.contains("docker unreachable"),
            Duration::from_secs(30),
        )
        .expect("the sensor never noticed that Docker went away");

    let blind = canary::trigger(&scope, &[]);
    let d = blind.expect(&sensor, DETECTION_TIMEOUT);
    assert!(is_full_id(text(&d, "container.id")), "{d}");
    assert_eq!(text(&d, "container.id"), blind.id, "{d}");
    assert_eq!(text(&d, "enrichment.status"), "failed", "{d}");
    assert!(!text(&d, "enrichment.reason").is_empty(), "no reason: {d}");

    // Recovery: the watcher reconnects on its own backoff schedule.
    let mark = sensor.stderr_mark();
    relay.resume();
    sensor
        .wait_for_stderr(mark, |l| l.contains("docker connected"), RECONNECT_TIMEOUT)
        .expect("the sensor did not reconnect to Docker");
    // Give the watcher time to load the inventory and subscribe to events after connecting.
    thread::sleep(Duration::from_secs(3));

    let seen = canary::trigger(&scope, &[]);
    let d = seen.expect(&sensor, DETECTION_TIMEOUT);
    assert_eq!(text(&d, "enrichment.status"), "complete", "{d}");
    assert_eq!(text(&d, "container.name"), seen.name, "{d}");
    assert_eq!(text(&d, "container.id"), seen.id, "{d}");

    assert!(sensor.is_running(), "the sensor died during the outage");
}
