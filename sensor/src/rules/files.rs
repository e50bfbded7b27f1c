//! Writes to the kernel's escape hatches: files that make the kernel run a program of the
//! writer's choosing on the host (cgroup v1 `release_agent`, `core_pattern` pipes, the `modprobe`
//! and uevent helpers, binfmt_misc handlers). The kernel only sends opens for writing whose last
//! path component is one of these names; this rule checks the full path.

use std::{fs, path::Path};

use serde_json::Map;

use super::{origin::normalize, put, Finding};
use crate::{
    detection::{mitre, ProcessInfo, Severity},
    event::text,
};
use sensor_common::OpenEvent;

pub const ESCAPE_FILE_WRITE: &str = "escape-file-write";

const RESPONSE: &str = "The kernel runs the program named in this file as root on the host. \
    Pause the container, read back the file's value (cat it on the host), restore it, and look \
    for the payload the value points to (often in the container's writable layer).";

/// What writing a path does, if it is one of the hatches.
fn hatch(path: &str) -> Option<(&'static str, Severity)> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "release_agent" => Some((
            "cgroup v1 release_agent: run on the host when a cgroup empties",
            Severity::Critical,
        )),
        "notify_on_release" => Some((
            "cgroup v1 notify_on_release: arms the release_agent",
            Severity::High,
        )),
        _ if path.ends_with("/kernel/core_pattern") => Some((
            "core_pattern: a '|' value runs a program on the host at every crash",
            Severity::Critical,
        )),
        _ if path.ends_with("/kernel/modprobe") => Some((
            "modprobe helper: run on the host when the kernel wants a module",
            Severity::Critical,
        )),
        _ if path.ends_with("/kernel/hotplug") || path.ends_with("/kernel/uevent_helper") => {
            Some((
                "uevent helper: run on the host at every device event",
                Severity::Critical,
            ))
        }
        _ if path.ends_with("/binfmt_misc/register") => Some((
            "binfmt_misc handler: runs for matching executables, also on the host",
            Severity::Critical,
        )),
        _ => None,
    }
}

/// Judges an open-for-write of a watched name in a container.
pub fn on_open(event: &OpenEvent, container_id: &str, proc_root: &Path) -> Option<Finding> {
    let h = &event.header;
    let raw = text(&event.path, event.path_len);
    let path = if raw.starts_with('/') {
        normalize(&raw)
    } else {
        let cwd = fs::read_link(proc_root.join(h.tgid.to_string()).join("cwd")).ok();
        match cwd {
            Some(cwd) => normalize(&format!("{}/{raw}", cwd.display())),
            // Only the unmistakable names are judged without a directory.
            None => format!("?/{raw}"),
        }
    };
    let (what, severity) = hatch(&path)?;
    let mut evidence = Map::new();
    put(&mut evidence, "path", path.clone());
    if path != raw {
        put(&mut evidence, "path_as_opened", raw.as_ref());
    }
    put(&mut evidence, "effect", what);
    put(
        &mut evidence,
        "open_flags",
        format!("0x{:x}", event.open_flags),
    );
    Some(
        Finding::new(
            ESCAPE_FILE_WRITE,
            severity,
            mitre::ESCAPE_TO_HOST,
            format!("Container opened {path} for writing"),
        )
        .in_container(container_id)
        .process(ProcessInfo::of(h))
        .evidence(evidence)
        .response(RESPONSE)
        .dedup_by(path, 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::open;

    fn judge(path: &str) -> Option<Finding> {
        on_open(&open(path), "c", Path::new("/nonexistent-proc"))
    }

    #[test]
    fn escape_hatches_are_reported() {
        let f = judge("/tmp/cg/release_agent").unwrap();
        assert_eq!(
            (f.rule, f.severity, f.technique.id),
            (ESCAPE_FILE_WRITE, Severity::Critical, "T1611")
        );
        assert_eq!(
            judge("/tmp/cg/x/notify_on_release").unwrap().severity,
            Severity::High
        );
        for critical in [
            "/proc/sys/kernel/core_pattern",
            "/proc/sys/kernel/modprobe",
            "/sys/kernel/uevent_helper",
            "/proc/sys/kernel/hotplug",
            "/proc/sys/fs/binfmt_misc/register",
            "/host/proc/sys/kernel/core_pattern",
        ] {
            assert_eq!(
                judge(critical).unwrap().severity,
                Severity::Critical,
                "{critical}"
            );
        }
    }

    #[test]
    fn same_names_elsewhere_are_ignored() {
        for benign in [
            "/usr/local/bin/modprobe",
            "/tmp/core_pattern",
            "/app/register",
            "/srv/hotplug",
        ] {
            assert!(judge(benign).is_none(), "{benign}");
        }
    }

    #[test]
    fn relative_paths_without_a_directory_keep_the_unmistakable_names() {
        let f = judge("release_agent").unwrap();
        assert_eq!(f.evidence["path"], "?/release_agent");
        assert!(judge("core_pattern").is_none());
    }
}
