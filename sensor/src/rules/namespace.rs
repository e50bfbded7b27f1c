//! A process in a container cgroup that runs in the host's mount namespace has left the
//! container (nsenter into a host process, setns through a leaked namespace file). Seen on
//! setns() and on any later event of such a process.

use serde_json::Map;

use super::{put, Finding};
use crate::{
    detection::{mitre, ProcessInfo, Severity},
    host::HostNamespaces,
};
use sensor_common::EventHeader;

pub const HOST_NAMESPACE: &str = "host-namespace-joined";

const RESPONSE: &str = "The process runs with the host's file system view: treat the host as \
    compromised. Pause the container (do not remove it), record the process tree (ps -ef \
    --forest), and check which capabilities (SYS_ADMIN, SYS_PTRACE) and pid mode it was given.";

/// What the event says about the task's namespaces.
pub struct NamespaceInput<'a> {
    pub header: &'a EventHeader,
    pub container_id: &'a str,
    /// The syscall that revealed it (`setns`, `exec`, `connect`, …).
    pub seen_on: &'static str,
    /// Mount namespace before the change, for setns events: a runtime helper that starts in the
    /// host's namespace and moves into the container's is not an escape.
    pub mntns_before: Option<u32>,
    /// Network and pid-for-children namespaces, when the event carries them.
    pub netns: Option<u32>,
    pub pidns: Option<u32>,
    pub process: Option<ProcessInfo>,
}

/// Judges the namespaces a container task is in.
pub fn check(input: NamespaceInput<'_>, host: &HostNamespaces) -> Option<Finding> {
    let h = input.header;
    if h.mntns == 0 || h.mntns != host.mnt || input.mntns_before == Some(host.mnt) {
        return None;
    }
    let mut evidence = Map::new();
    put(&mut evidence, "mount_namespace", h.mntns);
    put(&mut evidence, "host_mount_namespace", host.mnt);
    put(&mut evidence, "seen_on", input.seen_on);
    if let Some(net) = input.netns {
        put(&mut evidence, "network_namespace_is_host", net == host.net);
    }
    if let Some(pid) = input.pidns {
        put(&mut evidence, "pid_namespace_is_host", pid == host.pid);
    }
    let process = input.process.unwrap_or_else(|| ProcessInfo::of(h));
    Some(
        Finding::new(
            HOST_NAMESPACE,
            Severity::Critical,
            mitre::ESCAPE_TO_HOST,
            "Process in a container joined the host's mount namespace".to_string(),
        )
        .in_container(input.container_id)
        .process(process)
        .evidence(evidence)
        .response(RESPONSE)
        .dedup_by("host-mount-namespace", 600),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(mntns: u32) -> EventHeader {
        EventHeader {
            mntns,
            ..crate::testutil::header(0)
        }
    }

    const HOST: HostNamespaces = HostNamespaces {
        mnt: 100,
        net: 200,
        pid: 300,
    };

    #[test]
    fn host_mount_namespace_is_critical() {
        let h = header(100);
        let f = check(
            NamespaceInput {
                header: &h,
                container_id: "c",
                seen_on: "setns",
                mntns_before: Some(55),
                netns: Some(9),
                pidns: Some(300),
                process: None,
            },
            &HOST,
        )
        .unwrap();
        assert_eq!(
            (f.rule, f.severity, f.technique.id),
            (HOST_NAMESPACE, Severity::Critical, "T1611")
        );
        assert_eq!(f.evidence["pid_namespace_is_host"], true);
        assert_eq!(f.evidence["network_namespace_is_host"], false);
    }

    #[test]
    fn own_or_unknown_namespace_is_quiet() {
        for mntns in [101, 0] {
            let h = header(mntns);
            assert!(check(
                NamespaceInput {
                    header: &h,
                    container_id: "c",
                    seen_on: "exec",
                    mntns_before: None,
                    netns: None,
                    pidns: None,
                    process: None
                },
                &HOST
            )
            .is_none());
        }
        // A runtime helper moving from the host's namespace into the container's.
        let h = header(101);
        let helper = NamespaceInput {
            header: &h,
            container_id: "c",
            seen_on: "setns",
            mntns_before: Some(100),
            netns: None,
            pidns: None,
            process: None,
        };
        assert!(check(helper, &HOST).is_none());
    }
}
