//! Mounts made by a container's workload (the runtime's own set-up mounts never reach the agent:
//! the kernel drops mounts made before the container's first exec).

use serde_json::Map;

use super::{files, put, Finding};
use crate::{
    detection::{mitre, ProcessInfo, Severity},
    event::text,
};
use sensor_common::{kind, MountEvent};

pub const MOUNT: &str = "container-mount";

/// Repeats with the same source and target (a mount tool trying one file system type after
/// another) fold into one detection within this window.
const BURST_SECS: u64 = 30;

const RESPONSE: &str = "Mounting from inside a container is how host disks, cgroup release \
    agents and procfs are reached. Pause the container, check which capabilities and devices it \
    was given (docker inspect), and look for writes to release_agent or core_pattern.";

/// `MS_*` flag names, in bit order.
const MS_FLAGS: &[(u64, &str)] = &[
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
];
/// The "magic" value old callers put in the top half of the flags.
const MS_MGC_MSK: u64 = 0xffff_0000;
const MS_MGC_VAL: u64 = 0xc0ed_0000;

/// Names the set flags, e.g. `MS_RDONLY|MS_BIND`.
pub fn flag_names(flags: u64) -> String {
    let flags = if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags & !MS_MGC_MSK
    } else {
        flags
    };
    let mut names: Vec<String> = MS_FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known: u64 = MS_FLAGS.iter().map(|(bit, _)| bit).sum();
    if flags & !known != 0 {
        names.push(format!("0x{:x}", flags & !known));
    }
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

/// Why a mount is especially interesting, if it is.
fn concern(source: &str, fstype: &str) -> Option<&'static str> {
    let block = [
        "/dev/sd",
        "/dev/vd",
        "/dev/xvd",
        "/dev/nvme",
        "/dev/hd",
        "/dev/dm-",
        "/dev/mapper/",
        "/dev/mmcblk",
        "/dev/loop",
    ];
    if block.iter().any(|p| source.starts_with(p)) {
        return Some("host block device");
    }
    // A kernel escape hatch (or a cgroup's task list) bound onto another name, to write it
    // unnoticed.
    if files::hatch(source).is_some() || source.ends_with("/cgroup.procs") {
        return Some("an escape-hatch file bound onto another name");
    }
    match fstype {
        "cgroup" => Some("cgroup v1 hierarchy (release_agent escape)"),
        "cgroup2" => Some("cgroup2 hierarchy"),
        "proc" => Some("procfs (host /proc/sys, core_pattern)"),
        "sysfs" => Some("sysfs"),
        "debugfs" | "tracefs" | "securityfs" | "bpf" => Some("kernel interface file system"),
        _ => None,
    }
}

/// Judges a mount (or fsopen) from a container.
pub fn on_mount(event: &MountEvent, container_id: &str) -> Finding {
    let source = text(&event.source, event.source_len);
    let target = text(&event.target, event.target_len);
    let fstype = text(&event.fstype, event.fstype_len);
    let data = text(&event.data, event.data_len);

    let mut evidence = Map::new();
    let (what, object) = match event.header.kind {
        kind::FSOPEN => {
            put(&mut evidence, "syscall", "fsopen");
            (
                format!("opened a {fstype} file system for mounting"),
                format!("fsopen:{fstype}"),
            )
        }
        kind::OPEN_TREE => {
            put(&mut evidence, "syscall", "open_tree");
            put(&mut evidence, "source", source.as_ref());
            // OPEN_TREE_CLONE: a detached copy, ready to be attached elsewhere.
            put(&mut evidence, "clone", event.flags & 1 != 0);
            (
                format!("took a copy of the mount at {source}"),
                format!("open_tree:{source}"),
            )
        }
        kind::MOVE_MOUNT => {
            put(&mut evidence, "syscall", "move_mount");
            put(&mut evidence, "source", source.as_ref());
            put(&mut evidence, "target", target.as_ref());
            (
                format!("moved a mount onto {target}"),
                format!("move_mount:{target}"),
            )
        }
        kind::MOUNT_SETATTR => {
            put(&mut evidence, "syscall", "mount_setattr");
            put(&mut evidence, "target", target.as_ref());
            put(
                &mut evidence,
                "attributes_set",
                attr_names(event.flags & 0xffff_ffff),
            );
            put(
                &mut evidence,
                "attributes_cleared",
                attr_names(event.flags >> 32),
            );
            (
                format!("changed the attributes of the mount at {target}"),
                format!("setattr:{target}"),
            )
        }
        _ => {
            put(&mut evidence, "source", source.as_ref());
            put(&mut evidence, "target", target.as_ref());
            put(&mut evidence, "flags", flag_names(event.flags));
            let what = if fstype.is_empty() {
                format!("mounted {source} on {target}")
            } else {
                format!("mounted {source} ({fstype}) on {target}")
            };
            (what, format!("{source}->{target}"))
        }
    };
    if !fstype.is_empty() {
        put(&mut evidence, "fstype", fstype.as_ref());
    }
    if !data.is_empty() {
        put(&mut evidence, "options", data.as_ref());
    }
    if let Some(concern) = concern(&source, &fstype) {
        put(&mut evidence, "concern", concern);
    }
    Finding::new(
        MOUNT,
        Severity::High,
        mitre::ESCAPE_TO_HOST,
        format!("Container {what}"),
    )
    .in_container(container_id)
    .process(ProcessInfo::of(&event.header))
    .evidence(evidence)
    .response(RESPONSE)
    .dedup_by(object, BURST_SECS)
}

