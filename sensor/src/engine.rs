//! The engine: resolves each event to its container, runs the rules, folds repeats, attaches
//! container metadata and hands detections to the output.
//!
//! It runs on the ring-buffer reader's task and never waits: Docker metadata arrives as
//! [`DockerUpdate`]s from the watcher, and detections leave through a bounded queue. A detection
//! about a container whose metadata is not known yet waits briefly (bounded) for the Docker
//! event that is normally a few milliseconds behind.

use std::{
    collections::{HashMap, VecDeque},
    fs,
    path::PathBuf,
    sync::Arc,
};

use log::{info, warn};
use sensor_common::{
    flags, kind, CgroupEvent, ChrootEvent, ConnectEvent, ExecEvent, MountEvent, NamespaceEvent,
    OpenEvent, SyscallEvent,
};

use crate::{
    cgroup::container_of,
    config::Config,
    containers::Containers,
    detection::{Detection, Enrichment, Severity},
    docker::{ContainerInfo, DockerUpdate},
    event::{decode, text, Event, ExecView as _},
    host::{discover_runtime_sockets, HostNamespaces, RuntimeSocket},
    output::Output,
    processes::{complete_process, RecentExecs},
    rules::{
        boundary,
        dedup::{Deduper, Verdict},
        escape::{self, Creation},
        exec::{ExecInput, ExecRules},
        files, hostexec, module, mount, namespace, posture,
        socket::{ConnectInput, SocketRules},
        Finding,
    },
    timefmt::{monotonic_ns, Clock},
};

/// How long a detection may wait for its container's metadata.
const PENDING_WAIT_NS: u64 = 500_000_000;
/// Detections waiting for metadata at most; beyond this they are emitted without it.
const PENDING_CAPACITY: usize = 256;
/// Containers whose writable layer (found through mountinfo) is remembered.
const UPPER_DIR_CACHE: usize = 4096;
/// Detections raised within this long after a loss are marked degraded.
const DEGRADED_NS: u64 = 10_000_000_000;

/// Counters the engine keeps; reported in stats lines.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    pub events: u64,
    pub decode_errors: u64,
    pub detections: u64,
    pub folded: u64,
    /// Findings silenced by the allowlist.
    pub silenced: u64,
    /// Events from a cgroup the agent could not map to a container.
    pub unresolved: u64,
}

/// Where Docker stands, as far as the engine knows.
#[derive(Clone, Debug)]
struct DockerState {
    connected: bool,
    /// `<version> (api <version>)` of the last daemon connected to.
    version: Option<String>,
    reason: String,
    inventory_seen: bool,
}

/// A detection waiting for container metadata.
struct Pending {
    deadline: u64,
    container_id: String,
    /// What else the detection could not resolve (kept when the container's metadata arrives).
    unresolved: Vec<String>,
    detection: Detection,
}

/// Settings of the engine.
pub struct EngineConfig {
    pub docker_socket: PathBuf,
    pub host: HostNamespaces,
    /// `/proc`, replaceable in tests.
    pub proc_root: PathBuf,
    /// The allowlist.
    pub config: Config,
}

pub struct Engine {
    config: EngineConfig,
    clock: Clock,
    sockets: Vec<RuntimeSocket>,
    containers: Containers,
    exec: ExecRules,
    socket: SocketRules,
    dedup: Deduper,
    output: Output,
    docker: DockerState,
    pending: VecDeque<Pending>,
    degraded_until: u64,
    /// Reused buffer for the findings of one event.
    findings: Vec<Finding>,
    /// Writable layers found through mountinfo, per container.
    upper_dirs: HashMap<Arc<str>, Option<PathBuf>>,
    recent_execs: RecentExecs,
    pub stats: EngineStats,
}

impl Engine {
    pub fn new(config: EngineConfig, output: Output) -> Self {
        let sockets = discover_runtime_sockets(&config.docker_socket);
        Engine {
            config,
            clock: Clock::measure(),
            sockets,
            containers: Containers::default(),
            exec: ExecRules::default(),
            socket: SocketRules::default(),
            dedup: Deduper::default(),
            output,
            docker: DockerState {
                connected: false,
                version: None,
                reason: "not connected yet".into(),
                inventory_seen: false,
            },
            pending: VecDeque::new(),
            degraded_until: 0,
            findings: Vec::new(),
            upper_dirs: HashMap::new(),
            recent_execs: RecentExecs::new(),
            stats: EngineStats::default(),
        }
    }

