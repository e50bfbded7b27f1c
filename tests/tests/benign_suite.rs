//! Issue 4, "quiet where it should be": legitimate users of the Docker socket and of host paths,
//! all in one sensor run, raise nothing high or critical. A read-only socket poller (no
//! allowlist) gets at most one notice; a CI runner creates ordinary containers; a monitoring
//! agent reads the host through read-only /proc, /sys and / binds; ordinary `docker exec`s; and
//! containers start, stop and restart (runc's set-up mounts). A canary at the end proves the
//! sensor was watching.
//!
//! The test's own creation of the monitoring agent (a host client creating a container with
//! host binds) is reported as `dangerous-container-created` at medium: below high, as intended.

use std::{collections::HashSet, fs, time::Duration};

use sensor_e2e::{
    canary, checks::at_least, docker, docker::DOCKER_SOCKET, poll, test_image, text, token, Scope,
    Sensor, TempDir, Value, DETECTION_TIMEOUT,
};

fn exit_code(name: &str) -> String {
    docker::inspect(name, "{{.State.ExitCode}}")
}

#[test]
fn legitimate_socket_and_host_path_users_stay_below_high() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let image = test_image();
    let ids_dir = TempDir::new("benign-ids");
    let ids_inside = format!("/ids{}", token(4));
    let ids_mount = format!("{}:{ids_inside}", ids_dir.path().display());

    // A dashboard-like poller: `docker ps` every half second for about five seconds.
    let poller = scope.name("dash");
    let poller_socket = format!("/run/{}.sock", token(5));
    let script = format!(
        "i=0; while [ $i -lt 10 ]; do docker -H unix://{poller_socket} ps >/dev/null; \
         sleep 0.5; i=$((i+1)); done"
    );
    let socket_mount = format!("{DOCKER_SOCKET}:{poller_socket}");
    docker::run_detached(&poller, &["-v", &socket_mount, &image, "sh", "-c", &script]);
    docker::wait_exited(&poller, Duration::from_secs(60));
    assert_eq!(exit_code(&poller), "0", "poller: {}", docker::logs(&poller));

    // A CI runner creating ordinary containers (no privileges, no host binds).
    let runner = scope.name("runner");
    let runner_socket = format!("/var/run/{}/d.sock", token(4));
    let (built, tested, packaged) = (scope.name("build"), scope.name("test"), scope.name("pkg"));
    let cli = format!("docker -H unix://{runner_socket}");
    let script = format!(
        "set -e; {cli} create --name {built} {image} true; \
         {cli} run --rm --name {tested} --cidfile {ids_inside}/tested {image} true; \
         {cli} create --name {packaged} --tmpfs /scratch --label ci.job={job} -e JOB={job} \
         {image} sh -c 'echo done'; touch {ids_inside}/runner.done",
        job = token(6)
    );
    let socket_mount = format!("{DOCKER_SOCKET}:{runner_socket}");
    docker::run_detached(
        &runner,
        &[
            "-v",
            &socket_mount,
            "-v",
            &ids_mount,
            &image,
            "sh",
            "-c",
            &script,
        ],
    );
    // Waiting through `docker inspect` would make the test a runtime API client in the middle of
    // the runner's requests, and the sensor attributes a creation to the most recent client.
    let done = ids_dir.path().join("runner.done");
    let finished = poll(Duration::from_secs(60), || done.exists().then_some(()));
    assert!(finished.is_some(), "runner: {}", docker::logs(&runner));
    docker::wait_exited(&runner, Duration::from_secs(30));
    assert_eq!(exit_code(&runner), "0", "runner: {}", docker::logs(&runner));

    // A monitoring agent reading the host through read-only binds.
    let agent = scope.name("nodeexp");
    let script = "for i in 1 2 3; do \
         cat /host/proc/loadavg /host/proc/stat /host/proc/sys/kernel/core_pattern >/dev/null; \
         head -n 3 /host/proc/meminfo >/dev/null; ls /host/sys/fs/cgroup >/dev/null; \
         cat /host/sys/kernel/mm/transparent_hugepage/enabled >/dev/null 2>&1 || true; \
         cat /rootfs/etc/os-release >/dev/null; ls /rootfs/var >/dev/null; sleep 0.5; done";
    docker::run_detached(
        &agent,
        &[
            "-v",
            "/proc:/host/proc:ro",
            "-v",
            "/sys:/host/sys:ro",
            "-v",
            "/:/rootfs:ro",
            &image,
            "sh",
            "-c",
            script,
        ],
    );
    docker::wait_exited(&agent, Duration::from_secs(60));
    assert_eq!(exit_code(&agent), "0", "agent: {}", docker::logs(&agent));

    // A service: ordinary execs, then stop, start and restart (runc's mounts each time).
    let service = scope.name("api");
    docker::run_detached(&service, &[&image, "sleep", "300"]);
    docker::ok("exec true", docker::exec(&service, &["true"]));
    docker::ok(
        "exec sh -c",
        docker::exec(
            &service,
            &["sh", "-c", "ls / >/dev/null; cat /etc/hostname"],
        ),
    );
    docker::ok("exec ps", docker::exec(&service, &["ps"]));
    docker::ok("exec id", docker::exec(&service, &["/bin/id"]));
    docker::ok(
        "stop",
        docker::docker_output(&["stop", "-t", "1", service.as_str()]),
    );
    docker::ok("start", docker::docker_output(&["start", service.as_str()]));
    docker::ok(
        "restart",
        docker::docker_output(&["restart", "-t", "1", service.as_str()]),
    );
    docker::ok("exec after restart", docker::exec(&service, &["true"]));
    // A one-shot container, removed when it exits.
    let once = scope.name("once");
    let once_cid = ids_dir.path().join("once");
    let once_cid_arg = once_cid.display().to_string();
    docker::ok(
        "run --rm",
        docker::run_rm(&once, &["--cidfile", &once_cid_arg, &image, "true"]),
    );

    // Events are judged in order: once the canary is out, all of the above was.
    let canary = canary::trigger(&scope, &[]);
    canary.expect(&sensor, DETECTION_TIMEOUT);

    // Every container of this test, including the removed ones (by id).
    let mut ids: HashSet<String> = scope.containers().into_iter().collect();
    for file in ["tested", "once"] {
        let id = fs::read_to_string(ids_dir.path().join(file))
            .unwrap_or_else(|err| panic!("the id of the {file} container: {err}"));
        ids.insert(id.trim().to_string());
    }
    let mine: Vec<Value> = sensor
        .detections()
        .into_iter()
        .filter(|d| text(d, "container.id") != canary.id)
        .filter(|d| {
            text(d, "container.name").starts_with(scope.prefix())
                || ids.contains(text(d, "container.id"))
        })
        .collect();
    eprintln!(
        "[e2e] detections about this test's containers:\n{}",
        mine.iter()
            .map(|d| format!(
                "{} {} {} {}",
                text(d, "severity"),
                text(d, "rule"),
                text(d, "container.name"),
                text(d, "title")
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let loud = at_least(&mine, "high");
    assert!(
        loud.is_empty(),
        "benign workloads raised high or critical detections:\n{}",
        loud.join("\n")
    );

    let notices: Vec<String> = mine
        .iter()
        .filter(|d| text(d, "container.name") == poller)
        .filter(|d| text(d, "rule") == "runtime-socket-connect")
        .map(Value::to_string)
        .collect();
    assert!(
        notices.len() <= 1,
        "the poller's socket use was reported more than once:\n{}",
        notices.join("\n")
    );
    // The runner really created its containers.
    docker::container_id(&built);
    docker::container_id(&packaged);
}
