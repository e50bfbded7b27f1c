//! Where an executed file came from: the image, or the container's writable layer (written after
//! the container was created), or nowhere (fileless execution, a deleted file).
//!
//! The question is answered on the host, without entering the container: Docker's overlay2
//! driver keeps every file a container writes in its `UpperDir`, so a file is "written inside the
//! container" exactly when it exists there. When the upper directory is unknown (Docker
//! unreachable, another storage driver), the file is looked at through `/proc/<pid>/root` and
//! counts as written when its inode changed after the container was created. A file on one of
//! the container's Docker volumes counts as written when its inode changed after the container's
//! workload started: the runtime fills a new volume from the image before that, and anything
//! newer came from a container using the volume.

use super::files::fs_magic;
use crate::docker::model::MountInfo;
use std::{
    borrow::Cow,
    fs,
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Component, Path, PathBuf},
};

/// Facts about an executed file found in a container's writable layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenFile {
    /// The path inside the container.
    pub path: String,
    /// Where the file is on the host (in the writable layer), when known.
    pub host_path: Option<PathBuf>,
    pub size: u64,
    pub mode: u32,
    pub mtime_unix_ns: i64,
    /// `upperdir` or `ctime`.
    pub method: &'static str,
}

impl WrittenFile {
    fn new(
        path: String,
        host_path: Option<PathBuf>,
        meta: &fs::Metadata,
        method: &'static str,
    ) -> WrittenFile {
        WrittenFile {
            path,
            host_path,
            size: meta.len(),
            mode: meta.mode(),
            mtime_unix_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            method,
        }
    }
}

/// A regular file whose inode changed at or after `since_unix_ns`.
fn file_changed_since(meta: &fs::Metadata, since_unix_ns: i64) -> bool {
    meta.is_file() && meta.ctime() * 1_000_000_000 + meta.ctime_nsec() >= since_unix_ns
}

/// Where an executed file came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Written in the container after it was created.
    Written(WrittenFile),
    /// The program runs from a file descriptor or an anonymous memory file, not a path.
    Fileless { target: String },
    /// The file was deleted after it was executed.
    Deleted { exe: String },
    /// Part of the image.
    Image,
    /// On a volume or bind mount, not in the container's own layer.
    Mounted { destination: String },
    /// Could not be determined; the reason says why.
    Unknown(String),
}

/// What the origin check may use.
pub struct Lookup<'a> {
    pub pid: u32,
    /// The file name the kernel executed.
    pub filename: &'a str,
    /// overlay2 writable layer of the container, when known.
    pub upper_dir: Option<&'a Path>,
    /// Container creation time; files changed since count as written.
    pub created_unix_ns: i64,
    /// When the container's workload started (its first exec, or Docker's start time), 0 when
    /// unknown: files on its volumes changed since count as written.
    pub workload_started_unix_ns: i64,
    /// Inode number of the executed file, sent by the kernel for relative names (0 otherwise).
    pub exe_ino: u64,
    /// `/proc`, replaceable in tests.
    pub proc_root: &'a Path,
    /// Where the container has volumes and bind mounts: files there are not in its layer, even
    /// though the runtime leaves an empty placeholder in the layer for a file bind mount.
    pub mounts: &'a [MountInfo],
}

/// Symlink hops followed inside a container path.
const MAX_LINKS: usize = 8;

/// Decides where the executed file came from.
pub fn origin(lookup: &Lookup<'_>) -> Origin {
    let found = origin_by_name(lookup);
    // A relative name (`./x`) is resolved against the working directory the process has when
    // the agent looks: gone, or changed already. The kernel's inode number of the file finds
    // it in the writable layer all the same.
    let unresolved = matches!(
        found,
        Origin::Image | Origin::Unknown(_) | Origin::Mounted { .. }
    );
    if !unresolved || lookup.exe_ino == 0 || lookup.filename.starts_with('/') {
        return found;
    }
    if let Some(written) = lookup
        .upper_dir
        .and_then(|upper| find_by_inode(upper, lookup.exe_ino))
    {
        return Origin::Written(written);
    }
    // On one of the container's volumes: written there after the workload started.
    lookup
        .mounts
        .iter()
        .filter(|m| m.kind == "volume" && !m.source.is_empty())
        .find_map(|m| {
            let file = find_by_inode(Path::new(&m.source), lookup.exe_ino)?;
            let inside = file.path.trim_start_matches('/');
            let path = format!("{}/{inside}", m.destination.trim_end_matches('/'));
            in_volume(m, &path, lookup.workload_started_unix_ns)
        })
        .map_or(found, Origin::Written)
}

