//! Exec storms: `execstorm` forks and execs the tiny program N times in a row and times the loop
//! itself. On the host: no sensor vs. sensor. In a container: no sensor vs. sensor vs. auditd vs.
//! bpftrace. And an open storm in a container (`openstorm`, create + write + close on the
//! container's tmpfs): no sensor vs. sensor, the worst case for the open hooks. Variants alternate round-robin (each round starts with a different one) and every
//! variant sets up and tears down its tool around the storm, so slow drifts of the machine hit
//! all variants alike.

use std::{process::Command, time::Duration};

use anyhow::{bail, Context, Result};

use super::{
    auditd::{self, Audit},
    bpftrace::Bpftrace,
    container::Container,
    interrupt, machine, note, proc,
    sensor::Sensor,
    stats::{self, field},
    tools::Tools,
    Env, Plan,
};
use crate::cmd;

/// Time a tool gets after the storm to finish processing before its CPU time is read.
const DRAIN: Duration = Duration::from_millis(500);
/// How long a round of a full run waits for other work on the machine to calm down.
const CALM_WAIT: Duration = Duration::from_secs(120);
/// Pause before every storm, after the variant's tool started (and the previous one stopped),
/// the same for all variants.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Baseline,
    Sensor,
    Auditd,
    Bpftrace,
}

impl Variant {
    pub fn label(self) -> &'static str {
        match self {
            Variant::Baseline => "no sensor",
            Variant::Sensor => "sensor",
            Variant::Auditd => "auditd",
            Variant::Bpftrace => "bpftrace",
        }
    }
}

/// One variant's samples over the rounds.
pub struct VariantResult {
    pub variant: Variant,
    /// Storm durations, ms.
    pub elapsed_ms: Vec<f64>,
    /// CPU time of the tool (sensor; auditd + kauditd; bpftrace) from just before the storm to
    /// just after it drained, ms.
    pub tool_cpu_ms: Vec<f64>,
    /// Events the tool reported (sensor events, audit records, bpftrace lines), per storm.
    pub events: Vec<u64>,
    /// Events the sensor lost, per storm.
    pub lost: Vec<u64>,
    pub peak_rss_kib: u64,
}

impl VariantResult {
    fn new(variant: Variant) -> VariantResult {
        VariantResult {
            variant,
            elapsed_ms: Vec::new(),
            tool_cpu_ms: Vec::new(),
            events: Vec::new(),
            lost: Vec::new(),
            peak_rss_kib: 0,
        }
    }

    pub fn median_ms(&self) -> f64 {
        stats::median(&self.elapsed_ms)
    }
}

/// What a storm repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StormKind {
    Exec,
    Open,
}

impl StormKind {
    /// The repeated operation, for "per exec" columns.
    pub fn unit(self) -> &'static str {
        match self {
            StormKind::Exec => "exec",
            StormKind::Open => "open",
        }
    }
}

pub struct StormResult {
    pub kind: StormKind,
    /// Operations per storm.
    pub execs: u64,
    pub rounds: usize,
    pub variants: Vec<VariantResult>,
    /// Share of the CPU busy with other work just before each round.
    pub background_busy: Vec<f64>,
    /// The audit state found before the auditd variant first ran.
    pub audit_before: Option<auditd::Before>,
}

impl StormResult {
    pub fn get(&self, variant: Variant) -> Option<&VariantResult> {
        self.variants.iter().find(|v| v.variant == variant)
    }

    /// median(variant) / median(no sensor) − 1.
    pub fn overhead(&self, variant: Variant) -> Option<f64> {
        let base = self.get(Variant::Baseline)?.median_ms();
        let this = self.get(variant)?.median_ms();
        (base > 0.0).then(|| this / base - 1.0)
    }

    /// The median over rounds of variant / baseline within the same round, − 1: less sensitive
    /// to slow drifts of the machine than the ratio of medians.
    pub fn paired_overhead(&self, variant: Variant) -> Option<f64> {
        let base = self.get(Variant::Baseline)?;
        let this = self.get(variant)?;
        let ratios: Vec<f64> = base
            .elapsed_ms
            .iter()
            .zip(&this.elapsed_ms)
            .filter(|(b, _)| **b > 0.0)
            .map(|(b, v)| v / b)
            .collect();
        (!ratios.is_empty()).then(|| stats::median(&ratios) - 1.0)
    }

    /// The baseline's spread: (max − min) / median, a measure of the machine's noise.
    pub fn baseline_spread(&self) -> Option<f64> {
        let base = self.get(Variant::Baseline)?;
        let median = base.median_ms();
        (median > 0.0)
            .then(|| (stats::max(&base.elapsed_ms) - stats::min(&base.elapsed_ms)) / median)
    }
}

/// One storm's measurement under a variant.
struct Sample {
    elapsed_ns: u64,
    tool_cpu: Option<Duration>,
    events: Option<u64>,
    lost: Option<u64>,
    peak_rss_kib: Option<u64>,
}

