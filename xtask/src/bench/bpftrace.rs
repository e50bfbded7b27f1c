//! bpftrace as a peer: a script that captures what the sensor captures — exec (pid, ppid, uid,
//! comm, cgroup, file name and arguments), connect (the address) and mount (source, target,
//! fstype, flags) — for one container's cgroup, as the sensor filters to container cgroups in
//! the kernel, printing one line per event to a file.

use std::{
    fs,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{interrupt, proc};
use crate::{cmd, docker};

const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Tracepoints the script attaches.
const TRACEPOINTS: usize = 4;

/// Installs Debian's bpftrace when it is missing.
pub fn ensure_installed() -> Result<()> {
    if cmd::which("bpftrace", &[]).is_some() {
        return Ok(());
    }
    docker::apt_install(&["bpftrace"])?;
    cmd::which("bpftrace", &[]).context("bpftrace is still missing after installing it")?;
    Ok(())
}

/// The script for the container whose cgroup id is `cgroup`. Exec is seen at the system call
/// (bpftrace reads argv there); the ppid comes from the task through BTF. The mount line is
/// printed in three parts: three 200-byte strings in one printf exceed the 512-byte BPF stack.
pub fn script(cgroup: u64) -> String {
    let exec = |syscall: &str| {
        format!(
            "tracepoint:syscalls:sys_enter_{syscall} /cgroup == {cgroup}/\n\
             {{\n\
             \tprintf(\"{syscall} pid=%d ppid=%d uid=%d comm=%s cgroup=%llu file=%s argv=\", pid, \
             curtask->real_parent->tgid, uid, comm, cgroup, str(args->filename));\n\
             \tjoin(args->argv);\n\
             }}\n"
        )
    };
    let mut script = String::new();
    script.push_str(&exec("execve"));
    script.push_str(&exec("execveat"));
    script.push_str(&format!(
        "tracepoint:syscalls:sys_enter_connect /cgroup == {cgroup}/\n\
         {{\n\
         \t$family = *(uint16 *)args->uservaddr;\n\
         \tif ($family == 1) {{\n\
         \t\tprintf(\"connect pid=%d ppid=%d uid=%d comm=%s cgroup=%llu unix=%s\\n\", pid, \
         curtask->real_parent->tgid, uid, comm, cgroup, ((struct sockaddr_un *)args->uservaddr)->sun_path);\n\
         \t}} else if ($family == 2) {{\n\
         \t\t$in = (struct sockaddr_in *)args->uservaddr;\n\
         \t\tprintf(\"connect pid=%d ppid=%d uid=%d comm=%s cgroup=%llu inet=%s:%d\\n\", pid, \
         curtask->real_parent->tgid, uid, comm, cgroup, ntop(2, $in->sin_addr.s_addr), bswap($in->sin_port));\n\
         \t}} else if ($family == 10) {{\n\
         \t\t$in6 = (struct sockaddr_in6 *)args->uservaddr;\n\
         \t\tprintf(\"connect pid=%d ppid=%d uid=%d comm=%s cgroup=%llu inet6=%s:%d\\n\", pid, \
         curtask->real_parent->tgid, uid, comm, cgroup, ntop(10, $in6->sin6_addr.in6_u.u6_addr8), bswap($in6->sin6_port));\n\
         \t}}\n\
         }}\n\
         tracepoint:syscalls:sys_enter_mount /cgroup == {cgroup}/\n\
         {{\n\
         \tprintf(\"mount pid=%d ppid=%d uid=%d comm=%s cgroup=%llu source=%s \", pid, \
         curtask->real_parent->tgid, uid, comm, cgroup, str(args->dev_name));\n\
         \tprintf(\"target=%s \", str(args->dir_name));\n\
         \tprintf(\"fstype=%s flags=%lu\\n\", str(args->type), args->flags);\n\
         }}\n"
    ));
    script
}

/// Perf event descriptors a process holds (one per attached tracepoint, one per CPU buffer).
fn perf_events(pid: u32) -> usize {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("perf_event"))
        })
        .count()
}

/// A running bpftrace; stopped (SIGINT, as a user would) on drop.
pub struct Bpftrace {
    child: Option<Child>,
    dir: PathBuf,
    output: PathBuf,
}

impl Bpftrace {
    pub fn start(scratch: &Path, cgroup: u64) -> Result<Bpftrace> {
        let dir = scratch.join(format!("bpftrace-{}", proc::monotonic_ns()));
        fs::create_dir_all(&dir).with_context(|| format!("creating {} failed", dir.display()))?;
        let script_path = dir.join("sensorbench.bt");
        fs::write(&script_path, script(cgroup))?;
        let output = dir.join("events.txt");
        let log = fs::File::create(dir.join("stderr.txt"))?;
        let child = Command::new(cmd::which("bpftrace", &[]).context("bpftrace is not installed")?)
            .arg("-o")
            .arg(&output)
            .arg(&script_path)
            // Strings as long as bpftrace allows (the sensor keeps 256-byte paths).
            .env("BPFTRACE_STRLEN", "200")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("could not start bpftrace")?;
        let mut bpftrace = Bpftrace {
            child: Some(child),
            dir,
            output,
        };
        bpftrace.wait_ready()?;
        Ok(bpftrace)
    }

    /// bpftrace buffers its `-o` file until exit, so a BEGIN probe's line cannot be seen
    /// early. Attached means: `Attaching N probes...` was written, and the process holds a
    /// perf event for each of the [`TRACEPOINTS`] (plus its output buffers), unchanged over two
    /// looks 300 ms apart.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = 0;
        loop {
            let announced = fs::read_to_string(&self.output).is_ok_and(|t| t.contains("Attaching"));
            let child = self.child.as_mut().expect("running");
            let events = perf_events(child.id());
            if announced && events >= TRACEPOINTS && events == last {
                return Ok(());
            }
            last = events;
            if let Some(status) = child.try_wait()? {
                bail!(
                    "bpftrace exited ({status}) before attaching:\n{}",
                    proc::tail(&self.dir.join("stderr.txt"), 20)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "bpftrace did not attach within {READY_TIMEOUT:?}:\n{}",
                    proc::tail(&self.dir.join("stderr.txt"), 20)
                );
            }
            interrupt::sleep(Duration::from_millis(300))?;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops bpftrace and returns how many event lines it wrote.
    pub fn stop(mut self) -> Result<u64> {
        self.halt();
        let text = fs::read(&self.output).unwrap_or_default();
        let events = String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| l.starts_with("exec") || l.starts_with("connect") || l.starts_with("mount"))
            .count() as u64;
        Ok(events)
    }

    fn halt(&mut self) {
        if let Some(mut child) = self.child.take() {
            proc::stop_child(&mut child, libc::SIGINT, Duration::from_secs(10));
        }
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        self.halt();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_filters_on_the_cgroup_and_prints_every_field() {
        let text = script(4242);
        assert_eq!(text.matches("/cgroup == 4242/").count(), 4);
        for field in [
            "ppid=", "uid=", "comm=", "file=", "argv=", "unix=", "inet=", "inet6=", "source=",
            "fstype=", "flags=",
        ] {
            assert!(text.contains(field), "{field} missing");
        }
        if let Ok(path) = std::env::var("SENSORBENCH_WRITE_SCRIPT") {
            fs::write(path, &text).unwrap();
        }
    }
}
