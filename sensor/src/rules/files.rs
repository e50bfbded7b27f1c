//! Writes to the kernel's escape hatches: files that make the kernel run a program of the
//! writer's choosing on the host (cgroup v1 `release_agent`, `core_pattern` pipes, the `modprobe`
//! and uevent helpers, binfmt_misc handlers). The kernel only sends opens for writing of a file
//! with one of these names on the file system it belongs to (also through a symlink), and
//! failed attempts on these names; this rule checks the full path.

use std::{
    fs,
    path::{Path, PathBuf},
};

use serde_json::Map;

use super::{
    origin::{normalize, resolve_in_root},
    put, Finding,
};
use crate::{
    detection::{mitre, ProcessInfo, Severity},
    event::text,
};
use sensor_common::{flags, OpenEvent};

pub const ESCAPE_FILE_WRITE: &str = "escape-file-write";

const RESPONSE: &str = "The kernel runs the program named in this file as root on the host. \
    Pause the container, read back the file's value (cat it on the host), restore it, and look \
    for the payload the value points to (often in the container's writable layer).";

/// What writing a path does, if it is one of the hatches.
pub fn hatch(path: &str) -> Option<(&'static str, Severity)> {
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

/// The file system a hatch must be on (`statfs` magic numbers), by its name.
fn expected_fs(path: &str) -> u64 {
    const CGROUP: u64 = 0x27e0eb;
    const PROC: u64 = 0x9fa0;
    const SYSFS: u64 = 0x6265_6572;
    const BINFMT_MISC: u64 = 0x4249_4e4d;
    match path.rsplit('/').next().unwrap_or(path) {
        "release_agent" | "notify_on_release" => CGROUP,
        "uevent_helper" => SYSFS,
        "register" => BINFMT_MISC,
        _ => PROC,
    }
}

/// Where a hatch of this file name normally is, for an open through a symlink whose target can
/// no longer be looked at: the kernel vouched for the name and the file system.
fn usual_place(file_name: &str) -> String {
    match file_name {
        "core_pattern" | "modprobe" | "hotplug" => format!("/proc/sys/kernel/{file_name}"),
        "uevent_helper" => "/sys/kernel/uevent_helper".to_string(),
        "register" => "/proc/sys/fs/binfmt_misc/register".to_string(),
        other => format!("?/{other}"),
    }
}

/// The container's view of the file an open names, following symlinks the way the container
/// sees them (`/tmp/k/core_pattern` with `/tmp/k` pointing at /proc/sys/kernel is the real
/// thing), and its path on the host when the process can still be looked at.
pub fn real_path(event: &OpenEvent, process_dir: &Path) -> (String, Option<PathBuf>) {
    let raw = text(&event.path, event.path_len);
    let path = container_path(&raw, event.dirfd, process_dir);
    let root = process_dir.join("root");
    let resolved = resolve_in_root(&root, &path).filter(|p| path.starts_with('/') && p.exists());
    let real = match resolved.as_ref().and_then(|r| r.strip_prefix(&root).ok()) {
        Some(inside) => format!("/{}", inside.display()),
        // Opened through a symlink the agent cannot follow any more: the kernel's file name.
        None if event.header.flags & flags::LINKED != 0 => {
            usual_place(&text(&event.file_name, event.file_name_len))
        }
        None => path,
    };
    (real, resolved)
}

/// Judges an open-for-write of a watched name in a container.
pub fn on_open(event: &OpenEvent, container_id: &str, proc_root: &Path) -> Option<Finding> {
    let h = &event.header;
    let process_dir = proc_root.join(h.tgid.to_string());
    let raw = text(&event.path, event.path_len);
    let (resolved_path, resolved) = real_path(event, &process_dir);
    // Opened under another name (a symlink, a bind mount of the file): the kernel's name of
    // the file opened decides when the path as the container sees it does not show a hatch.
    let linked = h.flags & flags::LINKED != 0;
    let real = match hatch(&resolved_path) {
        None if linked => usual_place(&text(&event.file_name, event.file_name_len)),
        _ => resolved_path.clone(),
    };
    let (what, severity) = hatch(&real).or_else(|| hatch(&raw))?;
    // A file merely named like a hatch, on an ordinary file system, is not one (and a flood of
    // such writes must not mint critical alerts). The kernel says which file system an opened
    // file is on; for a failed attempt the path is looked at, and when it cannot be (the process
    // is gone), the name decides.
    let fs_type = match event.fs_magic {
        0 => resolved.as_deref().and_then(fs_magic),
        magic => Some(u64::from(magic)),
    };
    if fs_type.is_some_and(|fs_type| fs_type != expected_fs(&real)) {
        return None;
    }
    let mut evidence = Map::new();
    put(&mut evidence, "path", real.clone());
    if real != raw {
        put(&mut evidence, "path_as_opened", raw.as_ref());
    }
    if linked {
        put(&mut evidence, "opened_under_another_name", true);
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
            format!("Container opened {real} for writing"),
        )
        .in_container(container_id)
        .process(ProcessInfo::of(h))
        .evidence(evidence)
        .response(RESPONSE)
        // A hatch known by its name only (`?/release_agent`) is told apart by how it was opened.
        .dedup_by(
            if real.starts_with("?/") {
                format!("{real} as {raw}")
            } else {
                real
            },
            60,
        ),
    )
}

