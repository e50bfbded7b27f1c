//! B3: ordinary container life must not raise anything of medium severity or above. A canary at
//! the end proves the sensor was watching the whole time.

use std::fs;

use sensor_e2e::{
    canary, docker, severity_rank, test_image, text, token, Scope, Sensor, TempDir,
    DETECTION_TIMEOUT,
};

#[test]
fn ordinary_container_life_is_quiet() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let image = test_image();
    let ids = TempDir::new("cid");
    // Every container's id, so detections count even when Docker enrichment failed.
    let mut watched: Vec<(String, String)> = Vec::new();

    // A one-shot container; --cidfile gives its id although --rm removes it.
    let once = scope.name("once");
    let cidfile = ids.path().join(token(6));
    let cid_arg = cidfile.display().to_string();
    docker::ok(
        "run --rm true",
        docker::run_rm(&once, &["--cidfile", &cid_arg, &image, "true"]),
    );
    watched.push((once, fs::read_to_string(&cidfile).expect("cidfile")));

    // A long-running service that gets exec'd into.
    let service = scope.name("service");
    let id = docker::run_detached(&service, &[&image, "sleep", "120"]);
    docker::ok("exec true", docker::exec(&service, &["true"]));
    docker::ok(
        "exec sh -c",
        docker::exec(&service, &["sh", "-c", "ls /tmp; cat /etc/passwd"]),
    );
    watched.push((service, id));

    // A shell loop running image binaries.
    let looper = scope.name("loop");
    let script = "for i in 1 2 3; do /bin/true; done";
    let id = docker::run_detached(&looper, &[&image, "/bin/sh", "-c", script]);
    docker::wait_exited(&looper, std::time::Duration::from_secs(30));
    watched.push((looper, id));

    // Events are handled in order, so once the canary's detection is out, all of the above was
    // seen and judged.
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);

    for (name, id) in &watched {
        let mut about = sensor.detections_for_container(name);
        about.extend(sensor.detections_for_container(id.trim()));
        let loud: Vec<String> = about
            .iter()
            .filter(|d| severity_rank(text(d, "severity")) >= severity_rank("medium"))
            .map(|d| d.to_string())
            .collect();
        assert!(loud.is_empty(), "{name} raised:\n{}", loud.join("\n"));
    }
}