    /// Container cgroups that existed before the agent started.
    pub fn add_existing_cgroup(&mut self, cgroup_id: u64, container_id: &str) {
        self.containers.add_cgroup(cgroup_id, container_id, 0);
    }

    pub fn container_count(&self) -> usize {
        self.containers.running().count()
    }

    /// Container cgroups the engine maps to containers.
    pub fn cgroup_count(&self) -> usize {
        self.containers.cgroup_count()
    }

    /// The Docker daemon's version, once connected.
    pub fn docker_version(&self) -> Option<&str> {
        self.docker.version.as_deref()
    }

    pub fn runtime_sockets(&self) -> &[RuntimeSocket] {
        &self.sockets
    }

    /// Events were lost at about `ktime_ns`: mark detections degraded for a while.
    pub fn note_loss(&mut self, ktime_ns: u64) {
        self.degraded_until = ktime_ns + DEGRADED_NS;
    }

    /// Handles one ring-buffer record.
    pub fn on_record(&mut self, bytes: &[u8]) {
        self.stats.events += 1;
        match decode(bytes) {
            Ok(event) => self.on_event(&event),
            Err(err) => {
                self.stats.decode_errors += 1;
                // The first few say what is wrong; the count is in the stats lines.
                if self.stats.decode_errors <= 5 {
                    warn!(
                        "dropped a malformed kernel record: {err} count={}",
                        self.stats.decode_errors
                    );
                }
            }
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::CgroupMkdir(e) => self.on_cgroup_mkdir(e),
            Event::CgroupRmdir(e) => self.containers.remove_cgroup(e.id),
            Event::Exec(e) => self.on_exec(e),
            Event::Connect(e) => self.on_connect(e),
            Event::Mount(e) => self.on_mount(e),
            Event::Namespace(e) => self.on_namespace(e),
            Event::Open(e) => self.on_open(e),
            Event::Chroot(e) => self.on_chroot(e),
            Event::CgroupAttach(e) => self.on_cgroup_attach(e),
            Event::Syscall(e) => self.on_syscall(e),
        }
    }

    fn on_cgroup_mkdir(&mut self, e: &CgroupEvent) {
        let path = text(&e.path, e.path_len);
        let container_id = match container_of(&path) {
            Some(found) => Some(Arc::from(found.id)),
            // A sub-cgroup without an id in its path, made by a task inside a container.
            None => self
                .containers
                .cgroup(e.header.cgroup_id)
                .map(|c| c.container_id.clone()),
        };
        if e.header.flags & flags::UNTRACKED != 0 {
            warn!("container cgroup map is full: cgroup {path} is not watched; raise MAX_CONTAINER_CGROUPS");
        }
        if let Some(id) = container_id {
            self.containers.add_cgroup(e.id, &id, e.header.ktime_ns);
        }
    }

    /// The container of an event's task, if it is in one.
    fn container_of_event(&mut self, cgroup_id: u64, tgid: u32) -> Option<Arc<str>> {
        if let Some(entry) = self.containers.cgroup(cgroup_id) {
            return Some(entry.container_id.clone());
        }
        // The cgroup's mkdir was not seen (lost, or before the start-up scan): ask /proc once.
        let path = self.config.proc_root.join(tgid.to_string()).join("cgroup");
        let content = fs::read_to_string(path).ok()?;
        let line = content.lines().find(|l| l.starts_with("0::"))?;
        let found = container_of(&line[3..])?;
        self.containers.add_cgroup(cgroup_id, &found.id, 0);
        Some(Arc::from(found.id))
    }

