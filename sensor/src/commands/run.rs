//! `sensor run`: load the probes, follow Docker, stream detections until told to stop.

use std::{
    io,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use aya::maps::{MapData, RingBuf};
use log::{info, warn};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{signal, SignalKind},
    sync::mpsc,
};

use crate::{
    cgroup,
    cli::{RunArgs, DEFAULT_DOCKER_SOCKET},
    config::Config,
    docker::{self, DockerUpdate},
    engine::{Engine, EngineConfig},
    host::HostNamespaces,
    output,
    probes::{HostExecPrefixes, LossCounters, PollingFlag, ProbeOptions, Probes},
    stats::{self, Losses},
    timefmt::monotonic_ns,
};

/// Records handled per wake-up before other work (Docker updates, signals) gets a turn.
const BATCH: usize = 4096;
/// While events keep coming, the ring is drained this often and execs and connects do not wake
/// the agent (see `batched_submit_flags` in the kernel programs): a wake-up per event costs the
/// exec'ing CPU a cross-CPU interrupt. This bounds their added latency.
const POLL: Duration = Duration::from_millis(2);
/// Empty timed drains after which the agent goes back to sleeping until the kernel wakes it,
/// so an idle host costs no timer wake-ups.
const IDLE_POLLS: u32 = 5;
/// How often losses are checked and waiting detections flushed.
const TICK: Duration = Duration::from_millis(250);
/// How long start-up waits for Docker's container list before declaring ready without it.
const INVENTORY_WAIT: Duration = Duration::from_secs(5);
/// Docker updates queued for the engine.
const DOCKER_QUEUE: usize = 1024;
/// Host paths whose execution by host processes is reported (container storage).
const HOST_EXEC_PREFIXES: &[&str] = &[
    "/var/lib/docker/",
    "/var/lib/containerd/",
    "/run/containerd/",
];

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let docker_socket = match &args.docker_socket {
        Some(path) if !path.exists() => bail!("docker socket {} does not exist", path.display()),
        Some(path) if !is_socket(path) => {
            bail!("docker socket {} is not a unix socket", path.display())
        }
        Some(path) => path.clone(),
        None => PathBuf::from(DEFAULT_DOCKER_SOCKET),
    };
    let config = match &args.config {
        Some(path) => {
            let config = Config::load(path)?;
            info!(
                "config {}: {} allow entries",
                path.display(),
                config.allow.len()
            );
            config
        }
        None => Config::default(),
    };
    if let Some(path) = &args.stats_file {
        // Found out now, not at the first write a minute later.
        stats::write_file(path, &serde_json::json!({}))
            .with_context(|| format!("writing the stats file {}", path.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args, docker_socket, config))
}

