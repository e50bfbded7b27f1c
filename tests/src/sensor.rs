//! A running `sensor run --format json`: its detections (stdout) and log lines (stderr) are
//! collected by reader threads so tests can wait for them while the sensor keeps running.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::Duration,
};

use serde_json::Value;

use crate::{is_about_container, poll, sensor_bin};

/// Time the sensor gets to attach its probes and load Docker's inventory.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Time the sensor gets to drain and exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Collected {
    detections: Mutex<Vec<Value>>,
    /// Stdout lines that are not JSON: the output contract is one object per line.
    unparseable: Mutex<Vec<String>>,
    stderr: Mutex<Vec<String>>,
}

/// The sensor under test; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Sensor {
    child: Child,
    collected: Arc<Collected>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Sensor {
    /// Starts `$SENSOR_BIN run --format json <extra_args>` and waits until it logs `ready:`.
    pub fn start(extra_args: &[&str]) -> Sensor {
        let mut child = Command::new(sensor_bin())
            .args(["run", "--format", "json"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", sensor_bin().display()));
        let collected = Arc::new(Collected::default());
        let pid = child.id();
        let readers = vec![
            read_stdout(child.stdout.take().expect("piped"), collected.clone()),
            read_stderr(child.stderr.take().expect("piped"), collected.clone(), pid),
        ];
        let mut sensor = Sensor {
            child,
            collected,
            readers,
            status: None,
        };
        sensor.wait_ready();
        sensor
    }

    fn wait_ready(&mut self) {
        let ready = poll(READY_TIMEOUT, || {
            if self.has_stderr(|line| line.contains("ready:")) {
                return Some(true);
            }
            let exited = self.child.try_wait().expect("waiting for the sensor");
            exited.map(|_| false)
        });
        match ready {
            Some(true) => {}
            Some(false) => {
                let status = self.stop();
                panic!(
                    "the sensor exited ({status}) before it was ready; stderr:\n{}",
                    self.stderr_lines().join("\n")
                );
            }
            None => {
                self.stop();
                panic!(
                    "the sensor did not log `ready:` within {READY_TIMEOUT:?}; stderr:\n{}",
                    self.stderr_lines().join("\n")
                );
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Detections so far. Fails the test if any stdout line was not JSON.
    pub fn detections(&self) -> Vec<Value> {
        self.assert_clean_output();
        self.collected.detections.lock().unwrap().clone()
    }

    /// Detections whose container has this name or (full or short) id.
    pub fn detections_for_container(&self, name_or_id: &str) -> Vec<Value> {
        self.detections()
            .into_iter()
            .filter(|d| is_about_container(d, name_or_id))
            .collect()
    }

    /// Waits for a detection matching `pred`.
    pub fn wait_for(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Option<Value> {
        poll(timeout, || self.detections().into_iter().find(|d| pred(d)))
    }

    /// Like [`Sensor::wait_for`], but a timeout fails the test with everything seen so far.
    pub fn expect(&self, what: &str, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        self.wait_for(pred, timeout).unwrap_or_else(|| {
            panic!(
                "no detection {what} within {timeout:?}; detections:\n{}",
                self.dump()
            )
        })
    }

    /// All detections, one per line, for failure messages.
    pub fn dump(&self) -> String {
        let lines: Vec<String> = self.detections().iter().map(Value::to_string).collect();
        if lines.is_empty() {
            "(none)".to_string()
        } else {
            lines.join("\n")
        }
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.collected.stderr.lock().unwrap().clone()
    }

    /// How many stderr lines there are: pass to [`Sensor::wait_for_stderr`] to see only newer ones.
    pub fn stderr_mark(&self) -> usize {
        self.collected.stderr.lock().unwrap().len()
    }

    /// Waits for a stderr line after `mark` matching `pred`.
    pub fn wait_for_stderr(
        &self,
        mark: usize,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        poll(timeout, || {
            let lines = self.collected.stderr.lock().unwrap();
            lines.iter().skip(mark).find(|l| pred(l)).cloned()
        })
    }

    fn has_stderr(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.collected
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| pred(l))
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none()
            && self
                .child
                .try_wait()
                .expect("waiting for the sensor")
                .is_none()
    }

    /// Stops the sensor's process (SIGSTOP) without ending it, as a starved consumer would be:
    /// the kernel side keeps producing events while nothing reads them.
    pub fn pause(&self) {
        assert!(self.status.is_none(), "pausing a sensor that has exited");
        signal(self.child.id(), "STOP");
    }

    /// Lets a paused sensor run again (SIGCONT).
    pub fn resume(&self) {
        assert!(self.status.is_none(), "resuming a sensor that has exited");
        signal(self.child.id(), "CONT");
    }

    /// SIGTERM, up to 10 s to exit, then SIGKILL; returns the exit status. Idempotent.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let status = match self.child.try_wait().expect("waiting for the sensor") {
            Some(status) => status,
            None => {
                signal(self.child.id(), "TERM");
                // A sensor a test left paused would not act on SIGTERM until continued.
                signal(self.child.id(), "CONT");
                poll(STOP_TIMEOUT, || self.child.try_wait().expect("waiting")).unwrap_or_else(
                    || {
                        eprintln!(
                            "[e2e] the sensor ignored SIGTERM for {STOP_TIMEOUT:?}; killing it"
                        );
                        let _ = self.child.kill();
                        self.child.wait().expect("waiting for the killed sensor")
                    },
                )
            }
        };
        self.status = Some(status);
        // Both pipes are closed now, so the readers finish with everything the sensor wrote.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    fn assert_clean_output(&self) {
        let bad = self.collected.unparseable.lock().unwrap();
        assert!(
            bad.is_empty(),
            "the sensor wrote stdout lines that are not JSON objects:\n{}",
            bad.join("\n")
        );
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        self.stop();
        // Garbage written after the test's last look still breaks the output contract; but a
        // second panic while unwinding would abort and hide the first failure.
        if !thread::panicking() {
            self.assert_clean_output();
        }
    }
}

/// Sends a signal to our own child by pid (std can only SIGKILL). The pid cannot have been
/// reused: the child is not reaped until we wait for it. `kill(1)` keeps the crate free of libc.
fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        eprintln!("[e2e] kill -s {name} {pid} failed");
    }
}

fn read_stdout(stdout: impl Read + Send + 'static, collected: Arc<Collected>) -> JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(value) if value.is_object() => collected.detections.lock().unwrap().push(value),
                _ => collected.unparseable.lock().unwrap().push(line),
            }
        }
    })
}

fn read_stderr(
    stderr: impl Read + Send + 'static,
    collected: Arc<Collected>,
    pid: u32,
) -> JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Echoed for CI logs; libtest shows it with the failing test's output.
            eprintln!("[sensor {pid}] {line}");
            collected.stderr.lock().unwrap().push(line);
        }
    })
}
