//! Issue 4, kinds 4 and 5: mounts from inside a container (the host's disk, proc, sysfs, a
//! cgroup v1 hierarchy), writes to the kernel's escape hatches, and the full release_agent
//! escape whose payload the host runs from the container's writable layer.
//!
//! Every cgroup v1 hierarchy here is a new one named by the test (`-o none,name=<unique>`), so
//! the release_agent written is that hierarchy's own; the guard removes it afterwards.

use std::{fs, time::Duration};

use sensor_e2e::{
    canary, cgroup_v1::NamedHierarchy, checks::assert_detection, docker, field, test_image, text,
    token, Scope, Sensor, Value, DETECTION_TIMEOUT,
};

/// Capabilities for a container that really mounts things (MACHINE.md).
const MOUNTER: &[&str] = &[
    "--cap-add",
    "SYS_ADMIN",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
];

/// The host's root file system: its block device and type, from the host's mountinfo.
fn host_root_device() -> (String, String) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    // `id parent major:minor root mountpoint options… - fstype source superoptions`; the last
    // entry for `/` is the one on top.
    let root = mountinfo
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some("/"))
        .expect("no mount of / in /proc/self/mountinfo");
    let (_, tail) = root
        .split_once(" - ")
        .expect("mountinfo line without ' - '");
    let mut tail = tail.split_whitespace();
    let fstype = tail.next().unwrap_or_default().to_string();
    let source = tail.next().unwrap_or_default().to_string();
    assert!(
        source.starts_with("/dev/") && fs::metadata(&source).is_ok(),
        "the host's root is not on a block device this test can hand to a container: {root}"
    );
    (source, fstype)
}

/// Container-mount detections of `name` whose evidence.target is `target`.
fn mounts_on(sensor: &Sensor, name: &str, target: &str) -> Vec<Value> {
    sensor
        .detections_for_container(name)
        .into_iter()
        .filter(|d| text(d, "rule") == "container-mount" && text(d, "evidence.target") == target)
        .collect()
}

fn expect_mount(sensor: &Sensor, name: &str, target: &str) -> Value {
    sensor.expect(
        &format!("container-mount of {target} in {name}"),
        |d| {
            text(d, "rule") == "container-mount"
                && text(d, "container.name") == name
                && text(d, "evidence.target") == target
        },
        DETECTION_TIMEOUT,
    )
}

/// Runs a container with the mount capabilities (and `extra` options) to completion.
fn run_mounter(name: &str, extra: &[&str], script: &str) -> String {
    let image = test_image();
    let mut args: Vec<&str> = MOUNTER.to_vec();
    args.extend(extra);
    args.extend([image.as_str(), "sh", "-c", script]);
    let id = docker::run_detached(name, &args);
    docker::wait_exited(name, Duration::from_secs(60));
    id
}

