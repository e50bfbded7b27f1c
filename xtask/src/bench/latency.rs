//! Latency from the exec's kernel time stamp (`ktime_ns` of the detection) to the detection
//! being readable on the sensor's stdout (stamped by the reader thread, same clock).
//!
//! `execseq` writes N copies of the tiny program under /tmp/lat/<run>/ in a container, then runs
//! them one by one 20 ms apart. Each is a file written in the container after it started, so
//! each exec is a `dropped-executable` detection, and the distinct paths keep deduplication from
//! folding them. Measured idle, and under load: `connstorm` at a moderate rate in another
//! container.

use std::{collections::HashMap, time::Duration};

use anyhow::{bail, Result};

use super::{
    capacity::spawn_generator,
    container::{self, Container},
    interrupt, note,
    sensor::{Sensor, Stamped, Usage},
    stats::{self, field},
    tools::Tools,
    Env, Plan,
};

const RULE: &str = "dropped-executable";
/// How long after the last exec all detections must have arrived.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(15);

pub struct LatencyRun {
    pub label: &'static str,
    pub expected: u64,
    /// Per detection, ms.
    pub latencies_ms: Vec<f64>,
    /// Offered and achieved background load (calls/s), if any.
    pub load: Option<(u64, f64)>,
    pub lost: u64,
}

impl LatencyRun {
    pub fn p(&self, percentile: f64) -> f64 {
        stats::percentile(&self.latencies_ms, percentile)
    }

    pub fn missing(&self) -> u64 {
        self.expected.saturating_sub(self.latencies_ms.len() as u64)
    }
}

pub struct LatencyResult {
    pub idle: LatencyRun,
    pub loaded: LatencyRun,
    pub usage: Usage,
}

pub fn run(plan: &Plan, env: &Env) -> Result<LatencyResult> {
    let target = Container::start(&env.tools, "lat")?;
    let load = Container::start(&env.tools, "latload")?;
    let mut sensor = Sensor::start(&env.sensor, &env.scratch, &[])?;

    let before = sensor.counters_after(std::time::SystemTime::now())?;
    let mut idle = sequence(plan, &sensor, &target, "idle")?;
    let middle = sensor.counters_after(std::time::SystemTime::now())?;
    idle.lost = middle.lost - before.lost;
    report("idle", &idle);

    // The load runs for the whole sequence plus a margin on both sides.
    let seconds = plan.latency_count * plan.latency_interval_ms / 1000 + 6;
    let generator = spawn_generator(
        &load,
        plan.latency_load_rate,
        Duration::from_secs(seconds),
        1,
    )?;
    interrupt::sleep(Duration::from_secs(1))?;
    let mut loaded = sequence(plan, &sensor, &target, "load")?;
    let out = container::finish(generator, "the background connstorm")?;
    let achieved = match (field(&out, "count"), field(&out, "elapsed_ns")) {
        (Some(count), Some(ns)) if ns > 0 => count as f64 * 1e9 / ns as f64,
        _ => bail!("connstorm printed no count: {out:?}"),
    };
    loaded.load = Some((plan.latency_load_rate, achieved));
    let after = sensor.settled(Duration::from_secs(30))?;
    loaded.lost = after.lost - middle.lost;
    report("under load", &loaded);

    let usage = sensor.usage()?;
    sensor.stop()?;
    Ok(LatencyResult {
        idle,
        loaded,
        usage,
    })
}

fn report(label: &str, run: &LatencyRun) {
    note!(
        "latency {label}: {} detections, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} missing",
        run.latencies_ms.len(),
        run.p(50.0),
        run.p(99.0),
        stats::max(&run.latencies_ms),
        run.missing()
    );
}

/// Runs one exec sequence in `target` and collects the latency of each detection.
fn sequence(
    plan: &Plan,
    sensor: &Sensor,
    target: &Container,
    label: &'static str,
) -> Result<LatencyRun> {
    let dir = format!("/tmp/lat/{label}");
    target.exec(&[
        &Tools::inside("execseq"),
        &Tools::inside("tiny"),
        &dir,
        &plan.latency_count.to_string(),
        &plan.latency_interval_ms.to_string(),
    ])?;
    let prefix = format!("{dir}/");
    let deadline = std::time::Instant::now() + ARRIVAL_TIMEOUT;
    loop {
        let found = latencies(&sensor.lines(), &prefix);
        if found.len() as u64 >= plan.latency_count || std::time::Instant::now() >= deadline {
            if (found.len() as u64) < plan.latency_count {
                note!(
                    "only {} of {} detections for {prefix}* arrived within {ARRIVAL_TIMEOUT:?}",
                    found.len(),
                    plan.latency_count
                );
            }
            return Ok(LatencyRun {
                label,
                expected: plan.latency_count,
                latencies_ms: found.into_values().collect(),
                load: None,
                lost: 0,
            });
        }
        interrupt::sleep(Duration::from_millis(100))?;
    }
}

/// Latency (ms) per executed file under `prefix`, from the detections on stdout.
fn latencies(lines: &[Stamped], prefix: &str) -> HashMap<String, f64> {
    let mut found = HashMap::new();
    for stamped in lines {
        let line = &stamped.line;
        if stats::json_str(line, "rule").as_deref() != Some(RULE) {
            continue;
        }
        let Some(file) = stats::json_str(line, "filename") else {
            continue;
        };
        if !file.starts_with(prefix) {
            continue;
        }
        let Some(ktime) = stats::json_u64(line, "ktime_ns") else {
            continue;
        };
        let ms = stamped.at_ns.saturating_sub(ktime) as f64 / 1e6;
        found.entry(file).or_insert(ms);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_detections_to_files() {
        let line = |at_ns, rule: &str, file: &str, ktime: u64| Stamped {
            at_ns,
            line: format!(
                r#"{{"rule":"{rule}","process":{{"filename":"{file}"}},"ktime_ns":{ktime}}}"#
            ),
        };
        let lines = vec![
            line(3_000_000, RULE, "/tmp/lat/idle/0", 1_000_000),
            line(9_000_000, RULE, "/tmp/lat/load/0", 1_000_000),
            line(9_000_000, "cryptominer", "/tmp/lat/idle/1", 1_000_000),
        ];
        let found = latencies(&lines, "/tmp/lat/idle/");
        assert_eq!(found.len(), 1);
        assert_eq!(found["/tmp/lat/idle/0"], 2.0);
    }
}
