//! `sensor check`: what this host offers the sensor, one line per requirement.

use std::path::Path;

use anyhow::bail;

use crate::{cgroup, cli::CheckArgs, probes};

/// One requirement's outcome.
struct Line {
    ok: bool,
    required: bool,
    what: &'static str,
    detail: String,
}

pub fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let mut lines = Vec::new();

    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    lines.push(Line {
        ok: euid == 0,
        required: true,
        what: "root",
        detail: format!("effective uid {euid}"),
    });

    let btf = probes::btf::Btf::from_file(Path::new("/sys/kernel/btf/vmlinux"))
        .and_then(|btf| probes::btf::kernel_offsets(&btf));
    lines.push(Line {
        ok: btf.is_ok(),
        required: false,
        what: "kernel BTF",
        detail: btf
            .map(|_| "offsets resolved".to_string())
            .unwrap_or_else(|e| e.to_string()),
    });

    let tracefs = [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .find(|p| Path::new(p).join("syscalls").exists());
    lines.push(Line {
        ok: tracefs.is_some(),
        required: false,
        what: "tracefs",
        detail: tracefs.map_or("not mounted (sensor run mounts it)".to_string(), |p| {
            p.to_string()
        }),
    });

    let cgroup2 = cgroup::find_cgroup2_mount();
    lines.push(Line {
        ok: cgroup2.is_ok(),
        required: true,
        what: "cgroup2",
        detail: match &cgroup2 {
            Ok(path) => {
                let found = cgroup::scan(path).map(|f| f.len()).unwrap_or(0);
                format!("{} ({found} container cgroups)", path.display())
            }
            Err(err) => err.to_string(),
        },
    });

    let socket_ok = args.docker_socket.exists();
    lines.push(Line {
        ok: socket_ok,
        required: false,
        what: "docker socket",
        detail: format!(
            "{}{}",
            args.docker_socket.display(),
            if socket_ok {
                ""
            } else {
                " missing (no enrichment)"
            }
        ),
    });

    let mut failed = false;
    for line in &lines {
        let mark = if line.ok {
            "ok  "
        } else if line.required {
            "FAIL"
        } else {
            "warn"
        };
        println!("{mark} {:<14} {}", line.what, line.detail);
        failed |= !line.ok && line.required;
    }
    if failed {
        bail!("this host cannot run the sensor (see FAIL lines above)");
    }
    Ok(())
}