    fn on_exec(&mut self, e: &ExecEvent) {
        let h = &e.header;
        if h.flags & flags::HOST != 0 {
            let finding = hostexec::on_host_exec(
                e,
                self.containers.all().map(|c| &**c),
                &self.config.proc_root,
            );
            if let Some(finding) = finding {
                self.emit(finding, h.ktime_ns);
            }
            return;
        }
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        if h.flags & flags::FIRST_EXEC != 0 {
            self.containers.note_first_exec(h.cgroup_id, h.ktime_ns);
        }
        if is_runtime_bootstrap(e, &self.config.host) {
            return;
        }
        self.recent_execs.record(e);
        let info = self.containers.get(&container_id).cloned();
        let process = || {
            let filename = text(&e.filename, e.filename_len);
            let argv: Vec<&str> = e.arg_strs().collect();
            crate::rules::exec::process_info(e, &filename, &argv)
        };
        if let Some(finding) = namespace::on_exec(h, &container_id, &self.config.host, process) {
            self.emit(finding, h.ktime_ns);
        }

        let created_unix_ns = match &info {
            Some(info) => info.created_unix_ns,
            None => self.containers.cgroup(h.cgroup_id).map_or(0, |c| {
                if c.created_ktime == 0 {
                    0
                } else {
                    self.clock.wall_ns(c.created_ktime)
                }
            }),
        };
        // The first exec the kernel saw; for a container older than the agent, Docker's start.
        let workload_started_unix_ns = match self.containers.cgroup(h.cgroup_id) {
            Some(c) if c.first_exec_ktime != 0 => self.clock.wall_ns(c.first_exec_ktime),
            _ => info.as_deref().map_or(0, |i| i.started_unix_ns),
        };
        let upper_dir = match info.as_deref().and_then(|i| i.upper_dir.clone()) {
            Some(dir) => Some(dir),
            None => self.upper_dir_of(&container_id, h.tgid),
        };
        let input = ExecInput {
            event: e,
            container_id: &container_id,
            info: info.as_deref(),
            upper_dir: upper_dir.as_deref(),
            created_unix_ns,
            workload_started_unix_ns,
            proc_root: &self.config.proc_root,
        };
        let mut findings = std::mem::take(&mut self.findings);
        self.exec.on_exec(&input, &mut findings);
        for finding in findings.drain(..) {
            self.emit(finding, h.ktime_ns);
        }
        self.findings = findings;
    }

    fn on_open(&mut self, e: &OpenEvent) {
        let h = &e.header;
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        // Opened through a symlink: the kernel's name of the file, not the link's.
        let name = if h.flags & flags::LINKED != 0 {
            text(&e.file_name, e.file_name_len)
        } else {
            text(&e.path, e.path_len)
        };
        let finding = if name.ends_with("cgroup.procs") || name.ends_with("cgroup.threads") {
            let containers = &self.containers;
            boundary::on_cgroup_procs_write(e, &container_id, &self.config.proc_root, |id| {
                containers.cgroup(id).is_some()
            })
        } else {
            files::on_open(e, &container_id, &self.config.proc_root)
        };
        if let Some(finding) = finding {
            self.emit(finding, h.ktime_ns);
        }
    }

    fn on_syscall(&mut self, e: &SyscallEvent) {
        let h = &e.header;
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        let finding = if h.kind == kind::IO_URING_SETUP {
            boundary::on_io_uring(e, &container_id)
        } else {
            module::on_syscall(e, &container_id)
        };
        self.emit(finding, h.ktime_ns);
    }

    fn on_chroot(&mut self, e: &ChrootEvent) {
        let h = &e.header;
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        let info = self.containers.get(&container_id).cloned();
        if let Some(finding) =
            boundary::on_chroot(e, &container_id, info.as_deref(), &self.config.proc_root)
        {
            self.emit(finding, h.ktime_ns);
        }
    }

    /// The mover is in a container (the kernel checked); the moved task leaves the filter.
    fn on_cgroup_attach(&mut self, e: &CgroupEvent) {
        let h = &e.header;
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        let finding = boundary::on_cgroup_attach(e, &container_id);
        self.emit(finding, h.ktime_ns);
    }

    fn on_connect(&mut self, e: &ConnectEvent) {
        let h = &e.header;
        if h.flags & flags::HOST != 0 {
            self.socket.on_host_connect(e, &self.sockets);
            return;
        }
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        let info = self.containers.get(&container_id).cloned();
        let input = ConnectInput {
            event: e,
            container_id: &container_id,
            info: info.as_deref(),
            sockets: &self.sockets,
            proc_root: &self.config.proc_root,
        };
        if let Some(finding) = self.socket.on_connect(&input) {
            self.emit(finding, h.ktime_ns);
        }
    }