pub fn host(plan: &Plan, env: &Env) -> Result<StormResult> {
    let tiny = env.tools.host("tiny");
    let execstorm = env.tools.host("execstorm");
    let count = plan.execs.to_string();
    let storm = || -> Result<u64> {
        let out = cmd::output(Command::new(&execstorm).arg(&tiny).arg(&count))?;
        parse_elapsed(&out)
    };
    run_rounds(
        plan,
        env,
        &[Variant::Baseline, Variant::Sensor],
        &storm,
        None,
    )
}

/// Operations per open storm for `plan.execs` execs per exec storm: an open on tmpfs costs about
/// a fiftieth of a fork + exec, so ten times as many keep the storm long enough to time.
pub const OPENS_PER_EXEC: u64 = 10;

pub fn opens(plan: &Plan, env: &Env) -> Result<StormResult> {
    let container = Container::start(&env.tools, "opens")?;
    let openstorm = Tools::inside("openstorm");
    // The container's own tmpfs: the cheapest opens, so the hooks' share is the largest.
    let dir = "/dev/shm/openstorm";
    container.exec(&["mkdir", "-p", dir])?;
    let count = (plan.execs * OPENS_PER_EXEC).to_string();
    let storm = || -> Result<u64> {
        let out = container.exec(&[&openstorm, dir, &count])?;
        parse_elapsed(&out)
    };
    let mut result = run_rounds(
        plan,
        env,
        &[Variant::Baseline, Variant::Sensor],
        &storm,
        None,
    )?;
    result.kind = StormKind::Open;
    result.execs = plan.execs * OPENS_PER_EXEC;
    Ok(result)
}

pub fn container(plan: &Plan, env: &Env) -> Result<StormResult> {
    let container = Container::start(&env.tools, "storm")?;
    let cgroup = container.cgroup_id()?;
    let execstorm = Tools::inside("execstorm");
    let tiny = Tools::inside("tiny");
    let count = plan.execs.to_string();
    let storm = || -> Result<u64> {
        let out = container.exec(&[&execstorm, &tiny, &count])?;
        parse_elapsed(&out)
    };
    let variants = [
        Variant::Baseline,
        Variant::Sensor,
        Variant::Auditd,
        Variant::Bpftrace,
    ];
    run_rounds(plan, env, &variants, &storm, Some(cgroup))
}

fn run_rounds(
    plan: &Plan,
    env: &Env,
    variants: &[Variant],
    storm: &dyn Fn() -> Result<u64>,
    cgroup: Option<u64>,
) -> Result<StormResult> {
    // Warm-up: page cache, dentries and the container's first exec are not measured.
    storm().context("the warm-up storm failed")?;
    let mut results: Vec<VariantResult> = variants.iter().map(|v| VariantResult::new(*v)).collect();
    let mut audit_before = None;
    let mut background_busy = Vec::new();
    for round in 0..plan.rounds {
        // Other work on the machine (builds, tests) would land in whichever variant it meets: a
        // full run lets it pass first (bounded), and the report shows what was left.
        let limit = if plan.quick {
            Duration::ZERO
        } else {
            CALM_WAIT
        };
        let busy = machine::wait_calm(limit)?;
        if busy >= machine::CALM {
            note!(
                "round {}: {:.0} % of the CPU is busy with other work",
                round + 1,
                busy * 100.0
            );
        }
        background_busy.push(busy);
        for offset in 0..variants.len() {
            interrupt::check()?;
            let index = (round + offset) % variants.len();
            let variant = variants[index];
            let sample = measure(variant, env, storm, cgroup, &mut audit_before)
                .with_context(|| format!("round {} with {} failed", round + 1, variant.label()))?;
            let result = &mut results[index];
            let ms = sample.elapsed_ns as f64 / 1e6;
            result.elapsed_ms.push(ms);
            if let Some(cpu) = sample.tool_cpu {
                result.tool_cpu_ms.push(cpu.as_secs_f64() * 1e3);
            }
            result.events.extend(sample.events);
            result.lost.extend(sample.lost);
            if let Some(rss) = sample.peak_rss_kib {
                result.peak_rss_kib = result.peak_rss_kib.max(rss);
            }
            note!(
                "round {}/{} {:<9} {:>8.1} ms{}",
                round + 1,
                plan.rounds,
                variant.label(),
                ms,
                sample
                    .tool_cpu
                    .map(|c| format!(" (tool CPU {:.0} ms)", c.as_secs_f64() * 1e3))
                    .unwrap_or_default()
            );
        }
    }
    Ok(StormResult {
        kind: StormKind::Exec,
        execs: plan.execs,
        rounds: plan.rounds,
        variants: results,
        background_busy,
        audit_before,
    })
}

