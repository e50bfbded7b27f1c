//! Issue 4, kinds 1 and 2: the container runtime reached other ways than the textbook mounted
//! Docker socket (a Docker API TCP port, another runtime's socket under an innocent path), and
//! dangerous containers created through the API, each dangerous in one way.
//!
//! Nothing here contacts anything but loopback and the test's own containers: the "exposed
//! Docker API port" is a relay the test runs on 127.0.0.1 in front of the local daemon.

use std::{
    fs,
    io::{BufRead, BufReader},
    os::unix::{fs::FileTypeExt, net::UnixStream},
    path::Path,
    process::Stdio,
    thread,
    time::Duration,
};

use sensor_e2e::{
    canary,
    checks::{any_contains, assert_detection, strings},
    docker,
    docker::DOCKER_SOCKET,
    field, poll, random_in, static_tools, test_image, text, token, Relay, Scope, Sensor, TcpRelay,
    TempDir, Value, DETECTION_TIMEOUT,
};

/// Where containerd's socket may be; the sensor knows these three. On these machines Docker's
/// own containerd serves the last one.
const CONTAINERD_SOCKETS: &[&str] = &[
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/docker/containerd/containerd.sock",
];

/// The critical escape detection for the container created as `child`.
fn expect_escape(sensor: &Sensor, origin: &str, child: &str) -> Value {
    let d = sensor.expect(
        &format!("runtime-socket-escape creating {child}"),
        |d| {
            text(d, "rule") == "runtime-socket-escape"
                && text(d, "evidence.created_container.name") == child
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "runtime-socket-escape", "critical", "T1611", origin);
    assert!(
        text(&d, "title").contains(child),
        "the title does not name the created container: {d}"
    );
    d
}

/// The origin container's id, for `evidence.origin.container_id`.
fn assert_origin(d: &Value, origin_id: &str) {
    assert_eq!(text(d, "container.id"), origin_id, "{d}");
    assert_eq!(text(d, "evidence.origin.container_id"), origin_id, "{d}");
}

#[test]
fn docker_api_tcp_port_from_a_host_network_container() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    // Both Docker API ports, plain and TLS, are the kind; which one varies from run to run.
    let port = if random_in(0..2) == 0 { 2375 } else { 2376 };
    let relay = TcpRelay::start(port, Path::new(DOCKER_SOCKET), 16);
    let origin = scope.name("gateway");
    let child = scope.name("tcpjob");
    let image = test_image();
    let endpoint = format!("tcp://127.0.0.1:{}", relay.port());
    let script = format!(
        "sleep 1; docker -H {endpoint} run -d --name {child} --privileged {image} true; sleep 10"
    );
    let origin_id =
        docker::run_detached(&origin, &["--network", "host", &image, "sh", "-c", &script]);

    let connect = sensor.expect(
        &format!("runtime-api-tcp-connect from {origin}"),
        |d| text(d, "rule") == "runtime-api-tcp-connect" && text(d, "container.name") == origin,
        DETECTION_TIMEOUT,
    );
    assert_detection(
        &connect,
        "runtime-api-tcp-connect",
        "medium",
        "T1611",
        &origin,
    );
    assert_eq!(text(&connect, "evidence.address"), "127.0.0.1", "{connect}");
    assert_eq!(field(&connect, "evidence.port"), port, "{connect}");

    let d = expect_escape(&sensor, &origin, &child);
    assert_origin(&d, &origin_id);
    assert_eq!(text(&d, "evidence.origin.endpoint"), endpoint, "{d}");
    assert_eq!(
        field(&d, "evidence.created_container.privileged"),
        true,
        "{d}"
    );
    assert!(any_contains(&d, "evidence.dangers", "privileged"), "{d}");
    // The request really went through the relay: the privileged child exists.
    assert_eq!(
        docker::inspect(&child, "{{.HostConfig.Privileged}}"),
        "true"
    );
    assert_eq!(
        text(&d, "evidence.created_container.id"),
        docker::container_id(&child),
        "{d}"
    );
}

