//! The container image the end-to-end tests start. No registry is reachable, so it is imported
//! from a rootfs folder: static busybox for a userland plus a static docker client (the tests use
//! it as an attacker's client inside a container).

use std::{
    fs,
    os::unix::fs::{symlink, PermissionsExt},
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{bail, ensure, Context, Result};

use crate::{
    cmd::{self, say},
    docker::{self, docker},
    elf,
};

/// The test image; the e2e tests receive it as SENSOR_TEST_IMAGE.
pub const TEST_IMAGE: &str = "sensor-e2e/busybox:1";

const BUSYBOX: &str = "/bin/busybox";

/// Installs Debian's busybox-static unless /bin/busybox already is a static busybox.
pub fn ensure_static_busybox() -> Result<()> {
    if Path::new(BUSYBOX).is_file() && elf::is_static(Path::new(BUSYBOX))? {
        say!("{BUSYBOX} is statically linked");
        return Ok(());
    }
    docker::apt_install(&["busybox-static"])?;
    ensure!(
        elf::is_static(Path::new(BUSYBOX))?,
        "{BUSYBOX} is still not statically linked after installing busybox-static"
    );
    Ok(())
}

/// Builds and imports the test image unless Docker already has it.
pub fn ensure_test_image() -> Result<()> {
    if cmd::succeeds(docker().args(["image", "inspect", TEST_IMAGE])) {
        say!("test image {TEST_IMAGE} exists");
        return Ok(());
    }
    let rootfs = cmd::xtask_dir().join("image-rootfs");
    build_rootfs(&rootfs)?;
    import(&rootfs)?;
    cmd::run(docker().args(["run", "--rm", TEST_IMAGE, "true"]))
        .with_context(|| format!("the new test image {TEST_IMAGE} cannot run `true`"))
}

fn build_rootfs(rootfs: &Path) -> Result<()> {
    say!("assembling the test image's rootfs in {}", rootfs.display());
    // Leftovers of an earlier attempt must not end up in the image.
    if rootfs.exists() {
        fs::remove_dir_all(rootfs)
            .with_context(|| format!("removing the old rootfs {} failed", rootfs.display()))?;
    }
    for dir in [
        "bin",
        "usr/local/bin",
        "etc",
        "root",
        "tmp",
        "proc",
        "sys",
        "dev",
    ] {
        let dir = rootfs.join(dir);
        fs::create_dir_all(&dir)
            .with_context(|| format!("creating rootfs folder {} failed", dir.display()))?;
    }
    // Set explicitly: create_dir_all is subject to the umask and cannot set the sticky bit.
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .context("making the rootfs tmp/ world-writable and sticky failed")?;

    copy_static(Path::new(BUSYBOX), &rootfs.join("bin/busybox"))?;
    let applets = cmd::output(Command::new(rootfs.join("bin/busybox")).arg("--list"))
        .context("listing busybox applets failed")?;
    for applet in applets.lines().map(str::trim) {
        // The binary itself is already there; an empty or nested name would escape bin/.
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = rootfs.join("bin").join(applet);
        symlink("busybox", &link)
            .with_context(|| format!("linking applet {} failed", link.display()))?;
    }

    let cli = Path::new(docker::STATIC_CLI);
    if !cli.is_file() {
        bail!(
            "{} is missing: the test image needs a static docker client to act as a client \
             inside a container",
            cli.display()
        );
    }
    copy_static(cli, &rootfs.join("usr/local/bin/docker"))?;

    for (file, text) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
    ] {
        fs::write(rootfs.join(file), text)
            .with_context(|| format!("writing rootfs {file} failed"))?;
    }
    Ok(())
}

/// Copies an executable into the rootfs, refusing dynamically linked ones: the image has no libc.
fn copy_static(from: &Path, to: &Path) -> Result<()> {
    ensure!(
        elf::is_static(from)?,
        "{} is dynamically linked, but the test image has no shared libraries",
        from.display()
    );
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {} failed", from.display(), to.display()))?;
    Ok(())
}

/// `tar -C <rootfs> -c . | docker import --change 'ENV PATH=…' - <image>`
fn import(rootfs: &Path) -> Result<()> {
    let mut tar = Command::new("tar");
    // Owned by root inside the image whoever assembled the folder.
    tar.arg("-C")
        .arg(rootfs)
        .args(["--numeric-owner", "--owner=0", "--group=0", "-c", "."])
        .stdout(Stdio::piped());
    let mut tar_child = tar
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd::describe(&tar)))?;
    let archive = tar_child.stdout.take().expect("stdout is piped");

    let mut import = docker();
    import
        .args([
            "import",
            "--change",
            "ENV PATH=/usr/local/bin:/bin",
            "-",
            TEST_IMAGE,
        ])
        .stdin(archive)
        .stdout(Stdio::null());
    say!("importing {TEST_IMAGE}");
    let imported = import
        .status()
        .with_context(|| format!("could not start `{}`", cmd::describe(&import)))?;
    let archived = tar_child.wait().context("waiting for tar failed")?;
    ensure!(
        archived.success(),
        "archiving {} with tar failed ({archived})",
        rootfs.display()
    );
    ensure!(
        imported.success(),
        "`docker import` of {TEST_IMAGE} failed ({imported})"
    );
    Ok(())
}
