//! Leaving the container without a namespace switch: moving a task out of the container's
//! cgroup (after which the kernel filter no longer sees it), chroot into the host's root (a
//! host-root bind mount, or a host process's `/proc/<pid>/root`), and io_uring, whose operations
//! never pass the syscall hooks.

use std::{os::unix::fs::MetadataExt, path::Path};

use serde_json::Map;

use super::{files, origin::normalize, put, Finding};
use crate::{
    detection::{mitre, ProcessInfo, Severity, Technique},
    docker::ContainerInfo,
    event::text,
};
use sensor_common::{flags, CgroupEvent, ChrootEvent, OpenEvent, SyscallEvent};

pub const CGROUP_ESCAPE: &str = "container-cgroup-escape";
pub const HOST_ROOT_CHROOT: &str = "host-root-chroot";
pub const IO_URING: &str = "io-uring-in-container";

const IMPAIR_DEFENSES: Technique = Technique {
    id: "T1562.001",
    name: "Impair Defenses: Disable or Modify Tools",
    tactic: "Defense Evasion",
};

const CGROUP_RESPONSE: &str = "A process left its container's cgroup, which takes it out of \
    cgroup limits and out of the sensor's container filter: treat the container as escaped. \
    Pause it, find the moved process (evidence has its pid) on the host and what it runs.";
const CHROOT_RESPONSE: &str = "The process now sees the host's files as its root: treat the \
    host as compromised. Pause the container and check how it reached the host's root (a host \
    root bind mount, --pid=host with SYS_PTRACE).";
const IO_URING_RESPONSE: &str = "io_uring operations bypass syscall monitoring. If the \
    workload does not need it, block io_uring in the container's seccomp profile.";

/// A container task moved a task out of the containers' cgroups.
pub fn on_cgroup_attach(event: &CgroupEvent, container_id: &str) -> Finding {
    let destination = text(&event.path, event.path_len);
    let mut evidence = Map::new();
    put(&mut evidence, "moved_pid", event.task);
    put(&mut evidence, "destination_cgroup", destination.as_ref());
    put(&mut evidence, "destination_level", event.level);
    Finding::new(
        CGROUP_ESCAPE,
        Severity::Critical,
        mitre::ESCAPE_TO_HOST,
        format!(
            "Process in a container moved pid {} out of the container's cgroup (to {destination})",
            event.task
        ),
    )
    .in_container(container_id)
    .process(ProcessInfo::of(&event.header))
    .evidence(evidence)
    .response(CGROUP_RESPONSE)
    .dedup_by(format!("cgroup:{destination}"), 600)
}

/// A container task opened a cgroup2 `cgroup.procs` (or `cgroup.threads`) for writing. Into a
/// cgroup that is not a container's, that moves a task out of the container — often itself,
/// which the attach hook cannot see (by then the writer is outside). `is_container_cgroup`
/// tells the agent's container cgroups by id (the directory's inode).
pub fn on_cgroup_procs_write(
    event: &OpenEvent,
    container_id: &str,
    proc_root: &Path,
    is_container_cgroup: impl Fn(u64) -> bool,
) -> Option<Finding> {
    const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
    let h = &event.header;
    let process_dir = proc_root.join(h.tgid.to_string());
    let raw = text(&event.path, event.path_len);
    let path = files::container_path(&raw, event.dirfd, &process_dir);
    // The kernel follows the path as the process would, including `/proc/<pid>/root` of a host
    // process, which is how a container with the host's pid namespace reaches the host's tree.
    // Through a symlink, the file it leads to.
    let on_host = match files::real_path(event, &process_dir) {
        (_, Some(resolved)) if h.flags & flags::LINKED != 0 => resolved,
        _ => process_dir.join("root").join(path.trim_start_matches('/')),
    };
    let directory = on_host.parent()?;
    if files::fs_magic(directory) != Some(CGROUP2_SUPER_MAGIC) {
        return None;
    }
    let cgroup_id = std::fs::metadata(directory).ok()?.ino();
    if is_container_cgroup(cgroup_id) {
        return None;
    }
    let mut evidence = Map::new();
    put(&mut evidence, "file", path.clone());
    put(&mut evidence, "destination_cgroup_id", cgroup_id);
    Some(
        Finding::new(
            CGROUP_ESCAPE,
            Severity::Critical,
            mitre::ESCAPE_TO_HOST,
            format!("Process in a container is moving a task into a host cgroup ({path})"),
        )
        .in_container(container_id)
        .process(ProcessInfo::of(h))
        .evidence(evidence)
        .response(CGROUP_RESPONSE)
        .dedup_by(format!("cgroup-id:{cgroup_id}"), 600),
    )
}