/// Entries looked at, at most, when searching a writable layer for an inode: the layer holds
/// only what the container wrote, usually little.
const INODE_SEARCH_ENTRIES: usize = 20_000;

/// A regular file with inode number `ino` in the writable layer, as a written file.
fn find_by_inode(upper: &Path, ino: u64) -> Option<WrittenFile> {
    use std::os::unix::fs::DirEntryExt;
    let mut pending = vec![upper.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > INODE_SEARCH_ENTRIES {
                return None;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && entry.ino() == ino {
                let meta = entry.metadata().ok()?;
                let host_path = entry.path();
                let inside = format!("/{}", host_path.strip_prefix(upper).ok()?.display());
                return Some(WrittenFile::new(
                    inside,
                    Some(host_path),
                    &meta,
                    "upperdir-inode",
                ));
            }
        }
    }
    None
}

/// Where the file the name leads to came from.
fn origin_by_name(lookup: &Lookup<'_>) -> Origin {
    if is_fd_path(lookup.filename) {
        return Origin::Fileless {
            target: exe_target(lookup).unwrap_or_else(|| lookup.filename.to_string()),
        };
    }
    let path = match container_path(lookup) {
        Ok(path) => path,
        Err(reason) => return Origin::Unknown(reason),
    };
    let mount = mounted_at(lookup.mounts, &path);
    let mounted = || Origin::Mounted {
        destination: mount
            .map(|m| m.destination.trim_end_matches('/').to_string())
            .unwrap_or_default(),
    };
    // A file bind-mounted from the host is the host's (the runtime even leaves an empty
    // placeholder for it in the writable layer).
    if mount.is_some_and(|m| m.kind == "bind") {
        return mounted();
    }
    let found = match (mount, lookup.upper_dir) {
        (None, Some(upper)) => in_upper_dir(upper, &path),
        (None, None) => changed_since(lookup, &path),
        (Some(m), _) if m.kind == "volume" => in_volume(m, &path, lookup.workload_started_unix_ns),
        (Some(_), _) => None,
    };
    if let Some(written) = found.or_else(|| on_tmpfs(lookup, &path)) {
        return Origin::Written(written);
    }
    if mount.is_some() {
        return mounted();
    }
    match exe_target(lookup) {
        Some(exe) if exe.starts_with("/memfd:") => Origin::Fileless { target: exe },
        Some(exe) if exe.ends_with(" (deleted)") => Origin::Deleted { exe },
        _ => Origin::Image,
    }
}

/// The mount destination `path` is on, if any.
fn mounted_at<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    mounts.iter().find(|m| {
        let d = m.destination.trim_end_matches('/');
        !d.is_empty()
            && (path == d
                || path
                    .strip_prefix(d)
                    .is_some_and(|rest| rest.starts_with('/')))
    })
}

/// A file on a Docker volume whose inode changed after the workload started, looked up in the
/// volume's directory on the host (no race with a short-lived process).
fn in_volume(mount: &MountInfo, path: &str, since_unix_ns: i64) -> Option<WrittenFile> {
    if since_unix_ns <= 0 || mount.source.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(mount.destination.trim_end_matches('/'))?;
    let host_path = resolve_in_root(Path::new(&mount.source), rest)?;
    let meta = fs::metadata(&host_path).ok()?;
    file_changed_since(&meta, since_unix_ns)
        .then(|| WrittenFile::new(path.to_string(), Some(host_path), &meta, "volume"))
}

/// A file on a memory file system of the container (`--tmpfs`, `/dev/shm`): nothing there
/// comes from the image, so it was written after the container started.
fn on_tmpfs(lookup: &Lookup<'_>, path: &str) -> Option<WrittenFile> {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    let root = lookup.proc_root.join(lookup.pid.to_string()).join("root");
    let file = resolve_in_root(&root, path)?;
    let meta = fs::metadata(&file).ok()?;
    (meta.is_file() && fs_magic(&file) == Some(TMPFS_MAGIC))
        .then(|| WrittenFile::new(path.to_string(), None, &meta, "tmpfs"))
}

