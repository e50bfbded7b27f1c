//! `cargo xtask bench`: the sensor's cost and capacity, measured side by side in one run.
//!
//! Phases (one module each): exec storms on the host and in a container, with the sensor and,
//! in the container, with auditd and bpftrace as peers, and an open storm in a container
//! ([`storm`]); event capacity under a
//! stepped connect() load ([`capacity`]); detection latency idle and under load ([`latency`]).
//! The sensor's CPU time and peak RSS are taken in every run. The results are printed as a table
//! and written to BENCHMARKS.md ([`report`]).
//!
//! The machine is noisy, so variants alternate round-robin and medians are reported. Everything
//! the bench starts (containers, the sensor, auditd, bpftrace) is stopped and removed on success,
//! on failure and on Ctrl-C; auditd's kernel state is restored exactly.

mod auditd;
mod bpftrace;
mod capacity;
mod container;
mod interrupt;
mod latency;
mod machine;
mod proc;
mod report;
mod sensor;
mod stats;
mod storm;
mod tools;

use std::{
    fs,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::{build, cmd, docker, image, prereqs, root, test};

/// Progress on stderr; stdout carries the result table.
macro_rules! note {
    ($($arg:tt)*) => {
        eprintln!("xtask bench: {}", format_args!($($arg)*))
    };
}
pub(crate) use note;

/// Name prefix of every container the bench creates.
pub const PREFIX: &str = "sensorbench";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Exec storm on the host: no sensor vs. sensor.
    Host,
    /// Exec storm in a container: no sensor vs. sensor vs. auditd vs. bpftrace.
    Container,
    /// Stepped connect() load in a container: events received and lost per step.
    Capacity,
    /// Exec-to-detection latency, idle and under load.
    Latency,
    /// Open storm (create + write + close on tmpfs) in a container: no sensor vs. sensor.
    Opens,
}

pub struct Options {
    pub quick: bool,
    pub rounds: Option<usize>,
    pub execs: Option<u64>,
    pub only: Vec<Phase>,
    pub output: Option<PathBuf>,
    pub wait_idle: u64,
    /// The command line as typed, for the report.
    pub command_line: String,
}

/// What one run does, from the options.
pub struct Plan {
    pub quick: bool,
    pub rounds: usize,
    pub execs: u64,
    /// Offered connect() rates per second; 0 is "as fast as possible".
    pub capacity_rates: Vec<u64>,
    pub capacity_step: Duration,
    pub latency_count: u64,
    pub latency_interval_ms: u64,
    pub latency_load_rate: u64,
    pub phases: Vec<Phase>,
}

impl Plan {
    fn new(options: &Options) -> Plan {
        let quick = options.quick;
        let phases = if options.only.is_empty() {
            vec![
                Phase::Host,
                Phase::Container,
                Phase::Opens,
                Phase::Capacity,
                Phase::Latency,
            ]
        } else {
            options.only.clone()
        };
        Plan {
            quick,
            rounds: options.rounds.unwrap_or(if quick { 2 } else { 9 }).max(1),
            execs: options
                .execs
                .unwrap_or(if quick { 1000 } else { 5000 })
                .max(1),
            capacity_rates: if quick {
                vec![50_000, 200_000, 0]
            } else {
                vec![25_000, 50_000, 100_000, 200_000, 300_000, 0]
            },
            capacity_step: Duration::from_secs(if quick { 2 } else { 5 }),
            latency_count: if quick { 100 } else { 500 },
            latency_interval_ms: 20,
            latency_load_rate: 50_000,
            phases,
        }
    }

    pub fn runs(&self, phase: Phase) -> bool {
        self.phases.contains(&phase)
    }
}

/// Paths and names one run shares.
pub struct Env {
    pub sensor: PathBuf,
    pub tools: tools::Tools,
    /// Scratch folder of this run (stats files, peer outputs); removed at the end.
    pub scratch: PathBuf,
}