/// True for a unix socket (following symlinks, as a client would).
pub fn is_socket(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// The runtime socket paths host clients use: the configured Docker socket and the usual
/// spellings (the kernel compares the path exactly as the client passes it).
fn host_connect_paths(docker_socket: &std::path::Path) -> Vec<String> {
    let mut paths = vec![docker_socket.display().to_string()];
    for usual in [
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
    ] {
        if !paths.iter().any(|p| p == usual) {
            paths.push(usual.to_string());
        }
    }
    paths.truncate(sensor_common::HOST_EXEC_PREFIXES as usize);
    paths
}

async fn serve(args: RunArgs, docker_socket: PathBuf, config: Config) -> anyhow::Result<()> {
    let host = HostNamespaces::discover().context("reading the host's namespaces from /proc")?;
    let cgroup_root = cgroup::find_cgroup2_mount().context("finding the cgroup2 mount")?;

    let host_exec_prefixes: Vec<String> =
        HOST_EXEC_PREFIXES.iter().map(|p| p.to_string()).collect();
    let mut probes = Probes::load(&ProbeOptions {
        host_events: args.host_events,
        ring_buffer_bytes: args.ring_buffer_size,
        host_exec_prefixes: host_exec_prefixes.clone(),
        host_connect_paths: host_connect_paths(&docker_socket),
        host_mntns: host.mnt,
    })?;
    let mut prefixes = probes.take_host_exec_prefixes(&host_exec_prefixes)?;
    let ring = probes.take_events()?;
    let loss_counters = probes.take_loss_counters()?;
    let polling = probes.take_polling_flag()?;
    let mut filter = probes.take_cgroup_filter()?;

    // The kernel registers new container cgroups from here on; add the ones that already exist.
    let existing = cgroup::scan(&cgroup_root)
        .with_context(|| format!("scanning {} for container cgroups", cgroup_root.display()))?;
    let (output, writer) =
        output::spawn(args.format, Box::new(io::stdout())).context("starting the output thread")?;
    let mut engine = Engine::new(
        EngineConfig {
            docker_socket: docker_socket.clone(),
            host,
            proc_root: PathBuf::from("/proc"),
            config,
        },
        output.clone(),
    );
    for found in &existing {
        if let Err(err) = filter.add_started(found.cgroup_id) {
            warn!(
                "cgroup {} not added to the kernel filter: {err}",
                found.path
            );
        }
        engine.add_existing_cgroup(found.cgroup_id, &found.container.id);
    }

    let (docker_tx, mut docker_rx) = mpsc::channel(DOCKER_QUEUE);
    tokio::spawn(docker::watch(docker_socket, docker_tx));
    wait_for_inventory(&mut engine, &mut prefixes, &mut docker_rx).await;
    info!(
        "ready: probes={} running_containers={} container_cgroups={} runtime_sockets={} docker={} format={}",
        probes.attached.len(),
        engine.container_count(),
        existing.len(),
        engine.runtime_sockets().len(),
        engine.docker_version().unwrap_or("unavailable"),
        args.format.name()
    );
    if !probes.offsets_valid {
        warn!(
            "kernel offsets unknown: ppid, namespaces and exec arguments are missing from events"
        );
    }

    let kernel = KernelHandles {
        ring,
        loss_counters,
        polling,
        prefixes,
    };
    let result = event_loop(&args, &mut engine, kernel, &mut docker_rx, &output).await;

    engine.finish();
    drop(engine);
    drop(output);
    match writer.join() {
        Ok(Ok(())) => {}
        Ok(Err(err)) => warn!("writing detections failed: {err}"),
        Err(_) => warn!("the output thread panicked"),
    }
    info!("stopped");
    result
}

/// Gives the Docker watcher a few seconds to deliver its first container list, so the sensor
/// declares itself ready with names for the containers that already run.
async fn wait_for_inventory(
    engine: &mut Engine,
    prefixes: &mut HostExecPrefixes,
    updates: &mut mpsc::Receiver<DockerUpdate>,
) {
    let deadline = tokio::time::Instant::now() + INVENTORY_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Ok(Some(update)) => {
                let done = matches!(
                    update,
                    DockerUpdate::Inventory(_) | DockerUpdate::Disconnected { .. }
                );
                if let DockerUpdate::Disconnected { reason } = &update {
                    warn!("docker unavailable, continuing without container names: {reason}");
                }
                deliver(engine, prefixes, update);
                if done {
                    return;
                }
            }
            Ok(None) => return,
            Err(_) => {
                warn!(
                    "docker did not list containers within {}s; continuing",
                    INVENTORY_WAIT.as_secs()
                );
                return;
            }
        }
    }
}

/// The kernel-side handles the event loop works with.
struct KernelHandles {
    ring: RingBuf<MapData>,
    loss_counters: LossCounters,
    polling: PollingFlag,
    prefixes: HostExecPrefixes,
}

