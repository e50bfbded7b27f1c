//! Load: a tiny ring buffer overflows under an exec storm, and the sensor says so (stderr and
//! stats file) and keeps detecting; host processes are filtered out in the kernel unless
//! `--host-events` asks for them.

use std::{
    fs,
    path::Path,
    process::Command,
    time::{Duration, SystemTime},
};

use sensor_e2e::{
    canary, docker, field, http::free_port, poll, test_image, Scope, Sensor, TempDir, Value,
    DETECTION_TIMEOUT,
};

/// The stats file once it has been written at or after `since` (it is rewritten every interval).
fn stats_after(path: &Path, since: SystemTime) -> Value {
    let found = poll(Duration::from_secs(10), || {
        let modified = fs::metadata(path).and_then(|m| m.modified()).ok()?;
        if modified < since {
            return None;
        }
        serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
    });
    found.unwrap_or_else(|| panic!("no stats in {} written after {since:?}", path.display()))
}

fn count(stats: &Value, key: &str) -> u64 {
    field(stats, key)
        .as_u64()
        .unwrap_or_else(|| panic!("stats lack a number at {key}: {stats}"))
}

#[test]
fn exec_storm_overflows_a_small_ring_buffer_and_the_sensor_carries_on() {
    let scope = Scope::new();
    let dir = TempDir::new("stats");
    let stats_file = dir.path().join("stats.json");
    let stats_arg = stats_file.display().to_string();
    let mut sensor = Sensor::start(&[
        "--ring-buffer-size",
        "4K",
        "--stats-interval",
        "1",
        "--stats-file",
        &stats_arg,
    ]);

    let storm = "i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done";
    let image = test_image();
    // Alone, one shell's execs rarely overflow even 4 KiB: the sensor drains each record as
    // soon as it is written. Pausing the sensor for the storm, as CPU starvation would, makes the
    // overflow certain; the kernel side keeps producing meanwhile.
    sensor.pause();
    let output = docker::run_rm(&scope.name("storm"), &[&image, "sh", "-c", storm]);
    sensor.resume();
    assert!(output.status.success(), "exec storm failed: {output:?}");
    let after_storm = SystemTime::now();

    let warning = sensor
        .wait_for_stderr(
            0,
            |l| l.contains("lost") && l.contains("--ring-buffer-size"),
            Duration::from_secs(15),
        )
        .expect("no warning about lost events on stderr");
    assert!(
        warning.contains("exec="),
        "the warning does not say which events: {warning}"
    );

    let stats = stats_after(&stats_file, after_storm);
    assert!(count(&stats, "lost_events_total") > 0, "{stats}");
    assert!(count(&stats, "lost_events.exec") > 0, "{stats}");
    assert!(sensor.is_running(), "the sensor died under load");

    // Losses must not leave the sensor blind afterwards (the detection may be marked degraded).
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
}

/// Work on the host, outside any container: execs and refused loopback connects.
fn host_workload() {
    for _ in 0..300 {
        let status = Command::new("/bin/true")
            .status()
            .expect("running /bin/true");
        assert!(status.success());
    }
    for _ in 0..5 {
        // Nothing listens there: the connect is refused at once, which is all we need.
        let port = free_port().to_string();
        let _ = Command::new("busybox")
            .args(["nc", "-w", "1", "127.0.0.1", &port])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running busybox nc");
    }
}

/// A sensor writing its counters every second.
struct CountingSensor {
    sensor: Sensor,
    stats_file: std::path::PathBuf,
    _dir: TempDir,
}

impl CountingSensor {
    fn start(extra_args: &[&str]) -> CountingSensor {
        let dir = TempDir::new("hoststats");
        let stats_file = dir.path().join("stats.json");
        let stats_arg = stats_file.display().to_string();
        let mut args = vec!["--stats-interval", "1", "--stats-file", &stats_arg];
        args.extend(extra_args);
        CountingSensor {
            sensor: Sensor::start(&args),
            stats_file,
            _dir: dir,
        }
    }

    /// How much `events` grows over one round of the host workload.
    fn events_during_host_workload(&self) -> u64 {
        let before = count(&stats_after(&self.stats_file, SystemTime::now()), "events");
        host_workload();
        // Events still queued in the ring buffer get a moment to be counted.
        let settled = SystemTime::now() + Duration::from_secs(1);
        let after = count(&stats_after(&self.stats_file, settled), "events");
        after - before
    }
}

#[test]
fn host_processes_are_filtered_in_the_kernel_unless_asked_for() {
    let scope = Scope::new();
    let mut filtered = CountingSensor::start(&[]);
    // `events` also counts other people's containers on this machine. A missing filter shows
    // 300+ in every round, so up to three rounds separate it from a burst of unrelated noise.
    let mut rounds = Vec::new();
    while rounds.len() < 3 && rounds.last().is_none_or(|&n| n >= 50) {
        rounds.push(filtered.events_during_host_workload());
    }
    assert!(
        rounds.iter().any(|&n| n < 50),
        "events per round of 300 host execs without --host-events: {rounds:?}"
    );
    // A quiet counter proves nothing unless this sensor demonstrably sees containers.
    canary::trigger(&scope, &[]).expect(&filtered.sensor, DETECTION_TIMEOUT);
    assert!(filtered.sensor.is_running(), "the sensor died");
    filtered.sensor.stop();

    let mut unfiltered = CountingSensor::start(&["--host-events"]);
    let grown = unfiltered.events_during_host_workload();
    assert!(
        grown >= 300,
        "only {grown} events from 300 host execs with --host-events"
    );
    assert!(unfiltered.sensor.is_running(), "the sensor died");
}