#[test]
fn host_disk_mount_attempts_fold_into_one_detection() {
    let (device, fstype) = host_root_device();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let device_arg = device.as_str();

    // One read-only attempt (EBUSY is fine: the attempt is the signal).
    let single = scope.name("diskpeek");
    let target = format!("/mnt/d{}", token(5));
    let script = format!(
        "mkdir -p {target}; mount -t {fstype} -o ro {device} {target}; umount {target}; true"
    );
    run_mounter(&single, &["--device", device_arg], &script);

    // A mount tool trying one file system type after another.
    let burst = scope.name("diskprobe");
    let burst_target = format!("/media/v{}", token(5));
    let script = format!(
        "mkdir -p {burst_target}; for t in ext4 ext3 ext2 xfs btrfs vfat; do \
         mount -t $t -o ro {device} {burst_target}; done; umount {burst_target}; true"
    );
    run_mounter(&burst, &["--device", device_arg], &script);

    let d = expect_mount(&sensor, &single, &target);
    assert_detection(&d, "container-mount", "high", "T1611", &single);
    assert_eq!(text(&d, "evidence.source"), device, "{d}");
    assert_eq!(text(&d, "evidence.fstype"), fstype, "{d}");
    assert!(
        text(&d, "evidence.flags").contains("MS_RDONLY"),
        "flags: {d}"
    );
    assert_eq!(text(&d, "evidence.concern"), "host block device", "{d}");

    let first = expect_mount(&sensor, &burst, &burst_target);
    assert_detection(&first, "container-mount", "high", "T1611", &burst);
    assert_eq!(text(&first, "evidence.source"), device, "{first}");
    assert!(
        field(&first, "count").as_u64().is_some_and(|c| c >= 1),
        "count: {first}"
    );
    // Everything the containers did has been judged once the canary's detection is out.
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
    for (name, target) in [(&single, &target), (&burst, &burst_target)] {
        let all = mounts_on(&sensor, name, target);
        assert_eq!(
            all.len(),
            1,
            "{name}: one detection per attempt burst expected, got:\n{}",
            all.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn proc_sysfs_and_cgroup_v1_mounts() {
    let hierarchy = NamedHierarchy::new();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("fsmount");
    let (proc_dir, sys_dir, cg_dir) = (
        format!("/run/p{}", token(4)),
        format!("/run/s{}", token(4)),
        format!("/run/c{}", token(4)),
    );
    let options = format!("none,name={}", hierarchy.name());
    let script = format!(
        "mkdir -p {proc_dir} {sys_dir} {cg_dir}; mount -t proc proc {proc_dir}; \
         mount -t sysfs sysfs {sys_dir}; mount -t cgroup -o {options} cgroup {cg_dir}; \
         umount {proc_dir}; umount {sys_dir}; sleep 1; umount {cg_dir}; true"
    );
    run_mounter(&name, &[], &script);

    for (target, fstype, concern) in [
        (&proc_dir, "proc", "procfs"),
        (&sys_dir, "sysfs", "sysfs"),
        (&cg_dir, "cgroup", "release_agent"),
    ] {
        let d = expect_mount(&sensor, &name, target);
        assert_detection(&d, "container-mount", "high", "T1611", &name);
        assert_eq!(text(&d, "evidence.fstype"), fstype, "{d}");
        assert!(
            text(&d, "evidence.concern").contains(concern),
            "concern should mention {concern}: {d}"
        );
        if fstype == "cgroup" {
            assert!(
                text(&d, "evidence.options").contains(hierarchy.name()),
                "the hierarchy's options are missing: {d}"
            );
        }
    }
}

#[test]
fn writes_to_escape_hatches() {
    let hierarchy = NamedHierarchy::new();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let core_pattern_before = fs::read_to_string("/proc/sys/kernel/core_pattern").ok();
    let modprobe_before = fs::read_to_string("/proc/sys/kernel/modprobe").ok();

    let armer = scope.name("armer");
    let cg_dir = format!("/tmp/g{}", token(5));
    let child = format!("{cg_dir}/x{}", token(4));
    let options = format!("none,name={}", hierarchy.name());
    // The agent is a path that exists nowhere; and no task ever leaves a cgroup here.
    let agent = format!("/nonexistent-{}", token(8));
    let script = format!(
        "mkdir -p {cg_dir} && mount -t cgroup -o {options} cgroup {cg_dir} && mkdir {child} && \
         echo 1 > {child}/notify_on_release && echo {agent} > {cg_dir}/release_agent; \
         rmdir {child}; sleep 1; umount {cg_dir}; true"
    );
    run_mounter(&armer, &[], &script);

    // A default container: /proc/sys and /sys are read-only (EROFS), but the attempt is the
    // signal.
    let crasher = scope.name("crashcfg");
    let image = test_image();
    let value = format!("|/tmp/h{} %p", token(5));
    let script = format!(
        "echo '{value}' > /proc/sys/kernel/core_pattern; echo /tmp/h > /proc/sys/kernel/modprobe; \
         echo /tmp/h > /sys/kernel/uevent_helper; true"
    );
    docker::run_detached(&crasher, &[&image, "sh", "-c", &script]);

    for (name, path, severity) in [
        (&armer, format!("{child}/notify_on_release"), "high"),
        (&armer, format!("{cg_dir}/release_agent"), "critical"),
        (
            &crasher,
            "/proc/sys/kernel/core_pattern".to_string(),
            "critical",
        ),
        (
            &crasher,
            "/proc/sys/kernel/modprobe".to_string(),
            "critical",
        ),
        (
            &crasher,
            "/sys/kernel/uevent_helper".to_string(),
            "critical",
        ),
    ] {
        let d = sensor.expect(
            &format!("escape-file-write of {path} in {name}"),
            |d| {
                text(d, "rule") == "escape-file-write"
                    && text(d, "container.name") == name.as_str()
                    && text(d, "evidence.path") == path
            },
            DETECTION_TIMEOUT,
        );
        assert_detection(&d, "escape-file-write", severity, "T1611", name);
        assert!(!text(&d, "evidence.effect").is_empty(), "no effect: {d}");
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").ok(),
        core_pattern_before,
        "the host's core_pattern changed"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/modprobe").ok(),
        modprobe_before,
        "the host's modprobe helper changed"
    );
}

/// The kernel filter keys on the file opened, not the name it was opened by: a symlink with an
/// innocent name leading to a hatch, or the hatch bind-mounted onto an ordinary file, is caught
/// at the open's exit by the file's own name and file system. A symlink to an ordinary file that
/// merely has a hatch's name is not a hatch.
#[test]
fn writes_to_escape_hatches_through_symlinks() {
    let hierarchy = NamedHierarchy::new();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("linker");
    let cg_dir = format!("/mnt/c{}", token(5));
    let options = format!("none,name={}", hierarchy.name());
    let decoy_dir = format!("/tmp/d{}", token(4));
    let decoy_link = format!("/tmp/.{}", token(6));
    let link = format!("/var/tmp/.{}", token(6));
    let agent = format!("/nonexistent-{}", token(8));
    // The hatch bind-mounted onto an ordinary file: the path shows nothing, the file is the hatch.
    let bound = format!("/tmp/b{}", token(5));
    let script = format!(
        "mkdir -p {cg_dir} {decoy_dir} /var/tmp && mount -t cgroup -o {options} cgroup {cg_dir} && \
         touch {decoy_dir}/release_agent && ln -s {decoy_dir}/release_agent {decoy_link} && \
         echo x > {decoy_link} && ln -s {cg_dir}/release_agent {link} && echo {agent} > {link}; \
         touch {bound} && mount --bind {cg_dir}/release_agent {bound} && echo {agent} > {bound}; \
         sleep 1; umount {bound}; umount {cg_dir}; true"
    );
    run_mounter(&name, &[], &script);

    let real = format!("{cg_dir}/release_agent");
    let d = sensor.expect(
        &format!("escape-file-write of {real} through {link}"),
        |d| {
            text(d, "rule") == "escape-file-write"
                && text(d, "container.name") == name
                && text(d, "evidence.path_as_opened") == link
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "escape-file-write", "critical", "T1611", &name);
    assert_eq!(text(&d, "evidence.path"), real, "{d}");
    assert_eq!(field(&d, "evidence.opened_under_another_name"), true, "{d}");

    let d = sensor.expect(
        &format!("escape-file-write of {real} bind-mounted at {bound}"),
        |d| {
            text(d, "rule") == "escape-file-write"
                && text(d, "container.name") == name
                && text(d, "evidence.path_as_opened") == bound
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "escape-file-write", "critical", "T1611", &name);
    assert!(text(&d, "evidence.path").ends_with("/release_agent"), "{d}");

    let decoys: Vec<String> = sensor
        .detections_for_container(&name)
        .iter()
        .filter(|d| {
            text(d, "rule") == "escape-file-write"
                && (text(d, "evidence.path").starts_with(&decoy_dir)
                    || text(d, "evidence.path_as_opened") == decoy_link)
        })
        .map(Value::to_string)
        .collect();
    assert!(decoys.is_empty(), "a decoy file was reported: {decoys:?}");
}

#[test]
fn release_agent_payload_runs_on_the_host() {
    let hierarchy = NamedHierarchy::new();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("cgesc");
    let cg_dir = format!("/var/tmp/r{}", token(5));
    let child = format!("{cg_dir}/w{}", token(4));
    let payload = format!("/.p{}", token(6));
    let marker = format!("m{}", token(6));
    let proof = token(12);
    let options = format!("none,name={}", hierarchy.name());
    // The payload only writes a marker into the container's own writable layer. (The container
    // does not look for it: a file added to a mounted overlay's upper directory behind its back
    // need not show up in the merged view. The test reads it from the host.)
    let script = format!(
        r#"set -e
mkdir -p {cg_dir}
mount -t cgroup -o {options} cgroup {cg_dir}
mkdir {child}
echo 1 > {child}/notify_on_release
upper=$(sed -n 's/.*upperdir=\([^,]*\).*/\1/p' /proc/mounts | head -n 1)
printf '#!/bin/sh\necho {proof} > %s/{marker}\n' "$upper" > {payload}
chmod +x {payload}
echo "$upper{payload}" > {cg_dir}/release_agent
sh -c 'echo $$ > {child}/cgroup.procs'
sleep 2
rmdir {child}
sleep 1
umount {cg_dir}
"#
    );
    let id = run_mounter(&name, &[], &script);

    let d = sensor.expect(
        &format!("host-executes-container-file for {name}"),
        |d| text(d, "rule") == "host-executes-container-file" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_detection(
        &d,
        "host-executes-container-file",
        "critical",
        "T1611",
        &name,
    );
    assert_eq!(text(&d, "container.id"), id, "{d}");
    assert_eq!(text(&d, "evidence.container_path"), payload, "{d}");
    assert!(
        text(&d, "evidence.started_by").contains("usermode helper"),
        "started_by: {d}"
    );
    let upper = docker::inspect(&name, "{{.GraphDriver.Data.UpperDir}}");
    assert_eq!(
        text(&d, "evidence.host_path"),
        format!("{upper}{payload}"),
        "{d}"
    );

    // The host really ran the payload: its marker is in the container's layer.
    let written = fs::read_to_string(format!("{upper}/{marker}")).unwrap_or_else(|err| {
        panic!(
            "the payload's marker is missing ({err}); container output:\n{}",
            docker::logs(&name)
        )
    });
    assert_eq!(written.trim(), proof, "the marker's content");

    let agent_write = sensor.expect(
        &format!("escape-file-write of release_agent in {name}"),
        |d| {
            text(d, "rule") == "escape-file-write"
                && text(d, "container.name") == name
                && text(d, "evidence.path").ends_with("/release_agent")
        },
        DETECTION_TIMEOUT,
    );
    assert_eq!(text(&agent_write, "severity"), "critical", "{agent_write}");
}
