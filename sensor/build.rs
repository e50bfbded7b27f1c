//! Builds the kernel programs (`sensor-ebpf`) for `bpfel-unknown-none` and puts the object in
//! `OUT_DIR`, where `src/probes` embeds it. The nested build needs `-Z build-std=core`, so it runs
//! with `RUSTC_BOOTSTRAP=1` on the stable toolchain (set for that build only), and it links with
//! bpf-linker. `cargo xtask build` installs both prerequisites; run it once on a new machine.
//!
//! `SENSOR_EBPF_OBJECT=<path>` uses a prebuilt object instead (for packaging and cross builds).

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    println!("cargo::rerun-if-env-changed=SENSOR_EBPF_OBJECT");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out_dir.join("sensor-ebpf.o");

    if let Some(prebuilt) = env::var_os("SENSOR_EBPF_OBJECT") {
        println!("cargo::rerun-if-changed={}", Path::new(&prebuilt).display());
        std::fs::copy(&prebuilt, &object).unwrap_or_else(|err| {
            panic!(
                "copying SENSOR_EBPF_OBJECT={} failed: {err}",
                Path::new(&prebuilt).display()
            )
        });
        return;
    }

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("sensor/ lives in the workspace root");
    for watched in [
        "sensor-ebpf/src",
        "sensor-ebpf/Cargo.toml",
        "sensor-common/src",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }

    let linker = which("bpf-linker").unwrap_or_else(|| {
        panic!(
            "bpf-linker is not on PATH; run `cargo xtask build` once, which installs it \
             (built against this rustc's LLVM)"
        )
    });
    let target_dir = out_dir.join("ebpf-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));

    let mut rustflags = OsString::from("--cfg=bpf_target_arch=\"x86_64\"");
    for flag in ["-Cdebuginfo=2", "-Clink-arg=--btf"] {
        rustflags.push("\x1f");
        rustflags.push(flag);
    }

    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("sensor-ebpf"))
        .args([
            "build",
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .env(
            "PATH",
            path_with(linker.parent().expect("a file has a parent")),
        );
    // Settings of the outer build must not leak into the nested one.
    for key in [
        "RUSTC",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(key);
    }
    let status = cmd.status().expect("cargo can be spawned");
    assert!(
        status.success(),
        "building sensor-ebpf failed ({status}); see the output above"
    );

    let built = target_dir.join("bpfel-unknown-none/release/sensor");
    std::fs::copy(&built, &object)
        .unwrap_or_else(|err| panic!("copying {} failed: {err}", built.display()));
}

fn which(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Some(home) = env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn path_with(dir: &Path) -> OsString {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(path) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&path));
    }
    env::join_paths(dirs).expect("PATH entries contain no separator")
}
