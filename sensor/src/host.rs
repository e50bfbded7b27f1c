//! Facts about the host the rules compare against: its namespaces and its container runtime
//! sockets.

use std::{
    fs, io,
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Path, PathBuf},
};

/// Inode numbers of the host's namespaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostNamespaces {
    pub mnt: u32,
    pub net: u32,
    pub pid: u32,
}

impl HostNamespaces {
    /// Reads them from init's `/proc/1/ns` (the host's, also when the agent itself runs in a
    /// container with `--pid=host`), falling back to the agent's own.
    pub fn discover() -> io::Result<Self> {
        Self::read(Path::new("/proc/1/ns")).or_else(|_| Self::read(Path::new("/proc/self/ns")))
    }

    fn read(dir: &Path) -> io::Result<Self> {
        let inode =
            |name: &str| -> io::Result<u32> { Ok(fs::metadata(dir.join(name))?.ino() as u32) };
        Ok(HostNamespaces {
            mnt: inode("mnt")?,
            net: inode("net")?,
            pid: inode("pid")?,
        })
    }
}

/// A container runtime's API socket on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeSocket {
    pub path: PathBuf,
    /// `docker`, `containerd`, `cri-o`, `podman` or `buildkit`.
    pub runtime: &'static str,
    pub dev: u64,
    pub ino: u64,
}

/// Where runtimes put their API sockets by default.
const WELL_KNOWN: &[(&str, &str)] = &[
    ("/var/run/docker.sock", "docker"),
    ("/run/docker.sock", "docker"),
    ("/run/containerd/containerd.sock", "containerd"),
    ("/var/run/containerd/containerd.sock", "containerd"),
    ("/run/docker/containerd/containerd.sock", "containerd"),
    ("/run/crio/crio.sock", "cri-o"),
    ("/var/run/crio/crio.sock", "cri-o"),
    ("/run/podman/podman.sock", "podman"),
    ("/run/buildkit/buildkitd.sock", "buildkit"),
];

/// Finds the runtime sockets that exist now. `docker_socket` (the one the agent talks to) is
/// always included. Sockets are identified by device and inode, so a socket bind-mounted into a
/// container under any name is recognised, and `/var/run` vs `/run` spellings fold together.
pub fn discover_runtime_sockets(docker_socket: &Path) -> Vec<RuntimeSocket> {
    let mut found: Vec<RuntimeSocket> = Vec::new();
    let candidates = std::iter::once((docker_socket, "docker")).chain(
        WELL_KNOWN
            .iter()
            .map(|(path, runtime)| (Path::new(*path), *runtime)),
    );
    for (path, runtime) in candidates {
        let Ok(meta) = fs::metadata(path) else {
            continue;
        };
        if !meta.file_type().is_socket() {
            continue;
        }
        if found
            .iter()
            .any(|s| s.dev == meta.dev() && s.ino == meta.ino())
        {
            continue;
        }
        found.push(RuntimeSocket {
            path: path.to_path_buf(),
            runtime,
            dev: meta.dev(),
            ino: meta.ino(),
        });
    }
    found
}

/// The runtime socket with this device and inode, if any.
pub fn match_socket(sockets: &[RuntimeSocket], dev: u64, ino: u64) -> Option<&RuntimeSocket> {
    sockets.iter().find(|s| s.dev == dev && s.ino == ino)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn finds_a_socket_by_inode_under_any_name() {
        let dir = std::env::temp_dir().join(format!("rtsock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.sock");
        let _listener = UnixListener::bind(&path).unwrap();
        let alias = dir.join("alias.sock");
        fs::hard_link(&path, &alias).unwrap();

        let sockets = discover_runtime_sockets(&path);
        let ours = sockets
            .iter()
            .find(|s| s.path == path)
            .expect("given socket is listed");
        assert_eq!(ours.runtime, "docker");

        let meta = fs::metadata(&alias).unwrap();
        assert_eq!(
            match_socket(&sockets, meta.dev(), meta.ino()).map(|s| &s.path),
            Some(&path)
        );
        let plain = fs::metadata(&dir).unwrap();
        assert!(match_socket(&sockets, plain.dev(), plain.ino()).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_regular_file_is_not_a_runtime_socket() {
        let file = std::env::temp_dir().join(format!("notsock-{}", std::process::id()));
        fs::write(&file, b"x").unwrap();
        assert!(discover_runtime_sockets(&file)
            .iter()
            .all(|s| s.path != file));
        fs::remove_file(&file).unwrap();
    }

    #[test]
    fn host_namespaces_are_readable() {
        let ns = HostNamespaces::discover().unwrap();
        assert!(ns.mnt != 0 && ns.net != 0 && ns.pid != 0);
    }
}
