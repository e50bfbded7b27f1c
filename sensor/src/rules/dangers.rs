//! What makes a container's configuration dangerous to the host: privilege, binds of host
//! paths (through `Binds`, `Mounts` or local bind volumes), host namespaces, capabilities,
//! disabled confinement and host devices. Shared by the creation rules and the start-up posture.

use crate::docker::ContainerInfo;

/// Host paths whose bind mount gives a container power over the host even read-only (secrets,
/// kernel interfaces, other containers' data).
const SENSITIVE_PATHS: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/root",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/kubelet",
];
/// Sensitive as a whole, not below: `/home` holds every user's keys, `/home/me/project` is an
/// ordinary development bind.
const SENSITIVE_EXACT: &[&str] = &["/home"];
/// Host paths that matter when writable (binaries, boot files and modules the host will run).
const SENSITIVE_WHEN_WRITABLE: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/boot",
    "/lib/modules",
    "/var/log",
    "/opt",
];
/// Runtime sockets and the directories that hold them.
const RUNTIME_PATHS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/podman/podman.sock",
    "/var/run",
    "/run",
    "/run/containerd",
    "/var/run/containerd",
];
/// Capabilities that break the container boundary on their own.
const DANGEROUS_CAPS: &[&str] = &[
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "DAC_READ_SEARCH",
    "SYS_RAWIO",
    "SYS_BOOT",
    "BPF",
    "PERFMON",
    "ALL",
];

/// What makes a container configuration dangerous, in words for the evidence.
pub fn dangers(info: &ContainerInfo) -> Vec<String> {
    let mut found = Vec::new();
    if info.privileged {
        found.push("privileged".to_string());
    }
    for (bind, writable) in bind_sources(info) {
        let under = |paths: &[&str]| {
            paths
                .iter()
                .any(|p| bind == *p || bind.starts_with(&format!("{p}/")))
        };
        // A directory above a sensitive path holds it: `-v /var:/v` binds /var/run/docker.sock
        // and /var/lib/docker.
        let above = |paths: &[&str]| paths.iter().any(|p| p.starts_with(&format!("{bind}/")));
        if bind == "/" {
            found.push("binds the host root (/)".to_string());
        } else if is_runtime_path(&bind) {
            found.push(format!("binds the runtime socket path {bind}"));
        } else if above(RUNTIME_PATHS) {
            found.push(format!("binds {bind}, which holds a runtime socket"));
        } else if under(SENSITIVE_PATHS)
            || above(SENSITIVE_PATHS)
            || SENSITIVE_EXACT.contains(&bind.as_str())
            || (writable && under(SENSITIVE_WHEN_WRITABLE))
        {
            let access = if writable { "" } else { " (read-only)" };
            found.push(format!("binds sensitive host path {bind}{access}"));
        }
    }
    for (mode, what) in [
        (&info.pid_mode, "pid"),
        (&info.network_mode, "network"),
        (&info.ipc_mode, "ipc"),
        (&info.uts_mode, "uts"),
        (&info.userns_mode, "user"),
    ] {
        if mode == "host" {
            found.push(format!("shares the host {what} namespace"));
        }
    }
    for cap in &info.cap_add {
        let name = cap.to_ascii_uppercase();
        let name = name.strip_prefix("CAP_").unwrap_or(&name);
        if DANGEROUS_CAPS.contains(&name) {
            found.push(format!("adds capability {name}"));
        }
    }
    for opt in &info.security_opt {
        let opt = opt.replace(':', "=");
        // systempaths=unconfined unmasks /proc/sys, /proc/sysrq-trigger and friends.
        let off = [
            "seccomp=unconfined",
            "apparmor=unconfined",
            "label=disable",
            "systempaths=unconfined",
        ];
        if off.contains(&opt.as_str()) {
            found.push(format!("security option {opt}"));
        }
    }
    for device in &info.devices {
        found.push(format!(
            "host device {}",
            device.split(':').next().unwrap_or(device)
        ));
    }
    for rule in &info.device_cgroup_rules {
        found.push(format!(
            "device cgroup rule '{rule}' (host devices by number)"
        ));
    }
    found
}

/// A runtime socket or a directory holding one.
fn is_runtime_path(path: &str) -> bool {
    RUNTIME_PATHS.contains(&path)
        || (path.ends_with(".sock")
            && RUNTIME_PATHS
                .iter()
                .any(|p| p.ends_with(".sock") && path.ends_with(p.rsplit('/').next().unwrap_or(p))))
}