/// `MOUNT_ATTR_*` names (mount_setattr).
fn attr_names(attrs: u64) -> String {
    const NAMES: &[(u64, &str)] = &[
        (0x1, "RDONLY"),
        (0x2, "NOSUID"),
        (0x4, "NODEV"),
        (0x8, "NOEXEC"),
        (0x70, "ATIME"),
        (0x80, "NODIRATIME"),
        (0x100000, "IDMAP"),
        (0x200000, "NOSYMFOLLOW"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| attrs & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(source: &str, target: &str, fstype: &str, flags: u64) -> MountEvent {
        let mut e = crate::testutil::mount(source, target, fstype, flags);
        crate::testutil::fill(&mut e.header.comm, b"mount");
        e
    }

    #[test]
    fn host_disk_mount_is_high_with_its_details() {
        let f = on_mount(&mount("/dev/vda", "/m", "ext4", 1), "c");
        assert_eq!(
            (f.rule, f.severity, f.technique.id),
            (MOUNT, Severity::High, "T1611")
        );
        assert_eq!(f.evidence["source"], "/dev/vda");
        assert_eq!(f.evidence["target"], "/m");
        assert_eq!(f.evidence["fstype"], "ext4");
        assert_eq!(f.evidence["flags"], "MS_RDONLY");
        assert_eq!(f.evidence["concern"], "host block device");
        assert_eq!(
            concern("/mnt/x/release_agent", ""),
            Some("an escape-hatch file bound onto another name")
        );
        assert_eq!(f.process.unwrap().comm, "mount");
    }

    #[test]
    fn attempts_with_other_file_system_types_share_a_burst_key() {
        let a = on_mount(&mount("/dev/vda", "/m", "ext4", 1), "c");
        let b = on_mount(&mount("/dev/vda", "/m", "xfs", 1), "c");
        assert_eq!(a.dedup, b.dedup);
        let cg = on_mount(&mount("cgroup", "/tmp/cg", "cgroup", 0), "c");
        assert_ne!(a.dedup, cg.dedup);
        assert!(cg.evidence["concern"]
            .as_str()
            .unwrap()
            .contains("release_agent"));
    }

    #[test]
    fn new_mount_api_calls() {
        let mut e = mount("", "/proc/sys", "", 1 << 32);
        e.header.kind = kind::MOUNT_SETATTR;
        let f = on_mount(&e, "c");
        assert_eq!(f.evidence["syscall"], "mount_setattr");
        assert_eq!(f.evidence["attributes_cleared"], "RDONLY");
        assert!(f.title.contains("/proc/sys"));
        let mut e = mount("/proc", "", "", 1);
        e.header.kind = kind::OPEN_TREE;
        let f = on_mount(&e, "c");
        assert_eq!(
            (
                f.evidence["syscall"].as_str(),
                f.evidence["clone"].as_bool()
            ),
            (Some("open_tree"), Some(true))
        );
    }

    #[test]
    fn names_flags() {
        assert_eq!(flag_names(0), "0");
        assert_eq!(flag_names(4096 | 16384), "MS_BIND|MS_REC");
        assert_eq!(flag_names(0xc0ed_0000 | 1), "MS_RDONLY");
        assert_eq!(flag_names(1 << 30), "0x40000000");
    }
}