/// `docker exec --privileged` gives a process every capability inside an existing container; no
/// container is created, so only the exec itself tells. (On these machines the privileged
/// process then fails to start, like privileged containers; the exec is set up all the same.)
#[test]
fn privileged_exec_through_the_socket() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let image = test_image();
    let target = scope.name("appserver");
    docker::run_detached(&target, &[&image, "sleep", "60"]);
    let origin = scope.name("opsbot");
    let socket = format!("/srv/{}/d.sock", token(4));
    let marker = token(6);
    let script = format!(
        "sleep 1; docker -H unix://{socket} exec --privileged {target} echo {marker}; \
         docker -H unix://{socket} exec {target} true; \
         docker -H unix://{socket} exec --privileged {origin} true; sleep 5"
    );
    let origin_id = docker::run_socket_user(&origin, &socket, &[], &script);

    let d = sensor.expect(
        &format!("privileged-exec into {target}"),
        |d| {
            text(d, "rule") == "privileged-exec"
                && text(d, "evidence.target_container.name") == target
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "privileged-exec", "critical", "T1611", &origin);
    assert_eq!(text(&d, "evidence.origin.container_id"), origin_id, "{d}");
    assert!(any_contains(&d, "evidence.command", &marker), "{d}");
    // Into its own container: the container asked all the same.
    let own = sensor.expect(
        &format!("privileged-exec of {origin} into itself"),
        |d| {
            text(d, "rule") == "privileged-exec"
                && text(d, "evidence.target_container.name") == origin
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&own, "privileged-exec", "critical", "T1611", &origin);
    // The ordinary exec that followed is no privileged exec.
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
    let execs: Vec<String> = sensor
        .detections()
        .iter()
        .filter(|d| text(d, "rule") == "privileged-exec")
        .map(Value::to_string)
        .collect();
    assert_eq!(execs.len(), 2, "{execs:?}");
}

/// The Docker API port served by a proxy on the host (socat and the like) that connects to the
/// socket only when a client arrives: the proxy's connect comes last before the create, yet the
/// container behind it is the creator.
#[test]
fn docker_api_port_behind_a_proxy_that_connects_per_client() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let port = if random_in(0..2) == 0 { 2375 } else { 2376 };
    // No pre-opened connections: each client makes the relay connect to the socket.
    let relay = TcpRelay::start(port, Path::new(DOCKER_SOCKET), 0);
    let origin = scope.name("proxied");
    let child = scope.name("viaproxy");
    let image = test_image();
    let script = format!(
        "sleep 1; docker -H tcp://127.0.0.1:{} create --name {child} -v /:/{} {image} true; \
         sleep 10",
        relay.port(),
        token(4)
    );
    let origin_id =
        docker::run_detached(&origin, &["--network", "host", &image, "sh", "-c", &script]);

    let d = expect_escape(&sensor, &origin, &child);
    assert_origin(&d, &origin_id);
    assert!(
        !field(&d, "evidence.proxy").is_null(),
        "the proxy on the host is not named: {d}"
    );
    assert!(any_contains(&d, "evidence.dangers", "host root"), "{d}");
    docker::container_id(&child);
}

/// TCP Fast Open connects a socket with its first send, without connect(2): each call that can
/// do it is seen as a connect to the Docker API port. The target is the container's own
/// loopback, where nothing listens: the attempt is the signal.
#[test]
fn docker_api_port_reached_by_tcp_fast_open() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let probe = static_tools::syscall_probe();
    let tool = format!("/usr/{}", token(6));
    let mount = format!("{}:{tool}:ro", probe.display());
    let image = test_image();
    for (call, port) in [
        ("fast-open-sendto", 2375),
        ("fast-open-sendmsg", 2376),
        ("fast-open-sendmmsg", 2375),
    ] {
        let name = scope.name(call);
        let target = format!("127.0.0.1:{port}");
        docker::run_rm_ok(&name, &["-v", &mount, &image, &tool, call, &target]);
        let d = sensor.expect(
            &format!("runtime-api-tcp-connect by {call} from {name}"),
            |d| text(d, "rule") == "runtime-api-tcp-connect" && text(d, "container.name") == name,
            DETECTION_TIMEOUT,
        );
        assert_detection(&d, "runtime-api-tcp-connect", "medium", "T1611", &name);
        assert_eq!(field(&d, "evidence.port"), port, "{d}");
        assert_eq!(field(&d, "evidence.fast_open"), true, "{d}");
    }
}