    fn on_mount(&mut self, e: &MountEvent) {
        let h = &e.header;
        if h.flags & flags::HOST != 0 {
            return;
        }
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        let finding = mount::on_mount(e, &container_id);
        self.emit(finding, h.ktime_ns);
    }

    fn on_namespace(&mut self, e: &NamespaceEvent) {
        let h = &e.header;
        if h.kind != kind::SETNS {
            return;
        }
        let Some(container_id) = self.container_of_event(h.cgroup_id, h.tgid) else {
            self.stats.unresolved += 1;
            return;
        };
        if let Some(finding) = namespace::on_setns(e, &container_id, &self.config.host) {
            self.emit(finding, h.ktime_ns);
        }
    }

    /// The container's writable layer read from one of its processes' mountinfo, for when
    /// Docker's answer is not there yet (or Docker is down). Remembered per container.
    fn upper_dir_of(&mut self, container_id: &Arc<str>, pid: u32) -> Option<PathBuf> {
        if let Some(known) = self.upper_dirs.get(container_id) {
            return known.clone();
        }
        let path = self
            .config
            .proc_root
            .join(pid.to_string())
            .join("mountinfo");
        let found = fs::read_to_string(path)
            .ok()
            .and_then(|m| crate::rules::origin::upper_dir_from_mountinfo(&m));
        if found.is_some() {
            if self.upper_dirs.len() >= UPPER_DIR_CACHE {
                self.upper_dirs.clear();
            }
            self.upper_dirs.insert(container_id.clone(), found.clone());
        }
        found
    }

