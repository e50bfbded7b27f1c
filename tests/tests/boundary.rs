//! Leaving the container without a namespace switch or a mount (issue 4, beyond its listed
//! kinds; found by red-teaming): chroot into the host's root, moving a task into a host cgroup,
//! io_uring set-up, and a containerd-shim abstract socket.
//!
//! The host processes and cgroups involved are the test's own: a `sleep` it starts, a cgroup it
//! creates and removes. PID 1 is never a target.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use sensor_e2e::{
    canary, checks::assert_detection, docker, field, poll, static_tools, test_image, text, token,
    HostSleeper, Scope, Sensor, Value, DETECTION_TIMEOUT,
};

/// What reaching a host process's files needs: the host's pid namespace, and SYS_PTRACE (the
/// host process holds capabilities the container lacks).
const HOST_PID_READER: &[&str] = &["--pid=host", "--cap-add", "SYS_PTRACE"];

/// The detections of `rule` for the container `name`.
fn of_rule(sensor: &Sensor, name: &str, rule: &str) -> Vec<Value> {
    sensor
        .detections_for_container(name)
        .into_iter()
        .filter(|d| text(d, "rule") == rule)
        .collect()
}

/// Runs `script` in a new container to completion; returns its output, failing on an error.
fn run_script(name: &str, options: &[&str], script: &str) -> String {
    let image = test_image();
    let mut args: Vec<&str> = options.to_vec();
    args.extend([image.as_str(), "sh", "-c", script]);
    docker::run_rm_ok(name, &args)
}

/// The first line of the host's /etc/os-release: seeing it proves the host's root was reached.
fn host_release_line() -> String {
    let release = fs::read_to_string("/etc/os-release").expect("host /etc/os-release");
    release.lines().next().unwrap_or_default().to_string()
}

fn expect_chroot(sensor: &Sensor, name: &str, new_root: &str) -> Value {
    let d = sensor.expect(
        &format!("host-root-chroot into {new_root} in {name}"),
        |d| {
            text(d, "rule") == "host-root-chroot"
                && text(d, "container.name") == name
                && text(d, "evidence.new_root") == new_root
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "host-root-chroot", "critical", "T1611", name);
    d
}

#[test]
fn chroot_into_a_bind_of_the_host_root_absolute_and_relative() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let parent = format!("/{}", token(5));
    let bound = format!("{parent}/{}", token(6));
    let bind = format!("/:{bound}:ro");
    let leaf = bound.rsplit('/').next().unwrap_or_default().to_string();

    // A chroot into the container's own directories first: not the host's root.
    let absolute = scope.name("rescue");
    let script = format!(
        "mkdir -p /srv/jail/bin && cp /bin/busybox /srv/jail/bin/ && \
         chroot /srv/jail /bin/busybox true && chroot {bound}/ /bin/sh -c 'head -n 1 /etc/os-release'"
    );
    let output = run_script(&absolute, &["-v", &bind], &script);
    assert!(
        output.contains(&host_release_line()),
        "the chroot did not reach the host's root: {output}"
    );
    let d = expect_chroot(&sensor, &absolute, &bound);
    assert!(text(&d, "evidence.leads_to").contains("host"), "{d}");

    // The same by a relative name from the parent directory (reported as given).
    let relative = scope.name("relchroot");
    let script = format!("cd {parent} && chroot {leaf} /bin/sh -c 'head -n 1 /etc/os-release'");
    let output = run_script(&relative, &["-v", &bind], &script);
    assert!(output.contains(&host_release_line()), "{output}");
    let d = expect_chroot(&sensor, &relative, &leaf);
    assert!(text(&d, "evidence.leads_to").contains("same inode"), "{d}");

    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
    let chroots = of_rule(&sensor, &absolute, "host-root-chroot");
    assert_eq!(
        chroots.len(),
        1,
        "only the host-root chroot counts, not the one into /srv/jail: {chroots:?}"
    );
}

#[test]
fn chroot_into_a_host_process_root() {
    let target = HostSleeper::start();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("pidhost");
    let new_root = format!("/proc/{}/root", target.pid());
    let script = format!("chroot {new_root} /bin/sh -c 'head -n 1 /etc/os-release'");
    let output = run_script(&name, HOST_PID_READER, &script);
    assert!(output.contains(&host_release_line()), "{output}");
    let d = expect_chroot(&sensor, &name, &new_root);
    assert!(text(&d, "evidence.leads_to").contains("host"), "{d}");
}

/// A cgroup the test creates in the host's cgroup v2 hierarchy, removed on drop once the
/// processes moved into it (the container's own short `sleep`) have ended.
struct HostCgroup {
    path: PathBuf,
}

impl HostCgroup {
    fn create() -> HostCgroup {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
        let mount = mountinfo
            .lines()
            .find_map(|line| {
                let (head, tail) = line.split_once(" - ")?;
                (tail.split_whitespace().next() == Some("cgroup2"))
                    .then(|| head.split_whitespace().nth(4).map(str::to_string))?
            })
            .expect("the host has no cgroup v2 mount");
        let path = Path::new(&mount).join(format!("sensor-e2e-{}", token(8)));
        fs::create_dir(&path)
            .unwrap_or_else(|err| panic!("creating cgroup {}: {err}", path.display()));
        HostCgroup { path }
    }

