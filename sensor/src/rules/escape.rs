//! Container creation rules: a container that used a runtime API creates (or starts) a dangerous
//! container, the classic mounted-socket escape, or sets up a privileged exec; and dangerous
//! creations in general. What makes a configuration dangerous is in [`super::dangers`].
//!
//! Docker's events do not say which client made a request, so the creator is found by time: the
//! most recent container that connected to a runtime API shortly before the create event. A
//! container's creation is judged from its inspected configuration at create time, so the
//! escape is reported even when the new container never starts.

use serde_json::{json, Map, Value};

use super::{
    dangers::dangers,
    put,
    socket::{RuntimeUse, SocketRules},
    Finding,
};
use crate::{
    detection::{mitre, Severity},
    docker::ContainerInfo,
};

pub const ESCAPE: &str = "runtime-socket-escape";
pub const DANGEROUS_CREATE: &str = "dangerous-container-created";
pub const CONTAINER_CREATES_CONTAINER: &str = "container-created-by-container";
pub const PRIVILEGED_EXEC: &str = "privileged-exec";

const PRIVILEGED_EXEC_RESPONSE: &str = "A privileged process has every capability and device \
    of the host inside the target container. Pause the target (and the container that asked for \
    the exec, if one did), find the exec in `docker events --filter event=exec_create`, and \
    check what it ran.";

/// How far back a runtime API use may be to count as the creator.
pub const ATTRIBUTION_WINDOW_NS: u64 = 30 * 1_000_000_000;
/// Slack for the conversion between Docker's wall-clock event time and kernel time (both are
/// read from the same clocks; the offset is re-measured every tick). Small on purpose: the
/// creating client connects before its request, and clients reacting to the event (monitoring
/// agents, another sensor) connect after it.
const CLOCK_SLACK_NS: u64 = 1_000_000;

const ESCAPE_RESPONSE: &str = "Treat the host as compromised. Pause (do not remove) the origin \
    container and the created one to keep evidence; remove the runtime socket mount from the \
    origin; check docker events and the daemon log for other containers it created; rotate \
    credentials reachable from the host.";
const CREATE_RESPONSE: &str = "Confirm the container was created on purpose (who ran it, from \
    where); a privileged or host-bound container is host root. Pause it if nobody claims it.";
const CHILD_RESPONSE: &str = "Confirm the origin container is supposed to create containers \
    (CI runner, orchestrator); if so, allowlist it in the config file.";

/// A container creation seen in Docker's events.
pub struct Creation<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub image: &'a str,
    /// Kernel time of the container's creation (Docker's `Created`, else the event's time): the
    /// creating client connected before it.
    pub ktime_ns: u64,
    pub info: Option<&'a ContainerInfo>,
    /// Why the inspect failed, when it did.
    pub error: Option<&'a str>,
}