/// A chroot from a container: judged by where the new root leads. The kernel sends the task's
/// root after the call by identity; it is the host's root directory when it has the inode and
/// device of the host's root. That covers any route there: a bind of the host's `/` at any path, a
/// local volume binding it, `/proc/<pid>/root` of a host process, relative names. Without that
/// identity (unknown kernel offsets), the process's files are looked at while it lives, and the
/// container's configuration after that. A failed attempt is reported (high) when the
/// configuration says the name leads to the host's root.
pub fn on_chroot(
    event: &ChrootEvent,
    container_id: &str,
    info: Option<&ContainerInfo>,
    proc_root: &Path,
) -> Option<Finding> {
    let raw = text(&event.path, event.path_len);
    let process_dir = proc_root.join(event.header.tgid.to_string());
    // A relative name stays as given: by the time the agent looks, the process may have changed
    // its working directory (busybox's chroot moves to the new root at once).
    let path = if raw.starts_with('/') {
        normalize(&raw)
    } else {
        raw.to_string()
    };
    // Init's root is the host's, also for an agent in a container with `--pid=host`; where
    // init's files are closed to the agent, the agent's own root (it runs in the host's).
    let host_root = identity(&proc_root.join("1").join("root"))
        .or_else(|| identity(&proc_root.join("self").join("root")));
    let reason = if event.ret != 0 {
        host_root_by_config(&path, info)
    } else if event.root_ino != 0 && host_root.is_some() {
        let (major, minor) = (event.root_dev >> 20, event.root_dev & 0xf_ffff);
        let new_root = (event.root_ino, major, minor);
        (host_root == Some(new_root))
            .then_some("the host's root directory (same inode and device)")
            .or_else(|| host_root_by_config(&path, info))
    } else {
        host_root
            .and_then(|host| same_as_host_root(&raw, &process_dir, host))
            .or_else(|| host_root_by_config(&path, info))
    }?;
    let mut evidence = Map::new();
    put(&mut evidence, "new_root", path.clone());
    put(&mut evidence, "leads_to", reason);
    put(&mut evidence, "result", event.ret);
    let (severity, title) = if event.ret == 0 {
        (
            Severity::Critical,
            format!("Container changed its root to the host's ({path})"),
        )
    } else {
        (
            Severity::High,
            format!(
                "Container tried to change its root to the host's ({path}; failed with {})",
                std::io::Error::from_raw_os_error(-event.ret)
            ),
        )
    };
    Some(
        Finding::new(HOST_ROOT_CHROOT, severity, mitre::ESCAPE_TO_HOST, title)
            .in_container(container_id)
            .process(ProcessInfo::of(&event.header))
            .evidence(evidence)
            .response(CHROOT_RESPONSE)
            .dedup_by(path, 600),
    )
}

/// A directory's inode number and device (major, minor), following links.
fn identity(path: &Path) -> Option<(u64, u32, u32)> {
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    Some((meta.ino(), libc::major(dev), libc::minor(dev)))
}

/// Whether the chroot target, as the (still living) process resolves it, is the host's root.
fn same_as_host_root(
    raw: &str,
    process_dir: &Path,
    host_root: (u64, u32, u32),
) -> Option<&'static str> {
    // Through the process's own root and working directory, as the kernel resolves them.
    let target = match raw.strip_prefix('/') {
        Some(absolute) => process_dir.join("root").join(absolute),
        None => process_dir.join("cwd").join(raw),
    };
    if identity(&target) == Some(host_root) {
        return Some("the host's root directory (same inode and device)");
    }
    // The chroot already happened: the process's root is now the target.
    (identity(&process_dir.join("root")) == Some(host_root))
        .then_some("the host's root directory (the process's root after the chroot)")
}

