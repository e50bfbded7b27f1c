//! Detection rules. Each rule module turns events (kernel or Docker) into [`Finding`]s; the
//! engine adds time, container metadata, loss state and deduplication, and emits detections.
//!
//! Rules keep only bounded state, and never call Docker: what they know about containers comes
//! from the engine's cache.

pub mod boundary;
pub mod dangers;
pub mod dedup;
pub mod escape;
pub mod exec;
pub mod files;
pub mod hostexec;
pub mod miner;
pub mod module;
pub mod mount;
pub mod namespace;
pub mod origin;
pub mod posture;
pub mod socket;

use serde_json::{Map, Value};

use crate::detection::{ProcessInfo, Severity, Technique};

/// What a rule concluded about one event.
#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: &'static str,
    pub title: String,
    pub severity: Severity,
    pub technique: Technique,
    /// The container the finding is about (the actor), if any.
    pub container_id: Option<String>,
    pub process: Option<ProcessInfo>,
    pub evidence: Map<String, Value>,
    pub response: String,
    /// Repeats of the same rule, container and object within the window fold into one
    /// detection; `None` never folds.
    pub dedup: Option<DedupKey>,
    /// What could not be resolved beyond the actor container (e.g. a created container that was
    /// gone before it could be inspected); reported in `enrichment`.
    pub unresolved: Vec<String>,
}

impl Finding {
    /// A finding with no container, process or evidence yet.
    pub fn new(
        rule: &'static str,
        severity: Severity,
        technique: Technique,
        title: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            title: title.into(),
            severity,
            technique,
            container_id: None,
            process: None,
            evidence: Map::new(),
            response: String::new(),
            dedup: None,
            unresolved: Vec::new(),
        }
    }

    /// The acting container.
    pub fn in_container(mut self, container_id: &str) -> Self {
        self.container_id = Some(container_id.to_string());
        self
    }

    /// The acting container, if known.
    pub fn container(mut self, container_id: Option<String>) -> Self {
        self.container_id = container_id;
        self
    }

    pub fn process(mut self, process: ProcessInfo) -> Self {
        self.process = Some(process);
        self
    }

    pub fn evidence(mut self, evidence: Map<String, Value>) -> Self {
        self.evidence = evidence;
        self
    }

    pub fn response(mut self, response: &str) -> Self {
        self.response = response.to_string();
        self
    }

    /// Folds repeats of the same `object` within `window_secs`.
    pub fn dedup_by(mut self, object: impl Into<String>, window_secs: u64) -> Self {
        self.dedup = Some(DedupKey::new(object, window_secs));
        self
    }

    pub fn dedup_key(mut self, key: DedupKey) -> Self {
        self.dedup = Some(key);
        self
    }

    pub fn unresolved(mut self, unresolved: Vec<String>) -> Self {
        self.unresolved = unresolved;
        self
    }
}

/// What makes two findings "the same" for deduplication.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DedupKey {
    pub object: String,
    /// Nanoseconds during which repeats are folded.
    pub window_ns: u64,
}

impl DedupKey {
    pub fn new(object: impl Into<String>, window_secs: u64) -> Self {
        DedupKey {
            object: object.into(),
            window_ns: window_secs * 1_000_000_000,
        }
    }
}

/// Adds a key to an evidence map.
pub fn put(evidence: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    evidence.insert(key.to_string(), value.into());
}

/// A rule as listed by `sensor rules` and in the README.
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: &'static str,
    pub technique: &'static str,
    pub summary: &'static str,
}