/// The overlay upper directory of the root file system described by a process's mountinfo:
/// the container's writable layer, known even before (or without) Docker's answer.
pub fn upper_dir_from_mountinfo(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if left.split_whitespace().nth(4)? != "/" {
            return None;
        }
        let mut fields = right.split_whitespace();
        if fields.next()? != "overlay" {
            return None;
        }
        let options = fields.nth(1)?;
        let upper = options
            .split(',')
            .find_map(|o| o.strip_prefix("upperdir="))?;
        Some(PathBuf::from(crate::cgroup::unescape_mountinfo(upper)))
    })
}

/// `/dev/fd/N`, `/proc/self/fd/N`, `/proc/<pid>/fd/N`: what execveat with an empty path and
/// fexecve() produce.
pub fn is_fd_path(filename: &str) -> bool {
    if filename.starts_with("/dev/fd/")
        || filename.starts_with("/proc/self/fd/")
        || filename.starts_with("/proc/thread-self/fd/")
    {
        return true;
    }
    let Some(rest) = filename.strip_prefix("/proc/") else {
        return false;
    };
    let mut parts = rest.splitn(3, '/');
    matches!((parts.next(), parts.next()), (Some(pid), Some("fd")) if pid.bytes().all(|b| b.is_ascii_digit()))
}

/// The absolute path inside the container: relative names are resolved against the process's
/// working directory.
fn container_path<'a>(lookup: &Lookup<'a>) -> Result<Cow<'a, str>, String> {
    if is_normal(lookup.filename) {
        return Ok(Cow::Borrowed(lookup.filename));
    }
    if lookup.filename.starts_with('/') {
        return Ok(Cow::Owned(normalize(lookup.filename)));
    }
    let cwd_link = lookup.proc_root.join(lookup.pid.to_string()).join("cwd");
    let cwd = fs::read_link(&cwd_link).map_err(|err| {
        format!(
            "relative path {:?} and {} unreadable: {err}",
            lookup.filename,
            cwd_link.display()
        )
    })?;
    Ok(Cow::Owned(normalize(&format!(
        "{}/{}",
        cwd.display(),
        lookup.filename
    ))))
}

/// Absolute, with no empty, `.` or `..` components and no trailing slash: nothing to resolve.
fn is_normal(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && path[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// Lexically resolves `.` and `..` (the path is inside the container; nothing on the host is
/// consulted).
pub fn normalize(path: &str) -> String {
    if is_normal(path) {
        return path.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().unwrap_or("")),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// Looks the path up in the writable layer, following symlinks that live there.
fn in_upper_dir(upper: &Path, path: &str) -> Option<WrittenFile> {
    let mut path = path.to_string();
    for _ in 0..MAX_LINKS {
        let host_path = upper.join(path.trim_start_matches('/'));
        let meta = fs::symlink_metadata(&host_path).ok()?;
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            let target = fs::read_link(&host_path).ok()?;
            let target = target.to_string_lossy();
            path = if target.starts_with('/') {
                normalize(&target)
            } else {
                let parent = Path::new(&path)
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                normalize(&format!("{parent}/{target}"))
            };
            continue;
        }
        // A whiteout (character device 0/0) marks a deleted lower file, not a written one.
        if !file_type.is_file() || file_type.is_char_device() {
            return None;
        }
        return Some(WrittenFile::new(path, Some(host_path), &meta, "upperdir"));
    }
    None
}

/// Without a known writable layer: the file as the process sees it, changed after creation.
fn changed_since(lookup: &Lookup<'_>, path: &str) -> Option<WrittenFile> {
    if lookup.created_unix_ns <= 0 {
        return None;
    }
    let root = lookup.proc_root.join(lookup.pid.to_string()).join("root");
    let meta = fs::metadata(resolve_in_root(&root, path)?).ok()?;
    file_changed_since(&meta, lookup.created_unix_ns)
        .then(|| WrittenFile::new(path.to_string(), None, &meta, "ctime"))
}

/// Resolves `path` inside `root` (a `/proc/<pid>/root`) the way the container would: symlinks are
/// followed component by component and absolute targets restart at `root`. Letting the kernel
/// follow them instead would resolve an absolute link such as `/var/run -> /run` against the
/// host's root, and find host files the container cannot see.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = split(path).rev().collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = root.join(resolved.join("/")).join(&part);
        let Ok(meta) = fs::symlink_metadata(&candidate) else {
            // Missing: let the caller's own lookup fail on it.
            return Some(candidate);
        };
        if !meta.file_type().is_symlink() {
            resolved.push(part);
            continue;
        }
        hops += 1;
        if hops > MAX_LINKS {
            return None;
        }
        let target = fs::read_link(&candidate).ok()?;
        let target = target.to_string_lossy();
        if target.starts_with('/') {
            resolved.clear();
        }
        pending.extend(split(&target).rev());
    }
    Some(root.join(resolved.join("/")))
}

