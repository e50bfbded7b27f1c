//! auditd as a peer: the kernel audit subsystem with rules for the same system calls the sensor
//! hooks (`-a always,exit -F arch=b64 -S execve,execveat,connect,mount -k sensorbench`), and the
//! daemon writing the records to a log.
//!
//! The audit state is a machine-wide setting, so it is recorded first (`auditctl -l`, `auditctl
//! -s`) and restored exactly afterwards: only our rule is added and deleted, an auditd we started
//! is stopped, and the settings it changes (enabled, backlog limit, ...) are set back. The guard
//! does this on drop too, so an error or Ctrl-C restores the state as well.

use std::{
    fs,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};

use super::{interrupt, note, proc};
use crate::{cmd, docker};

/// The rule, after `-a` (add) or `-d` (delete).
const RULE: &[&str] = &[
    "always,exit",
    "-F",
    "arch=b64",
    "-S",
    "execve,execveat,connect,mount",
    "-k",
    "sensorbench",
];
/// Debian's audit.rules raises the backlog to this so bursts are not dropped; used while the
/// peer runs when the current limit is lower (restored afterwards).
const BACKLOG: u64 = 8192;
const SBIN: &[&str] = &["/usr/sbin", "/sbin"];

fn sbin() -> Vec<PathBuf> {
    SBIN.iter().map(PathBuf::from).collect()
}

/// Installs Debian's auditd when auditctl or auditd is missing.
pub fn ensure_installed() -> Result<()> {
    if cmd::which("auditctl", &sbin()).is_some() && cmd::which("auditd", &sbin()).is_some() {
        return Ok(());
    }
    docker::apt_install(&["auditd"])?;
    ensure!(
        cmd::which("auditctl", &sbin()).is_some(),
        "auditctl is still missing after installing auditd"
    );
    Ok(())
}

fn auditctl() -> Result<Command> {
    Ok(Command::new(
        cmd::which("auditctl", &sbin()).context("auditctl is not installed")?,
    ))
}

/// The settings `auditctl -s` reports that auditd or we may change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Status {
    enabled: u64,
    failure: u64,
    pid: u64,
    rate_limit: u64,
    backlog_limit: u64,
    backlog_wait_time: u64,
}

impl Status {
    fn parse(text: &str) -> Result<Status> {
        let get = |key: &str| -> Result<u64> {
            text.lines()
                .find_map(|line| {
                    let mut parts = line.split_whitespace();
                    (parts.next() == Some(key)).then(|| parts.next()?.parse().ok())?
                })
                .with_context(|| format!("`auditctl -s` printed no {key}: {text}"))
        };
        Ok(Status {
            enabled: get("enabled")?,
            failure: get("failure")?,
            pid: get("pid")?,
            rate_limit: get("rate_limit")?,
            backlog_limit: get("backlog_limit")?,
            backlog_wait_time: get("backlog_wait_time")?,
        })
    }
}

/// The audit state before the bench touched it, as auditctl printed it.
#[derive(Clone, Debug)]
pub struct Before {
    pub rules: String,
    pub status: String,
}

fn read_state() -> Result<(String, String, Status)> {
    let rules = cmd::output(auditctl()?.arg("-l")).context("`auditctl -l` failed")?;
    let text = cmd::output(auditctl()?.arg("-s")).context("`auditctl -s` failed")?;
    let status = Status::parse(&text)?;
    Ok((rules, text, status))
}

/// auditd running with our rule; dropping it restores the previous audit state.
pub struct Audit {
    rules_before: String,
    status_before: Status,
    pub before: Before,
    daemon: Option<Child>,
    /// The auditd that writes the records: ours, or one that was already running.
    daemon_pid: Option<u32>,
    rule_added: bool,
    dir: PathBuf,
    restored: bool,
}

impl Audit {
    pub fn start(scratch: &Path) -> Result<Audit> {
        let (rules_before, status_text, status_before) = read_state()?;
        let dir = scratch.join("auditd");
        let mut audit = Audit {
            rules_before: rules_before.clone(),
            status_before: status_before.clone(),
            before: Before {
                rules: rules_before.trim().to_string(),
                status: status_text.trim().to_string(),
            },
            daemon: None,
            daemon_pid: (status_before.pid != 0).then_some(status_before.pid as u32),
            rule_added: false,
            dir,
            restored: false,
        };
        if status_before.pid == 0 {
            audit.start_daemon()?;
        } else {
            note!(
                "auditd already runs (pid {}); adding our rule to it",
                status_before.pid
            );
        }
        if status_before.backlog_limit < BACKLOG {
            cmd::output(auditctl()?.args(["-b", &BACKLOG.to_string()]))
                .context("raising the audit backlog limit failed")?;
        }
        cmd::output(auditctl()?.arg("-a").args(RULE)).context("adding the audit rule failed")?;
        audit.rule_added = true;
        Ok(audit)
    }

