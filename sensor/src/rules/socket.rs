//! Connect rules: containers talking to a container runtime's API (unix socket, TCP port or
//! containerd-shim abstract socket), and to mining pools.
//!
//! A unix socket is recognised by what it is, not by its name: the path the container used is
//! looked up through the process's own root (`/proc/<pid>/root/<path>`), which resolves bind
//! mounts exactly as the container sees them, and the inode found is compared with the host's
//! runtime sockets. When the process is already gone, the path is mapped through the container's
//! mounts from Docker instead.

use std::{
    collections::{HashMap, VecDeque},
    fs,
    hash::{Hash, Hasher},
    net::IpAddr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use serde_json::Map;

use super::{miner::POOL_PORTS, origin::resolve_in_root, put, Finding};
use crate::{
    detection::{mitre, ProcessInfo, Severity},
    docker::ContainerInfo,
    event::{comm, socket_address, SocketAddress},
    host::{match_socket, RuntimeSocket},
};
use sensor_common::{flags, ConnectEvent};

pub const RUNTIME_SOCKET: &str = "runtime-socket-connect";
pub const RUNTIME_TCP: &str = "runtime-api-tcp-connect";
pub const SHIM_SOCKET: &str = "runtime-shim-socket-connect";
pub const POOL_CONNECTION: &str = "mining-pool-connection";

/// Docker's API ports (plain and TLS).
const DOCKER_TCP_PORTS: &[u16] = &[2375, 2376];
/// How long a resolved (container, path) is trusted before it is looked up again.
const RESOLVE_TTL_NS: u64 = 60 * 1_000_000_000;
/// How long "not a runtime socket" is trusted: short, because a path can be turned into a
/// symlink to the socket between two connects; long enough that a connect flood to one path
/// costs a lookup per quarter second, not per call.
const NEGATIVE_TTL_NS: u64 = 250_000_000;
const RESOLVE_CACHE: usize = 1024;
/// Runtime API uses remembered for attributing container creations.
const RECENT_USES: usize = 256;
/// A socket notice per container and socket per hour: pollers connect every few seconds.
const NOTICE_DEDUP_SECS: u64 = 3600;

const SOCKET_RESPONSE: &str = "Check whether this container is meant to control the container \
    runtime. If not, remove the socket mount and review the containers it created (docker ps -a, \
    docker events --since); the runtime API gives root on the host. If it is (CI runner, \
    dashboard), add it to the allowlist in the config file.";
const SHIM_RESPONSE: &str = "A containerd-shim socket reached from a container lets it run \
    commands as root on the host (CVE-2020-15257 class). Pause the container, check it shares the \
    host network namespace, and upgrade containerd.";
const POOL_RESPONSE: &str = "Look at the process making the connection (evidence has its \
    command line); if it is a miner, pause the container and preserve the binary.";

/// A container's use of a runtime API, remembered to attribute container creations.
#[derive(Clone, Debug)]
pub struct RuntimeUse {
    pub ktime_ns: u64,
    /// The container that used the API; empty for a host process.
    pub container_id: String,
    pub pid: u32,
    pub comm: String,
    /// What the container connected to, as it named it (`/run/app.sock`, `tcp://1.2.3.4:2375`).
    pub endpoint: String,
    /// The host object (`/var/run/docker.sock`) or the TCP address.
    pub target: String,
    pub runtime: &'static str,
}

/// Input of the connect rules for one event.
pub struct ConnectInput<'a> {
    pub event: &'a ConnectEvent,
    pub container_id: &'a str,
    pub info: Option<&'a ContainerInfo>,
    pub sockets: &'a [RuntimeSocket],
    pub proc_root: &'a Path,
}

/// State of the connect rules.
#[derive(Default)]
pub struct SocketRules {
    /// (cgroup id, hash of the path) -> (when resolved, the runtime socket it is, if any). Keyed
    /// without allocation: a container may connect hundreds of thousands of times a second.
    resolved: HashMap<(u64, u64), (u64, Option<RuntimeSocket>)>,
    recent: VecDeque<RuntimeUse>,
}