#[test]
fn containerd_socket_under_an_innocent_path() {
    let host_socket = CONTAINERD_SOCKETS
        .iter()
        .copied()
        .find(|p| fs::metadata(p).is_ok_and(|m| m.file_type().is_socket()))
        .unwrap_or_else(|| {
            panic!(
                "no containerd socket at any of {CONTAINERD_SOCKETS:?}; Docker's containerd \
                 should serve one (see MACHINE.md)"
            )
        });
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("cache");
    let inner = format!("/var/lib/{}/{}.sock", token(5), token(4));
    let mount = format!("{host_socket}:{inner}");
    let image = test_image();
    // The docker CLI cannot speak containerd's gRPC, but its connect is the signal.
    let script = format!("timeout 5 docker -H unix://{inner} version >/dev/null 2>&1; sleep 5");
    docker::run_detached(&name, &["-v", &mount, &image, "sh", "-c", &script]);

    let d = sensor.expect(
        &format!("runtime-socket-connect from {name}"),
        |d| text(d, "rule") == "runtime-socket-connect" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "runtime-socket-connect", "medium", "T1611", &name);
    assert_eq!(text(&d, "evidence.runtime"), "containerd", "{d}");
    assert_eq!(text(&d, "evidence.socket"), inner, "{d}");
    assert_eq!(text(&d, "evidence.host_socket"), host_socket, "{d}");
}

/// One way of being dangerous: `docker create` options and what `evidence.dangers` must say.
struct Kind {
    label: &'static str,
    options: Vec<String>,
    danger: String,
}

fn kinds() -> Vec<Kind> {
    let kind = |label, options: &[&str], danger: &str| Kind {
        label,
        options: options.iter().map(|o| o.to_string()).collect(),
        danger: danger.to_string(),
    };
    let proc_bind = format!("/proc:/{}:ro", token(4));
    let etc_bind = format!("/etc:/{}", token(4));
    let device = format!("/dev/null:/dev/{}", token(4));
    vec![
        kind("capsys", &["--cap-add", "SYS_ADMIN"], "SYS_ADMIN"),
        kind(
            "noseccomp",
            &["--security-opt", "seccomp=unconfined"],
            "seccomp=unconfined",
        ),
        kind(
            "hostproc",
            &["-v", &proc_bind],
            "binds sensitive host path /proc",
        ),
        kind(
            "hostetc",
            &["-v", &etc_bind],
            "binds sensitive host path /etc",
        ),
        kind("hostpid", &["--pid=host"], "host pid namespace"),
        kind("hostnet", &["--network", "host"], "host network namespace"),
        kind("hostdev", &["--device", &device], "host device /dev/null"),
        // Docker keeps no trace of this option but empty masked paths.
        kind(
            "unmasked",
            &["--security-opt", "systempaths=unconfined"],
            "systempaths=unconfined",
        ),
        kind(
            "devrule",
            &["--device-cgroup-rule", "'b *:* rwm'"],
            "device cgroup rule 'b *:* rwm'",
        ),
    ]
}

#[test]
fn dangerous_creations_through_the_socket_by_kind() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let origin = scope.name("builder");
    let image = test_image();
    let socket = format!("/run/{}/engine.sock", token(5));
    let kinds = kinds();
    let children: Vec<String> = kinds.iter().map(|k| scope.name(k.label)).collect();
    let plain = scope.name("plainjob");

    let create = |name: &str, options: &[String]| {
        format!(
            "docker -H unix://{socket} create --name {name} {} {image} true",
            options.join(" ")
        )
    };
    // The ordinary creation sits between dangerous ones: attribution must not stick.
    let mut steps: Vec<String> = Vec::new();
    for (i, (kind, child)) in kinds.iter().zip(&children).enumerate() {
        if i == 3 {
            steps.push(create(&plain, &[]));
        }
        steps.push(create(child, &kind.options));
    }
    let script = format!("sleep 1; {}; sleep 10", steps.join("; "));
    let origin_id = docker::run_socket_user(&origin, &socket, &[], &script);

    for (kind, child) in kinds.iter().zip(&children) {
        let d = expect_escape(&sensor, &origin, child);
        assert_origin(&d, &origin_id);
        assert_eq!(text(&d, "evidence.origin.endpoint"), socket, "{d}");
        assert!(
            any_contains(&d, "evidence.dangers", &kind.danger),
            "{}: dangers do not mention {:?}: {:?}\n{d}",
            kind.label,
            kind.danger,
            strings(&d, "evidence.dangers")
        );
        assert_eq!(
            field(&d, "evidence.created_container.privileged"),
            false,
            "{d}"
        );
    }

    let d = sensor.expect(
        &format!("container-created-by-container for {plain}"),
        |d| {
            text(d, "rule") == "container-created-by-container"
                && text(d, "evidence.created_container.name") == plain
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(
        &d,
        "container-created-by-container",
        "low",
        "T1610",
        &origin,
    );
    assert_origin(&d, &origin_id);
    let about_plain: Vec<String> = sensor
        .detections()
        .iter()
        .filter(|d| text(d, "evidence.created_container.name") == plain)
        .map(Value::to_string)
        .collect();
    assert_eq!(
        about_plain.len(),
        1,
        "the ordinary creation was reported more than once:\n{}",
        about_plain.join("\n")
    );
    // Every container really was created with the option it was reported for.
    for child in children.iter().chain([&plain]) {
        docker::container_id(child);
    }
}

/// A `local` volume with `o=bind` is a bind mount under another name: binding the host's root
/// that way is as dangerous as `-v /:/host`, and the created container's description says so.
#[test]
fn local_volume_bound_to_the_host_root() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let origin = scope.name("stager");
    let child = scope.name("volchild");
    let volume = scope.name("cachevol");
    let image = test_image();
    let socket = format!("/srv/{}/api.sock", token(5));
    let script = format!(
        "sleep 1; docker -H unix://{socket} volume create -d local -o type=none -o o=bind \
         -o device=/ {volume} && docker -H unix://{socket} create --name {child} \
         -v {volume}:/{} {image} true; sleep 10",
        token(4)
    );
    let origin_id = docker::run_socket_user(&origin, &socket, &[], &script);

    let d = expect_escape(&sensor, &origin, &child);
    assert_origin(&d, &origin_id);
    assert!(
        any_contains(&d, "evidence.dangers", "host root"),
        "dangers do not name the host root: {:?}\n{d}",
        strings(&d, "evidence.dangers")
    );
    // The container really was created with the volume.
    let volumes = docker::inspect(&child, "{{range .Mounts}}{{.Name}} {{end}}");
    assert!(volumes.contains(&volume), "{child} mounts {volumes:?}");
}

