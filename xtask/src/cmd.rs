//! Running external programs with errors that name the program and why it failed, plus the
//! workspace locations every subcommand shares.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

/// Prints a progress line on stderr; stdout stays free for results such as the binary path.
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("xtask: {}", format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Renders a command roughly as a shell user would type it, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|arg| arg.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `cmd` with the terminal's stdio and fails unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = describe(cmd);
    say!("running `{line}`");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout; a failure carries the command's stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("`{line}` failed ({}): {}", out.status, stderr.trim());
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed non-UTF-8 output"))
}

/// True when `cmd` starts and exits with 0. Output is discarded: this is for probes such as
/// `docker info`, whose failure is an expected answer rather than an error.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Finds `program` in the PATH directories, then in `extra` (for places PATH may lack, such as
/// ~/.cargo/bin or /usr/sbin).
pub fn which(program: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    path_dirs
        .iter()
        .chain(extra)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// PATH with `dir` in front, so children find that directory's programs first.
pub fn path_with(dir: &Path) -> Result<OsString> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(path) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&path));
    }
    env::join_paths(dirs).with_context(|| format!("{} cannot go into PATH", dir.display()))
}

/// The workspace root; xtask/ sits directly inside it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lives in the workspace root")
        .to_path_buf()
}

/// Cargo's target directory, honouring CARGO_TARGET_DIR as cargo does. Always absolute, because
/// paths from here are handed to tests that run in other directories.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => env::current_dir()
            .map(|cwd| cwd.join(&dir))
            .unwrap_or_else(|_| PathBuf::from(dir)),
        None => workspace_root().join("target"),
    }
}

/// Scratch space for xtask's own files (dockerd log, image rootfs).
pub fn xtask_dir() -> PathBuf {
    target_dir().join("xtask")
}

/// `cargo` in the workspace root: the binary that started `cargo xtask` (same toolchain) when
/// known, else the one on PATH.
pub fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    cmd.current_dir(workspace_root());
    cmd
}

/// The cargo home (~/.cargo unless CARGO_HOME says otherwise).
pub fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    let home = env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}

/// The rustup home (~/.rustup unless RUSTUP_HOME says otherwise), if it can be told.
pub fn rustup_home() -> Option<PathBuf> {
    env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".rustup")))
}