/// Why `path`, inside the container, is the host's root according to the container's
/// configuration, if it is: for a process that is gone before the agent looks.
fn host_root_by_config(path: &str, info: Option<&ContainerInfo>) -> Option<&'static str> {
    let info = info?;
    // `/proc/<pid>/root` of a process outside the container: only visible with the host's pid
    // namespace.
    let mut parts = path.trim_start_matches('/').split('/');
    if let (Some("proc"), Some(pid), Some("root")) = (parts.next(), parts.next(), parts.next()) {
        if info.pid_mode == "host" && pid.bytes().all(|b| b.is_ascii_digit()) {
            return Some("a host process's root (/proc/<pid>/root with the host's pid namespace)");
        }
    }
    let host_root_bind = info.mounts.iter().any(|m| {
        m.kind == "bind" && m.source == "/" && m.destination.trim_end_matches('/') == path
    });
    host_root_bind.then_some("a bind mount of the host's root")
}

/// A container set up an io_uring.
pub fn on_io_uring(event: &SyscallEvent, container_id: &str) -> Finding {
    Finding::new(
        IO_URING,
        Severity::Low,
        IMPAIR_DEFENSES,
        "Container set up an io_uring (its operations bypass syscall hooks)".to_string(),
    )
    .in_container(container_id)
    .process(ProcessInfo::of(&event.header))
    .response(IO_URING_RESPONSE)
    .dedup_by("io_uring", 3600)
}

#[cfg(test)]
mod tests {
    use sensor_common::kind;

    use super::*;
    use crate::{docker::model::MountInfo, testutil};

    #[test]
    fn leaving_the_cgroup_is_critical() {
        let mut e = CgroupEvent {
            header: testutil::header(kind::CGROUP_ATTACH),
            id: 1,
            level: 0,
            task: 77,
            _pad: 0,
            path_len: 0,
            path: [0; sensor_common::PATH_LEN],
        };
        e.path_len = testutil::fill(&mut e.path, b"/");
        let f = on_cgroup_attach(&e, "c");
        assert_eq!(
            (f.rule, f.severity, f.technique.id),
            (CGROUP_ESCAPE, Severity::Critical, "T1611")
        );
        assert_eq!(f.evidence["moved_pid"], 77);
    }

    use testutil::chroot;

    #[test]
    fn writing_a_host_cgroups_procs_file_is_an_escape() {
        let cgroup2 = crate::cgroup::find_cgroup2_mount().expect("a cgroup2 mount");
        let proc_root = std::env::temp_dir().join(format!("cgprocs-{}", std::process::id()));
        std::fs::create_dir_all(proc_root.join(testutil::PID.to_string())).unwrap();
        std::os::unix::fs::symlink("/", proc_root.join(testutil::PID.to_string()).join("root"))
            .unwrap();
        let root_procs = cgroup2.join("cgroup.procs");
        let e = testutil::open(root_procs.to_str().unwrap());
        let f = on_cgroup_procs_write(&e, "c", &proc_root, |_| false)
            .expect("the root cgroup is no container's");
        assert_eq!((f.rule, f.severity), (CGROUP_ESCAPE, Severity::Critical));
        assert!(
            on_cgroup_procs_write(&e, "c", &proc_root, |_| true).is_none(),
            "a container's own cgroup"
        );
        let not_cgroup = testutil::open("/tmp/cgroup.procs");
        assert!(on_cgroup_procs_write(&not_cgroup, "c", &proc_root, |_| false).is_none());
        std::fs::remove_dir_all(&proc_root).unwrap();
    }

    #[test]
    fn chroot_into_the_host_root_by_configuration() {
        let gone = Path::new("/nonexistent-proc");
        let host_pid = ContainerInfo {
            pid_mode: "host".into(),
            ..Default::default()
        };
        let f = on_chroot(&chroot("/proc/1234/root"), "c", Some(&host_pid), gone).unwrap();
        assert_eq!((f.rule, f.severity), (HOST_ROOT_CHROOT, Severity::Critical));
        let own_pid = ContainerInfo::default();
        assert!(on_chroot(&chroot("/proc/1234/root"), "c", Some(&own_pid), gone).is_none());

        let bound = ContainerInfo {
            mounts: vec![MountInfo {
                kind: "bind".into(),
                source: "/".into(),
                destination: "/host".into(),
                read_write: true,
                volume: String::new(),
            }],
            ..Default::default()
        };
        assert!(on_chroot(&chroot("/host/"), "c", Some(&bound), gone).is_some());
        assert!(on_chroot(&chroot("/srv/jail"), "c", Some(&bound), gone).is_none());
    }

