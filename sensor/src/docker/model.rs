//! What the agent knows about a container, distilled from `docker inspect`.

use std::{collections::BTreeMap, path::PathBuf};

/// One mount of a container, as Docker reports it in `Mounts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountInfo {
    /// `bind`, `volume`, `tmpfs`, `npipe`, …
    pub kind: String,
    /// Host path of the mounted object (for volumes, the volume's data directory).
    pub source: String,
    /// Path inside the container.
    pub destination: String,
    pub read_write: bool,
    /// The volume's name, for `volume` mounts.
    pub volume: String,
}

/// A container, as known from the Docker API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full 64-hex id.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// Image as the container was created with (`Config.Image`), e.g. `nginx:1.25`.
    pub image: String,
    /// Image id (`sha256:…`).
    pub image_id: String,
    /// Creation time, RFC 3339, as Docker wrote it.
    pub created: String,
    /// Creation time in nanoseconds since the Unix epoch (0 when Docker's value did not parse).
    pub created_unix_ns: i64,
    /// Last start time in nanoseconds since the Unix epoch (0 when never started).
    pub started_unix_ns: i64,
    pub privileged: bool,
    /// `HostConfig.Binds` exactly as written, e.g. `/:/host` or `/var/run/docker.sock:/s:ro`.
    pub binds: Vec<String>,
    /// Every mount (binds, volumes, tmpfs).
    pub mounts: Vec<MountInfo>,
    pub labels: BTreeMap<String, String>,
    /// `Path` followed by `Args`: the command the container runs.
    pub command: Vec<String>,
    /// `HostConfig.PidMode`, `NetworkMode`, `IpcMode`, `UTSMode`, `UsernsMode` (empty = default).
    pub pid_mode: String,
    pub network_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
    pub userns_mode: String,
    /// `HostConfig.CapAdd`, upper case as written (e.g. `SYS_ADMIN` or `CAP_SYS_ADMIN`).
    pub cap_add: Vec<String>,
    /// `HostConfig.SecurityOpt`, e.g. `seccomp=unconfined`, `apparmor=unconfined`.
    pub security_opt: Vec<String>,
    /// Host devices, `PathOnHost:PathInContainer:CgroupPermissions`.
    pub devices: Vec<String>,
    /// `HostConfig.DeviceCgroupRules`, e.g. `b *:* rwm` (access to every block device).
    pub device_cgroup_rules: Vec<String>,
    /// overlay2 writable layer (`GraphDriver.Data.UpperDir`) on the host.
    pub upper_dir: Option<PathBuf>,
    /// overlay2 merged root (`GraphDriver.Data.MergedDir`) on the host.
    pub merged_dir: Option<PathBuf>,
    /// Host pid of the container's init process while it runs.
    pub pid: Option<u32>,
    pub running: bool,
}

/// What the Docker watcher tells the engine.
#[derive(Clone, Debug)]
pub enum DockerUpdate {
    /// Connected (again) to the daemon.
    Connected {
        version: String,
        api_version: String,
        /// `DockerRootDir`, e.g. `/var/lib/docker`.
        root_dir: String,
    },
    /// The complete list of containers (running or not) right after (re)connecting; replaces
    /// whatever the engine knew.
    Inventory(Vec<ContainerInfo>),
    /// A container was created. `info` is `None` when the inspect failed (the container may
    /// already be gone); `error` then says why.
    Created {
        id: String,
        /// Event time in nanoseconds since the Unix epoch (`timeNano`).
        time_unix_ns: i64,
        /// `name` and `image` attributes of the event, known even when the inspect failed.
        name: String,
        image: String,
        info: Option<Box<ContainerInfo>>,
        error: Option<String>,
    },
    /// A container started (fresh inspect, with its pid).
    Started(Box<ContainerInfo>),
    /// A privileged process was set up to run in a container (`docker exec --privileged`).
    PrivilegedExec {
        /// The container the process runs in.
        id: String,
        exec_id: String,
        /// Event time in nanoseconds since the Unix epoch.
        time_unix_ns: i64,
        /// The process's user (empty: the container's) and command line.
        user: String,
        command: Vec<String>,
    },
    /// A container's processes ended (`die`: it stopped, exited or was killed).
    Died { id: String },
    /// A container was removed.
    Destroyed { id: String },
    /// The connection broke or could not be made; the watcher retries with backoff.
    Disconnected { reason: String },
}
