//! bpf-linker 0.13, built against this rustc's own shared LLVM: distribution LLVMs are too old
//! to read rustc's bitcode, and bpf-linker must not use an LLVM older than rustc's.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{ensure, Context, Result};

use crate::cmd::{self, say};

const BPF_LINKER_VERSION: &str = "0.13.0";

/// Finds a working bpf-linker 0.13, installing it when there is none; returns its path.
pub fn ensure() -> Result<PathBuf> {
    let bpf_linker = match find_bpf_linker() {
        Some(found) => found,
        None => install_bpf_linker()?,
    };
    say!("bpf-linker {BPF_LINKER_VERSION}: {}", bpf_linker.display());
    Ok(bpf_linker)
}

/// The first bpf-linker that runs and reports the wanted version: PATH first, then the places
/// `cargo install` puts binaries. A binary whose LLVM library has gone away fails to start and is
/// therefore skipped (and reinstalled).
fn find_bpf_linker() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("bpf-linker")));
    }
    candidates.extend(
        install_bin_dirs()
            .into_iter()
            .map(|dir| dir.join("bpf-linker")),
    );
    candidates
        .into_iter()
        .filter(|c| c.is_file())
        .find(
            |candidate| match cmd::output(Command::new(candidate).arg("--version")) {
                Ok(version) if version_is_wanted(&version) => true,
                Ok(version) => {
                    say!("ignoring {}: {}", candidate.display(), version.trim());
                    false
                }
                Err(err) => {
                    say!("ignoring {}: {err:#}", candidate.display());
                    false
                }
            },
        )
}

fn version_is_wanted(version_output: &str) -> bool {
    // `bpf-linker 0.13.0`
    let wanted_minor = BPF_LINKER_VERSION.rsplit_once('.').expect("x.y.z").0;
    version_output
        .split_whitespace()
        .nth(1)
        .is_some_and(|version| {
            version == wanted_minor || version.starts_with(&format!("{wanted_minor}."))
        })
}

fn install_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(root) = std::env::var_os("CARGO_INSTALL_ROOT") {
        dirs.push(PathBuf::from(root).join("bin"));
    }
    if let Ok(home) = cmd::cargo_home() {
        dirs.push(home.join("bin"));
    }
    dirs
}

fn install_bpf_linker() -> Result<PathBuf> {
    let vv = cmd::output(Command::new("rustc").arg("-vV"))?;
    let sysroot = cmd::output(Command::new("rustc").args(["--print", "sysroot"]))?;
    let lib_dir = Path::new(sysroot.trim()).join("lib");
    let names = fs::read_dir(&lib_dir)
        .with_context(|| {
            format!(
                "listing rustc's library folder {} failed",
                lib_dir.display()
            )
        })?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok());
    let cargo_home = cmd::cargo_home()?;
    // bpf-linker records `<prefix>/lib` as its RUNPATH, so the prefix must outlive the build
    // (target/ would not survive `cargo clean`). One prefix per LLVM library keeps a linker
    // built for another toolchain working.
    let plan = InstallPlan::new(&vv, &lib_dir, names, &cargo_home.join("xtask-llvm-prefix"))?;
    let root = match std::env::var_os("CARGO_INSTALL_ROOT") {
        Some(root) => PathBuf::from(root),
        None => cargo_home,
    };
    plan.install(&root)
}

/// How bpf-linker gets built against rustc's shared LLVM.
#[derive(Debug)]
struct InstallPlan {
    /// The real `libLLVM.so.<ver>-rust-<ver>` in rustc's sysroot.
    llvm_lib: PathBuf,
    /// LLVM_PREFIX for the bpf-linker build: `<prefix>/lib` holds links to `llvm_lib`.
    prefix: PathBuf,
    /// LLVM major version, which selects bpf-linker's `llvm-<major>` feature.
    llvm_major: u32,
}

impl InstallPlan {
    fn new(
        rustc_vv: &str,
        sysroot_lib: &Path,
        lib_names: impl IntoIterator<Item = String>,
        prefixes: &Path,
    ) -> Result<Self> {
        let llvm_major = parse_llvm_major(rustc_vv)?;
        let lib_name = select_llvm_lib(lib_names).with_context(|| {
            format!(
                "rustc's shared LLVM (libLLVM.so.*) is missing from {}; bpf-linker cannot be \
                 built against it",
                sysroot_lib.display()
            )
        })?;
        Ok(Self {
            llvm_lib: sysroot_lib.join(&lib_name),
            prefix: prefixes.join(&lib_name),
            llvm_major,
        })
    }

    /// The links to make: the linker's build looks for `libLLVM.so`, and the loader for the
    /// library's own name (its soname).
    fn links(&self) -> Vec<PathBuf> {
        let lib = self.prefix.join("lib");
        let own_name = self
            .llvm_lib
            .file_name()
            .expect("a library file has a name");
        vec![lib.join("libLLVM.so"), lib.join(own_name)]
    }

    fn command(&self, root: &Path) -> Command {
        let mut cargo = cmd::cargo();
        cargo
            .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
            .args(["--no-default-features", "--features"])
            .arg(format!("llvm-{}", self.llvm_major))
            .arg("--root")
            .arg(root)
            .env("LLVM_PREFIX", &self.prefix);
        cargo
    }

