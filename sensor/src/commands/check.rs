//! `sensor check`: what this host offers the sensor, one line per requirement.

use std::{io::Read, os::unix::net::UnixStream, path::Path, time::Duration};

use anyhow::bail;

use crate::{cgroup, cli::CheckArgs, probes};

/// Tracepoints the sensor cannot run without (the others widen coverage).
const REQUIRED_TRACEPOINTS: &[&str] = &[
    "cgroup/cgroup_mkdir",
    "sched/sched_process_exec",
    "syscalls/sys_enter_connect",
    "syscalls/sys_enter_mount",
];

/// One requirement's outcome.
struct Line {
    ok: bool,
    required: bool,
    what: &'static str,
    detail: String,
}

pub fn check(args: &CheckArgs) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let lines = [
        Line {
            ok: euid == 0,
            required: true,
            what: "root",
            detail: format!("effective uid {euid}"),
        },
        btf(),
        tracepoints(),
        cgroup2(),
        docker_socket(&args.docker_socket),
    ];

    let mut failed = false;
    for line in &lines {
        let mark = match (line.ok, line.required) {
            (true, _) => "ok  ",
            (false, true) => "FAIL",
            (false, false) => "warn",
        };
        println!("{mark} {:<14} {}", line.what, line.detail);
        failed |= !line.ok && line.required;
    }
    if euid != 0 {
        println!("note: run `sensor check` as root; an unprivileged user cannot see everything");
    }
    if failed {
        bail!("this host cannot run the sensor (see FAIL lines above)");
    }
    Ok(())
}

fn btf() -> Line {
    let offsets = probes::btf::Btf::from_file(Path::new("/sys/kernel/btf/vmlinux"))
        .and_then(|btf| probes::btf::kernel_offsets(&btf));
    Line {
        ok: offsets.is_ok(),
        required: false,
        what: "kernel BTF",
        detail: match offsets {
            Ok(_) => "struct offsets resolved".to_string(),
            Err(err) => format!("{err} (ppid, namespaces and exec arguments will be missing)"),
        },
    }
}

fn tracepoints() -> Line {
    let Some(tracefs) = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("events/syscalls").exists())
    else {
        return Line {
            ok: true,
            required: false,
            what: "tracepoints",
            detail: "tracefs not mounted; `sensor run` mounts it".to_string(),
        };
    };
    let missing: Vec<&str> = REQUIRED_TRACEPOINTS
        .iter()
        .copied()
        .filter(|tp| !tracefs.join("events").join(tp).join("id").exists())
        .collect();
    Line {
        ok: missing.is_empty(),
        required: true,
        what: "tracepoints",
        detail: if missing.is_empty() {
            format!("required ones present in {}", tracefs.display())
        } else {
            format!("missing: {}", missing.join(", "))
        },
    }
}

fn cgroup2() -> Line {
    let mount = cgroup::find_cgroup2_mount();
    Line {
        ok: mount.is_ok(),
        required: true,
        what: "cgroup2",
        detail: match mount {
            Ok(path) => {
                let found = cgroup::scan(&path).map(|f| f.len()).unwrap_or(0);
                format!("{} ({found} container cgroups)", path.display())
            }
            Err(err) => err.to_string(),
        },
    }
}

/// Connects and sends `GET /_ping`: a path that exists is not yet a daemon that answers.
fn docker_socket(path: &Path) -> Line {
    let detail = match ping(path) {
        Ok(()) => format!("{} answers", path.display()),
        Err(reason) => format!(
            "{}: {reason} (detections will carry container ids only)",
            path.display()
        ),
    };
    Line {
        ok: detail.ends_with("answers"),
        required: false,
        what: "docker socket",
        detail,
    }
}

fn ping(path: &Path) -> Result<(), String> {
    use std::io::Write;
    let mut stream = UnixStream::connect(path).map_err(|err| format!("cannot connect: {err}"))?;
    let timeout = Some(Duration::from_secs(3));
    stream
        .set_read_timeout(timeout)
        .map_err(|err| err.to_string())?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|err| format!("cannot send: {err}"))?;
    let mut reply = [0u8; 64];
    let read = stream
        .read(&mut reply)
        .map_err(|err| format!("no answer: {err}"))?;
    let status = String::from_utf8_lossy(&reply[..read]);
    if status.starts_with("HTTP/1.0 200") || status.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer {:?}",
            status.lines().next().unwrap_or("")
        ))
    }
}