/// Judges a container creation.
pub fn on_created(creation: &Creation<'_>, sockets: &SocketRules) -> Option<Finding> {
    let dangers = creation.info.map(dangers).unwrap_or_default();
    // LIMITATION: Docker's events do not name the client, so the creator is the most recent
    // runtime API client before the event (host clients included). A host client connecting in
    // the few milliseconds between a container's connect and its create request would take the
    // attribution; capturing the request itself on the socket would lift this.
    let (latest, proxy) = match creator(sockets, creation.ktime_ns, Some(creation.id)) {
        Some((user, proxy)) => (Some(user), proxy),
        None => (None, None),
    };
    let host_client = latest.filter(|u| u.container_id.is_empty());
    let origin = latest.filter(|u| !u.container_id.is_empty());

    let mut evidence = Map::new();
    put(&mut evidence, "created_container", created_json(creation));
    if !dangers.is_empty() {
        put(&mut evidence, "dangers", dangers.clone());
    }
    if let Some(error) = creation.error {
        put(&mut evidence, "created_container_inspect_error", error);
    }
    if let Some(host) = host_client {
        put(&mut evidence, "client", host_client_json(host));
    }
    if let Some(proxy) = proxy {
        put(&mut evidence, "proxy", host_client_json(proxy));
    }
    let name = if creation.name.is_empty() {
        creation.id
    } else {
        creation.name
    };

    let (rule, severity, technique, title, response, container_id) = match (
        origin,
        dangers.is_empty(),
    ) {
        (Some(origin), false) => {
            put(&mut evidence, "origin", origin_json(origin));
            put(
                &mut evidence,
                "attribution",
                "most recent runtime API use by a container before the create event",
            );
            (
                ESCAPE,
                Severity::Critical,
                mitre::ESCAPE_TO_HOST,
                format!(
                    "Container escape: a container used the {} API to create {name} ({})",
                    origin.runtime,
                    dangers.join(", ")
                ),
                ESCAPE_RESPONSE,
                Some(origin.container_id.clone()),
            )
        }
        (Some(origin), true) => {
            put(&mut evidence, "origin", origin_json(origin));
            let (severity, title) = if creation.info.is_none() {
                (Severity::Medium, format!("A container created {name} through the {} API; its configuration could not be read", origin.runtime))
            } else {
                (
                    Severity::Low,
                    format!(
                        "A container created container {name} through the {} API",
                        origin.runtime
                    ),
                )
            };
            (
                CONTAINER_CREATES_CONTAINER,
                severity,
                mitre::DEPLOY_CONTAINER,
                title,
                CHILD_RESPONSE,
                Some(origin.container_id.clone()),
            )
        }
        // A container whose only risk is a runtime socket mount gets its notice when it uses the
        // socket (one notice per container, however often it polls).
        (None, false) if dangers.iter().all(|d| d.contains("runtime socket")) => return None,
        (None, false) => (
            DANGEROUS_CREATE,
            Severity::Medium,
            mitre::DEPLOY_CONTAINER,
            format!(
                "Dangerous container {name} created ({})",
                dangers.join(", ")
            ),
            CREATE_RESPONSE,
            Some(creation.id.to_string()),
        ),
        (None, true) => return None,
    };
    Some(
        Finding::new(rule, severity, technique, title)
            .container(container_id)
            .evidence(evidence)
            .response(response)
            .dedup_by(creation.id, 3600)
            .unresolved(
                creation
                    .error
                    .map(|err| vec![format!("created container {}: {err}", creation.id)])
                    .unwrap_or_default(),
            ),
    )
}

/// How long after a container's creation a start counts as part of the same `docker run`.
const RUN_START_NS: u64 = 10 * 1_000_000_000;
/// How soon after a container's connect to a Docker API TCP port a host process's connect to the
/// socket counts as that request being forwarded (socat, a small relay).
const PROXY_GAP_NS: u64 = 100_000_000;

/// The runtime API client behind a creation (or start) at `ktime_ns`: the most recent use before
/// it by anyone but the container itself, with one correction. A host process that connected to
/// the socket right after a container connected to a Docker API TCP port is a proxy forwarding
/// that container's request: the container is the client, the proxy is returned beside it.
fn creator<'a>(
    sockets: &'a SocketRules,
    ktime_ns: u64,
    created_id: Option<&str>,
) -> Option<(&'a RuntimeUse, Option<&'a RuntimeUse>)> {
    let not_created = |u: &RuntimeUse| Some(u.container_id.as_str()) != created_id;
    let latest = sockets
        .recent_uses(ktime_ns + CLOCK_SLACK_NS, ATTRIBUTION_WINDOW_NS)
        .find(|u| not_created(u))?;
    if !latest.container_id.is_empty() {
        return Some((latest, None));
    }
    let forwarded = sockets
        .recent_uses(latest.ktime_ns, PROXY_GAP_NS)
        .find(|u| !u.container_id.is_empty() && not_created(u) && u.target.starts_with("tcp://"));
    match forwarded {
        Some(client) => Some((client, Some(latest))),
        None => Some((latest, None)),
    }
}

/// A privileged process set up in a container (`docker exec --privileged`, which a privileged
/// container's creation check never sees): critical when a container asked for it through the
/// API, medium from a host client.
pub fn on_privileged_exec(
    target_id: &str,
    target_name: &str,
    exec_id: &str,
    user: &str,
    command: &[String],
    ktime_ns: u64,
    sockets: &SocketRules,
) -> Finding {
    // Unlike a creation, the target itself may have asked (an exec into its own container).
    let (latest, proxy) = match creator(sockets, ktime_ns, None) {
        Some((user, proxy)) => (Some(user), proxy),
        None => (None, None),
    };
    let origin = latest.filter(|u| !u.container_id.is_empty());
    let mut evidence = Map::new();
    put(&mut evidence, "exec_id", exec_id);
    put(
        &mut evidence,
        "target_container",
        json!({ "id": target_id, "name": target_name }),
    );
    put(&mut evidence, "command", command.to_vec());
    put(
        &mut evidence,
        "user",
        if user.is_empty() {
            "(the container's)"
        } else {
            user
        },
    );
    if let Some(proxy) = proxy {
        put(&mut evidence, "proxy", host_client_json(proxy));
    }
    let target = if target_name.is_empty() {
        target_id
    } else {
        target_name
    };
    let (severity, title, container_id) = match origin {
        Some(origin) => {
            put(&mut evidence, "origin", origin_json(origin));
            (
                Severity::Critical,
                format!(
                    "Container escape: a container used the {} API to run a privileged process in {target}",
                    origin.runtime
                ),
                origin.container_id.clone(),
            )
        }
        None => {
            if let Some(host) = latest {
                put(&mut evidence, "client", host_client_json(host));
            }
            (
                Severity::Medium,
                format!("Privileged process set up in container {target}"),
                target_id.to_string(),
            )
        }
    };
    Finding::new(PRIVILEGED_EXEC, severity, mitre::ESCAPE_TO_HOST, title)
        .in_container(&container_id)
        .evidence(evidence)
        .response(PRIVILEGED_EXEC_RESPONSE)
        .dedup_by(exec_id, 3600)
}