fn split(path: &str) -> impl DoubleEndedIterator<Item = String> + '_ {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

fn exe_target(lookup: &Lookup<'_>) -> Option<String> {
    let link = lookup.proc_root.join(lookup.pid.to_string()).join("exe");
    fs::read_link(link)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("origin-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn lookup<'a>(filename: &'a str, upper: Option<&'a Path>, proc_root: &'a Path) -> Lookup<'a> {
        Lookup {
            pid: 4242,
            filename,
            upper_dir: upper,
            created_unix_ns: 1,
            workload_started_unix_ns: 1,
            exe_ino: 0,
            proc_root,
            mounts: &[],
        }
    }

    #[test]
    fn a_file_in_the_upper_dir_was_written_in_the_container() {
        let upper = scratch("upper");
        fs::create_dir_all(upper.join("tmp")).unwrap();
        fs::write(upper.join("tmp/m"), b"#!/bin/sh\nsleep 1\n").unwrap();
        let proc_root = scratch("proc-empty");

        let Origin::Written(file) = origin(&lookup("/tmp/m", Some(&upper), &proc_root)) else {
            panic!("expected a written file");
        };
        assert_eq!(file.path, "/tmp/m");
        assert_eq!(file.host_path, Some(upper.join("tmp/m")));
        assert_eq!(file.method, "upperdir");
        assert_eq!(file.size, 18);

        // Through a symlink that was also written in the container, and with `..` in the name.
        symlink("/tmp/m", upper.join("tmp/innocent")).unwrap();
        let Origin::Written(file) =
            origin(&lookup("/var/../tmp/innocent", Some(&upper), &proc_root))
        else {
            panic!("expected the link target");
        };
        assert_eq!(file.path, "/tmp/m");
        fs::remove_dir_all(&upper).unwrap();
    }

    #[test]
    fn bind_mount_placeholders_in_the_upper_dir_are_not_written_files() {
        let upper = scratch("upper-bind");
        fs::create_dir_all(upper.join("usr/local/bin")).unwrap();
        fs::write(upper.join("usr/local/bin/tool"), b"").unwrap();
        let proc_root = scratch("proc-bind");
        let mounts = ["/usr/local/bin/tool", "/data/"].map(|d| MountInfo {
            destination: d.into(),
            ..Default::default()
        });
        let mut l = lookup("/usr/local/bin/tool", Some(&upper), &proc_root);
        l.mounts = &mounts;
        assert_eq!(
            origin(&l),
            Origin::Mounted {
                destination: "/usr/local/bin/tool".into()
            }
        );
        l.filename = "/data/x/run.sh";
        assert_eq!(
            origin(&l),
            Origin::Mounted {
                destination: "/data".into()
            }
        );
        l.filename = "/database";
        assert_eq!(origin(&l), Origin::Image);
    }

    #[test]
    fn a_relative_name_that_no_longer_resolves_is_found_by_inode() {
        let upper = scratch("upper-inode");
        fs::create_dir_all(upper.join("bin/sub")).unwrap();
        fs::write(upper.join("bin/sub/x"), b"\x7fELF").unwrap();
        fs::write(upper.join("bin/other"), b"").unwrap();
        let ino = fs::metadata(upper.join("bin/sub/x")).unwrap().ino();
        // The process is gone: no /proc entry to read its working directory from.
        let proc_root = scratch("proc-inode");
        let mut l = lookup("./x", Some(&upper), &proc_root);
        assert!(
            matches!(origin(&l), Origin::Unknown(_)),
            "without the inode"
        );
        l.exe_ino = ino;
        let Origin::Written(file) = origin(&l) else {
            panic!("expected a written file: {:?}", origin(&l));
        };
        assert_eq!(file.path, "/bin/sub/x");
        assert_eq!(file.method, "upperdir-inode");
        assert_eq!(file.host_path, Some(upper.join("bin/sub/x")));
        // An inode the layer does not hold: an image file, as far as anyone can tell.
        l.exe_ino = ino + 1_000_000;
        assert!(matches!(origin(&l), Origin::Unknown(_)));
        // On a volume, found in the volume's directory and judged by its change time.
        let volume = scratch("volume-inode");
        fs::create_dir_all(volume.join("w")).unwrap();
        fs::write(volume.join("w/k"), b"\x7fELF").unwrap();
        let meta = fs::metadata(volume.join("w/k")).unwrap();
        let mounts = [MountInfo {
            kind: "volume".into(),
            source: volume.display().to_string(),
            destination: "/data".into(),
            read_write: true,
            volume: "cache".into(),
        }];
        let mut on_volume = lookup("./k", Some(&upper), &proc_root);
        on_volume.mounts = &mounts;
        on_volume.exe_ino = meta.ino();
        let Origin::Written(file) = origin(&on_volume) else {
            panic!("expected a written file: {:?}", origin(&on_volume));
        };
        assert_eq!((file.path.as_str(), file.method), ("/data/w/k", "volume"));
        on_volume.workload_started_unix_ns = (meta.ctime() + 10) * 1_000_000_000;
        assert!(
            !matches!(origin(&on_volume), Origin::Written(_)),
            "older than the workload"
        );
        fs::remove_dir_all(&volume).unwrap();
        // Absolute names are judged by name only.
        l.filename = "/bin/sub/y";
        l.exe_ino = ino;
        assert_eq!(origin(&l), Origin::Image);
        fs::remove_dir_all(&upper).unwrap();
    }

    #[test]
    fn volume_files_changed_after_the_workload_started_were_written() {
        let volume = scratch("volume-data");
        fs::create_dir_all(volume.join("bin")).unwrap();
        fs::write(volume.join("bin/fetched"), b"#!/bin/sh\n").unwrap();
        let written_ns = {
            let meta = fs::metadata(volume.join("bin/fetched")).unwrap();
            meta.ctime() * 1_000_000_000 + meta.ctime_nsec()
        };
        let proc_root = scratch("proc-volume");
        let mounts = [MountInfo {
            kind: "volume".into(),
            source: volume.display().to_string(),
            destination: "/work".into(),
            read_write: true,
            volume: "cache".into(),
        }];
        let mut l = lookup("/work/bin/fetched", None, &proc_root);
        l.mounts = &mounts;

        // Written after the workload started: the workload's (or another container's) doing.
        l.workload_started_unix_ns = written_ns - 1_000_000_000;
        let Origin::Written(file) = origin(&l) else {
            panic!("expected a written file: {:?}", origin(&l));
        };
        assert_eq!(file.method, "volume");
        assert_eq!(file.host_path, Some(volume.join("bin/fetched")));
        // Older than the workload: filled in from the image when the volume was created.
        l.workload_started_unix_ns = written_ns + 1_000_000_000;
        assert_eq!(
            origin(&l),
            Origin::Mounted {
                destination: "/work".into()
            }
        );
        // Unknown start: not judged.
        l.workload_started_unix_ns = 0;
        assert_eq!(
            origin(&l),
            Origin::Mounted {
                destination: "/work".into()
            }
        );
        fs::remove_dir_all(&volume).unwrap();
    }

    #[test]
    fn files_on_a_memory_file_system_were_written_in_the_container() {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            panic!("this test needs /dev/shm (tmpfs)");
        }
        let name = format!("origin-tmpfs-{}", std::process::id());
        fs::write(shm.join(&name), b"#!/bin/sh\n").unwrap();
        let proc_root = scratch("proc-tmpfs");
        fs::create_dir_all(proc_root.join("4242")).unwrap();
        symlink("/", proc_root.join("4242/root")).unwrap();
        let upper = scratch("upper-tmpfs");
        let filename = format!("/dev/shm/{name}");
        let found = origin(&lookup(&filename, Some(&upper), &proc_root));
        fs::remove_file(shm.join(&name)).unwrap();
        assert!(
            matches!(found, Origin::Written(ref f) if f.method == "tmpfs"),
            "{found:?}"
        );
        // Not on tmpfs: the image.
        assert_eq!(
            origin(&lookup("/etc/hostname", Some(&upper), &proc_root)),
            Origin::Image
        );
    }

    #[test]
    fn files_not_in_the_upper_dir_come_from_the_image() {
        let upper = scratch("upper2");
        let proc_root = scratch("proc2");
        assert_eq!(
            origin(&lookup("/bin/sh", Some(&upper), &proc_root)),
            Origin::Image
        );
    }

    #[test]
    fn deleted_and_memfd_executables_are_recognised() {
        let upper = scratch("upper3");
        let proc_root = scratch("proc3");
        fs::create_dir_all(proc_root.join("4242")).unwrap();
        symlink("/tmp/gone (deleted)", proc_root.join("4242/exe")).unwrap();
        assert_eq!(
            origin(&lookup("/tmp/gone", Some(&upper), &proc_root)),
            Origin::Deleted {
                exe: "/tmp/gone (deleted)".into()
            }
        );
        fs::remove_file(proc_root.join("4242/exe")).unwrap();
        symlink("/memfd:payload (deleted)", proc_root.join("4242/exe")).unwrap();
        assert_eq!(
            origin(&lookup("/dev/fd/3", Some(&upper), &proc_root)),
            Origin::Fileless {
                target: "/memfd:payload (deleted)".into()
            }
        );
    }

    #[test]
    fn relative_names_use_the_working_directory() {
        let upper = scratch("upper4");
        fs::create_dir_all(upper.join("work")).unwrap();
        fs::write(upper.join("work/run.sh"), b"x").unwrap();
        let proc_root = scratch("proc4");
        fs::create_dir_all(proc_root.join("4242")).unwrap();
        symlink("/work", proc_root.join("4242/cwd")).unwrap();
        assert!(
            matches!(origin(&lookup("./run.sh", Some(&upper), &proc_root)), Origin::Written(f) if f.path == "/work/run.sh")
        );
        let gone = scratch("proc5");
        assert!(matches!(
            origin(&lookup("run.sh", Some(&upper), &gone)),
            Origin::Unknown(_)
        ));
    }

    #[test]
    fn without_an_upper_dir_the_change_time_decides() {
        let root = scratch("root");
        let proc_root = scratch("proc6");
        fs::create_dir_all(proc_root.join("4242")).unwrap();
        symlink(&root, proc_root.join("4242/root")).unwrap();
        fs::write(root.join("fresh"), b"x").unwrap();
        let mut l = lookup("/fresh", None, &proc_root);
        assert!(matches!(origin(&l), Origin::Written(f) if f.method == "ctime"));
        l.created_unix_ns = i64::MAX;
        assert_eq!(origin(&l), Origin::Image);
    }

    #[test]
    fn absolute_links_resolve_inside_the_root() {
        let root = scratch("chroot");
        fs::create_dir_all(root.join("run")).unwrap();
        fs::write(root.join("run/inside"), b"x").unwrap();
        fs::create_dir_all(root.join("var")).unwrap();
        symlink("/run", root.join("var/run")).unwrap();
        symlink("../../run/inside", root.join("var/rel")).unwrap();
        assert_eq!(
            resolve_in_root(&root, "/var/run/inside"),
            Some(root.join("run/inside"))
        );
        assert_eq!(
            resolve_in_root(&root, "/var/rel"),
            Some(root.join("run/inside"))
        );
        assert_eq!(
            resolve_in_root(&root, "/var/../../run/x"),
            Some(root.join("run/x"))
        );
        symlink("/loop", root.join("loop")).unwrap();
        assert_eq!(resolve_in_root(&root, "/loop/x"), None);
    }

    #[test]
    fn finds_the_writable_layer_in_mountinfo() {
        let mountinfo = "1071 1012 0:73 / / rw,relatime master:303 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work\n\
            1072 1071 0:76 / /proc rw,nosuid - proc proc rw\n";
        assert_eq!(
            upper_dir_from_mountinfo(mountinfo),
            Some(PathBuf::from("/var/lib/docker/overlay2/abc/diff"))
        );
        let not_overlay = "30 1 253:0 / / rw - ext4 /dev/vda rw\n";
        assert_eq!(upper_dir_from_mountinfo(not_overlay), None);
    }

    #[test]
    fn fd_paths() {
        for fileless in [
            "/dev/fd/3",
            "/proc/self/fd/7",
            "/proc/123/fd/4",
            "/proc/thread-self/fd/9",
        ] {
            assert!(is_fd_path(fileless), "{fileless}");
        }
        for path in ["/proc/self/exe", "/proc/abc/fd/1", "/tmp/fd/3", "/dev/null"] {
            assert!(!is_fd_path(path), "{path}");
        }
    }

    #[test]
    fn normalize_stays_inside_the_root() {
        assert_eq!(normalize("/a/./b/../c"), "/a/c");
        assert_eq!(normalize("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(normalize("/a//b/"), "/a/b");
        assert!(is_normal("/usr/bin/x") && is_normal("/"));
        assert!(
            !is_normal("/a/../b") && !is_normal("rel") && !is_normal("/a/") && !is_normal("/a//b")
        );
    }
}