/// The absolute container path of an opened name: relative names are resolved against the
/// directory descriptor or the working directory of the process, when it still lives.
pub fn container_path(raw: &str, dirfd: i32, process_dir: &Path) -> String {
    const AT_FDCWD: i32 = -100;
    if raw.starts_with('/') {
        return normalize(raw);
    }
    let base = if dirfd == AT_FDCWD {
        process_dir.join("cwd")
    } else {
        process_dir.join("fd").join(dirfd.to_string())
    };
    match fs::read_link(base) {
        Ok(dir) => normalize(&format!("{}/{raw}", dir.display())),
        // Only the unmistakable names are judged without a directory.
        Err(_) => format!("?/{raw}"),
    }
}

/// The `statfs` magic number of the file system holding `path`.
pub fn fs_magic(path: &Path) -> Option<u64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and out-pointer.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_type as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::open;

    fn judge(path: &str) -> Option<Finding> {
        on_open(&open(path), "c", Path::new("/nonexistent-proc"))
    }

    #[test]
    fn relative_names_follow_the_directory_descriptor() {
        let base = std::env::temp_dir().join(format!("hatchfd-{}", std::process::id()));
        fs::create_dir_all(base.join("fd")).unwrap();
        std::os::unix::fs::symlink("/sys/fs/cgroup/x", base.join("fd/5")).unwrap();
        assert_eq!(
            container_path("release_agent", 5, &base),
            "/sys/fs/cgroup/x/release_agent"
        );
        assert_eq!(
            container_path("release_agent", -100, &base),
            "?/release_agent"
        );
        fs::remove_dir_all(&base).unwrap();
    }

    /// An open of `path` that the kernel saw lead to `file_name` on a file system of `magic`.
    fn linked(path: &str, file_name: &str, magic: u32) -> OpenEvent {
        let mut e = open(path);
        e.header.flags |= flags::LINKED;
        e.fs_magic = magic;
        e.file_name_len = crate::testutil::fill(&mut e.file_name, file_name.as_bytes());
        e
    }

    #[test]
    fn hatches_opened_through_a_symlink_are_reported() {
        const PROC: u32 = 0x9fa0;
        const CGROUP: u32 = 0x27e0eb;
        let gone = Path::new("/nonexistent-proc");
        let f = on_open(&linked("/tmp/.cache/x", "core_pattern", PROC), "c", gone).unwrap();
        assert_eq!(
            (f.rule, f.severity),
            (ESCAPE_FILE_WRITE, Severity::Critical)
        );
        assert_eq!(f.evidence["path"], "/proc/sys/kernel/core_pattern");
        assert_eq!(f.evidence["path_as_opened"], "/tmp/.cache/x");
        assert_eq!(f.evidence["opened_under_another_name"], true);
        let f = on_open(&linked("/var/a", "release_agent", CGROUP), "c", gone).unwrap();
        assert_eq!(f.severity, Severity::Critical);
        // A bind mount of the hatch onto an ordinary name: the path the container sees shows
        // a plain file, the kernel's name shows the hatch.
        let base = std::env::temp_dir().join(format!("hatchbind-{}", std::process::id()));
        let process_dir = base.join(crate::testutil::PID.to_string());
        fs::create_dir_all(base.join("rootfs/tmp")).unwrap();
        fs::create_dir_all(&process_dir).unwrap();
        fs::write(base.join("rootfs/tmp/foo"), b"").unwrap();
        std::os::unix::fs::symlink(base.join("rootfs"), process_dir.join("root")).unwrap();
        let f = on_open(&linked("/tmp/foo", "release_agent", CGROUP), "c", &base).unwrap();
        assert_eq!(f.evidence["path"], "?/release_agent");
        assert_eq!(f.evidence["path_as_opened"], "/tmp/foo");
        fs::remove_dir_all(&base).unwrap();
        // The kernel's file system must be the hatch's own.
        assert!(on_open(&linked("/tmp/y", "core_pattern", CGROUP), "c", gone).is_none());
        assert!(on_open(&linked("/tmp/z", "release_agent", PROC), "c", gone).is_none());
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
    fn files_merely_named_like_hatches_are_not_hatches() {
        // A file called release_agent in /tmp, looked at through a fake /proc/<pid>/root.
        let base = std::env::temp_dir().join(format!("hatch-{}", std::process::id()));
        let root = base.join("4242/root");
        fs::create_dir_all(root.join("tmp/x")).unwrap();
        fs::write(root.join("tmp/x/release_agent"), b"").unwrap();
        let e = open("/tmp/x/release_agent");
        assert!(
            on_open(&e, "c", &base).is_none(),
            "an ordinary file named release_agent"
        );
        fs::remove_dir_all(&base).unwrap();
        // The real ones are on the file systems expected of them.
        let core_pattern = "/proc/sys/kernel/core_pattern";
        assert_eq!(
            fs_magic(Path::new(core_pattern)),
            Some(expected_fs(core_pattern))
        );
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