    fn procs(&self) -> String {
        fs::read_to_string(self.path.join("cgroup.procs")).unwrap_or_default()
    }
}

impl Drop for HostCgroup {
    fn drop(&mut self) {
        poll(Duration::from_secs(20), || {
            self.procs().trim().is_empty().then_some(())
        });
        if let Err(err) = fs::remove_dir(&self.path) {
            eprintln!("[e2e] removing cgroup {}: {err}", self.path.display());
        }
    }
}

#[test]
fn moving_a_task_into_a_host_cgroup() {
    let target = HostSleeper::start();
    let cgroup = HostCgroup::create();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("mover");
    // The host's view of the test's cgroup, reached through the host process's root.
    let procs = format!(
        "/proc/{}/root{}/cgroup.procs",
        target.pid(),
        cgroup.path.display()
    );
    let script = format!(
        "sleep 3 & echo $! > {procs} && echo moved=$!; grep -q '{}' /proc/$!/cgroup && echo outside; wait",
        cgroup.path.file_name().unwrap_or_default().to_string_lossy()
    );
    let output = run_script(&name, HOST_PID_READER, &script);
    assert!(
        output.contains("outside"),
        "the container's task did not reach the host cgroup: {output}"
    );

    // The open of the host cgroup's cgroup.procs for writing…
    let d = sensor.expect(
        &format!("container-cgroup-escape through {procs}"),
        |d| {
            text(d, "rule") == "container-cgroup-escape"
                && text(d, "container.name") == name
                && text(d, "evidence.file") == procs
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "container-cgroup-escape", "critical", "T1611", &name);
    // …and the move itself, seen by the cgroup attach hook.
    let cgroup_name = format!(
        "/{}",
        cgroup
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
    );
    let d = sensor.expect(
        &format!("container-cgroup-escape moving a task to {cgroup_name}"),
        |d| {
            text(d, "rule") == "container-cgroup-escape"
                && text(d, "container.name") == name
                && text(d, "evidence.destination_cgroup") == cgroup_name
        },
        DETECTION_TIMEOUT,
    );
    let moved = output
        .lines()
        .find_map(|l| l.strip_prefix("moved="))
        .and_then(|pid| pid.trim().parse::<u64>().ok())
        .expect("the container printed the moved pid");
    assert_eq!(field(&d, "evidence.moved_pid"), moved, "{d}");
}

#[test]
fn io_uring_setup_is_a_single_low_notice() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let probe = static_tools::syscall_probe();
    let mount = format!("{}:/usr/local/bin/{}:ro", probe.display(), token(6));
    let tool = mount.split(':').nth(1).unwrap_or_default().to_string();
    let name = scope.name("uringio");
    // The default seccomp profile of this Docker allows io_uring; twice, to see the fold.
    let output = run_script(
        &name,
        &["-v", &mount],
        &format!("{tool} io-uring-setup && {tool} io-uring-setup"),
    );
    assert_eq!(
        output.matches("ok").count(),
        2,
        "io_uring_setup failed: {output}"
    );
    let d = sensor.expect(
        &format!("io-uring-in-container for {name}"),
        |d| text(d, "rule") == "io-uring-in-container" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "io-uring-in-container", "low", "T1562.001", &name);
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
    let notices = of_rule(&sensor, &name, "io-uring-in-container");
    assert_eq!(notices.len(), 1, "{notices:?}");
}

#[test]
fn containerd_shim_socket_by_network_namespace() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let probe = static_tools::syscall_probe();
    let mount = format!("{}:/opt/{}:ro", probe.display(), token(6));
    let tool = mount.split(':').nth(1).unwrap_or_default().to_string();
    let socket = format!("@/containerd-shim/{}/{}.sock", token(10), token(6));

    // On the host's network the abstract name is the host's: high.
    let on_host = scope.name("hostnet");
    run_script(
        &on_host,
        &["--network", "host", "-v", &mount],
        &format!("{tool} connect-unix {socket}"),
    );
    // From its own network namespace it reaches nothing: medium.
    let own = scope.name("ownnet");
    run_script(
        &own,
        &["-v", &mount],
        &format!("{tool} connect-unix {socket}"),
    );

    for (name, severity) in [(&on_host, "high"), (&own, "medium")] {
        let d = sensor.expect(
            &format!("runtime-shim-socket-connect from {name}"),
            |d| {
                text(d, "rule") == "runtime-shim-socket-connect"
                    && text(d, "container.name") == *name
            },
            DETECTION_TIMEOUT,
        );
        assert_detection(&d, "runtime-shim-socket-connect", severity, "T1611", name);
        assert_eq!(text(&d, "evidence.abstract_socket"), socket, "{d}");
    }
}