#[test]
fn privileged_container_removed_at_once_is_still_reported() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let origin = scope.name("updater");
    let child = scope.name("gone");
    let image = test_image();
    let socket = format!("/var/{}/d.sock", token(5));
    // Privileged containers cannot start here: `--rm` removes the child again at once.
    let script = format!(
        "sleep 1; docker -H unix://{socket} run --rm --name {child} --privileged {image} true; \
         sleep 10"
    );
    let origin_id = docker::run_socket_user(&origin, &socket, &[], &script);

    let d = sensor.expect(
        &format!("a detection of the creation of {child}"),
        |d| text(d, "evidence.created_container.name") == child,
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "runtime-socket-escape", "critical", "T1611", &origin);
    assert_origin(&d, &origin_id);
    let child_id = text(&d, "evidence.created_container.id");
    assert!(
        !child_id.is_empty(),
        "the created container's id is missing: {d}"
    );
    if field(&d, "evidence.created_container_inspect_error").is_null() {
        // Docker still knew the child when the sensor asked.
        assert_eq!(
            field(&d, "evidence.created_container.privileged"),
            true,
            "{d}"
        );
        assert_eq!(text(&d, "enrichment.status"), "complete", "{d}");
    } else {
        // The child was gone before it could be inspected: enrichment must say so.
        assert_eq!(text(&d, "enrichment.status"), "failed", "{d}");
        assert!(
            text(&d, "enrichment.reason").contains(child_id),
            "enrichment does not say which container could not be resolved: {d}"
        );
    }

    // The scenario is what it claims: the child does not exist any more.
    let filter = format!("name=^/{child}$");
    let removed = poll(Duration::from_secs(30), || {
        docker::docker_ok(&["ps", "-aq", "--filter", &filter])
            .is_empty()
            .then_some(())
    });
    assert!(
        removed.is_some(),
        "{child} was not removed; origin's output:\n{}",
        docker::logs(&origin)
    );
}

