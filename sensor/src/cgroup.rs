//! cgroup paths: which container a cgroup belongs to, where cgroup2 is mounted, and which
//! container cgroups exist when the agent starts.
//!
//! Container runtimes name a container's cgroup after its 64-hex id, in a few layouts:
//! - Docker, cgroupfs driver: `/docker/<id>` (cgroup v1-hybrid and pure v2 alike);
//! - Docker, systemd driver: `/system.slice/docker-<id>.scope`;
//! - containerd / CRI-O / Podman: `…/cri-containerd-<id>.scope`, `…/crio-<id>.scope`,
//!   `…/libpod-<id>.scope`, and Kubernetes' cgroupfs layout `/kubepods/<qos>/pod<uid>/<id>`.
//!
//! A sub-cgroup a container makes for itself (`/docker/<id>/sub`) belongs to that container.

use std::{
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

/// Length of a full container id.
pub const CONTAINER_ID_LEN: usize = 64;

/// Which runtime's naming scheme a cgroup matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Docker,
    Containerd,
    Crio,
    Podman,
    /// A 64-hex id in a layout we do not attribute to a runtime (e.g. Kubernetes cgroupfs).
    Unknown,
}

/// The container a cgroup path belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerCgroup {
    pub id: String,
    pub runtime: Runtime,
}

/// Finds the container id in a cgroup path (relative to the cgroup2 mount), looking at the
/// outermost component that carries one, so sub-cgroups map to their container.
pub fn container_of(path: &str) -> Option<ContainerCgroup> {
    let mut parent = "";
    for component in path.split('/').filter(|c| !c.is_empty()) {
        if let Some(found) = parse_component(parent, component) {
            return Some(found);
        }
        parent = component;
    }
    None
}

fn parse_component(parent: &str, component: &str) -> Option<ContainerCgroup> {
    let base = component.strip_suffix(".scope").unwrap_or(component);
    let (prefix, id) = match base.rsplit_once('-') {
        Some((prefix, id)) => (prefix, id),
        None => ("", base),
    };
    if !is_container_id(id) {
        return None;
    }
    let runtime = match prefix {
        "docker" => Runtime::Docker,
        "cri-containerd" | "containerd" => Runtime::Containerd,
        "crio" => Runtime::Crio,
        "libpod" => Runtime::Podman,
        "" if parent == "docker" || parent.starts_with("docker.") => Runtime::Docker,
        "" => Runtime::Unknown,
        _ => return None,
    };
    Some(ContainerCgroup {
        id: id.to_string(),
        runtime,
    })
}

/// True for exactly 64 lower-case hex digits.
pub fn is_container_id(s: &str) -> bool {
    s.len() == CONTAINER_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Finds the cgroup2 mount point in `/proc/self/mountinfo` text: `/sys/fs/cgroup` on a pure v2
/// host, `/sys/fs/cgroup/unified` on a hybrid one.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // Fields: id parent major:minor root mount-point options [optional…] - fstype source …
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount_point = left.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_mountinfo(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
pub fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(digits)) = (bytes[i], octal) {
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads this system's cgroup2 mount point.
pub fn find_cgroup2_mount() -> io::Result<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    cgroup2_mount(&mountinfo).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no cgroup2 file system in /proc/self/mountinfo",
        )
    })
}

/// A container cgroup found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundCgroup {
    /// cgroup id: the inode number of the cgroup directory.
    pub cgroup_id: u64,
    /// Path relative to the cgroup2 mount, starting with `/`.
    pub path: String,
    pub container: ContainerCgroup,
}

/// How deep the scan goes below the cgroup2 root: Kubernetes nests containers at depth 4–5.
const MAX_SCAN_DEPTH: usize = 8;
/// Upper bound of cgroups returned, matching the kernel map's size.
const MAX_SCAN_RESULTS: usize = 16384;

