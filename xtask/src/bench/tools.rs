//! The bench's own programs (xtask/bench-tools): `tiny` (the exec target: a 2 KB static binary
//! that only calls exit_group), `execstorm`, `execseq`, `connstorm` and `openstorm`. They are statically
//! linked so that they run in the busybox image, which has no libc, and they are bind-mounted
//! read-only into the bench containers at [`MOUNT`].

use std::{fs, path::PathBuf};

use anyhow::{ensure, Context, Result};

use crate::{
    bench::note,
    cmd::{self},
    elf,
};

/// Where the tools appear inside the bench containers.
pub const MOUNT: &str = "/bench";
const TARGET: &str = "x86_64-unknown-linux-gnu";
const PROGRAMS: [&str; 5] = ["tiny", "execstorm", "execseq", "connstorm", "openstorm"];

/// The folder holding the static programs (bind-mounted as [`MOUNT`]).
pub struct Tools {
    pub dir: PathBuf,
}

impl Tools {
    /// A program's path on the host.
    pub fn host(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A program's path inside a bench container.
    pub fn inside(name: &str) -> String {
        format!("{MOUNT}/{name}")
    }

    /// The `-v` argument that mounts the tools into a container.
    pub fn volume(&self) -> String {
        format!("{}:{MOUNT}:ro", self.dir.display())
    }
}

/// `RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target <gnu>` in
/// xtask/bench-tools, into target/bench-tools; then the binaries are copied to one folder.
pub fn build() -> Result<Tools> {
    let manifest = cmd::workspace_root().join("xtask/bench-tools/Cargo.toml");
    let target_dir = cmd::target_dir().join("bench-tools");
    let mut cargo = cmd::cargo();
    cargo
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // Our flags only: flags meant for the host workspace must not leak in.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    cmd::run(&mut cargo).context("building xtask/bench-tools failed; see cargo's output above")?;

    let built = target_dir.join(TARGET).join("release");
    let dir = cmd::xtask_dir().join("bench-tools");
    fs::create_dir_all(&dir).with_context(|| format!("creating {} failed", dir.display()))?;
    for name in PROGRAMS {
        let from = built.join(name);
        ensure!(
            elf::is_static(&from)?,
            "{} is not statically linked; it could not run in the busybox image",
            from.display()
        );
        let to = dir.join(name);
        // Replace rather than overwrite: a running container may hold the old file open.
        let _ = fs::remove_file(&to);
        fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {} failed", from.display(), to.display()))?;
    }
    note!(
        "static tools ready in {} ({})",
        dir.display(),
        PROGRAMS.join(", ")
    );
    Ok(Tools { dir })
}
