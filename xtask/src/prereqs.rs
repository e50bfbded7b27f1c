//! Toolchain prerequisites of the eBPF build (see sensor/build.rs): the `rust-src` component, for
//! `-Z build-std=core`, and bpf-linker (see bpf_linker.rs). Each check is quick when the tool is
//! already there.

use std::{ffi::OsString, path::PathBuf, process::Command};

use anyhow::{Context, Result};

use crate::{
    bpf_linker,
    cmd::{self, say},
};

/// What later build steps need from the prerequisites.
pub struct Prereqs {
    bpf_linker: PathBuf,
}

impl Prereqs {
    /// PATH for child builds, with bpf-linker's directory first so that sensor/build.rs picks
    /// the checked one even when another version is on PATH.
    pub fn path_env(&self) -> Result<OsString> {
        cmd::path_with(self.bpf_linker.parent().expect("a file has a parent"))
    }
}

pub fn ensure() -> Result<Prereqs> {
    ensure_rust_src()?;
    let bpf_linker = bpf_linker::ensure()?;
    Ok(Prereqs { bpf_linker })
}

fn ensure_rust_src() -> Result<()> {
    // RUSTUP_TOOLCHAIN, set by the cargo proxy that started us, makes rustup act on the active
    // toolchain.
    let installed = cmd::output(Command::new("rustup").args(["component", "list", "--installed"]))
        .context("listing rustup components failed (rustup is needed to add rust-src)")?;
    if has_rust_src(&installed) {
        return Ok(());
    }
    say!("adding the rust-src component (the eBPF build compiles core from source)");
    cmd::run(Command::new("rustup").args(["component", "add", "rust-src"]))
        .context("adding the rust-src component failed")
}

fn has_rust_src(installed: &str) -> bool {
    // Lines look like `rust-src` or `rust-std-x86_64-unknown-linux-gnu`.
    installed.lines().any(|line| line.trim() == "rust-src")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rust_src() {
        assert!(has_rust_src("cargo-x86_64-unknown-linux-gnu\nrust-src\n"));
        assert!(!has_rust_src("rust-std-x86_64-unknown-linux-gnu\n"));
    }
}
