//! The bench's containers: started idle (`sleep`), workloads run in them with `docker exec` so
//! that container start-up is never inside a measured interval. Names start with
//! `sensorbench-<xtask pid>-`; each is removed when its guard drops (success, error or Ctrl-C).

use std::{
    fs,
    os::unix::fs::MetadataExt,
    process::{Child, Stdio},
};

use anyhow::{bail, Context, Result};

use super::{note, tools::Tools, PREFIX};
use crate::{cmd, docker::docker, image::TEST_IMAGE};

/// Where Docker (cgroupfs driver) puts a container's cgroup in the unified hierarchy. The
/// cgroup's inode is the id `bpf_get_current_cgroup_id()` returns for its tasks.
const CGROUP_PARENTS: &[&str] = &[
    "/sys/fs/cgroup/unified/docker",
    "/sys/fs/cgroup/docker",
    "/sys/fs/cgroup/system.slice",
];

/// A running bench container; removed on drop.
pub struct Container {
    pub name: String,
    pub id: String,
}

impl Container {
    /// `docker run -d` of the test image with the tools mounted, idling until removed.
    pub fn start(tools: &Tools, role: &str) -> Result<Container> {
        let name = format!("{PREFIX}-{}-{role}", std::process::id());
        let id = cmd::output(docker().args([
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "-v",
            &tools.volume(),
            TEST_IMAGE,
            "sleep",
            "2147483647",
        ]))
        .with_context(|| format!("starting container {name} failed"))?
        .trim()
        .to_string();
        note!("started container {name} ({})", &id[..12.min(id.len())]);
        Ok(Container { name, id })
    }

    /// `docker exec <container> <args>`; returns stdout, failing with stderr.
    pub fn exec(&self, args: &[&str]) -> Result<String> {
        cmd::output(docker().arg("exec").arg(&self.name).args(args))
    }

    /// `docker exec` in the background; the caller waits for the child.
    pub fn spawn(&self, args: &[&str]) -> Result<Child> {
        let mut command = docker();
        command
            .arg("exec")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
            .spawn()
            .with_context(|| format!("could not start `{}`", cmd::describe(&command)))
    }

    /// The container's cgroup id (inode of its cgroup2 directory).
    pub fn cgroup_id(&self) -> Result<u64> {
        for parent in CGROUP_PARENTS {
            for name in [self.id.clone(), format!("docker-{}.scope", self.id)] {
                let path = format!("{parent}/{name}");
                if let Ok(meta) = fs::metadata(&path) {
                    return Ok(meta.ino());
                }
            }
        }
        bail!(
            "the cgroup of container {} is in none of {CGROUP_PARENTS:?}",
            self.name
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let removed = cmd::succeeds(docker().args(["rm", "-f", "-v", &self.name]));
        if removed {
            note!("removed container {}", self.name);
        } else {
            note!(
                "could not remove container {}; remove it with `docker rm -f {}`",
                self.name,
                self.name
            );
        }
    }
}

/// Removes containers an earlier bench left behind when it was killed outright. Only names of
/// our prefix whose xtask pid no longer runs are touched.
pub fn remove_leftovers() -> Result<()> {
    let names = cmd::output(docker().args([
        "ps",
        "-a",
        "--filter",
        &format!("name=^{PREFIX}-"),
        "--format",
        "{{.Names}}",
    ]))
    .context("listing earlier bench containers failed")?;
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let owner = name
            .strip_prefix(&format!("{PREFIX}-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = owner.is_some_and(|pid| fs::metadata(format!("/proc/{pid}")).is_ok());
        if owner.is_some() && !alive {
            note!("removing leftover container {name} of an earlier bench");
            let _ = cmd::succeeds(docker().args(["rm", "-f", "-v", name]));
        }
    }
    Ok(())
}

/// Waits for a background `docker exec` and returns its stdout.
pub fn finish(child: Child, what: &str) -> Result<String> {
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {what} failed"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