/// A dangerous container started: if a container used a runtime API just before (and no host
/// client after it), that container started it — `docker start` of an existing privileged or
/// host-bound container is an escape as much as creating one. Only that case is reported; the
/// container's creation was judged already. A start soon after a creation by a host client is
/// that client's `docker run`: containers polling the API meanwhile did not start it.
pub fn on_started(
    info: &ContainerInfo,
    ktime_ns: u64,
    created_ktime_ns: Option<u64>,
    sockets: &SocketRules,
) -> Option<Finding> {
    if let Some(created) = created_ktime_ns {
        let by_host = creator(sockets, created, Some(&info.id))
            .is_some_and(|(user, _)| user.container_id.is_empty());
        if by_host && ktime_ns.saturating_sub(created) < RUN_START_NS {
            return None;
        }
    }
    let creation = Creation {
        id: &info.id,
        name: &info.name,
        image: &info.image,
        ktime_ns,
        info: Some(info),
        error: None,
    };
    let finding = on_created(&creation, sockets)?;
    (finding.rule == ESCAPE).then_some(finding)
}

fn created_json(creation: &Creation<'_>) -> Value {
    match creation.info {
        Some(info) => json!({
            "id": info.id,
            "name": info.name,
            "image": info.image,
            "privileged": info.privileged,
            "binds": info.binds,
            "pid_mode": info.pid_mode,
            "network_mode": info.network_mode,
            "cap_add": info.cap_add,
            "security_opt": info.security_opt,
            "devices": info.devices,
            "command": info.command,
        }),
        None => json!({ "id": creation.id, "name": creation.name, "image": creation.image }),
    }
}

/// A host process that used the runtime API (a client, or a proxy forwarding one).
fn host_client_json(host: &RuntimeUse) -> Value {
    json!({ "host_process": host.comm, "pid": host.pid, "socket": host.endpoint })
}