pub fn main(options: Options) -> Result<()> {
    // The sensor, auditd and bpftrace load kernel programs or rules; Docker needs root too.
    root::reexec_as_root("`cargo xtask bench`")?;
    interrupt::install();
    let plan = Plan::new(&options);
    let started = Instant::now();

    let prereqs = step("prerequisites", prereqs::ensure)?;
    let sensor = step("release build", || build::build_sensor(&prereqs, true))?;
    let tools = step("bench tools", tools::build)?;
    step("docker engine", docker::ensure_engine)?;
    step("static busybox", image::ensure_static_busybox)?;
    step("test image", image::ensure_test_image)?;
    step("tracefs", test::ensure_tracefs)?;
    if plan.runs(Phase::Container) {
        step("peers", || {
            auditd::ensure_installed()?;
            bpftrace::ensure_installed()
        })?;
    }
    container::remove_leftovers()?;
    let waited = step("quiet machine", || wait_for_quiet(&plan, options.wait_idle))?;

    let scratch = cmd::xtask_dir().join(format!("bench-{}", std::process::id()));
    fs::create_dir_all(&scratch)
        .with_context(|| format!("creating the scratch folder {} failed", scratch.display()))?;
    let env = Env {
        sensor,
        tools,
        scratch: scratch.clone(),
    };
    let before = machine::load_snapshot();
    let result = run_phases(&plan, &env, options.wait_idle);
    let after = machine::load_snapshot();
    if let Err(err) = fs::remove_dir_all(&scratch) {
        note!("could not remove {}: {err}", scratch.display());
    }
    let results = result?;

    let description = machine::describe(&env.sensor);
    let report = report::Report {
        plan: &plan,
        results: &results,
        machine: &description,
        load_before: &before,
        load_after: &after,
        waited_for_quiet: waited,
        command_line: &options.command_line,
        duration: started.elapsed(),
    };
    print!("{}", report.table());
    let output = options
        .output
        .clone()
        .unwrap_or_else(|| default_output(plan.quick));
    report.write(&output)?;
    note!("wrote {}", output.display());
    Ok(())
}

/// Everything the phases measured.
#[derive(Default)]
pub struct Results {
    pub host: Option<storm::StormResult>,
    pub container: Option<storm::StormResult>,
    pub opens: Option<storm::StormResult>,
    pub capacity: Option<capacity::CapacityResult>,
    pub latency: Option<latency::LatencyResult>,
    /// Phases around which another sensor was seen running.
    pub disturbed: Vec<String>,
    /// Time spent waiting for other sensors to finish before the phases.
    pub waited: Duration,
    /// Phases repeated because another sensor ran during an earlier attempt.
    pub repeated: Vec<String>,
}

/// A full run repeats a phase that had company this many times at most.
const PHASE_RETRIES: usize = 2;

fn run_phases(plan: &Plan, env: &Env, wait_idle: u64) -> Result<Results> {
    let mut results = Results::default();
    for phase in plan.phases.clone() {
        let name = match phase {
            Phase::Host => "host exec storm",
            Phase::Container => "container exec storm",
            Phase::Opens => "container open storm",
            Phase::Capacity => "capacity",
            Phase::Latency => "latency",
        };
        let mut attempt = 0;
        loop {
            // Other sensors would see our load and compete for the CPU: a full run waits for
            // them before each phase and repeats a phase that still had company.
            results.waited += wait_for_quiet(plan, wait_idle)?;
            let alone_before = proc::other_sensors().is_empty();
            step(name, || {
                match phase {
                    Phase::Host => results.host = Some(storm::host(plan, env)?),
                    Phase::Container => results.container = Some(storm::container(plan, env)?),
                    Phase::Opens => results.opens = Some(storm::opens(plan, env)?),
                    Phase::Capacity => results.capacity = Some(capacity::run(plan, env)?),
                    Phase::Latency => results.latency = Some(latency::run(plan, env)?),
                }
                Ok(())
            })?;
            if alone_before && proc::other_sensors().is_empty() {
                break;
            }
            if plan.quick || attempt == PHASE_RETRIES {
                note!("another sensor ran around the {name} phase: its numbers are disturbed");
                results.disturbed.push(name.to_string());
                break;
            }
            attempt += 1;
            results.repeated.push(name.to_string());
            note!("another sensor ran around the {name} phase; repeating it ({attempt}/{PHASE_RETRIES})");
        }
    }
    Ok(results)
}

/// The full run goes into BENCHMARKS.md; a quick smoke run must not overwrite it.
fn default_output(quick: bool) -> PathBuf {
    if quick {
        cmd::xtask_dir().join("BENCHMARKS-quick.md")
    } else {
        cmd::workspace_root().join("BENCHMARKS.md")
    }
}

/// Waits until no other sensor runs (another engineer's or an end-to-end test's would see our
/// workloads and compete for the CPU). A quick run only warns. Returns how long it waited.
fn wait_for_quiet(plan: &Plan, limit_secs: u64) -> Result<Duration> {
    let start = Instant::now();
    let mut told = false;
    loop {
        let others = proc::other_sensors();
        if others.is_empty() {
            return Ok(start.elapsed());
        }
        if plan.quick {
            note!("other sensors are running (pids {others:?}); a quick run goes ahead anyway");
            return Ok(Duration::ZERO);
        }
        if start.elapsed() >= Duration::from_secs(limit_secs) {
            anyhow::bail!(
                "other sensors (pids {others:?}) kept running for {limit_secs} s; the full \
                 measurement needs the machine to itself (raise --wait-idle or try later)"
            );
        }
        if !told {
            note!("waiting for other sensors to finish (pids {others:?}), up to {limit_secs} s");
            told = true;
        }
        interrupt::sleep(Duration::from_secs(5))?;
    }
}

/// Runs one step; a failure names the step, then the cause.
fn step<T>(name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    note!("step: {name}");
    interrupt::check()?;
    run().with_context(|| format!("step `{name}` failed"))
}