/// Lists the container cgroups (and their sub-cgroups) under the cgroup2 mount `root`.
pub fn scan(root: &Path) -> io::Result<Vec<FoundCgroup>> {
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A cgroup can vanish while we walk; that is not an error of the scan.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) if dir == root => return Err(err),
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if !file_type.is_dir() {
                continue;
            }
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = format!("/{}", relative.display());
            if let Some(container) = container_of(&relative) {
                if let Ok(meta) = entry.metadata() {
                    found.push(FoundCgroup {
                        cgroup_id: meta.ino(),
                        path: relative,
                        container,
                    });
                    if found.len() >= MAX_SCAN_RESULTS {
                        return Ok(found);
                    }
                }
            }
            if depth + 1 < MAX_SCAN_DEPTH {
                stack.push((path, depth + 1));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5c25aa4461695017b8b9fdd65026a8e34c4c80c69a34e048fc4e1af0123456789";

    fn id() -> &'static str {
        &ID[..64]
    }

    #[test]
    fn docker_cgroupfs_layout() {
        let found = container_of(&format!("/docker/{}", id())).unwrap();
        assert_eq!(
            found,
            ContainerCgroup {
                id: id().into(),
                runtime: Runtime::Docker
            }
        );
    }

    #[test]
    fn docker_systemd_layout() {
        let found = container_of(&format!("/system.slice/docker-{}.scope", id())).unwrap();
        assert_eq!(found.runtime, Runtime::Docker);
        assert_eq!(found.id, id());
    }

    #[test]
    fn other_runtimes() {
        let path = format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{}.scope", id());
        assert_eq!(container_of(&path).unwrap().runtime, Runtime::Containerd);
        let path = format!("/machine.slice/libpod-{}.scope", id());
        assert_eq!(container_of(&path).unwrap().runtime, Runtime::Podman);
        let path = format!("/kubepods/burstable/pod0d1e2f/{}", id());
        assert_eq!(container_of(&path).unwrap().runtime, Runtime::Unknown);
    }

    #[test]
    fn sub_cgroups_belong_to_their_container() {
        let found = container_of(&format!("/docker/{}/init.scope/x", id())).unwrap();
        assert_eq!(found.id, id());
    }

    #[test]
    fn host_cgroups_are_not_containers() {
        for path in [
            "/",
            "/docker",
            "/system.slice/docker.service",
            "/user.slice/user-0.slice",
            "/system.slice/docker-abc.scope",
            &format!("/docker/{}", &id()[..63]),
        ] {
            assert_eq!(container_of(path), None, "{path}");
        }
        // Upper-case hex is not how runtimes spell ids.
        assert_eq!(
            container_of(&format!("/docker/{}", id().to_uppercase())),
            None
        );
        // Unknown prefixes are not guessed at.
        assert_eq!(container_of(&format!("/x/session-{}.scope", id())), None);
    }

    #[test]
    fn finds_cgroup2_mount_in_hybrid_and_pure_layouts() {
        let hybrid = "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
            31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n\
            32 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let pure = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup2_mount(pure), Some(PathBuf::from("/sys/fs/cgroup")));
        let escaped = "29 23 0:26 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(escaped), Some(PathBuf::from("/mnt/cg two")));
        assert_eq!(cgroup2_mount("garbage line\n"), None);
    }

    #[test]
    fn scan_finds_container_directories_and_their_children() {
        let root = std::env::temp_dir().join(format!("cgscan-{}", std::process::id()));
        let container = root.join("docker").join(id());
        fs::create_dir_all(container.join("child")).unwrap();
        fs::create_dir_all(root.join("system.slice/cron.service")).unwrap();
        let mut found = scan(&root).unwrap();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<_> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                format!("/docker/{}", id()),
                format!("/docker/{}/child", id())
            ]
        );
        assert_eq!(found[0].cgroup_id, fs::metadata(&container).unwrap().ino());
        fs::remove_dir_all(&root).unwrap();
    }
}