impl SocketRules {
    /// Judges one connect from a container.
    pub fn on_connect(&mut self, input: &ConnectInput<'_>) -> Option<Finding> {
        let mut finding = self.judge_connect(input)?;
        if input.event.header.flags & flags::FAST_OPEN != 0 {
            // Connected by a TCP Fast Open send, without connect(2).
            put(&mut finding.evidence, "fast_open", true);
        }
        Some(finding)
    }

    fn judge_connect(&mut self, input: &ConnectInput<'_>) -> Option<Finding> {
        match socket_address(input.event) {
            SocketAddress::Unix(path) => self.unix(input, &path),
            SocketAddress::Abstract(name) if name.contains("containerd-shim") => {
                Some(shim(input, &name))
            }
            SocketAddress::Ip(ip, port) if DOCKER_TCP_PORTS.contains(&port) => {
                Some(self.tcp(input, ip, port))
            }
            SocketAddress::Ip(ip, port) if POOL_PORTS.contains(&port) => {
                Some(pool(input, ip, port))
            }
            _ => None,
        }
    }

    /// Records a host process's connection to a runtime socket, so that a container creation
    /// that follows is attributed to the host client rather than to a container.
    pub fn on_host_connect(&mut self, event: &ConnectEvent, sockets: &[RuntimeSocket]) {
        // The agent's own Docker client connects for every inspect; it creates nothing.
        if event.header.tgid == std::process::id() {
            return;
        }
        let SocketAddress::Unix(path) = socket_address(event) else {
            return;
        };
        let Ok(meta) = fs::metadata(path.as_ref()) else {
            return;
        };
        let Some(socket) = match_socket(sockets, meta.dev(), meta.ino()) else {
            return;
        };
        let target = socket.path.display().to_string();
        let runtime = socket.runtime;
        self.push(RuntimeUse {
            ktime_ns: event.header.ktime_ns,
            container_id: String::new(),
            pid: event.header.tgid,
            comm: comm(&event.header).into_owned(),
            endpoint: path.into_owned(),
            target,
            runtime,
        });
    }

    pub(super) fn push(&mut self, runtime_use: RuntimeUse) {
        if self.recent.len() >= RECENT_USES {
            self.recent.pop_front();
        }
        self.recent.push_back(runtime_use);
    }

    /// Runtime API uses at or before `ktime_ns` and no older than `window_ns`, newest first.
    pub fn recent_uses(&self, ktime_ns: u64, window_ns: u64) -> impl Iterator<Item = &RuntimeUse> {
        self.recent
            .iter()
            .rev()
            .filter(move |u| u.ktime_ns <= ktime_ns && ktime_ns - u.ktime_ns <= window_ns)
    }

    /// Forgets resolutions (the runtime socket set changed, e.g. Docker restarted).
    pub fn clear_cache(&mut self) {
        self.resolved.clear();
    }