#[test]
fn created_container_gone_before_the_sensor_looks() {
    // The sensor reaches Docker through a relay the test can hold, so that the created container
    // is certainly gone when the sensor inspects it (Docker's own timing rarely allows that).
    let scope = Scope::new();
    let dir = TempDir::new("slowdocker");
    let relay = Relay::start(
        &dir.path().join(format!("d{}.sock", token(4))),
        Path::new(DOCKER_SOCKET),
    );
    let relay_arg = relay.path().display().to_string();
    let sensor = Sensor::start(&["--docker-socket", &relay_arg]);
    let origin = scope.name("deployer");
    let child = scope.name("vanished");
    let image = test_image();
    let socket = format!("/run/{}.sock", token(5));
    let flags = format!("{}:/f{}", dir.path().display(), token(3));
    let inside = flags.rsplit_once(':').unwrap().1.to_string();
    // A first use of the socket makes the sensor report the origin (and know it) before Docker
    // is held.
    let script = format!(
        "docker -H unix://{socket} version >/dev/null 2>&1; \
         while [ ! -e {inside}/go ]; do sleep 0.2; done; \
         docker -H unix://{socket} run --rm --name {child} --privileged {image} true; \
         touch {inside}/done; sleep 30"
    );
    let origin_id = docker::run_socket_user(&origin, &socket, &["-v", &flags], &script);
    // The sensor knows the origin before Docker is held.
    sensor.expect(
        &format!("the socket use of {origin} noticed"),
        |d| text(d, "container.name") == origin,
        DETECTION_TIMEOUT,
    );

    relay.hold();
    fs::write(dir.path().join("go"), b"").expect("writing the go flag");
    let done = dir.path().join("done");
    let finished = poll(Duration::from_secs(60), || done.exists().then_some(()));
    assert!(finished.is_some(), "origin: {}", docker::logs(&origin));
    // No `docker ps` here: the test must not become the most recent runtime API client.
    std::thread::sleep(Duration::from_secs(2));
    relay.release();

    let d = sensor.expect(
        &format!("a detection of the creation of {child}"),
        |d| text(d, "evidence.created_container.name") == child,
        DETECTION_TIMEOUT,
    );
    // Attributed to the origin, with the ids known…
    assert_eq!(text(&d, "container.name"), origin, "{d}");
    assert_origin(&d, &origin_id);
    let child_id = text(&d, "evidence.created_container.id");
    assert!(
        !child_id.is_empty(),
        "the created container's id is missing: {d}"
    );
    // …and enrichment says what could not be resolved.
    assert!(
        !field(&d, "evidence.created_container_inspect_error").is_null(),
        "the child was inspected after all (the relay did not hold the sensor back?): {d}"
    );
    assert_eq!(text(&d, "enrichment.status"), "failed", "{d}");
    assert!(
        text(&d, "enrichment.reason").contains(child_id),
        "enrichment does not say which container could not be resolved: {d}"
    );
}

/// A host process that reacts to Docker's create events the way monitoring agents (or a
/// second sensor) do: it connects to the Docker socket the moment it hears of a new container.
struct ReactingClient {
    events: std::process::Child,
    reader: Option<thread::JoinHandle<usize>>,
}

impl ReactingClient {
    fn start(container_name: &str) -> ReactingClient {
        let filter = format!("container={container_name}");
        let mut events = docker::docker()
            .args(["events", "--filter", "event=create", "--filter", &filter])
            .args(["--format", "{{.ID}}"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker events");
        let stdout = events.stdout.take().expect("piped");
        let reader = thread::spawn(move || {
            let mut reacted = 0;
            for line in BufReader::new(stdout).lines() {
                if line.is_err() {
                    break;
                }
                // An inspect and a couple of follow-up requests, a few milliseconds apart.
                for _ in 0..3 {
                    if UnixStream::connect(DOCKER_SOCKET).is_ok() {
                        reacted += 1;
                    }
                    thread::sleep(Duration::from_millis(4));
                }
            }
            reacted
        });
        // `docker events` is subscribed once it has connected; give it a moment.
        thread::sleep(Duration::from_secs(1));
        ReactingClient {
            events,
            reader: Some(reader),
        }
    }

    /// Stops listening; returns how many connections it made in reaction to create events.
    fn stop(&mut self) -> usize {
        let _ = self.events.kill();
        let _ = self.events.wait();
        self.reader
            .take()
            .map_or(0, |r| r.join().unwrap_or_default())
    }
}

impl Drop for ReactingClient {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn escape_is_attributed_despite_a_host_client_reacting_to_the_create() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let origin = scope.name("intruder");
    let child = scope.name("rooted");
    let mut client = ReactingClient::start(&child);
    let image = test_image();
    let socket = format!("/run/{}.sock", token(5));
    let script = format!(
        "sleep 1; docker -H unix://{socket} create --name {child} --privileged {image} true; \
         sleep 10"
    );
    let origin_id = docker::run_socket_user(&origin, &socket, &[], &script);

    let d = sensor.expect(
        &format!("a detection of the creation of {child}"),
        |d| text(d, "evidence.created_container.name") == child,
        DETECTION_TIMEOUT,
    );
    assert!(
        client.stop() >= 1,
        "the reacting client never saw the create event"
    );
    assert_detection(&d, "runtime-socket-escape", "critical", "T1611", &origin);
    assert_origin(&d, &origin_id);
}
