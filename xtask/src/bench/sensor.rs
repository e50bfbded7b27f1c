//! The sensor under measurement: `sensor run --format json` with a stats file, started in a
//! process group of its own and stopped with SIGTERM. Its stdout is read by a thread that stamps
//! every read with CLOCK_MONOTONIC, the clock of the detections' `ktime_ns`, so the stamp is when
//! the detection became readable on the pipe.

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{bail, Context, Result};

use super::{interrupt, note, proc, stats};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A stdout line and when it was read (CLOCK_MONOTONIC ns).
#[derive(Clone)]
pub struct Stamped {
    pub at_ns: u64,
    pub line: String,
}

/// The sensor's counters (its `--stats-file`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub events: u64,
    pub lost: u64,
    pub lost_connect: u64,
    pub lost_exec: u64,
    pub detections: u64,
    pub dropped_detections: u64,
}

impl Counters {
    fn parse(text: &str) -> Option<Counters> {
        Some(Counters {
            events: stats::json_u64(text, "events")?,
            lost: stats::json_u64(text, "lost_events_total")?,
            lost_connect: stats::json_u64(text, "connect").unwrap_or(0),
            lost_exec: stats::json_u64(text, "exec").unwrap_or(0),
            detections: stats::json_u64(text, "detections").unwrap_or(0),
            dropped_detections: stats::json_u64(text, "dropped_detections").unwrap_or(0),
        })
    }
}

/// CPU time and peak memory of one sensor run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub cpu: Duration,
    pub peak_rss_kib: u64,
}

pub struct Sensor {
    child: Child,
    stats_file: PathBuf,
    lines: Arc<Mutex<Vec<Stamped>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl Sensor {
    /// Starts the sensor and waits for `ready:`. `extra` goes after the bench's own arguments.
    pub fn start(binary: &Path, scratch: &Path, extra: &[&str]) -> Result<Sensor> {
        let stats_file = scratch.join(format!("stats-{}.json", proc::monotonic_ns()));
        let mut command = Command::new(binary);
        command
            .args([
                "run",
                "--format",
                "json",
                "--stats-interval",
                "1",
                "--stats-file",
            ])
            .arg(&stats_file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Ctrl-C goes to xtask only, which stops the sensor in order.
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            read_stdout(child.stdout.take().expect("piped"), lines.clone()),
            read_stderr(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        let mut sensor = Sensor {
            child,
            stats_file,
            lines,
            stderr,
            readers,
            stopped: false,
        };
        sensor.wait_ready()?;
        Ok(sensor)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("ready:"))
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().context("waiting for the sensor")? {
                bail!(
                    "the sensor exited ({status}) before it was ready; stderr:\n{}",
                    self.stderr_tail(30)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the sensor did not log `ready:` within {READY_TIMEOUT:?}; stderr:\n{}",
                    self.stderr_tail(30)
                );
            }
            interrupt::sleep(Duration::from_millis(50))?;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn cpu(&self) -> Result<Duration> {
        proc::cpu_time(self.pid())
    }

    pub fn usage(&self) -> Result<Usage> {
        Ok(Usage {
            cpu: self.cpu()?,
            peak_rss_kib: proc::peak_rss_kib(self.pid())?,
        })
    }

    /// Stdout lines so far.
    pub fn lines(&self) -> Vec<Stamped> {
        self.lines.lock().unwrap().clone()
    }

    pub fn stderr_tail(&self, n: usize) -> String {
        let lines = self.stderr.lock().unwrap();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stderr lines that report lost events or dropped detections.
    pub fn loss_warnings(&self) -> Vec<String> {
        let lines = self.stderr.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains("lost ") || l.contains("dropped "))
            .cloned()
            .collect()
    }

    /// The counters once the stats file has been written after `since`.
    pub fn counters_after(&self, since: SystemTime) -> Result<Counters> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(counters) = self.read_counters(since) {
                return Ok(counters);
            }
            if Instant::now() >= deadline {
                bail!(
                    "the sensor did not write {} within 10 s; stderr:\n{}",
                    self.stats_file.display(),
                    self.stderr_tail(20)
                );
            }
            interrupt::sleep(Duration::from_millis(50))?;
        }
    }

    fn read_counters(&self, since: SystemTime) -> Option<Counters> {
        let modified = fs::metadata(&self.stats_file).ok()?.modified().ok()?;
        if modified < since {
            return None;
        }
        Counters::parse(&fs::read_to_string(&self.stats_file).ok()?)
    }

    /// Waits until the sensor has caught up: two consecutive stats writes (a second apart)
    /// with the same counters. Returns them.
    pub fn settled(&self, timeout: Duration) -> Result<Counters> {
        let deadline = Instant::now() + timeout;
        let mut last = self.counters_after(SystemTime::now())?;
        loop {
            let next = self.counters_after(SystemTime::now())?;
            if next == last {
                return Ok(next);
            }
            if Instant::now() >= deadline {
                note!(
                    "the sensor was still busy after {timeout:?}; taking its counters as they are"
                );
                return Ok(next);
            }
            last = next;
        }
    }

    /// SIGTERM (the sensor drains and writes its final stats), SIGKILL after 10 s. Returns
    /// the final counters.
    pub fn stop(&mut self) -> Result<Counters> {
        if self.stopped {
            bail!("the sensor was already stopped");
        }
        self.stopped = true;
        let before = SystemTime::now();
        if !proc::stop_child(&mut self.child, libc::SIGTERM, STOP_GRACE) {
            note!("the sensor ignored SIGTERM for {STOP_GRACE:?} and was killed");
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.read_counters(before)
            .or_else(|| self.read_counters(SystemTime::UNIX_EPOCH))
            .with_context(|| {
                format!(
                    "the sensor left no readable {}; stderr:\n{}",
                    self.stats_file.display(),
                    self.stderr_tail(20)
                )
            })
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            proc::stop_child(&mut self.child, libc::SIGTERM, STOP_GRACE);
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        let _ = fs::remove_file(&self.stats_file);
    }
}

/// Reads stdout in raw chunks and stamps each chunk as soon as `read` returns: a buffered line
/// reader would stamp later lines of one chunk late.
fn read_stdout(
    mut stdout: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<Stamped>>>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let at_ns = proc::monotonic_ns();
            partial.extend_from_slice(&buf[..n]);
            let mut complete = Vec::new();
            while let Some(end) = partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = partial.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                if !line.trim().is_empty() {
                    complete.push(Stamped { at_ns, line });
                }
            }
            lines.lock().unwrap().extend(complete);
        }
    })
}

fn read_stderr(
    stderr: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap().push(line);
        }
    })
}