fn measure(
    variant: Variant,
    env: &Env,
    storm: &dyn Fn() -> Result<u64>,
    cgroup: Option<u64>,
    audit_before: &mut Option<auditd::Before>,
) -> Result<Sample> {
    match variant {
        Variant::Baseline => Ok(Sample {
            elapsed_ns: {
                interrupt::sleep(SETTLE)?;
                storm()?
            },
            tool_cpu: None,
            events: None,
            lost: None,
            peak_rss_kib: None,
        }),
        Variant::Sensor => {
            let mut sensor = Sensor::start(&env.sensor, &env.scratch, &[])?;
            interrupt::sleep(SETTLE)?;
            let cpu_before = sensor.cpu()?;
            let elapsed_ns = storm()?;
            interrupt::sleep(DRAIN)?;
            let usage = sensor.usage()?;
            let counters = sensor.stop()?;
            Ok(Sample {
                elapsed_ns,
                tool_cpu: Some(usage.cpu.saturating_sub(cpu_before)),
                events: Some(counters.events),
                lost: Some(counters.lost),
                peak_rss_kib: Some(usage.peak_rss_kib),
            })
        }
        Variant::Auditd => {
            let audit = Audit::start(&env.scratch)?;
            if audit_before.is_none() {
                note!(
                    "audit state before: `auditctl -l`: {} | `auditctl -s`: {}",
                    audit.before.rules.replace('\n', "; "),
                    audit.before.status.replace('\n', "; ")
                );
                *audit_before = Some(audit.before.clone());
            }
            let pids: Vec<u32> = audit.daemon_pid().into_iter().chain(kauditd()).collect();
            interrupt::sleep(SETTLE)?;
            let cpu_before = total_cpu(&pids);
            let elapsed_ns = storm()?;
            interrupt::sleep(DRAIN)?;
            let cpu = total_cpu(&pids).saturating_sub(cpu_before);
            let records = audit.records();
            audit.stop().context("restoring the audit state failed")?;
            Ok(Sample {
                elapsed_ns,
                tool_cpu: Some(cpu),
                events: records,
                lost: None,
                peak_rss_kib: None,
            })
        }
        Variant::Bpftrace => {
            let cgroup = cgroup.context("bpftrace needs the container's cgroup id")?;
            let bpftrace = Bpftrace::start(&env.scratch, cgroup)?;
            let pids: Vec<u32> = bpftrace.pid().into_iter().collect();
            interrupt::sleep(SETTLE)?;
            let cpu_before = total_cpu(&pids);
            let elapsed_ns = storm()?;
            interrupt::sleep(DRAIN)?;
            let cpu = total_cpu(&pids).saturating_sub(cpu_before);
            let lines = bpftrace.stop()?;
            Ok(Sample {
                elapsed_ns,
                tool_cpu: Some(cpu),
                events: Some(lines),
                lost: None,
                peak_rss_kib: None,
            })
        }
    }
}

/// CPU time of several processes together (those that have exited count as 0).
fn total_cpu(pids: &[u32]) -> Duration {
    pids.iter()
        .filter_map(|pid| proc::cpu_time(*pid).ok())
        .sum()
}

/// The kernel's audit thread, which formats the records auditd receives.
fn kauditd() -> Option<u32> {
    proc::processes().into_iter().find_map(|(pid, dir)| {
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        (comm.trim() == "kauditd").then_some(pid)
    })
}

fn parse_elapsed(out: &str) -> Result<u64> {
    let line = out.lines().last().unwrap_or_default();
    match field(line, "elapsed_ns") {
        Some(ns) if ns > 0 => Ok(ns),
        _ => bail!("the storm printed no elapsed time: {out:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(variant: Variant, elapsed_ms: &[f64]) -> VariantResult {
        VariantResult {
            elapsed_ms: elapsed_ms.to_vec(),
            ..VariantResult::new(variant)
        }
    }

    #[test]
    fn overheads_are_ratios_of_medians_and_of_pairs() {
        let result = StormResult {
            kind: StormKind::Exec,
            execs: 100,
            rounds: 3,
            variants: vec![
                variant(Variant::Baseline, &[100.0, 200.0, 110.0]),
                variant(Variant::Sensor, &[105.0, 210.0, 121.0]),
            ],
            background_busy: vec![0.0; 3],
            audit_before: None,
        };
        // Medians 110 and 121.
        assert!((result.overhead(Variant::Sensor).unwrap() - 0.10).abs() < 1e-9);
        // Pairs 1.05, 1.05, 1.10.
        assert!((result.paired_overhead(Variant::Sensor).unwrap() - 0.05).abs() < 1e-9);
        assert!(result.overhead(Variant::Auditd).is_none());
        assert!((result.baseline_spread().unwrap() - 100.0 / 110.0).abs() < 1e-9);
    }

    #[test]
    fn reads_execstorm_output() {
        assert_eq!(parse_elapsed("count=5 elapsed_ns=1234\n").unwrap(), 1234);
        assert!(parse_elapsed("oops").is_err());
    }
}