    /// A fake /proc: init's root is `hostroot`; the process's root is `rootfs`, where `hx` leads
    /// to `hostroot` (a symlink stands in for a bind mount) and its working directory is
    /// `rootfs/mnt`.
    #[test]
    fn chroot_into_the_host_root_by_identity() {
        use std::os::unix::fs::symlink;
        let base = std::env::temp_dir().join(format!("chroot-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let proc_root = base.join("proc");
        let process_dir = proc_root.join(testutil::PID.to_string());
        for dir in [
            base.join("hostroot"),
            base.join("rootfs/mnt/jail"),
            proc_root.join("1"),
            process_dir.clone(),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        symlink(base.join("hostroot"), base.join("rootfs/hx")).unwrap();
        symlink(base.join("hostroot"), base.join("rootfs/mnt/up")).unwrap();
        symlink(base.join("hostroot"), proc_root.join("1/root")).unwrap();
        symlink(base.join("rootfs"), process_dir.join("root")).unwrap();
        symlink(base.join("rootfs/mnt"), process_dir.join("cwd")).unwrap();
        let judge = |path: &str| on_chroot(&chroot(path), "c", None, &proc_root);

        let f = judge("/hx").expect("an absolute name of the host root");
        assert_eq!(f.evidence["new_root"], "/hx");
        assert!(
            judge("up").is_some(),
            "a relative name, from the working directory"
        );
        assert!(judge("/mnt/jail").is_none(), "a directory of the container");
        assert!(
            judge("jail").is_none(),
            "a relative directory of the container"
        );
        // After the chroot the name means nothing any more, but the root is the host's.
        std::fs::remove_file(process_dir.join("root")).unwrap();
        symlink(base.join("hostroot"), process_dir.join("root")).unwrap();
        assert!(
            judge("/hx").is_some(),
            "the process's root is now the host's"
        );

        // With the kernel's identity of the new root, that decides; no process files needed.
        let host = std::fs::metadata(base.join("hostroot")).unwrap();
        let kernel_dev = (libc::major(host.dev()) << 20) | libc::minor(host.dev());
        let gone = base.join("gone-proc");
        std::fs::create_dir_all(gone.join("1")).unwrap();
        symlink(base.join("hostroot"), gone.join("1/root")).unwrap();
        let mut e = chroot("relative/name");
        e.root_ino = host.ino();
        e.root_dev = kernel_dev;
        let f = on_chroot(&e, "c", None, &gone).expect("the kernel says: host root");
        assert_eq!(
            (f.severity, f.evidence["result"].as_i64()),
            (Severity::Critical, Some(0))
        );
        e.root_ino += 1;
        assert!(
            on_chroot(&e, "c", None, &gone).is_none(),
            "another directory"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_failed_chroot_into_the_host_root_is_high() {
        let bound = ContainerInfo {
            mounts: vec![MountInfo {
                kind: "bind".into(),
                source: "/".into(),
                destination: "/hostfs".into(),
                read_write: false,
                volume: String::new(),
            }],
            ..Default::default()
        };
        let mut e = chroot("/hostfs");
        e.ret = -1; // EPERM: no CAP_SYS_CHROOT
        let f = on_chroot(&e, "c", Some(&bound), Path::new("/nonexistent-proc")).unwrap();
        assert_eq!((f.rule, f.severity), (HOST_ROOT_CHROOT, Severity::High));
        assert!(f.title.contains("not permitted"), "{}", f.title);
        e.path_len = testutil::fill(&mut e.path, b"/srv");
        assert!(on_chroot(&e, "c", Some(&bound), Path::new("/nonexistent-proc")).is_none());
    }
}
