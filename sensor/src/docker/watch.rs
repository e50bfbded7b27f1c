//! The Docker watcher: one long-lived task that keeps the engine's container cache current.
//!
//! A session is: connect and negotiate the API version, send `Connected`, list and inspect every
//! container (`Inventory`), then follow the daemon's event stream. Any failure ends the session;
//! the watcher reports `Disconnected` and starts a new one after an exponential backoff.

use std::{
    collections::HashMap,
    convert::Infallible,
    error::Error as StdError,
    path::Path,
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bollard::{
    errors::Error as BollardError,
    models::EventMessage,
    query_parameters::{EventsOptions, ListContainersOptions},
    Docker, API_DEFAULT_VERSION,
};
use futures_util::StreamExt;
use log::{debug, info, warn};
use tokio::sync::mpsc::Sender;

use super::{
    convert::container_info,
    model::{ContainerInfo, DockerUpdate},
};

/// Bound on waiting for the response headers of one request (bollard does not apply it to
/// bodies, so the endless event stream is not cut by it).
const REQUEST_TIMEOUT_SECS: u64 = 30;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);
const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Why a session with the daemon ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("the receiver of Docker updates is gone")]
    ReceiverGone,
    #[error("socket path is not valid UTF-8")]
    NonUtf8Path,
    #[error("the event stream ended")]
    StreamEnded,
    #[error(transparent)]
    Docker(#[from] BollardError),
}

/// Watches the Docker daemon at `socket` and sends what it learns to `updates`, forever:
/// `Connected`, `Inventory`, then `Created`/`Started`/`Destroyed` as containers come and go.
/// When the daemon cannot be reached or the connection breaks it sends `Disconnected` (once per
/// failed attempt) and retries with exponential backoff (1 s doubling to 30 s, reset once a
/// session is established). Returns only when the receiver of `updates` is dropped.
pub async fn watch(socket: PathBuf, updates: Sender<DockerUpdate>) {
    let mut outage = Outage::new();
    loop {
        let Err(end) = session(&socket, &updates, &mut outage).await;
        if let SessionEnd::ReceiverGone = end {
            return;
        }
        let reason = format!("docker socket {}: {}", socket.display(), describe(&end));
        let delay = outage.failed(&reason);
        if updates
            .send(DockerUpdate::Disconnected { reason })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = updates.closed() => return,
        }
    }
}

/// Backoff and log state across failed attempts.
struct Outage {
    next_delay: Duration,
    /// Whether this outage was already logged at warn level.
    logged: bool,
}

impl Outage {
    fn new() -> Self {
        Self {
            next_delay: FIRST_RETRY,
            logged: false,
        }
    }

    /// A session was established: the next failure starts a new outage.
    fn end(&mut self) {
        *self = Self::new();
    }

    /// Logs a failed attempt (warn for the first of an outage) and returns the delay to wait.
    fn failed(&mut self, reason: &str) -> Duration {
        let delay = self.next_delay;
        self.next_delay = (delay * 2).min(MAX_RETRY);
        if self.logged {
            debug!(
                "docker still unreachable, retry in {}s: {reason}",
                delay.as_secs()
            );
        } else {
            warn!("docker unreachable, retrying with backoff: {reason}");
            self.logged = true;
        }
        delay
    }
}