    /// Handles news from the Docker watcher.
    pub fn on_docker(&mut self, update: DockerUpdate) {
        match update {
            DockerUpdate::Connected {
                version,
                api_version,
                ..
            } => {
                self.docker.connected = true;
                self.docker.version = Some(format!("{version} (api {api_version})"));
                self.refresh_sockets();
            }
            DockerUpdate::Inventory(list) => {
                self.containers.replace_all(list);
                if !self.docker.inventory_seen {
                    self.docker.inventory_seen = true;
                    self.report_posture();
                }
            }
            DockerUpdate::Created {
                id,
                time_unix_ns,
                name,
                image,
                info,
                error,
            } => {
                if let Some(info) = &info {
                    self.containers.upsert((**info).clone());
                }
                // The creating client connected before Docker stamped the container's creation;
                // clients reacting to the event connect after it. Docker's `Created` time is the
                // sharper cut, the event time the fallback.
                let created_at = info
                    .as_deref()
                    .map(|i| i.created_unix_ns)
                    .filter(|&ns| ns > 0 && ns <= time_unix_ns)
                    .unwrap_or(time_unix_ns);
                let creation = Creation {
                    id: &id,
                    name: &name,
                    image: &image,
                    ktime_ns: self.clock.ktime_ns(created_at),
                    info: info.as_deref(),
                    error: error.as_deref(),
                };
                if let Some(finding) = escape::on_created(&creation, &self.socket) {
                    let ktime = self.clock.ktime_ns(time_unix_ns);
                    self.emit_at(finding, ktime, time_unix_ns);
                }
            }
            DockerUpdate::Started(info) => {
                if info.started_unix_ns > 0 {
                    let ktime = self.clock.ktime_ns(info.started_unix_ns);
                    let created = (info.created_unix_ns > 0)
                        .then(|| self.clock.ktime_ns(info.created_unix_ns));
                    if let Some(finding) = escape::on_started(&info, ktime, created, &self.socket) {
                        self.emit_at(finding, ktime, info.started_unix_ns);
                    }
                }
                self.containers.upsert(*info);
            }
            DockerUpdate::PrivilegedExec {
                id,
                exec_id,
                time_unix_ns,
                user,
                command,
            } => {
                let ktime = self.clock.ktime_ns(time_unix_ns);
                let name = self
                    .containers
                    .get(&id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                let finding = escape::on_privileged_exec(
                    &id,
                    &name,
                    &exec_id,
                    &user,
                    &command,
                    ktime,
                    &self.socket,
                );
                self.emit_at(finding, ktime, time_unix_ns);
            }
            DockerUpdate::Died { id } => self.containers.mark_stopped(&id),
            DockerUpdate::Destroyed { id } => {
                self.containers.mark_gone(&id);
                self.exec.forget_container(&id);
                self.upper_dirs.remove(id.as_str());
                self.dedup.forget_container(&id);
            }
            DockerUpdate::Disconnected { reason } => {
                self.docker.connected = false;
                self.docker.reason = reason;
            }
        }
        self.flush_pending(false);
    }

    /// Periodic work: re-measure the clock offset, emit detections that waited long enough.
    pub fn on_tick(&mut self) {
        self.clock = Clock::measure();
        self.flush_pending(false);
    }

    /// Emits everything still waiting (at shutdown).
    pub fn finish(&mut self) {
        self.flush_pending(true);
    }

    /// The Docker socket can be recreated (daemon restart), which changes its inode.
    fn refresh_sockets(&mut self) {
        let sockets = discover_runtime_sockets(&self.config.docker_socket);
        if sockets != self.sockets {
            let names: Vec<String> = sockets
                .iter()
                .map(|s| s.path.display().to_string())
                .collect();
            info!("runtime sockets watched: {}", names.join(","));
            self.sockets = sockets;
            self.socket.clear_cache();
        }
    }

    fn report_posture(&mut self) {
        let running: Vec<Arc<ContainerInfo>> = self.containers.running().cloned().collect();
        let now = monotonic_ns();
        for info in running {
            let Some(finding) = posture::assess(&info) else {
                continue;
            };
            // The posture notice stands for the container's socket use: a poller that connects
            // right after start-up should not add a second notice.
            self.seed_socket_notice(&info.id, now, finding.severity);
            self.emit(finding, now);
        }
    }

    /// Marks the container's runtime-socket notice as given.
    fn seed_socket_notice(&mut self, container_id: &str, ktime_ns: u64, severity: Severity) {
        for socket in &self.sockets {
            let object = socket.path.display().to_string();
            self.dedup.seed(
                container_id,
                crate::rules::socket::RUNTIME_SOCKET,
                &object,
                ktime_ns,
                severity,
            );
        }
    }

    fn emit(&mut self, finding: Finding, ktime_ns: u64) {
        let wall = self.clock.wall_ns(ktime_ns);
        self.emit_at(finding, ktime_ns, wall);
    }

    fn emit_at(&mut self, finding: Finding, ktime_ns: u64, time_unix_ns: i64) {
        let info = finding
            .container_id
            .as_deref()
            .and_then(|id| self.containers.get(id))
            .cloned();
        let Some(finding) = self.config.config.adjust(finding, info.as_deref()) else {
            self.stats.silenced += 1;
            return;
        };
        let container = finding.container_id.as_deref().unwrap_or("");
        let count = match &finding.dedup {
            Some(key) => {
                match self
                    .dedup
                    .check(container, finding.rule, key, ktime_ns, finding.severity)
                {
                    Verdict::Emit(count) => count,
                    Verdict::Fold => {
                        self.stats.folded += 1;
                        return;
                    }
                }
            }
            None => 1,
        };
        let mut finding = finding;
        if let Some(process) = &mut finding.process {
            complete_process(process, &self.config.proc_root, &self.recent_execs);
        }
        let snapshot = finding
            .container_id
            .as_deref()
            .map(|id| self.containers.snapshot(id, "").0);
        // A detection about a container Docker has not told us about yet waits briefly.
        let waiting = finding.container_id.is_some() && info.is_none() && self.docker.connected;
        let enrichment = self.enrichment_of(finding.container_id.as_deref(), &finding.unresolved);
        let detection = Detection {
            time_unix_ns,
            ktime_ns,
            rule: finding.rule,
            title: finding.title,
            severity: finding.severity,
            technique: finding.technique,
            container: snapshot,
            enrichment,
            process: finding.process,
            evidence: finding.evidence,
            response: finding.response,
            degraded: ktime_ns <= self.degraded_until,
            count,
        };
        if waiting && self.pending.len() < PENDING_CAPACITY {
            let container_id = finding.container_id.unwrap_or_default();
            self.pending.push_back(Pending {
                deadline: monotonic_ns() + PENDING_WAIT_NS,
                container_id,
                unresolved: finding.unresolved,
                detection,
            });
            return;
        }
        self.send(detection);
    }

    fn flush_pending(&mut self, all: bool) {
        let now = monotonic_ns();
        let mut keep = VecDeque::new();
        while let Some(mut pending) = self.pending.pop_front() {
            let known = self.containers.get(&pending.container_id).is_some();
            if known || all || now >= pending.deadline || !self.docker.connected {
                let (snapshot, _) = self.containers.snapshot(&pending.container_id, "");
                pending.detection.container = Some(snapshot);
                pending.detection.enrichment =
                    self.enrichment_of(Some(&pending.container_id), &pending.unresolved);
                self.send(pending.detection);
            } else {
                keep.push_back(pending);
            }
        }
        self.pending = keep;
    }

    /// Whether a detection's container metadata, and anything else it names, could be had.
    fn enrichment_of(&self, container_id: Option<&str>, unresolved: &[String]) -> Enrichment {
        let mut missing: Vec<String> = Vec::new();
        if let Some(id) = container_id {
            if let (_, Enrichment::Failed(reason)) =
                self.containers.snapshot(id, &self.docker_state())
            {
                missing.push(reason);
            }
        }
        missing.extend(unresolved.iter().cloned());
        match (container_id, missing.is_empty()) {
            (_, false) => Enrichment::Failed(missing.join("; ")),
            (None, true) => Enrichment::NotApplicable,
            (Some(_), true) => Enrichment::Complete,
        }
    }

    fn send(&mut self, detection: Detection) {
        self.stats.detections += 1;
        self.output.emit(detection);
    }

    fn docker_state(&self) -> String {
        if self.docker.connected {
            "Docker does not know it (not a Docker container, or already removed)".to_string()
        } else {
            format!("Docker unreachable: {}", self.docker.reason)
        }
    }
}

/// The container runtime's own helper: `runc init` re-executes a sealed copy of itself (through
/// a file descriptor) after it joined the container's cgroup but before it entered the
/// container's mount namespace. That exec is neither fileless malware nor a namespace escape.
/// Only the exec is exempt: a setns into the host's namespaces is judged on its own.
fn is_runtime_bootstrap(e: &ExecEvent, host: &HostNamespaces) -> bool {
    if e.header.mntns != host.mnt {
        return false;
    }
    let mut args = e.arg_strs();
    let (Some(program), Some(command), None) = (args.next(), args.next(), args.next()) else {
        return false;
    };
    let filename = text(&e.filename, e.filename_len);
    let own_copy = crate::rules::origin::is_fd_path(&filename) || filename == "/proc/self/exe";
    program == "runc" && command == "init" && own_copy
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

    fn exec_in(mntns: u32, filename: &str, args: &[&str]) -> ExecEvent {
        let mut e = testutil::exec(filename, args);
        e.header.mntns = mntns;
        e
    }

    #[test]
    fn runc_init_re_exec_in_the_host_namespace_is_the_runtime() {
        assert!(is_runtime_bootstrap(
            &exec_in(100, "/dev/fd/6", &["runc", "init"]),
            &HOST
        ));
        assert!(is_runtime_bootstrap(
            &exec_in(100, "/proc/self/exe", &["runc", "init"]),
            &HOST
        ));
    }

    #[test]
    fn look_alikes_are_not_the_runtime() {
        // Inside the container's own mount namespace.
        assert!(!is_runtime_bootstrap(
            &exec_in(55, "/dev/fd/6", &["runc", "init"]),
            &HOST
        ));
        // A real file, other arguments, other programs.
        assert!(!is_runtime_bootstrap(
            &exec_in(100, "/tmp/runc", &["runc", "init"]),
            &HOST
        ));
        assert!(!is_runtime_bootstrap(
            &exec_in(100, "/dev/fd/6", &["runc", "init", "x"]),
            &HOST
        ));
        assert!(!is_runtime_bootstrap(
            &exec_in(100, "/dev/fd/6", &["sh"]),
            &HOST
        ));
    }
}
