//! The host executes a file that lives in a container's writable layer. That is what a
//! release_agent, core_pattern or uevent-helper payload looks like: the kernel's usermode helper
//! runs it on the host, outside any container cgroup. The kernel only sends host execs that come
//! from the usermode helper or name a container storage path, so ordinary host execs cost nothing
//! here.

use std::{fs, path::Path};

use serde_json::Map;

use super::{origin::normalize, put, Finding};
use crate::{
    cgroup::container_of,
    detection::{mitre, ProcessInfo, Severity},
    docker::ContainerInfo,
    event::{text, ExecView as _},
};
use sensor_common::{flags, ExecEvent};

pub const HOST_EXEC: &str = "host-executes-container-file";

const RESPONSE: &str = "Code from a container ran as root on the host: treat the host as \
    compromised. Pause the container that owns the file, keep the file (see host_path), check \
    release_agent, core_pattern, uevent_helper and binfmt_misc settings, and restore them.";

/// Which container's file a host path is, if any.
fn owner<'a>(
    path: &str,
    containers: impl Iterator<Item = &'a ContainerInfo>,
    proc_root: &Path,
) -> Option<(String, String)> {
    for info in containers {
        // The writable layer (as stored, and as mounted), and the container's Docker volumes:
        // all of it the container can write.
        let layers = [info.upper_dir.as_deref(), info.merged_dir.as_deref()]
            .into_iter()
            .flatten();
        let volumes = info
            .mounts
            .iter()
            .filter(|m| m.kind == "volume")
            .map(|m| Path::new(&m.source));
        for dir in layers.chain(volumes) {
            let dir = dir.to_string_lossy();
            let inside = path
                .strip_prefix(dir.as_ref())
                .filter(|r| r.starts_with('/'));
            if let Some(rest) = inside {
                return Some((info.id.clone(), rest.to_string()));
            }
        }
    }
    // `/proc/<pid>/root/...` or `/proc/<pid>/cwd/...`: a path into a container process's view.
    let rest = path.strip_prefix("/proc/")?;
    let (pid, rest) = rest.split_once('/')?;
    let inside = rest
        .strip_prefix("root/")
        .or_else(|| rest.strip_prefix("cwd/"))?;
    let cgroups = fs::read_to_string(proc_root.join(pid).join("cgroup")).ok()?;
    let line = cgroups.lines().find(|l| l.starts_with("0::"))?;
    let found = container_of(&line[3..])?;
    Some((found.id, format!("/{inside}")))
}

/// Judges a host exec the kernel flagged.
pub fn on_host_exec<'a>(
    event: &ExecEvent,
    containers: impl Iterator<Item = &'a ContainerInfo>,
    proc_root: &Path,
) -> Option<Finding> {
    let h = &event.header;
    let filename = normalize(&text(&event.filename, event.filename_len));
    let (container_id, inside) = match owner(&filename, containers, proc_root) {
        Some(found) => found,
        // A container's layer directory of a container Docker no longer knows.
        None if filename.contains("/overlay2/") && filename.contains("/diff/") => {
            (String::new(), String::new())
        }
        None => return None,
    };
    let helper = h.flags & flags::USERMODE_HELPER != 0;
    let mut evidence = Map::new();
    put(&mut evidence, "host_path", filename.clone());
    if !inside.is_empty() {
        put(&mut evidence, "container_path", inside);
    }
    put(
        &mut evidence,
        "started_by",
        if helper {
            "kernel usermode helper (release_agent, core_pattern, uevent or modprobe helper)"
        } else {
            "host process"
        },
    );
    let argv: Vec<String> = event.arg_strs().map(str::to_string).collect();
    Some(
        Finding::new(
            HOST_EXEC,
            Severity::Critical,
            mitre::ESCAPE_TO_HOST,
            "Host executed a file from a container's writable layer".to_string(),
        )
        .container((!container_id.is_empty()).then_some(container_id))
        .process(ProcessInfo {
            filename: filename.clone(),
            argv,
            ..ProcessInfo::of(h)
        })
        .evidence(evidence)
        .response(RESPONSE)
        .dedup_by(filename, 60),
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// An exec by a host process, optionally started by the usermode helper (parent kthreadd).
    fn host_exec(path: &str, helper: bool) -> ExecEvent {
        let mut e = crate::testutil::exec(path, &[]);
        e.header.flags = flags::HOST | if helper { flags::USERMODE_HELPER } else { 0 };
        e.header.ppid = 2;
        e
    }

    #[test]
    fn a_payload_in_a_containers_layer_is_critical_and_names_the_container() {
        let info = ContainerInfo {
            id: "c1".into(),
            upper_dir: Some(PathBuf::from("/var/lib/docker/overlay2/abc/diff")),
            ..Default::default()
        };
        let e = host_exec("/var/lib/docker/overlay2/abc/diff/cmd", true);
        let f = on_host_exec(&e, [&info].into_iter(), Path::new("/nonexistent")).unwrap();
        assert_eq!((f.rule, f.severity), (HOST_EXEC, Severity::Critical));
        assert_eq!(f.container_id.as_deref(), Some("c1"));
        assert_eq!(f.evidence["container_path"], "/cmd");
        assert!(f.evidence["started_by"]
            .as_str()
            .unwrap()
            .contains("usermode helper"));
    }

    #[test]
    fn a_payload_in_a_containers_volume_names_the_container() {
        let info = ContainerInfo {
            id: "c2".into(),
            mounts: vec![crate::docker::model::MountInfo {
                kind: "volume".into(),
                source: "/var/lib/docker/volumes/v/_data".into(),
                destination: "/data".into(),
                read_write: true,
                volume: "v".into(),
            }],
            ..Default::default()
        };
        let e = host_exec("/var/lib/docker/volumes/v/_data/p", true);
        let f = on_host_exec(&e, [&info].into_iter(), Path::new("/nonexistent")).unwrap();
        assert_eq!(f.container_id.as_deref(), Some("c2"));
        assert_eq!(f.evidence["container_path"], "/p");
    }

    #[test]
    fn unknown_layers_are_still_reported_and_other_paths_are_not() {
        let e = host_exec("/var/lib/docker/overlay2/zzz/diff/x", true);
        let f = on_host_exec(&e, std::iter::empty(), Path::new("/nonexistent")).unwrap();
        assert!(f.container_id.is_none());
        let e = host_exec("/usr/lib/systemd/systemd-coredump", true);
        assert!(on_host_exec(&e, std::iter::empty(), Path::new("/nonexistent")).is_none());
        let e = host_exec(
            "/var/lib/docker/overlay2/abc/diff/../../../../../bin/sh",
            false,
        );
        assert!(on_host_exec(&e, std::iter::empty(), Path::new("/nonexistent")).is_none());
    }
}