/// Runs one session; it only ever ends with an error.
async fn session(
    socket: &Path,
    updates: &Sender<DockerUpdate>,
    outage: &mut Outage,
) -> Result<Infallible, SessionEnd> {
    let path = socket.to_str().ok_or(SessionEnd::NonUtf8Path)?;
    let docker = Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)?;
    // bollard assumes its newest API (1.53); dockerd 20.10 serves 1.41 and rejects versioned
    // requests above it ("client version 1.53 is too new"). bollard 0.21.1 in fact sends
    // unversioned paths (its URL join drops the `/v1.xx` prefix), which the daemon answers in
    // its own version; negotiating keeps bollard's idea of the version in line either way.
    let docker = docker.negotiate_version().await?;
    let server = docker.version().await?;
    let version = server.version.unwrap_or_default();
    let api_version = server
        .api_version
        .unwrap_or_else(|| docker.client_version().to_string());
    let root_dir = root_dir(&docker).await?;
    let connected = DockerUpdate::Connected {
        version: version.clone(),
        api_version: api_version.clone(),
        root_dir,
    };
    send(updates, connected).await?;
    // Taken before listing: replaying events from here means nothing that happens between the
    // listing and the subscription is lost (at worst it is seen twice).
    let since_ns = unix_now_ns();
    let inventory = inventory(&docker).await?;
    info!(
        "docker connected socket={} version={version} api={api_version} containers={}",
        socket.display(),
        inventory.len()
    );
    send(updates, DockerUpdate::Inventory(inventory)).await?;
    outage.end();
    follow_events(&docker, since_ns, updates).await
}

/// `DockerRootDir` from `/info`, empty if the answer does not parse: `/info` is the answer most
/// likely to hold values newer than bollard's enums, and the container cache does not need it.
async fn root_dir(docker: &Docker) -> Result<String, SessionEnd> {
    match docker.info().await {
        Ok(info) => Ok(info.docker_root_dir.unwrap_or_default()),
        Err(err) if answered(&err) => {
            warn!("docker info unusable, root dir unknown: {}", describe(&err));
            Ok(String::new())
        }
        Err(err) => Err(err.into()),
    }
}

async fn send(updates: &Sender<DockerUpdate>, update: DockerUpdate) -> Result<(), SessionEnd> {
    updates
        .send(update)
        .await
        .map_err(|_| SessionEnd::ReceiverGone)
}

/// Lists all containers, running or not, and inspects each.
async fn inventory(docker: &Docker) -> Result<Vec<ContainerInfo>, SessionEnd> {
    let options = ListContainersOptions {
        all: true,
        ..Default::default()
    };
    let listed = docker.list_containers(Some(options)).await?;
    let mut infos = Vec::with_capacity(listed.len());
    for id in listed.into_iter().filter_map(|summary| summary.id) {
        match docker.inspect_container(&id, None).await {
            Ok(inspect) => infos.push(described(docker, &inspect).await),
            // Removed between the listing and the inspect: nothing to know.
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => debug!("docker container {id} vanished before inspect"),
            Err(err) if answered(&err) => {
                warn!("docker container {id} skipped: {}", describe(&err));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(infos)
}

/// Errors that say something about the answer, not about the connection: the daemon answered
/// with an error status (404, 500, …) or with JSON that does not fit bollard's models. A session
/// must not be torn down (and retried forever) because of one odd container.
fn answered(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::DockerResponseServerError { .. }
            | BollardError::JsonDataError { .. }
            | BollardError::JsonSerdeError { .. }
    )
}

fn events_options(since_ns: i64) -> EventsOptions {
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        (
            "event".to_owned(),
            ["create", "start", "exec_create", "die", "destroy"]
                .map(str::to_owned)
                .to_vec(),
        ),
    ]);
    EventsOptions {
        since: Some(format_since(since_ns)),
        until: None,
        filters: Some(filters),
    }
}

/// Docker reads `since` as `seconds.nanoseconds` and parses the part after the dot as an
/// integer count of nanoseconds, so it must always have nine digits.
fn format_since(unix_ns: i64) -> String {
    let (secs, nanos) = (
        unix_ns.div_euclid(NANOS_PER_SEC),
        unix_ns.rem_euclid(NANOS_PER_SEC),
    );
    format!("{secs}.{nanos:09}")
}

fn unix_now_ns() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX)
}

/// Follows the event stream until it fails or ends (the daemon went away).
async fn follow_events(
    docker: &Docker,
    since_ns: i64,
    updates: &Sender<DockerUpdate>,
) -> Result<Infallible, SessionEnd> {
    let mut events = std::pin::pin!(docker.events(Some(events_options(since_ns))));
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            // Nobody listens any more: stop instead of waiting for the next container event.
            () = updates.closed() => return Err(SessionEnd::ReceiverGone),
        };
        let event = next.ok_or(SessionEnd::StreamEnded)??;
        handle_event(docker, event, updates).await?;
    }
}

