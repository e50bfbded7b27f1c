//! Capacity: `connstorm` in a container calls connect() on a unix path that does not exist —
//! one cheap system call that the sensor hooks and sends to user space — at stepped rates for a
//! few seconds each, then flat out. The sensor's stats file gives the events it received and
//! lost per step (differences between settled counters before and after each step).

use std::time::Duration;

use anyhow::{Context, Result};

use super::{
    container::{self, Container},
    note,
    sensor::{Sensor, Usage},
    stats::field,
    tools::Tools,
    Env, Plan,
};

/// A path that exists in no bench container.
pub const MISSING_SOCKET: &str = "/nonexistent/sensorbench.sock";
/// Above this rate (and flat out) the generator uses two threads: one thread tops out near
/// 250k calls/s on these machines once the sensor's hook is attached.
const ONE_THREAD_MAX: u64 = 150_000;
/// A paced step counts as sustained when the generator achieved this share of the offer.
const SUSTAINED: f64 = 0.95;

pub struct Step {
    /// Offered calls per second; 0 is flat out.
    pub offered: u64,
    pub threads: u64,
    pub duration: Duration,
    /// Calls the generator made, and their rate.
    pub generated: u64,
    pub achieved_rate: f64,
    /// Events the sensor read from the ring buffer during the step, and lost in the kernel.
    pub received: u64,
    pub lost: u64,
    pub lost_connect: u64,
    pub sensor_cpu: Duration,
}

impl Step {
    pub fn sustained(&self) -> bool {
        self.offered == 0 || self.achieved_rate >= self.offered as f64 * SUSTAINED
    }

    /// Sensor CPU time per received event, µs.
    pub fn cpu_per_event_us(&self) -> f64 {
        if self.received == 0 {
            return 0.0;
        }
        self.sensor_cpu.as_secs_f64() * 1e6 / self.received as f64
    }
}

pub struct CapacityResult {
    pub steps: Vec<Step>,
    pub usage: Usage,
    /// The sensor's loss warnings (stderr).
    pub warnings: Vec<String>,
}

impl CapacityResult {
    /// The highest rate the generator sustained with no event lost.
    pub fn zero_loss_rate(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| s.lost == 0 && s.sustained())
            .map(|s| s.achieved_rate)
            .max_by(f64::total_cmp)
    }
}

pub fn run(plan: &Plan, env: &Env) -> Result<CapacityResult> {
    let container = Container::start(&env.tools, "load")?;
    let mut sensor = Sensor::start(&env.sensor, &env.scratch, &[])?;
    let mut base = sensor.settled(Duration::from_secs(10))?;
    let mut steps = Vec::new();
    for &offered in &plan.capacity_rates {
        let threads = if offered == 0 || offered > ONE_THREAD_MAX {
            2
        } else {
            1
        };
        let cpu_before = sensor.cpu()?;
        let out = generate(&container, offered, plan.capacity_step, threads)?;
        let after = sensor.settled(Duration::from_secs(30))?;
        let cpu = sensor.cpu()?.saturating_sub(cpu_before);
        let generated = field(&out, "count").context("connstorm printed no count")?;
        let elapsed_ns = field(&out, "elapsed_ns").context("connstorm printed no elapsed_ns")?;
        let step = Step {
            offered,
            threads,
            duration: plan.capacity_step,
            generated,
            achieved_rate: generated as f64 * 1e9 / elapsed_ns.max(1) as f64,
            received: after.events - base.events,
            lost: after.lost - base.lost,
            lost_connect: after.lost_connect - base.lost_connect,
            sensor_cpu: cpu,
        };
        note!(
            "offered {:>7} achieved {:>9.0}/s received {:>9} lost {:>9} sensor CPU {:.2} s",
            rate_label(offered),
            step.achieved_rate,
            step.received,
            step.lost,
            cpu.as_secs_f64()
        );
        steps.push(step);
        base = after;
    }
    let usage = sensor.usage()?;
    let warnings = sensor.loss_warnings();
    sensor.stop()?;
    Ok(CapacityResult {
        steps,
        usage,
        warnings,
    })
}

/// Runs the generator in the container and returns its result line.
pub fn generate(
    container: &Container,
    rate: u64,
    duration: Duration,
    threads: u64,
) -> Result<String> {
    let child = spawn_generator(container, rate, duration, threads)?;
    container::finish(child, "connstorm")
}

pub fn spawn_generator(
    container: &Container,
    rate: u64,
    duration: Duration,
    threads: u64,
) -> Result<std::process::Child> {
    container.spawn(&[
        &Tools::inside("connstorm"),
        MISSING_SOCKET,
        &rate.to_string(),
        &duration.as_millis().to_string(),
        &threads.to_string(),
    ])
}

pub fn rate_label(rate: u64) -> String {
    if rate == 0 {
        "max".to_string()
    } else if rate.is_multiple_of(1000) {
        format!("{}k", rate / 1000)
    } else {
        rate.to_string()
    }
}
