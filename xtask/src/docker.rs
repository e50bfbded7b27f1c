//! The Docker engine the end-to-end tests use. Fresh machines have none: Debian's docker.io is
//! installed when dockerd is missing, and dockerd is started in the background.

use std::{
    fs::{self, File},
    io,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::cmd::{self, say};

/// A static docker client. It is preferred because it is the one the test image carries, and
/// Debian's /usr/bin/docker talks to the same daemon.
pub const STATIC_CLI: &str = "/usr/local/bin/docker";

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `docker` command (the static client when present).
pub fn docker() -> Command {
    if Path::new(STATIC_CLI).is_file() {
        Command::new(STATIC_CLI)
    } else {
        Command::new("docker")
    }
}

fn engine_ready() -> bool {
    cmd::succeeds(docker().arg("info"))
}

/// Makes `docker info` succeed: installs docker.io if needed and starts dockerd.
pub fn ensure_engine() -> Result<()> {
    if engine_ready() {
        say!("the Docker engine is running");
        return Ok(());
    }
    let dockerd = match find_dockerd() {
        Some(dockerd) => dockerd,
        None => {
            apt_install(&["docker.io"])?;
            find_dockerd().context("dockerd is still missing after installing docker.io")?
        }
    };
    start_daemon(&dockerd)
}

fn find_dockerd() -> Option<PathBuf> {
    // A non-login root shell may lack the sbin directories in PATH.
    cmd::which(
        "dockerd",
        &["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()],
    )
}

fn start_daemon(dockerd: &Path) -> Result<()> {
    let log_path = cmd::xtask_dir().join("dockerd.log");
    fs::create_dir_all(log_path.parent().expect("the log has a folder"))
        .with_context(|| format!("creating the folder of {} failed", log_path.display()))?;
    let log = File::create(&log_path)
        .with_context(|| format!("creating the dockerd log {} failed", log_path.display()))?;
    let log_err = log
        .try_clone()
        .with_context(|| format!("duplicating the handle of {} failed", log_path.display()))?;

    let mut command = Command::new(dockerd);
    command.stdin(Stdio::null()).stdout(log).stderr(log_err);
    // Its own session: dockerd must outlive xtask and must not receive the terminal's Ctrl-C.
    // SAFETY: setsid is async-signal-safe, as required between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {}", dockerd.display()))?;
    say!(
        "started dockerd (pid {}), log in {}",
        child.id(),
        log_path.display()
    );

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if engine_ready() {
            say!("the Docker engine answers");
            return Ok(());
        }
        if let Some(status) = child.try_wait().context("checking on dockerd failed")? {
            bail!(
                "dockerd exited ({status}) before serving requests; end of {}:\n{}",
                log_path.display(),
                log_tail(&log_path)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "dockerd did not answer `docker info` within {} s; end of {}:\n{}",
                START_TIMEOUT.as_secs(),
                log_path.display(),
                log_tail(&log_path)
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
}

fn log_tail(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        }
        Err(err) => format!("(cannot read the log: {err})"),
    }
}

/// Installs Debian packages non-interactively.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let names = packages.join(" ");
    say!("installing {names} with apt-get");
    cmd::run(Command::new("apt-get").arg("update")).context("apt-get update failed")?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .with_context(|| format!("installing {names} with apt-get failed"))
}