    fn unix(&mut self, input: &ConnectInput<'_>, path: &str) -> Option<Finding> {
        let now = input.event.header.ktime_ns;
        let key = (input.event.header.cgroup_id, path_hash(path));
        let socket = match self.resolved.get(&key) {
            Some((at, socket))
                if now.saturating_sub(*at)
                    < if socket.is_some() {
                        RESOLVE_TTL_NS
                    } else {
                        NEGATIVE_TTL_NS
                    } =>
            {
                socket.clone()
            }
            _ => {
                let found = resolve(input, path);
                if self.resolved.len() >= RESOLVE_CACHE {
                    self.resolved.clear();
                }
                self.resolved
                    .insert(key, (now, found.as_ref().map(|(s, _)| s.clone())));
                found.map(|(s, _)| s)
            }
        }?;
        self.remember(
            input,
            path.to_string(),
            socket.path.display().to_string(),
            socket.runtime,
        );

        let mut evidence = Map::new();
        put(&mut evidence, "socket", path);
        put(
            &mut evidence,
            "host_socket",
            socket.path.display().to_string(),
        );
        put(&mut evidence, "runtime", socket.runtime);
        put(&mut evidence, "matched_by", "inode of the host socket");
        Some(
            Finding::new(
                RUNTIME_SOCKET,
                Severity::Medium,
                mitre::ESCAPE_TO_HOST,
                format!("Container connected to the {} API socket", socket.runtime),
            )
            .in_container(input.container_id)
            .process(process(input))
            .evidence(evidence)
            .response(SOCKET_RESPONSE)
            .dedup_by(socket.path.display().to_string(), NOTICE_DEDUP_SECS),
        )
    }

    fn tcp(&mut self, input: &ConnectInput<'_>, ip: IpAddr, port: u16) -> Finding {
        let target = format!("tcp://{}", std::net::SocketAddr::new(ip, port));
        self.remember(input, target.clone(), target.clone(), "docker");
        let mut evidence = Map::new();
        put(&mut evidence, "address", ip.to_string());
        put(&mut evidence, "port", port);
        Finding::new(
            RUNTIME_TCP,
            Severity::Medium,
            mitre::ESCAPE_TO_HOST,
            format!("Container connected to a Docker API port ({target})"),
        )
        .in_container(input.container_id)
        .process(process(input))
        .evidence(evidence)
        .response(SOCKET_RESPONSE)
        .dedup_by(target, NOTICE_DEDUP_SECS)
    }

    fn remember(
        &mut self,
        input: &ConnectInput<'_>,
        endpoint: String,
        target: String,
        runtime: &'static str,
    ) {
        self.push(RuntimeUse {
            ktime_ns: input.event.header.ktime_ns,
            container_id: input.container_id.to_string(),
            pid: input.event.header.tgid,
            comm: comm(&input.event.header).into_owned(),
            endpoint,
            target,
            runtime,
        });
    }
}