    /// auditd in the foreground (`-n`), with a configuration of ours that logs to the scratch
    /// folder instead of /var/log/audit and loads no plugins.
    fn start_daemon(&mut self) -> Result<()> {
        let auditd = cmd::which("auditd", &sbin()).context("auditd is not installed")?;
        let plugins = self.dir.join("plugins.d");
        fs::create_dir_all(&plugins)
            .with_context(|| format!("creating {} failed", plugins.display()))?;
        let conf = self.dir.join("auditd.conf");
        fs::write(&conf, config(&self.dir))
            .with_context(|| format!("writing {} failed", conf.display()))?;
        // auditd refuses a configuration others can write.
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o600))?;
        let log = fs::File::create(self.dir.join("auditd.out"))?;
        let child = Command::new(&auditd)
            .arg("-n")
            .arg("-c")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("could not start {}", auditd.display()))?;
        let pid = child.id();
        self.daemon = Some(child);
        self.daemon_pid = Some(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, _, status) = read_state()?;
            if status.pid == u64::from(pid) {
                return Ok(());
            }
            if let Some(child) = &mut self.daemon {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "auditd exited ({status}) at start-up:\n{}",
                        proc::tail(&self.dir.join("auditd.out"), 20)
                    );
                }
            }
            if Instant::now() >= deadline {
                bail!("auditd (pid {pid}) did not register with the kernel within 10 s");
            }
            interrupt::sleep(Duration::from_millis(50))?;
        }
    }

    /// The auditd process, for its CPU time.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon_pid
    }

    /// Audit records of our rule written so far (SYSCALL records with our key), when the log is
    /// ours.
    pub fn records(&self) -> Option<u64> {
        self.daemon.as_ref()?;
        let mut count = 0;
        for entry in fs::read_dir(&self.dir).ok()?.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().starts_with("audit.log") {
                continue;
            }
            let text = fs::read(entry.path()).ok()?;
            count += String::from_utf8_lossy(&text)
                .lines()
                .filter(|l| l.starts_with("type=SYSCALL") && l.contains("key=\"sensorbench\""))
                .count() as u64;
        }
        Some(count)
    }

    /// Deletes our rule, stops our auditd and restores every setting; fails if the state
    /// differs afterwards.
    pub fn stop(mut self) -> Result<()> {
        self.restore()
    }

    fn restore(&mut self) -> Result<()> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        let mut problems = Vec::new();
        if self.rule_added {
            if let Err(err) = cmd::output(auditctl()?.arg("-d").args(RULE)) {
                problems.push(format!("deleting our audit rule failed: {err:#}"));
            }
        }
        if let Some(mut child) = self.daemon.take() {
            if !proc::stop_child(&mut child, libc::SIGTERM, Duration::from_secs(10)) {
                problems.push("auditd ignored SIGTERM and was killed".to_string());
            }
        }
        let (_, _, now) = read_state()?;
        let before = &self.status_before;
        let settings: [(&str, u64, u64); 5] = [
            ("-e", before.enabled, now.enabled),
            ("-f", before.failure, now.failure),
            ("-r", before.rate_limit, now.rate_limit),
            ("-b", before.backlog_limit, now.backlog_limit),
            (
                "--backlog_wait_time",
                before.backlog_wait_time,
                now.backlog_wait_time,
            ),
        ];
        for (flag, want, have) in settings {
            if want != have {
                if let Err(err) = cmd::output(auditctl()?.args([flag, &want.to_string()])) {
                    problems.push(format!(
                        "restoring `auditctl {flag} {want}` failed: {err:#}"
                    ));
                }
            }
        }
        let (rules, _, status) = read_state()?;
        if rules != self.rules_before {
            problems.push(format!(
                "audit rules differ after restoring:\nbefore:\n{}\nnow:\n{}",
                self.rules_before.trim(),
                rules.trim()
            ));
        }
        if status != self.status_before {
            problems.push(format!(
                "audit status differs after restoring: before {:?}, now {status:?}",
                self.status_before
            ));
        }
        let _ = fs::remove_dir_all(&self.dir);
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        Ok(())
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        if let Err(err) = self.restore() {
            note!("restoring the audit state: {err:#}");
        }
    }
}

/// Debian's auditd.conf defaults (log format, flushing, queue), with the log in `dir`.
fn config(dir: &Path) -> String {
    format!(
        "local_events = yes\n\
         write_logs = yes\n\
         log_file = {log}\n\
         log_format = ENRICHED\n\
         flush = INCREMENTAL_ASYNC\n\
         freq = 50\n\
         max_log_file = 8\n\
         num_logs = 5\n\
         max_log_file_action = ROTATE\n\
         space_left = 75\n\
         space_left_action = SYSLOG\n\
         admin_space_left = 50\n\
         admin_space_left_action = SUSPEND\n\
         disk_full_action = SUSPEND\n\
         disk_error_action = SUSPEND\n\
         q_depth = 2000\n\
         overflow_action = SYSLOG\n\
         plugin_dir = {plugins}\n\
         end_of_event_timeout = 2\n",
        log = dir.join("audit.log").display(),
        plugins = dir.join("plugins.d").display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auditctl_status() {
        let text = "enabled 0\nfailure 1\npid 0\nrate_limit 0\nbacklog_limit 64\nlost 0\n\
                    backlog 0\nbacklog_wait_time 15000\nbacklog_wait_time_actual 0\n\
                    loginuid_immutable 0 unlocked\n";
        let status = Status::parse(text).unwrap();
        assert_eq!(
            status,
            Status {
                enabled: 0,
                failure: 1,
                pid: 0,
                rate_limit: 0,
                backlog_limit: 64,
                backlog_wait_time: 15000,
            }
        );
        assert!(Status::parse("enabled 1\n").is_err());
    }
}