/// Every rule the sensor has.
pub const CATALOG: &[RuleInfo] = &[
    RuleInfo {
        id: exec::CRYPTOMINER,
        severity: "critical",
        technique: "T1496",
        summary: "a container runs a miner: known miner name, stratum URL, pool/wallet arguments",
    },
    RuleInfo {
        id: exec::DROPPED_EXECUTABLE,
        severity: "high",
        technique: "T1105",
        summary: "a container executes a file written in its writable layer after it was created",
    },
    RuleInfo {
        id: exec::FILELESS,
        severity: "high",
        technique: "T1620",
        summary: "a container executes a program from a file descriptor or memfd (no file on disk)",
    },
    RuleInfo {
        id: exec::DECODED_PAYLOAD,
        severity: "high",
        technique: "T1140",
        summary: "a decoder (base64 -d, xxd -r, …) piped into a shell: an encoded stager",
    },
    RuleInfo {
        id: socket::RUNTIME_SOCKET,
        severity: "medium",
        technique: "T1611",
        summary: "a container connects to a container runtime's API socket (by inode, any path)",
    },
    RuleInfo {
        id: socket::RUNTIME_TCP,
        severity: "medium",
        technique: "T1611",
        summary: "a container connects to a Docker API TCP port (2375/2376)",
    },
    RuleInfo {
        id: socket::SHIM_SOCKET,
        severity: "high",
        technique: "T1611",
        summary: "a container on the host's network connects to a containerd-shim abstract \
            socket (medium from its own network namespace, where it reaches nothing)",
    },
    RuleInfo {
        id: socket::POOL_CONNECTION,
        severity: "medium",
        technique: "T1496",
        summary: "a container connects to a common mining-pool port",
    },
    RuleInfo {
        id: escape::ESCAPE,
        severity: "critical",
        technique: "T1611",
        summary: "a container that used a runtime API creates a privileged / host-bound container",
    },
    RuleInfo {
        id: escape::DANGEROUS_CREATE,
        severity: "medium",
        technique: "T1610",
        summary: "a privileged or host-bound container is created by a client outside containers",
    },
    RuleInfo {
        id: escape::PRIVILEGED_EXEC,
        severity: "critical",
        technique: "T1611",
        summary: "a container uses a runtime API to run a privileged process in a container \
            (`docker exec --privileged`); medium from a host client",
    },
    RuleInfo {
        id: escape::CONTAINER_CREATES_CONTAINER,
        severity: "low",
        technique: "T1610",
        summary: "a container creates an ordinary container through a runtime API",
    },
    RuleInfo {
        id: mount::MOUNT,
        severity: "high",
        technique: "T1611",
        summary: "a container mounts a file system (runtime set-up mounts excluded)",
    },
    RuleInfo {
        id: files::ESCAPE_FILE_WRITE,
        severity: "critical",
        technique: "T1611",
        summary: "a container opens release_agent, core_pattern, modprobe, uevent_helper or binfmt_misc for writing",
    },
    RuleInfo {
        id: hostexec::HOST_EXEC,
        severity: "critical",
        technique: "T1611",
        summary: "the host executes a file from a container's writable layer (release_agent/core_pattern payloads)",
    },
    RuleInfo {
        id: module::MODULE_LOAD,
        severity: "high",
        technique: "T1547.006",
        summary: "a container loads a kernel module (insmod/modprobe; init_module syscalls where traceable)",
    },
    RuleInfo {
        id: boundary::CGROUP_ESCAPE,
        severity: "critical",
        technique: "T1611",
        summary: "a process in a container moves a task out of the container's cgroup",
    },
    RuleInfo {
        id: boundary::HOST_ROOT_CHROOT,
        severity: "critical",
        technique: "T1611",
        summary: "a container chroots into the host's root, by the new root's identity (any \
            route: host-root bind or volume, /proc/<pid>/root with host pid); a failed attempt \
            is high",
    },
    RuleInfo {
        id: boundary::IO_URING,
        severity: "low",
        technique: "T1562.001",
        summary: "a container sets up an io_uring, whose operations bypass syscall hooks",
    },
    RuleInfo {
        id: namespace::HOST_NAMESPACE,
        severity: "critical",
        technique: "T1611",
        summary:
            "a process in a container cgroup runs in the host's mount namespace (nsenter, setns)",
    },
    RuleInfo {
        id: posture::POSTURE,
        severity: "medium",
        technique: "T1611",
        summary:
            "at start-up: a running container is privileged, mounts a runtime socket or host paths",
    },
];