/// Turns one container event into an update, inspecting the container where the update needs it.
async fn handle_event(
    docker: &Docker,
    event: EventMessage,
    updates: &Sender<DockerUpdate>,
) -> Result<(), SessionEnd> {
    let time_unix_ns = event_time_ns(&event);
    let exec_id = event
        .actor
        .as_ref()
        .and_then(|a| a.attributes.as_ref())
        .and_then(|attributes| attributes.get("execID"))
        .cloned()
        .unwrap_or_default();
    let (id, name, image) = actor(event.actor);
    match event.action.as_deref() {
        _ if id.is_empty() => Ok(()),
        // `exec_create: <command>`; health checks are execs too, hence one inspect each.
        Some(action) if action.starts_with("exec_create") && !exec_id.is_empty() => {
            on_exec_create(docker, id, exec_id, time_unix_ns, updates).await
        }
        Some("create") => {
            let inspected = docker.inspect_container(&id, None).await;
            let info = match &inspected {
                Ok(inspect) => Some(Box::new(described(docker, inspect).await)),
                Err(_) => None,
            };
            let update = DockerUpdate::Created {
                id,
                time_unix_ns,
                name,
                image,
                info,
                error: inspected.as_ref().err().map(describe),
            };
            // The event is reported even when the connection broke during the inspect.
            send(updates, update).await?;
            match inspected {
                Err(err) if !answered(&err) => Err(err.into()),
                _ => Ok(()),
            }
        }
        Some("start") => on_start(docker, id, updates).await,
        Some("die") => send(updates, DockerUpdate::Died { id }).await,
        Some("destroy") => send(updates, DockerUpdate::Destroyed { id }).await,
        other => {
            debug!("docker event {other:?} for {id} ignored");
            Ok(())
        }
    }
}

/// The container as the rules need it. A `local` volume created with `-o type=none -o o=bind
/// -o device=<host path>` is a bind mount of that host path under another name, so it is
/// described as one: `docker volume create … -o device=/` then `-v vol:/host` binds the host's
/// root. One volume inspect per such mount, per container lifecycle event.
async fn described(
    docker: &Docker,
    inspect: &bollard::models::ContainerInspectResponse,
) -> ContainerInfo {
    let mut info = container_info(inspect);
    for mount in info
        .mounts
        .iter_mut()
        .filter(|m| m.kind == "volume" && !m.volume.is_empty())
    {
        let Ok(volume) = docker.inspect_volume(&mount.volume).await else {
            continue;
        };
        let options = &volume.options;
        let bind = options
            .get("o")
            .is_some_and(|o| o.split(',').any(|o| o == "bind" || o == "rbind"));
        if let (true, Some(device)) = (bind, options.get("device")) {
            mount.kind = "bind".to_string();
            mount.source = device.clone();
        }
    }
    info
}