/// Host sources of the container's bind mounts (from `Binds` and `Mounts`) and whether they
/// are writable, deduplicated.
fn bind_sources(info: &ContainerInfo) -> Vec<(String, bool)> {
    let from_binds = info.binds.iter().filter_map(|b| {
        let mut parts = b.split(':');
        let source = parts.next()?;
        let writable = !parts
            .nth(1)
            .is_some_and(|options| options.split(',').any(|o| o == "ro"));
        source.starts_with('/').then_some((source, writable))
    });
    let from_mounts = info
        .mounts
        .iter()
        .filter(|m| m.kind == "bind")
        .map(|m| (m.source.as_str(), m.read_write));
    let mut sources: Vec<(String, bool)> = from_binds
        .chain(from_mounts)
        .map(|(s, w)| {
            (
                if s == "/" {
                    s.to_string()
                } else {
                    s.trim_end_matches('/').to_string()
                },
                w,
            )
        })
        .collect();
    sources.sort();
    // A source listed in both, or twice, counts once (writable if either says so).
    sources.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 |= later.1;
        }
        same
    });
    sources
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::model::MountInfo;

    #[test]
    fn lists_what_makes_a_container_dangerous() {
        let info = ContainerInfo {
            privileged: true,
            binds: vec![
                "/:/host".into(),
                "/var/run/docker.sock:/s.sock:ro".into(),
                "/srv/data:/data".into(),
                "/etc/ssl:/etc/ssl:ro".into(),
            ],
            pid_mode: "host".into(),
            cap_add: vec!["CAP_SYS_ADMIN".into(), "NET_BIND_SERVICE".into()],
            security_opt: vec!["seccomp=unconfined".into(), "apparmor:unconfined".into()],
            devices: vec!["/dev/vda:/dev/vda:rwm".into()],
            device_cgroup_rules: vec!["b *:* rwm".into()],
            ..Default::default()
        };
        let found = dangers(&info).join("; ");
        for part in [
            "privileged",
            "host root (/)",
            "runtime socket path /var/run/docker.sock",
            "sensitive host path /etc/ssl (read-only)",
            "host pid namespace",
            "SYS_ADMIN",
            "seccomp=unconfined",
            "apparmor=unconfined",
            "host device /dev/vda",
            "device cgroup rule 'b *:* rwm'",
        ] {
            assert!(found.contains(part), "{part} missing: {found}");
        }
        assert!(
            !found.contains("/srv/data") && !found.contains("NET_BIND_SERVICE"),
            "{found}"
        );
    }

    #[test]
    fn directories_above_sensitive_paths_and_unmasked_system_paths() {
        let var = ContainerInfo {
            binds: vec!["/var:/v:ro".into()],
            ..Default::default()
        };
        assert_eq!(dangers(&var), ["binds /var, which holds a runtime socket"]);
        let lib = ContainerInfo {
            binds: vec!["/var/lib:/l".into()],
            ..Default::default()
        };
        assert_eq!(dangers(&lib), ["binds sensitive host path /var/lib"]);
        let unmasked = ContainerInfo {
            security_opt: vec!["systempaths=unconfined".into()],
            ..Default::default()
        };
        assert_eq!(
            dangers(&unmasked),
            ["security option systempaths=unconfined"]
        );
        let srv = ContainerInfo {
            binds: vec!["/srv:/srv".into()],
            ..Default::default()
        };
        assert!(dangers(&srv).is_empty());
    }

    #[test]
    fn binaries_matter_only_when_writable() {
        let ro = ContainerInfo {
            binds: vec!["/usr/local/bin/docker:/usr/local/bin/tool:ro".into()],
            ..Default::default()
        };
        assert!(dangers(&ro).is_empty(), "{:?}", dangers(&ro));
        let rw = ContainerInfo {
            binds: vec!["/usr/local/bin:/hostbin".into()],
            ..Default::default()
        };
        assert_eq!(dangers(&rw), ["binds sensitive host path /usr/local/bin"]);
        let both = ContainerInfo {
            binds: vec!["/usr:/u:ro".into()],
            mounts: vec![MountInfo {
                kind: "bind".into(),
                source: "/usr".into(),
                destination: "/u".into(),
                read_write: true,
                volume: String::new(),
            }],
            ..Default::default()
        };
        assert_eq!(
            dangers(&both).len(),
            1,
            "one source counts once: {:?}",
            dangers(&both)
        );
    }

    #[test]
    fn ordinary_containers_are_not_dangerous() {
        let info = ContainerInfo {
            binds: vec!["/srv/app:/app".into()],
            mounts: vec![MountInfo {
                kind: "volume".into(),
                source: "/var/lib/docker/volumes/v/_data".into(),
                destination: "/data".into(),
                read_write: true,
                volume: "v".into(),
            }],
            network_mode: "bridge".into(),
            ..Default::default()
        };
        assert!(dangers(&info).is_empty(), "{:?}", dangers(&info));
    }

    #[test]
    fn mounts_api_binds_count_like_binds() {
        let info = ContainerInfo {
            mounts: vec![MountInfo {
                kind: "bind".into(),
                source: "/".into(),
                destination: "/rootfs".into(),
                read_write: false,
                volume: String::new(),
            }],
            ..Default::default()
        };
        assert_eq!(dangers(&info), ["binds the host root (/)"]);
    }
}
