//! What /proc says about a process: CPU time, peak memory; and which other sensors run.

use std::{fs, path::Path, process::Child, thread, time::Duration, time::Instant};

use anyhow::{Context, Result};

/// CLOCK_MONOTONIC in nanoseconds: the clock of the sensor's `ktime_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// utime + stime of a process (all its threads), from /proc/<pid>/stat.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path} failed"))?;
    let ticks = cpu_ticks(&text).with_context(|| format!("{path} has no utime/stime"))?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}

/// Every process: its pid and its /proc directory.
pub fn processes() -> Vec<(u32, std::path::PathBuf)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, entry.path()))
        })
        .collect()
}

/// utime + stime in clock ticks. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted after its closing parenthesis.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident set size (VmHWM) in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path} failed"))?;
    status_kib(&text, "VmHWM:").with_context(|| format!("{path} has no VmHWM"))
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Pids of running `sensor run` processes (other than ours, which the caller knows by pid).
pub fn other_sensors() -> Vec<u32> {
    let mut pids: Vec<u32> = processes()
        .into_iter()
        .filter(|(pid, dir)| {
            fs::read(dir.join("cmdline")).is_ok_and(|cmdline| is_sensor_run(&cmdline))
                && !is_ours(*pid)
        })
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids
}

/// `.../sensor run ...` (argv[0] named sensor, `run` among the arguments).
fn is_sensor_run(cmdline: &[u8]) -> bool {
    let mut args = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty());
    let Some(program) = args.next() else {
        return false;
    };
    let name = program.rsplit(|b| *b == b'/').next().unwrap_or(program);
    name == b"sensor" && args.any(|a| a == b"run")
}

/// Whether `pid` is a child of this process (a sensor the bench started).
fn is_ours(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
        return false;
    };
    let ppid = rest
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u32>().ok());
    ppid == Some(std::process::id())
}

/// Sends `signal` to our own child (never reaped yet, so the pid is still the child's).
pub fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// Asks a child to stop with `first` (SIGTERM, SIGINT), waits up to `grace`, then SIGKILLs it.
/// Returns true when it stopped within the grace time.
pub fn stop_child(child: &mut Child, first: libc::c_int, grace: Duration) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    signal(child, first);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// The last `n` lines of a file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_and_status() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(12));
        let status = "Name:\tsensor\nVmPeak:\t  99 kB\nVmHWM:\t   29560 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(29560));
    }

    #[test]
    fn recognises_sensor_command_lines() {
        assert!(is_sensor_run(
            b"/work/main/target/release/sensor\0run\0--format\0json\0"
        ));
        assert!(is_sensor_run(b"sensor\0--log-level\0debug\0run\0"));
        assert!(!is_sensor_run(b"sensor\0check\0"));
        assert!(!is_sensor_run(b"cargo\0xtask\0run\0"));
        assert!(!is_sensor_run(b""));
    }
}