fn path_hash(path: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

/// Finds which runtime socket, if any, `path` is for the connecting process.
fn resolve(input: &ConnectInput<'_>, path: &str) -> Option<(RuntimeSocket, PathBuf)> {
    let process_dir = input.proc_root.join(input.event.header.tgid.to_string());
    let through_proc = match proc_self_path(path) {
        // `/proc/self/fd/N` (an O_PATH descriptor of the socket), `/proc/self/root/...`: the
        // process's own entries, which the agent reaches by pid (its own `/proc/self` is not
        // the process's).
        Some(("fd", rest)) => Some(process_dir.join("fd").join(rest)),
        Some(("cwd", rest)) => Some(process_dir.join("cwd").join(rest)),
        Some((_, rest)) => resolve_in_root(&process_dir.join("root"), &format!("/{rest}")),
        None if path.starts_with('/') => resolve_in_root(&process_dir.join("root"), path),
        None => Some(process_dir.join("cwd").join(path)),
    };
    if let Some(meta) = through_proc.as_ref().and_then(|p| fs::metadata(p).ok()) {
        let found = match_socket(input.sockets, meta.dev(), meta.ino());
        return found.map(|s| (s.clone(), through_proc.unwrap_or_default()));
    }
    // The process is gone: map the path through the container's mounts.
    let host = host_path(input.info?, path)?;
    let meta = fs::metadata(&host).ok()?;
    match_socket(input.sockets, meta.dev(), meta.ino()).map(|s| (s.clone(), host))
}

/// `/proc/self/<entry>/<rest>` and `/proc/thread-self/…` split into `(entry, rest)` for the
/// entries that lead elsewhere (`root`, `cwd`, `fd`).
fn proc_self_path(path: &str) -> Option<(&str, &str)> {
    let rest = path
        .strip_prefix("/proc/self/")
        .or_else(|| path.strip_prefix("/proc/thread-self/"))?;
    let (entry, rest) = rest.split_once('/').unwrap_or((rest, ""));
    matches!(entry, "root" | "cwd" | "fd").then_some((entry, rest))
}

/// The host path behind a container path, through the container's bind mounts.
pub fn host_path(info: &ContainerInfo, path: &str) -> Option<PathBuf> {
    info.mounts
        .iter()
        .filter_map(|m| {
            let dest = m.destination.trim_end_matches('/');
            let rest = if path == dest {
                Some("")
            } else {
                path.strip_prefix(dest).filter(|r| r.starts_with('/'))
            };
            rest.map(|rest| {
                (
                    dest.len(),
                    format!("{}{}", m.source.trim_end_matches('/'), rest),
                )
            })
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, host)| PathBuf::from(host))
}

/// Abstract unix sockets belong to a network namespace: only a container on the host's network
/// (or one whose container is unknown, so it cannot be ruled out) can reach the host's shims.
/// From its own network namespace the attempt reaches nothing and is reconnaissance: medium.
fn shim(input: &ConnectInput<'_>, name: &str) -> Finding {
    let host_network = input.info.map(|info| info.network_mode == "host");
    let mut evidence = Map::new();
    put(&mut evidence, "abstract_socket", format!("@{name}"));
    let (severity, title) = match host_network {
        Some(false) => (
            Severity::Medium,
            "Container looked for a containerd-shim socket (in its own network namespace)",
        ),
        _ => (
            Severity::High,
            "Container connected to a containerd-shim socket",
        ),
    };
    if let Some(host_network) = host_network {
        put(&mut evidence, "host_network", host_network);
    }
    Finding::new(
        SHIM_SOCKET,
        severity,
        mitre::ESCAPE_TO_HOST,
        title.to_string(),
    )
    .in_container(input.container_id)
    .process(process(input))
    .evidence(evidence)
    .response(SHIM_RESPONSE)
    .dedup_by(name, NOTICE_DEDUP_SECS)
}

fn pool(input: &ConnectInput<'_>, ip: IpAddr, port: u16) -> Finding {
    let mut evidence = Map::new();
    put(&mut evidence, "address", ip.to_string());
    put(&mut evidence, "port", port);
    Finding::new(
        POOL_CONNECTION,
        Severity::Medium,
        mitre::RESOURCE_HIJACKING,
        format!("Container connected to a mining-pool port ({ip}:{port})"),
    )
    .in_container(input.container_id)
    .process(process(input))
    .evidence(evidence)
    .response(POOL_RESPONSE)
    .dedup_by(format!("{ip}:{port}"), NOTICE_DEDUP_SECS)
}

fn process(input: &ConnectInput<'_>) -> ProcessInfo {
    let h = &input.event.header;
    ProcessInfo::of(h)
}

#[cfg(test)]
mod tests {
    use std::os::unix::{fs::symlink, net::UnixListener};

    use super::*;
    use crate::{docker::model::MountInfo, event::AF_UNIX, host::discover_runtime_sockets};

    fn connect(path: &str, ktime: u64) -> ConnectEvent {
        let mut e = crate::testutil::connect(AF_UNIX, path.as_bytes(), [0; 16], 0);
        e.header.ktime_ns = ktime;
        e
    }

    /// A fake host with a runtime socket and a fake /proc whose pid 4242 has `root` → `rootfs`.
    struct Host {
        base: PathBuf,
        socket: PathBuf,
        sockets: Vec<RuntimeSocket>,
        proc_root: PathBuf,
        _listener: UnixListener,
    }

    impl Host {
        /// A connect of container "c1" without Docker's description, seen on this host.
        fn input<'a>(&'a self, event: &'a ConnectEvent) -> ConnectInput<'a> {
            ConnectInput {
                event,
                container_id: "c1",
                info: None,
                sockets: &self.sockets,
                proc_root: &self.proc_root,
            }
        }
    }

    fn host(name: &str) -> Host {
        let base = std::env::temp_dir().join(format!("sockrule-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("rootfs/run")).unwrap();
        fs::create_dir_all(base.join("proc/4242")).unwrap();
        let socket = base.join("daemon.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        // The container's view: the daemon socket under another name (a hard link stands in for
        // a bind mount: same inode).
        fs::hard_link(&socket, base.join("rootfs/run/app.sock")).unwrap();
        symlink(base.join("rootfs"), base.join("proc/4242/root")).unwrap();
        let sockets = discover_runtime_sockets(&socket);
        Host {
            proc_root: base.join("proc"),
            base,
            socket,
            sockets,
            _listener: listener,
        }
    }

    #[test]
    fn a_renamed_socket_is_recognised_by_inode_and_remembered() {
        let h = host("renamed");
        let mut rules = SocketRules::default();
        let e = connect("/run/app.sock", 100);
        let input = h.input(&e);
        let finding = rules.on_connect(&input).expect("runtime socket");
        assert_eq!(finding.rule, RUNTIME_SOCKET);
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(
            finding.evidence["host_socket"],
            h.socket.display().to_string()
        );
        let uses: Vec<_> = rules.recent_uses(150, 1_000).collect();
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].container_id, "c1");
        assert_eq!(
            rules.recent_uses(2_000, 1_000).count(),
            0,
            "outside the window"
        );
        fs::remove_dir_all(&h.base).unwrap();
    }

    #[test]
    fn a_fast_open_send_to_the_docker_port_counts_as_a_connect() {
        let mut rules = SocketRules::default();
        let mut addr = [0; 16];
        addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut e = crate::testutil::connect(crate::event::AF_INET, b"", addr, 2376);
        let judge = |rules: &mut SocketRules, e: &ConnectEvent| {
            let input = ConnectInput {
                event: e,
                container_id: "c1",
                info: None,
                sockets: &[],
                proc_root: Path::new("/nonexistent"),
            };
            rules.on_connect(&input).expect("a Docker API port")
        };
        let plain = judge(&mut rules, &e);
        assert_eq!(plain.rule, RUNTIME_TCP);
        assert!(plain.evidence.get("fast_open").is_none());
        e.header.flags |= flags::FAST_OPEN;
        let fast = judge(&mut rules, &e);
        assert_eq!(fast.rule, RUNTIME_TCP);
        assert_eq!(fast.evidence["fast_open"], true);
    }

    #[test]
    fn a_shim_socket_is_high_only_from_the_host_network() {
        let mut rules = SocketRules::default();
        let e = crate::testutil::connect(AF_UNIX, b"\0/containerd-shim/k.sock", [0; 16], 0);
        let severity = |rules: &mut SocketRules, network: Option<&str>| {
            let info = network.map(|mode| ContainerInfo {
                network_mode: mode.into(),
                ..ContainerInfo::default()
            });
            let input = ConnectInput {
                event: &e,
                container_id: "c1",
                info: info.as_ref(),
                sockets: &[],
                proc_root: Path::new("/nonexistent"),
            };
            let finding = rules.on_connect(&input).expect("a shim finding");
            assert_eq!(finding.rule, SHIM_SOCKET);
            assert_eq!(
                finding.evidence["abstract_socket"],
                "@/containerd-shim/k.sock"
            );
            finding.severity
        };
        assert_eq!(severity(&mut rules, Some("host")), Severity::High);
        assert_eq!(severity(&mut rules, None), Severity::High);
        assert_eq!(severity(&mut rules, Some("bridge")), Severity::Medium);
        assert_eq!(severity(&mut rules, Some("")), Severity::Medium);
    }

    #[test]
    fn other_unix_sockets_are_ignored() {
        let h = host("other");
        let _other = UnixListener::bind(h.base.join("rootfs/run/db.sock")).unwrap();
        let mut rules = SocketRules::default();
        let e = connect("/run/db.sock", 1);
        let input = h.input(&e);
        assert!(rules.on_connect(&input).is_none());
        // A socket merely *named* docker.sock is not the daemon.
        let _fake = UnixListener::bind(h.base.join("rootfs/run/docker.sock")).unwrap();
        let e = connect("/run/docker.sock", 2);
        let input = h.input(&e);
        assert!(rules.on_connect(&input).is_none());
        fs::remove_dir_all(&h.base).unwrap();
    }

    #[test]
    fn a_gone_process_is_resolved_through_the_mounts() {
        let h = host("gone");
        let info = ContainerInfo {
            mounts: vec![MountInfo {
                kind: "bind".into(),
                source: h.socket.display().to_string(),
                destination: "/x/api.sock".into(),
                read_write: true,
                volume: String::new(),
            }],
            ..Default::default()
        };
        let mut rules = SocketRules::default();
        let e = connect("/x/api.sock", 1);
        let empty_proc = h.base.join("noproc");
        let input = ConnectInput {
            event: &e,
            container_id: "c1",
            info: Some(&info),
            sockets: &h.sockets,
            proc_root: &empty_proc,
        };
        assert!(rules.on_connect(&input).is_some());
        fs::remove_dir_all(&h.base).unwrap();
    }

    #[test]
    fn the_process_own_proc_entries_are_followed() {
        let h = host("procself");
        // /proc/self/root/run/app.sock seen from the container is its own root.
        let mut rules = SocketRules::default();
        let e = connect("/proc/self/root/run/app.sock", 1);
        let input = h.input(&e);
        assert!(rules.on_connect(&input).is_some());
        // An O_PATH descriptor of the socket.
        fs::create_dir_all(h.proc_root.join("4242/fd")).unwrap();
        symlink(&h.socket, h.proc_root.join("4242/fd/7")).unwrap();
        let e = connect("/proc/self/fd/7", 2);
        let input = ConnectInput {
            event: &e,
            container_id: "c2",
            info: None,
            sockets: &h.sockets,
            proc_root: &h.proc_root,
        };
        assert!(rules.on_connect(&input).is_some());
        assert_eq!(proc_self_path("/proc/self/status"), None);
        fs::remove_dir_all(&h.base).unwrap();
    }

    #[test]
    fn a_path_turned_into_the_socket_is_seen_soon() {
        let h = host("negative");
        let mut rules = SocketRules::default();
        let miss = connect("/run/later.sock", 1_000);
        let input = h.input(&miss);
        assert!(rules.on_connect(&input).is_none());
        std::os::unix::fs::symlink("/run/app.sock", h.base.join("rootfs/run/later.sock")).unwrap();
        let soon = connect("/run/later.sock", 1_000 + NEGATIVE_TTL_NS + 1);
        let input = h.input(&soon);
        assert!(
            rules.on_connect(&input).is_some(),
            "the negative answer expired"
        );
        fs::remove_dir_all(&h.base).unwrap();
    }

    #[test]
    fn maps_paths_through_the_longest_mount() {
        let info = ContainerInfo {
            mounts: vec![
                MountInfo {
                    source: "/var/run".into(),
                    destination: "/hostrun".into(),
                    ..Default::default()
                },
                MountInfo {
                    source: "/srv/x".into(),
                    destination: "/hostrun/x".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            host_path(&info, "/hostrun/docker.sock"),
            Some(PathBuf::from("/var/run/docker.sock"))
        );
        assert_eq!(
            host_path(&info, "/hostrun/x/y"),
            Some(PathBuf::from("/srv/x/y"))
        );
        assert_eq!(host_path(&info, "/hostrunner"), None);
        assert_eq!(host_path(&info, "/tmp/s"), None);
    }
}
