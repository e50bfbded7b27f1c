//! Helper programs for containers, built from `tests/static-tools` (its own workspace, no
//! dependencies) as static binaries so they run in the busybox image. Built once per test
//! process.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use crate::run_with_timeout;

const TARGET: &str = "x86_64-unknown-linux-gnu";
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// `memfd-exec [--name NAME] FILE ARGV0 [ARG...]`: runs FILE from a memfd through
/// `execveat(fd, "", …, AT_EMPTY_PATH)`.
pub fn memfd_exec() -> PathBuf {
    static BUILT: Built = OnceLock::new();
    built_once(&BUILT, "memfd-exec")
}

/// `syscall-probe io-uring-setup | connect-unix PATH|@NAME`: one system call busybox has no
/// applet for; prints `ok` or `error: …`.
pub fn syscall_probe() -> PathBuf {
    static BUILT: Built = OnceLock::new();
    built_once(&BUILT, "syscall-probe")
}

/// One tool's build result, shared by the tests of one test binary.
type Built = OnceLock<Result<PathBuf, String>>;

fn built_once(cell: &'static Built, bin: &str) -> PathBuf {
    cell.get_or_init(|| build(bin))
        .clone()
        .unwrap_or_else(|err| panic!("{err}"))
}

fn build(bin: &str) -> Result<PathBuf, String> {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = tests_dir.parent().ok_or("tests/ has no parent directory")?;
    let manifest = tests_dir.join("static-tools").join("Cargo.toml");
    let target_dir = workspace.join("target").join("static-tools");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--release", "--bin", bin, "--target", TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // CARGO_ENCODED_RUSTFLAGS would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    let output = run_with_timeout(&mut command, BUILD_TIMEOUT);
    if !output.status.success() {
        return Err(format!(
            "building the static test tool {bin} failed ({}): {command:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let path = target_dir.join(TARGET).join("release").join(bin);
    if !path.is_file() {
        return Err(format!(
            "building {bin} succeeded but {} is missing",
            path.display()
        ));
    }
    Ok(path)
}
