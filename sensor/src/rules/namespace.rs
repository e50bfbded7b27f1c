//! A process in a container cgroup that enters the host's namespaces has left the container:
//! `nsenter` into a host process, `setns` through a leaked namespace file. The mount namespace
//! (the host's files) is critical; the network and pid namespaces alone are high. Seen on
//! `setns` (before and after are compared, so a runtime helper moving from the host's namespaces
//! into the container's is not an escape) and on any exec in the host's mount namespace.

use serde_json::Map;

use super::{put, Finding};
use crate::{
    detection::{mitre, ProcessInfo, Severity},
    host::HostNamespaces,
};
use sensor_common::{EventHeader, NamespaceEvent};

pub const HOST_NAMESPACE: &str = "host-namespace-joined";

const RESPONSE: &str = "The process runs in the host's namespaces: treat the host as \
    compromised. Pause the container (do not remove it), record the process tree (ps -ef \
    --forest), and check which capabilities (SYS_ADMIN, SYS_PTRACE) and pid mode it was given.";

/// A container process that execs in the host's mount namespace.
pub fn on_exec(
    header: &EventHeader,
    container_id: &str,
    host: &HostNamespaces,
    process: impl FnOnce() -> ProcessInfo,
) -> Option<Finding> {
    if header.mntns == 0 || header.mntns != host.mnt {
        return None;
    }
    Some(finding(
        &["mount"],
        "exec",
        container_id,
        process(),
        header.mntns,
        host,
    ))
}

/// A setns that moved a container process into host namespaces.
pub fn on_setns(
    event: &NamespaceEvent,
    container_id: &str,
    host: &HostNamespaces,
) -> Option<Finding> {
    let entered =
        |before: u32, after: u32, host: u32| after != 0 && after == host && before != host;
    let mut joined = Vec::new();
    if entered(event.mntns_before, event.mntns, host.mnt) {
        joined.push("mount");
    }
    if entered(event.netns_before, event.netns, host.net) {
        joined.push("network");
    }
    if entered(event.pidns_before, event.pidns, host.pid) {
        joined.push("pid");
    }
    if joined.is_empty() {
        return None;
    }
    let process = ProcessInfo::of(&event.header);
    let mut finding = finding(&joined, "setns", container_id, process, event.mntns, host);
    let evidence = &mut finding.evidence;
    put(evidence, "nstype", format!("0x{:x}", event.nstype));
    put(evidence, "mount_namespace_is_host", event.mntns == host.mnt);
    put(
        evidence,
        "network_namespace_is_host",
        event.netns == host.net,
    );
    put(evidence, "pid_namespace_is_host", event.pidns == host.pid);
    Some(finding)
}

fn finding(
    joined: &[&str],
    seen_on: &str,
    container_id: &str,
    process: ProcessInfo,
    mntns: u32,
    host: &HostNamespaces,
) -> Finding {
    let severity = if joined.contains(&"mount") {
        Severity::Critical
    } else {
        Severity::High
    };
    let mut evidence = Map::new();
    put(&mut evidence, "host_namespaces_joined", joined.to_vec());
    put(&mut evidence, "seen_on", seen_on);
    put(&mut evidence, "mount_namespace", mntns);
    put(&mut evidence, "host_mount_namespace", host.mnt);
    // One detection per container; a more severe one (the mount namespace after the network
    // one, as nsenter enters them in that order) still goes out.
    Finding::new(
        HOST_NAMESPACE,
        severity,
        mitre::ESCAPE_TO_HOST,
        format!(
            "Process in a container joined the host's {} namespace",
            joined.join(" and ")
        ),
    )
    .in_container(container_id)
    .process(process)
    .evidence(evidence)
    .response(RESPONSE)
    .dedup_by("host-namespaces", 600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    const HOST: HostNamespaces = HostNamespaces {
        mnt: 100,
        net: 200,
        pid: 300,
    };

    fn setns(before: (u32, u32, u32), after: (u32, u32, u32)) -> NamespaceEvent {
        NamespaceEvent {
            header: testutil::header(sensor_common::kind::SETNS),
            nstype: 0,
            fd: 3,
            mntns_before: before.0,
            mntns: after.0,
            netns_before: before.1,
            netns: after.1,
            pidns_before: before.2,
            pidns: after.2,
            _pad: 0,
        }
    }

    #[test]
    fn entering_the_host_mount_namespace_is_critical() {
        let f = on_setns(&setns((1, 2, 3), (100, 2, 3)), "c", &HOST).unwrap();
        assert_eq!(
            (f.rule, f.severity, f.technique.id),
            (HOST_NAMESPACE, Severity::Critical, "T1611")
        );
        assert_eq!(
            f.evidence["host_namespaces_joined"],
            serde_json::json!(["mount"])
        );
    }

    #[test]
    fn entering_only_the_host_network_or_pid_namespace_is_high() {
        let f = on_setns(&setns((1, 2, 3), (1, 200, 300)), "c", &HOST).unwrap();
        assert_eq!(f.severity, Severity::High);
        assert_eq!(
            f.evidence["host_namespaces_joined"],
            serde_json::json!(["network", "pid"])
        );
        assert_eq!(f.evidence["mount_namespace_is_host"], false);
        assert_eq!(f.evidence["network_namespace_is_host"], true);
    }

    #[test]
    fn runtime_helpers_moving_into_the_container_are_quiet() {
        // runc exec: starts in the host's namespaces and moves into the container's.
        assert!(on_setns(&setns((100, 200, 300), (1, 200, 300)), "c", &HOST).is_none());
        // A change between two container namespaces.
        assert!(on_setns(&setns((1, 2, 3), (4, 5, 6)), "c", &HOST).is_none());
    }

    #[test]
    fn exec_in_the_host_mount_namespace() {
        let mut h = testutil::header(sensor_common::kind::EXEC);
        h.mntns = 100;
        assert_eq!(
            on_exec(&h, "c", &HOST, ProcessInfo::default)
                .unwrap()
                .severity,
            Severity::Critical
        );
        h.mntns = 101;
        assert!(on_exec(&h, "c", &HOST, ProcessInfo::default).is_none());
        h.mntns = 0;
        assert!(on_exec(&h, "c", &HOST, ProcessInfo::default).is_none());
    }
}