fn origin_json(origin: &RuntimeUse) -> Value {
    json!({
        "container_id": origin.container_id,
        "pid": origin.pid,
        "comm": origin.comm,
        "endpoint": origin.endpoint,
        "target": origin.target,
        "ktime_ns": origin.ktime_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn api_use(ktime_ns: u64, container_id: &str, comm: &str, target: &str) -> RuntimeUse {
        RuntimeUse {
            ktime_ns,
            container_id: container_id.into(),
            pid: 7,
            comm: comm.into(),
            endpoint: target.into(),
            target: target.into(),
            runtime: "docker",
        }
    }

    fn privileged(id: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: "child".into(),
            privileged: true,
            ..Default::default()
        }
    }

    fn create_at(info: &ContainerInfo, ktime_ns: u64, sockets: &SocketRules) -> Finding {
        let creation = Creation {
            id: &info.id,
            name: &info.name,
            image: "img",
            ktime_ns,
            info: Some(info),
            error: None,
        };
        on_created(&creation, sockets).expect("a dangerous creation is reported")
    }

    #[test]
    fn a_host_proxy_forwarding_a_containers_tcp_request_is_not_the_creator() {
        let mut sockets = SocketRules::default();
        sockets.push(api_use(1000 * MS, "web", "docker", "tcp://127.0.0.1:2375"));
        // The relay connects to the socket right after the container's TCP connect.
        sockets.push(api_use(1002 * MS, "", "socat", "/var/run/docker.sock"));
        let child = privileged("c1");
        let f = create_at(&child, 1010 * MS, &sockets);
        assert_eq!((f.rule, f.severity), (ESCAPE, Severity::Critical));
        assert_eq!(f.container_id.as_deref(), Some("web"));
        assert_eq!(f.evidence["proxy"]["host_process"], "socat");

        // A host client on its own, long after any TCP use, is the creator.
        sockets.push(api_use(5000 * MS, "", "docker", "/var/run/docker.sock"));
        let f = create_at(&privileged("c2"), 5010 * MS, &sockets);
        assert_eq!(f.rule, DANGEROUS_CREATE);
        assert_eq!(f.evidence["client"]["host_process"], "docker");
    }

    #[test]
    fn a_start_right_after_a_host_clients_creation_is_that_clients_run() {
        let mut sockets = SocketRules::default();
        sockets.push(api_use(1000 * MS, "", "docker", "/var/run/docker.sock"));
        // A container polling the API between the create and the start.
        sockets.push(api_use(1020 * MS, "poller", "docker", "/run/d.sock"));
        let child = privileged("c3");
        assert!(on_started(&child, 1040 * MS, Some(1010 * MS), &sockets).is_none());
        // Without the creation's time, or long after it, the start is judged on its own.
        let f = on_started(&child, 1040 * MS, None, &sockets).expect("an escape");
        assert_eq!(f.container_id.as_deref(), Some("poller"));
        sockets.push(api_use(60_000 * MS, "poller", "docker", "/run/d.sock"));
        assert!(on_started(&child, 60_010 * MS, Some(1010 * MS), &sockets).is_some());
    }

    #[test]
    fn a_privileged_exec_asked_for_by_a_container_is_an_escape() {
        let mut sockets = SocketRules::default();
        sockets.push(api_use(1000 * MS, "web", "docker", "/run/api.sock"));
        let command = vec!["sh".to_string(), "-c".to_string(), "id".to_string()];
        let f = on_privileged_exec("t", "target", "e1", "", &command, 1005 * MS, &sockets);
        assert_eq!((f.rule, f.severity), (PRIVILEGED_EXEC, Severity::Critical));
        assert_eq!(f.container_id.as_deref(), Some("web"));
        assert_eq!(f.evidence["target_container"]["name"], "target");
        assert_eq!(f.evidence["command"][2], "id");
        // Into its own container: still the container's doing.
        sockets.push(api_use(1500 * MS, "t", "docker", "/s.sock"));
        let f = on_privileged_exec("t", "target", "e3", "", &command, 1505 * MS, &sockets);
        assert_eq!(
            (f.severity, f.container_id.as_deref()),
            (Severity::Critical, Some("t"))
        );
        // From the host: a notice about the target.
        sockets.push(api_use(2000 * MS, "", "docker", "/var/run/docker.sock"));
        let f = on_privileged_exec("t", "target", "e2", "0", &command, 2005 * MS, &sockets);
        assert_eq!(
            (f.severity, f.container_id.as_deref()),
            (Severity::Medium, Some("t"))
        );
        assert_eq!(f.evidence["client"]["host_process"], "docker");
    }

    #[test]
    fn without_a_recent_socket_user_a_dangerous_create_is_medium() {
        let info = ContainerInfo {
            id: "n".repeat(64),
            name: "agent".into(),
            privileged: true,
            ..Default::default()
        };
        let creation = Creation {
            id: &info.id,
            name: "agent",
            image: "img",
            ktime_ns: 10,
            info: Some(&info),
            error: None,
        };
        let finding = on_created(&creation, &SocketRules::default()).unwrap();
        assert_eq!(
            (finding.rule, finding.severity),
            (DANGEROUS_CREATE, Severity::Medium)
        );
        assert_eq!(finding.technique.id, "T1610");
        assert_eq!(
            finding.container_id.as_deref(),
            Some(info.id.as_str()),
            "names the created container"
        );
    }

    #[test]
    fn a_socket_mount_alone_waits_for_its_use() {
        let info = ContainerInfo {
            id: "s".repeat(64),
            binds: vec!["/var/run/docker.sock:/var/run/docker.sock".into()],
            ..Default::default()
        };
        let creation = Creation {
            id: &info.id,
            name: "dash",
            image: "img",
            ktime_ns: 10,
            info: Some(&info),
            error: None,
        };
        assert!(on_created(&creation, &SocketRules::default()).is_none());
    }

    #[test]
    fn plain_creates_from_the_host_are_quiet() {
        let info = ContainerInfo {
            id: "p".repeat(64),
            ..Default::default()
        };
        let creation = Creation {
            id: &info.id,
            name: "p",
            image: "img",
            ktime_ns: 10,
            info: Some(&info),
            error: None,
        };
        assert!(on_created(&creation, &SocketRules::default()).is_none());
    }
}