async fn event_loop(
    args: &RunArgs,
    engine: &mut Engine,
    kernel: KernelHandles,
    docker_rx: &mut mpsc::Receiver<DockerUpdate>,
    output: &output::Output,
) -> anyhow::Result<()> {
    let KernelHandles {
        ring,
        loss_counters,
        polling,
        mut prefixes,
    } = kernel;
    let prefixes = &mut prefixes;
    let loss_counters = &loss_counters;
    // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the
    // `AsyncFd` (and with it the ring buffer) is dropped.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
        .context("registering the ring buffer with the async runtime")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut tick = tokio::time::interval(TICK);
    let mut losses = Losses::new(args.ring_buffer_size);
    let mut last_stats = Instant::now();
    let stats_every = Duration::from_secs(args.stats_interval);
    let mut failure = None;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pacer = Pacer {
        flag: polling,
        polling: false,
        empty: 0,
        failed: false,
    };

    loop {
        tokio::select! {
            // In this order, so that neither a signal nor Docker's metadata waits behind an
            // event flood; the ring is drained in bounded batches.
            biased;
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            Some(update) = docker_rx.recv() => deliver(engine, prefixes, update),
            _ = tick.tick() => {
                if output.is_closed() {
                    // Nobody can read detections any more: running on would be silent loss.
                    failure = Some(anyhow::anyhow!("the detection output closed (stdout is gone); stopping"));
                    break;
                }
                if losses.update(loss_counters.read(), output.dropped()) {
                    engine.note_loss(monotonic_ns());
                }
                losses.warn_if_due(false);
                engine.on_tick();
                if last_stats.elapsed() >= stats_every {
                    last_stats = Instant::now();
                    report_stats(args, engine, &losses);
                }
            }
            _ = poll.tick(), if pacer.polling => {
                let drained = drain(ring.get_mut(), engine);
                if !pacer.polled(drained) {
                    // What was queued between the last drain and the flag change woke nobody.
                    drain(ring.get_mut(), engine);
                }
            }
            guard = ring.readable_mut() => {
                let mut guard = guard.context("waiting on the ring buffer")?;
                if drain(guard.get_inner_mut(), engine) < BATCH {
                    guard.clear_ready();
                }
                if pacer.woken() {
                    poll.reset();
                }
            }
        }
    }

    // Drain what the kernel already queued, so nothing seen before the signal is lost.
    let ring = ring.get_mut();
    while let Some(record) = ring.next() {
        engine.on_record(&record);
    }
    losses.update(loss_counters.read(), output.dropped());
    losses.warn_if_due(true);
    report_stats(args, engine, &losses);
    failure.map_or(Ok(()), Err)
}

/// Hands a Docker update to the engine; a daemon whose storage is not under the default root
/// gets its root added to the host exec prefixes the kernel watches.
fn deliver(engine: &mut Engine, prefixes: &mut HostExecPrefixes, update: DockerUpdate) {
    if let DockerUpdate::Connected { root_dir, .. } = &update {
        if !root_dir.is_empty() {
            let prefix = format!("{}/", root_dir.trim_end_matches('/'));
            match prefixes.add(&prefix) {
                Ok(true) => info!("watching host execs under docker root {prefix}"),
                Ok(false) => {}
                Err(err) => warn!("could not watch host execs under {prefix}: {err}"),
            }
        }
    }
    engine.on_docker(update);
}

/// When the ring is read: on a kernel wake-up after a quiet spell, then every [`POLL`] while
/// events keep coming (the kernel does not wake the agent meanwhile), and back to waiting for a
/// wake-up after [`IDLE_POLLS`] empty drains.
struct Pacer {
    flag: PollingFlag,
    polling: bool,
    empty: u32,
    failed: bool,
}

impl Pacer {
    /// The kernel woke the agent; returns true when timed draining starts now.
    fn woken(&mut self) -> bool {
        self.empty = 0;
        if self.polling {
            return false;
        }
        self.set(true);
        true
    }

    /// After a timed drain of `drained` records; returns false once back to sleeping.
    fn polled(&mut self, drained: usize) -> bool {
        if drained > 0 {
            self.empty = 0;
            return true;
        }
        self.empty += 1;
        if self.empty < IDLE_POLLS {
            return true;
        }
        self.set(false);
        false
    }

    fn set(&mut self, polling: bool) {
        self.polling = polling;
        if let Err(err) = self.flag.set(polling) {
            // Without the flag the kernel wakes the agent per event: correct, only dearer.
            if !self.failed {
                warn!("could not tell the kernel the reader's state: {err}");
                self.failed = true;
            }
        }
    }
}

/// Hands up to [`BATCH`] queued records to the engine; returns how many there were.
fn drain(ring: &mut RingBuf<MapData>, engine: &mut Engine) -> usize {
    let mut handled = 0;
    while handled < BATCH {
        let Some(record) = ring.next() else { break };
        engine.on_record(&record);
        handled += 1;
    }
    handled
}

fn report_stats(args: &RunArgs, engine: &Engine, losses: &Losses) {
    let snapshot = stats::snapshot(
        &engine.stats,
        losses,
        engine.container_count(),
        engine.cgroup_count(),
    );
    info!(
        "stats events={} detections={} folded={} lost={} dropped_detections={} decode_errors={}",
        snapshot["events"],
        snapshot["detections"],
        snapshot["folded_repeats"],
        snapshot["lost_events_total"],
        snapshot["dropped_detections"],
        snapshot["decode_errors"]
    );
    if let Some(path) = &args.stats_file {
        if let Err(err) = stats::write_file(path, &snapshot) {
            warn!("writing stats to {} failed: {err}", path.display());
        }
    }
}