/// Inspects a new exec instance; only a privileged one is worth an update.
async fn on_exec_create(
    docker: &Docker,
    id: String,
    exec_id: String,
    time_unix_ns: i64,
    updates: &Sender<DockerUpdate>,
) -> Result<(), SessionEnd> {
    match docker.inspect_exec(&exec_id).await {
        Ok(exec) => {
            let process = exec.process_config.unwrap_or_default();
            if !process.privileged.unwrap_or(false) {
                return Ok(());
            }
            let command = process
                .entrypoint
                .into_iter()
                .chain(process.arguments.unwrap_or_default())
                .collect();
            let update = DockerUpdate::PrivilegedExec {
                id,
                exec_id,
                time_unix_ns,
                user: process.user.unwrap_or_default(),
                command,
            };
            send(updates, update).await
        }
        // Already gone with its container.
        Err(err) if answered(&err) => {
            debug!(
                "docker exec {exec_id} in {id} created, inspect failed: {}",
                describe(&err)
            );
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// Inspects a started container again: only now does it have a pid and a start time.
async fn on_start(
    docker: &Docker,
    id: String,
    updates: &Sender<DockerUpdate>,
) -> Result<(), SessionEnd> {
    match docker.inspect_container(&id, None).await {
        Ok(inspect) => {
            let info = Box::new(described(docker, &inspect).await);
            send(updates, DockerUpdate::Started(info)).await
        }
        // Already removed again (`docker run --rm` of a short command): `Destroyed` follows.
        Err(err) if answered(&err) => {
            debug!(
                "docker container {id} started, inspect failed: {}",
                describe(&err)
            );
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// `timeNano`, or the whole seconds of `time` from daemons that lack it.
fn event_time_ns(event: &EventMessage) -> i64 {
    event
        .time_nano
        .filter(|&ns| ns > 0)
        .or_else(|| event.time?.checked_mul(NANOS_PER_SEC))
        .unwrap_or(0)
}

/// Container id plus the `name` and `image` attributes Docker puts on container events (next
/// to the container's labels).
fn actor(actor: Option<bollard::models::EventActor>) -> (String, String, String) {
    let actor = actor.unwrap_or_default();
    let mut attributes = actor.attributes.unwrap_or_default();
    let mut take = |key: &str| attributes.remove(key).unwrap_or_default();
    let (name, image) = (take("name"), take("image"));
    (actor.id.unwrap_or_default(), name, image)
}

/// The error and its causes, `a: b: c`. bollard's connection errors say only "client error
/// (Connect)" at the top; the useful part ("No such file or directory") is in the sources.
fn describe(err: &impl StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Many errors repeat their source in their own message.
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::{process::Command, sync::Mutex, time::Instant};

    use tokio::{net::UnixListener, sync::mpsc, task::JoinHandle, time::timeout};

    use super::*;

    const DOCKER_SOCK: &str = "/var/run/docker.sock";

    /// Keeps log lines so tests can check what the watcher logs (all tests share it).
    struct CaptureLog(Mutex<Vec<(log::Level, String)>>);

    impl log::Log for CaptureLog {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            let line = (record.level(), record.args().to_string());
            self.0.lock().expect("log lock").push(line);
        }
        fn flush(&self) {}
    }

    static LOG: CaptureLog = CaptureLog(Mutex::new(Vec::new()));

    /// Log lines mentioning `needle`, by level.
    fn logged(needle: &str) -> Vec<(log::Level, String)> {
        let _ = log::set_logger(&LOG);
        log::set_max_level(log::LevelFilter::Debug);
        let lines = LOG.0.lock().expect("log lock");
        lines
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .cloned()
            .collect()
    }

    async fn next<T>(rx: &mut mpsc::Receiver<T>, secs: u64) -> T {
        let update = timeout(Duration::from_secs(secs), rx.recv()).await;
        update
            .expect("no Docker update in time")
            .expect("watcher ended")
    }

    /// Stamps each update with the wall clock when the watcher sent it, so latencies can be
    /// measured while the test itself is busy running the docker CLI.
    fn stamped(mut rx: mpsc::Receiver<DockerUpdate>) -> mpsc::Receiver<(i64, DockerUpdate)> {
        let (tx, stamped) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(update) = tokio::select! { u = rx.recv() => u, () = tx.closed() => None }
            {
                if tx.send((unix_now_ns(), update)).await.is_err() {
                    return;
                }
            }
        });
        stamped
    }

    fn spawn_watch(socket: &Path) -> (mpsc::Receiver<DockerUpdate>, JoinHandle<()>) {
        logged(""); // installs the capturing logger
        let (tx, rx) = mpsc::channel(64);
        (rx, tokio::spawn(watch(socket.to_owned(), tx)))
    }

    /// Drops the receiver and checks that the watcher notices and returns.
    async fn stop<T>(rx: mpsc::Receiver<T>, task: JoinHandle<()>) {
        drop(rx);
        let ended = timeout(Duration::from_secs(5), task).await;
        ended
            .expect("watcher did not return")
            .expect("watcher panicked");
    }

    fn require_docker() {
        assert!(
            Path::new(DOCKER_SOCK).exists(),
            "this test needs a running Docker daemon at {DOCKER_SOCK} (apt-get install docker.io)"
        );
    }

    #[test]
    fn backoff_doubles_to_thirty_seconds_and_resets() {
        let mut outage = Outage::new();
        let delays: Vec<u64> = (0..7).map(|_| outage.failed("x").as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        outage.end();
        assert_eq!(outage.failed("x"), FIRST_RETRY);
    }

    #[test]
    fn since_has_nine_fraction_digits() {
        assert_eq!(
            format_since(1_796_400_364_000_000_005),
            "1796400364.000000005"
        );
        assert_eq!(format_since(-1), "-1.999999999");
    }

    #[test]
    fn recorded_events_parse() {
        // Raw `GET /v1.41/events` lines from dockerd 20.10 (create, start, destroy).
        let events: Vec<EventMessage> = include_str!("fixtures/events.jsonl")
            .lines()
            .map(|line| serde_json::from_str(line).expect("event parses"))
            .collect();
        let last = events.last().expect("events").clone();
        assert_eq!(last.action.as_deref(), Some("destroy"));
        assert_eq!(event_time_ns(&last), 1_796_400_458_752_950_845);
        let (id, name, image) = actor(last.actor.clone());
        assert!(id.starts_with("684eb081ffec"));
        assert_eq!(
            (name.as_str(), image.as_str()),
            ("dockerhelper-gone", "dockerhelper/busybox:1")
        );
        let old_daemon = EventMessage {
            time_nano: None,
            ..last
        };
        assert_eq!(event_time_ns(&old_daemon), 1_796_400_458 * NANOS_PER_SEC);
    }

    #[tokio::test]
    async fn missing_socket_is_retried_with_backoff() {
        let socket = PathBuf::from("/nonexistent/dockerhelper-missing.sock");
        let (mut rx, task) = spawn_watch(&socket);
        let started = Instant::now();
        for attempt in 0..2 {
            let DockerUpdate::Disconnected { reason } = next(&mut rx, 5).await else {
                panic!("expected Disconnected");
            };
            assert!(reason.contains("dockerhelper-missing.sock"), "{reason}");
            eprintln!("attempt {attempt} after {:?}: {reason}", started.elapsed());
        }
        assert!(started.elapsed() >= FIRST_RETRY);
        let lines = logged("dockerhelper-missing.sock");
        let warns = lines.iter().filter(|(level, _)| *level == log::Level::Warn);
        assert_eq!(warns.count(), 1, "one warn per outage: {lines:?}");
        stop(rx, task).await;
    }

    /// Runs the docker CLI off the runtime thread so the watcher keeps reading meanwhile.
    async fn cli(args: Vec<String>) -> String {
        let shown = args.join(" ");
        let output =
            tokio::task::spawn_blocking(move || Command::new("docker").args(&args).output())
                .await
                .expect("cli task")
                .unwrap_or_else(|e| panic!("docker {shown}: {e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "docker {shown}: {stderr}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    /// A one-file image (a copy of /bin/busybox) and a container of it, removed on drop.
    struct Scratch {
        name: String,
        image: String,
        dir: PathBuf,
    }

    impl Scratch {
        async fn new() -> Self {
            let tag = format!("dockerhelper-live-{}", std::process::id());
            let dir = std::env::temp_dir().join(&tag);
            let scratch = Self {
                name: tag.clone(),
                image: format!("dockerhelper/{tag}:1"),
                dir,
            };
            std::fs::create_dir_all(scratch.dir.join("bin")).expect("image dir");
            std::fs::copy("/bin/busybox", scratch.dir.join("bin/busybox"))
                .expect("this test needs a static /bin/busybox (apt-get install busybox-static)");
            let tar = scratch.dir.join("rootfs.tar");
            let status = Command::new("tar")
                .args(["-C", &scratch.dir.to_string_lossy(), "-cf"])
                .arg(&tar)
                .arg("bin")
                .status();
            assert!(status.is_ok_and(|s| s.success()), "tar of the image failed");
            cli(words(&format!(
                "import {} {}",
                tar.display(),
                scratch.image
            )))
            .await;
            scratch
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = Command::new("docker")
                .args(["rm", "-f", &self.name])
                .output();
            let _ = Command::new("docker").args(["rmi", &self.image]).output();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[tokio::test]
    async fn live_daemon_inventory_and_events() {
        require_docker();
        let scratch = Scratch::new().await;
        let (rx, task) = spawn_watch(Path::new(DOCKER_SOCK));
        let mut rx = stamped(rx);
        let inventory = session_start(&mut rx).await;
        assert!(inventory
            .iter()
            .all(|c| c.id.len() == 64 && !c.name.starts_with('/')));

        let create = format!(
            "create --name {} --label dockerhelper=1 {} /bin/busybox sleep 30",
            scratch.name, scratch.image
        );
        let id = cli(words(&create)).await;
        cli(words(&format!("start {id}"))).await;

        let (at, created) = until(&mut rx, &id, "Created").await;
        let DockerUpdate::Created {
            name,
            image,
            info: Some(info),
            time_unix_ns,
            ..
        } = created
        else {
            panic!("Created without info: {created:?}");
        };
        eprintln!(
            "Created sent {} after the create event",
            ms(at - time_unix_ns)
        );
        assert_eq!((name, image), (scratch.name.clone(), scratch.image.clone()));
        assert_eq!(
            info.labels.get("dockerhelper").map(String::as_str),
            Some("1")
        );
        assert!((time_unix_ns - info.created_unix_ns).abs() < NANOS_PER_SEC);
        let (at, started) = until(&mut rx, &id, "Started").await;
        let DockerUpdate::Started(started) = started else {
            unreachable!("until checks the kind");
        };
        let pid = started.pid;
        eprintln!(
            "Started sent {} after StartedAt, pid {pid:?}",
            ms(at - started.started_unix_ns)
        );
        assert!(started.running && pid.is_some());
        let before_rm = unix_now_ns();
        cli(words(&format!("rm -f {id}"))).await;
        // The kill ends the processes before the removal.
        until(&mut rx, &id, "Died").await;
        let (at, _) = until(&mut rx, &id, "Destroyed").await;
        eprintln!(
            "Destroyed sent {} after rm -f was issued",
            ms(at - before_rm)
        );
        stop(rx, task).await;
        drop(scratch);
    }

    /// Expects `Connected` then `Inventory`, and returns the inventory.
    async fn session_start(rx: &mut mpsc::Receiver<(i64, DockerUpdate)>) -> Vec<ContainerInfo> {
        let t0 = unix_now_ns();
        let (at, connected) = next(rx, 10).await;
        let DockerUpdate::Connected {
            version,
            api_version,
            root_dir,
        } = connected
        else {
            panic!("expected Connected first, got {connected:?}");
        };
        eprintln!(
            "+{} Connected version={version} api={api_version} root={root_dir}",
            ms(at - t0)
        );
        let (at, inventory) = next(rx, 30).await;
        let DockerUpdate::Inventory(inventory) = inventory else {
            panic!("expected Inventory after Connected, got {inventory:?}");
        };
        eprintln!(
            "+{} Inventory of {} containers",
            ms(at - t0),
            inventory.len()
        );
        inventory
    }

    fn ms(ns: i64) -> String {
        format!("{:.1} ms", ns as f64 / 1e6)
    }

    /// Skips updates about other containers (the daemon is shared) until `kind` for `id`.
    async fn until(
        rx: &mut mpsc::Receiver<(i64, DockerUpdate)>,
        id: &str,
        kind: &str,
    ) -> (i64, DockerUpdate) {
        loop {
            let (at, update) = next(rx, 10).await;
            let (this_kind, this_id) = match &update {
                DockerUpdate::Created { id, .. } => ("Created", id.as_str()),
                DockerUpdate::Started(info) => ("Started", info.id.as_str()),
                DockerUpdate::Died { id } => ("Died", id.as_str()),
                DockerUpdate::PrivilegedExec { id, .. } => ("PrivilegedExec", id.as_str()),
                DockerUpdate::Destroyed { id } => ("Destroyed", id.as_str()),
                other => panic!("unexpected {other:?} while waiting for {kind}"),
            };
            if this_id == id {
                assert_eq!(this_kind, kind, "events out of order");
                return (at, update);
            }
        }
    }

    #[tokio::test]
    async fn create_event_of_a_vanished_container_is_still_reported() {
        require_docker();
        let docker =
            Docker::connect_with_unix(DOCKER_SOCK, 10, API_DEFAULT_VERSION).expect("docker client");
        let docker = docker.negotiate_version().await.expect("negotiation");
        // The create event of `dockerhelper-gone`, which was removed right after.
        let line = include_str!("fixtures/events.jsonl")
            .lines()
            .find(|l| l.contains(r#""Action":"create""#) && l.contains("dockerhelper-gone"));
        let event: EventMessage = serde_json::from_str(line.expect("event")).expect("event");
        let (tx, mut rx) = mpsc::channel(1);
        handle_event(&docker, event, &tx)
            .await
            .expect("a 404 keeps the session");
        let DockerUpdate::Created {
            name,
            info: None,
            error: Some(error),
            ..
        } = next(&mut rx, 1).await
        else {
            panic!("expected Created without info");
        };
        assert_eq!(name, "dockerhelper-gone");
        assert!(error.contains("404"), "{error}");
    }

    /// Relays a unix socket to the real daemon, so a test can cut the connection the way a
    /// daemon restart would (without touching the daemon). Aborting the task closes everything.
    fn relay(path: &Path) -> JoinHandle<()> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("relay socket");
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    let mut daemon = tokio::net::UnixStream::connect(DOCKER_SOCK).await?;
                    tokio::io::copy_bidirectional(&mut client, &mut daemon).await
                });
            }
        })
    }

    #[tokio::test]
    async fn reconnects_after_the_connection_breaks() {
        require_docker();
        let socket =
            std::env::temp_dir().join(format!("dockerhelper-relay-{}.sock", std::process::id()));
        let first = relay(&socket);
        let (rx, task) = spawn_watch(&socket);
        let mut rx = stamped(rx);
        session_start(&mut rx).await;
        // Give the watcher time to subscribe, then cut: the event stream breaks and the socket
        // file stays behind with nobody listening.
        tokio::time::sleep(Duration::from_millis(500)).await;
        first.abort();
        let t0 = unix_now_ns();
        let mut disconnects = 0;
        while disconnects < 2 {
            // Other containers on the host may come and go meanwhile; their updates can still
            // arrive from before the cut.
            match next(&mut rx, 5).await {
                (at, DockerUpdate::Disconnected { reason }) => {
                    eprintln!("+{} Disconnected: {reason}", ms(at - t0));
                    disconnects += 1;
                }
                (
                    _,
                    DockerUpdate::Created { .. }
                    | DockerUpdate::Started(_)
                    | DockerUpdate::Died { .. }
                    | DockerUpdate::PrivilegedExec { .. }
                    | DockerUpdate::Destroyed { .. },
                ) => {}
                (_, other) => panic!("expected Disconnected, got {other:?}"),
            }
        }
        let second = relay(&socket);
        session_start(&mut rx).await;
        let lines = logged(&socket.to_string_lossy());
        let levels: Vec<_> = lines.iter().map(|(level, _)| *level).collect();
        use log::Level::{Debug, Info, Warn};
        assert_eq!(levels, [Info, Warn, Debug, Info], "{lines:#?}");
        stop(rx, task).await;
        second.abort();
        let _ = std::fs::remove_file(&socket);
    }
}
