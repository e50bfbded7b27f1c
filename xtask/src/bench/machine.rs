//! The machine and what else ran on it, for the report.

use std::{collections::HashMap, fs, path::Path, process::Command, thread, time::Duration};

use super::{proc, PREFIX};
use crate::{cmd, docker::docker};

pub struct Machine {
    pub kernel: String,
    pub cpu_model: String,
    pub cores: usize,
    pub memory: String,
    pub virtualization: String,
    pub docker: String,
    pub bpftrace: String,
    pub auditd: String,
    pub sensor_commit: String,
}

pub fn describe(sensor: &Path) -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "unknown".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let virtualization = if cpuinfo.contains(" hypervisor") {
        "a virtual machine".to_string()
    } else {
        "no hypervisor flag".to_string()
    };
    let out = |command: &mut Command| {
        cmd::output(command)
            .map(|s| s.lines().next().unwrap_or_default().trim().to_string())
            .unwrap_or_else(|_| "unavailable".into())
    };
    let commit = out(Command::new("git")
        .arg("-C")
        .arg(cmd::workspace_root())
        .args(["describe", "--always", "--dirty", "--abbrev=12"]));
    Machine {
        kernel,
        cpu_model,
        cores,
        memory,
        virtualization,
        docker: out(docker().args(["version", "--format", "{{.Server.Version}}"])),
        bpftrace: out(Command::new("bpftrace").arg("--version")),
        auditd: out(Command::new("dpkg-query").args(["-W", "-f", "${Version}", "auditd"])),
        sensor_commit: format!("{commit} ({})", sensor.display()),
    }
}

/// What the machine was doing around the measurement.
pub struct Load {
    pub loadavg: String,
    /// Share of both cores busy over a 2 s sample.
    pub busy: f64,
    /// The busiest processes in the sample: (CPU %, pid, command).
    pub top: Vec<(f64, u32, String)>,
    pub other_containers: Vec<String>,
    pub other_sensors: Vec<u32>,
}

pub fn load_snapshot() -> Load {
    let loadavg = fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let (busy0, total0) = cpu_totals();
    let before = process_ticks();
    thread::sleep(Duration::from_secs(2));
    let (busy1, total1) = cpu_totals();
    let after = process_ticks();
    let busy = if total1 > total0 {
        (busy1 - busy0) as f64 / (total1 - total0) as f64
    } else {
        0.0
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut top: Vec<(f64, u32, String)> = after
        .iter()
        .filter_map(|(pid, (ticks, name))| {
            let old = before.get(pid).map_or(0, |(t, _)| *t);
            let delta = ticks.saturating_sub(old);
            (delta > 0).then(|| (delta as f64 / hz / 2.0 * 100.0, *pid, name.clone()))
        })
        .collect();
    top.sort_by(|a, b| b.0.total_cmp(&a.0));
    top.truncate(5);
    let other_containers = cmd::output(docker().args(["ps", "--format", "{{.Names}}"]))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.starts_with(PREFIX))
        .map(String::from)
        .collect();
    Load {
        loadavg,
        busy,
        top,
        other_containers,
        other_sensors: super::proc::other_sensors(),
    }
}

/// Share of both cores busy over `sample`.
pub fn busy_share(sample: Duration) -> f64 {
    let (busy0, total0) = cpu_totals();
    thread::sleep(sample);
    let (busy1, total1) = cpu_totals();
    if total1 > total0 {
        (busy1 - busy0) as f64 / (total1 - total0) as f64
    } else {
        0.0
    }
}

/// Background CPU above which a storm round waits for the machine to calm down.
pub const CALM: f64 = 0.10;

/// Waits (up to `limit`) until less than a tenth of the CPU is busy, as measured over half a
/// second with nothing of ours running. Returns the last busy share seen.
pub fn wait_calm(limit: Duration) -> anyhow::Result<f64> {
    let start = std::time::Instant::now();
    loop {
        let busy = busy_share(Duration::from_millis(500));
        if busy < CALM || start.elapsed() >= limit {
            return Ok(busy);
        }
        super::interrupt::check()?;
    }
}

/// (busy, total) jiffies of all CPUs from /proc/stat.
fn cpu_totals() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait are fields 4 and 5.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// pid -> (utime + stime, command line) of every process.
fn process_ticks() -> HashMap<u32, (u64, String)> {
    let mut map = HashMap::new();
    for (pid, dir) in proc::processes() {
        let Ok(stat) = fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let ticks = proc::cpu_ticks(&stat).unwrap_or(0);
        let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
        let mut name: String = String::from_utf8_lossy(&cmdline)
            .split('\0')
            .filter(|s| !s.is_empty())
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            name = stat
                .find('(')
                .map(|open| format!("[{}]", &stat[open + 1..close]))
                .unwrap_or_default();
        }
        name.truncate(80);
        map.insert(pid, (ticks, name));
    }
    map
}
