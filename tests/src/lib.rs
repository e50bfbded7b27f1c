//! Harness for the sensor's end-to-end tests: a running sensor whose detections can be awaited,
//! Docker helpers that clean up after themselves, a loopback HTTP server for "downloads", a
//! relay that can cut the sensor off from Docker, and a few small utilities.
//!
//! The tests need root, a Docker daemon, the test image and a built sensor; `cargo xtask test`
//! provides all of them and passes the sensor and image through `SENSOR_BIN` and
//! `SENSOR_TEST_IMAGE`.

pub mod canary;
pub mod cgroup_v1;
pub mod checks;
pub mod docker;
pub mod host_process;
pub mod http;
pub mod relay;
pub mod sensor;
pub mod static_tools;
pub mod tcp_relay;

use std::{
    collections::hash_map::RandomState,
    fs,
    hash::{BuildHasher, Hasher},
    io::Read,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

pub use docker::Scope;
pub use host_process::HostSleeper;
pub use http::HttpServer;
pub use relay::Relay;
pub use sensor::Sensor;
pub use serde_json::Value;
pub use tcp_relay::TcpRelay;

/// How long a test waits for a detection that should come within a second or two.
pub const DETECTION_TIMEOUT: Duration = Duration::from_secs(30);

const HOW_TO_RUN: &str = "run the end-to-end tests through `cargo xtask test`";

/// A required environment variable; missing means the tests were not started by xtask, which
/// must fail loudly rather than skip (a skipped suite looks like a passing one in CI).
fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{HOW_TO_RUN} ({name} is not set)"),
    }
}

/// The sensor binary under test (`SENSOR_BIN`).
pub fn sensor_bin() -> PathBuf {
    PathBuf::from(required_env("SENSOR_BIN"))
}

/// The image the test containers run (`SENSOR_TEST_IMAGE`).
pub fn test_image() -> String {
    required_env("SENSOR_TEST_IMAGE")
}

/// Orders severities as the sensor does; panics on an unknown one so a schema change is noticed.
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "info" => 0,
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        other => panic!("unknown severity {other:?}"),
    }
}

/// A random lowercase alphanumeric token: names, paths and ports vary from run to run so the
/// sensor cannot pass by recognising literal strings.
pub fn token(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    random_string(len, CHARS)
}

/// A random string over `alphabet` (std's hasher keys are random per `RandomState`).
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[(random_u64() % alphabet.len() as u64) as usize] as char)
        .collect()
}

/// A random number in `range`.
pub fn random_in(range: std::ops::Range<u64>) -> u64 {
    range.start + random_u64() % (range.end - range.start)
}

fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// A Monero-shaped wallet: 95 base58 characters starting with 4.
pub fn fake_wallet() -> String {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    format!("4{}", random_string(94, BASE58))
}

/// Polls `check` every 100 ms until it returns something or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command to completion, killing it (by its own handle) after `timeout` so a hung
/// docker client cannot hang the suite.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Output {
    let description = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {description}: {err}"));
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let status =
        poll(timeout, || child.try_wait().expect("waiting for a child")).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{description} did not finish within {timeout:?}");
        });
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// A directory under the system temp dir, removed with everything in it on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("sx{}-{n}-{label}-{}", std::process::id(), token(6)));
        fs::create_dir(&path).unwrap_or_else(|err| panic!("creating {}: {err}", path.display()));
        // Readable by the unprivileged users some tests switch to.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory with the given mode.
    pub fn write(&self, name: &str, contents: &[u8], mode: u32) -> PathBuf {
        let file = self.path.join(name);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).expect("creating a temp subdirectory");
        }
        fs::write(&file, contents)
            .unwrap_or_else(|err| panic!("writing {}: {err}", file.display()));
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).expect("chmod temp file");
        file
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A shell script that just sleeps: the stand-in for every "binary" a test drops.
pub fn sleeper_script(secs: u32) -> Vec<u8> {
    format!("#!/bin/sh\nsleep {secs}\n").into_bytes()
}

/// Field access by a dotted path (`container.name`), for readable assertions.
pub fn field<'a>(detection: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(detection, |value, key| {
        value.get(key).unwrap_or(&Value::Null)
    })
}

/// The string at a dotted path, or "" when absent or not a string.
pub fn text<'a>(detection: &'a Value, path: &str) -> &'a str {
    field(detection, path).as_str().unwrap_or("")
}

/// Whether a detection is about the container named or identified by `name_or_id`.
pub fn is_about_container(detection: &Value, name_or_id: &str) -> bool {
    let name = text(detection, "container.name");
    let id = text(detection, "container.id");
    !name_or_id.is_empty()
        && (name == name_or_id || (name_or_id.len() >= 12 && id.starts_with(name_or_id)))
}

/// Whether a string is a full container id (64 lowercase hex digits).
pub fn is_full_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