    fn install(&self, root: &Path) -> Result<PathBuf> {
        for link in self.links() {
            let dir = link.parent().expect("links live in <prefix>/lib");
            fs::create_dir_all(dir)
                .with_context(|| format!("creating LLVM prefix folder {} failed", dir.display()))?;
            // A stale link may point at a removed toolchain's library.
            if fs::symlink_metadata(&link).is_ok() {
                fs::remove_file(&link)
                    .with_context(|| format!("removing old link {} failed", link.display()))?;
            }
            std::os::unix::fs::symlink(&self.llvm_lib, &link)
                .with_context(|| format!("linking {} to rustc's LLVM failed", link.display()))?;
        }
        say!(
            "installing bpf-linker {BPF_LINKER_VERSION} against {} (about a minute)",
            self.llvm_lib.display()
        );
        cmd::run(&mut self.command(root)).context("installing bpf-linker failed")?;
        let installed = root.join("bin/bpf-linker");
        let version = cmd::output(Command::new(&installed).arg("--version"))
            .context("the freshly installed bpf-linker does not run")?;
        ensure!(
            version_is_wanted(&version),
            "{} reports `{}`, not {BPF_LINKER_VERSION}",
            installed.display(),
            version.trim()
        );
        Ok(installed)
    }
}

/// The LLVM major version from `rustc -vV` (`LLVM version: 22.1.2` -> 22).
fn parse_llvm_major(rustc_vv: &str) -> Result<u32> {
    let version = rustc_vv
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version:"))
        .context("`rustc -vV` names no LLVM version")?
        .trim();
    let major = version.split('.').next().unwrap_or_default();
    major
        .parse()
        .with_context(|| format!("`rustc -vV` reports an unreadable LLVM version `{version}`"))
}

/// The real shared LLVM among the sysroot's library names. `libLLVM-<major>-rust-….so` is only a
/// linker script pointing at `libLLVM.so.<ver>-rust-<ver>`, so that one is not taken.
fn select_llvm_lib(names: impl IntoIterator<Item = String>) -> Option<String> {
    let mut found: Vec<String> = names
        .into_iter()
        .filter(|name| name.starts_with("libLLVM.so."))
        .collect();
    // Deterministic if a sysroot ever holds several.
    found.sort();
    found.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUSTC_VV: &str = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\n\
        host: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
    const SYSROOT_LIB: [&str; 4] = [
        "libLLVM-22-rust-1.95.0-stable.so",
        "libLLVM.so.22.1-rust-1.95.0-stable",
        "librustc_driver-6108105cd7e839cf.so",
        "rustlib",
    ];

    fn names() -> Vec<String> {
        SYSROOT_LIB.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn reads_llvm_major() {
        assert_eq!(parse_llvm_major(RUSTC_VV).unwrap(), 22);
        assert!(parse_llvm_major("rustc 1.95.0\n").is_err());
        assert!(parse_llvm_major("LLVM version: x.1\n").is_err());
    }

    #[test]
    fn picks_the_real_llvm_library() {
        assert_eq!(
            select_llvm_lib(names()).as_deref(),
            Some("libLLVM.so.22.1-rust-1.95.0-stable")
        );
        assert_eq!(select_llvm_lib(vec!["librustc_driver.so".into()]), None);
    }

    #[test]
    fn checks_bpf_linker_version() {
        assert!(version_is_wanted("bpf-linker 0.13.0\n"));
        assert!(version_is_wanted("bpf-linker 0.13.2"));
        assert!(!version_is_wanted("bpf-linker 0.12.1"));
        assert!(!version_is_wanted("bpf-linker 0.130.0"));
        assert!(!version_is_wanted(""));
    }

    #[test]
    fn plans_the_install() {
        let lib = Path::new("/sysroot/lib");
        let plan = InstallPlan::new(RUSTC_VV, lib, names(), Path::new("/home/u/.cargo/p")).unwrap();
        let prefix = Path::new("/home/u/.cargo/p/libLLVM.so.22.1-rust-1.95.0-stable");
        assert_eq!(
            plan.llvm_lib,
            lib.join("libLLVM.so.22.1-rust-1.95.0-stable")
        );
        assert_eq!(plan.prefix, prefix);
        assert_eq!(
            plan.links(),
            [
                prefix.join("lib/libLLVM.so"),
                prefix.join("lib/libLLVM.so.22.1-rust-1.95.0-stable")
            ]
        );
        let command = plan.command(Path::new("/root-dir"));
        let args: Vec<_> = command.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "install",
                "bpf-linker",
                "--version",
                "0.13.0",
                "--no-default-features",
                "--features",
                "llvm-22",
                "--root",
                "/root-dir"
            ]
        );
        let envs: Vec<_> = command.get_envs().collect();
        assert_eq!(envs, [("LLVM_PREFIX".as_ref(), Some(prefix.as_os_str()))]);
    }

    #[test]
    fn plan_needs_the_shared_llvm() {
        let err = InstallPlan::new(RUSTC_VV, Path::new("/x"), Vec::new(), Path::new("/p"));
        assert!(format!("{:#}", err.unwrap_err()).contains("libLLVM.so.*"));
    }

    /// Really builds bpf-linker (about a minute) into a temporary root:
    /// `cargo test -p xtask -- --ignored installs_bpf_linker`.
    #[test]
    #[ignore = "slow: compiles bpf-linker"]
    fn installs_bpf_linker() {
        let scratch = std::env::temp_dir().join(format!("xtask-bpf-linker-{}", std::process::id()));
        let vv = cmd::output(Command::new("rustc").arg("-vV")).unwrap();
        let sysroot = cmd::output(Command::new("rustc").args(["--print", "sysroot"])).unwrap();
        let lib_dir = Path::new(sysroot.trim()).join("lib");
        let names = fs::read_dir(&lib_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap());
        let plan = InstallPlan::new(&vv, &lib_dir, names, &scratch.join("prefix")).unwrap();
        let installed = plan.install(&scratch.join("root")).unwrap();
        assert_eq!(installed, scratch.join("root/bin/bpf-linker"));
        fs::remove_dir_all(&scratch).unwrap();
    }
}
