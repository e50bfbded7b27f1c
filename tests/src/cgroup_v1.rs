//! A cgroup v1 hierarchy of the test's own (`-o none,name=<unique>`), which containers mount to
//! re-enact the release_agent escape. Never an existing controller's hierarchy: the release_agent
//! a test writes is this hierarchy's own.
//!
//! A v1 hierarchy outlives its mounts while it has child cgroups, and an unmount that follows an
//! rmdir too closely can also leave it behind. On drop the guard therefore mounts the hierarchy
//! on the host if it still exists, removes its child cgroups, and unmounts it again until the
//! kernel has destroyed it.

use std::{fs, path::Path, process::Command, thread, time::Duration};

use crate::{poll, run_with_timeout, token, TempDir};

/// A uniquely named cgroup v1 hierarchy, destroyed on drop.
pub struct NamedHierarchy {
    name: String,
}

impl NamedHierarchy {
    pub fn new() -> NamedHierarchy {
        NamedHierarchy {
            name: format!("sx{}h{}", std::process::id(), token(6)),
        }
    }

    /// The `name=` of the hierarchy (mount with `-o none,name=<this>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the kernel has the hierarchy (every task lists every hierarchy it is in).
    pub fn exists(&self) -> bool {
        hierarchy_exists(&self.name)
    }
}

impl Default for NamedHierarchy {
    fn default() -> Self {
        NamedHierarchy::new()
    }
}

impl Drop for NamedHierarchy {
    fn drop(&mut self) {
        // Never panic here (it may run while a test unwinds).
        if self.exists() {
            eprintln!(
                "[e2e] cgroup hierarchy name={} outlived its containers; removing it",
                self.name
            );
        }
        for _ in 0..5 {
            if !self.exists() {
                return;
            }
            if let Err(err) = tear_down(&self.name) {
                eprintln!(
                    "[e2e] cleaning up cgroup hierarchy name={}: {err}",
                    self.name
                );
                return;
            }
            if poll(Duration::from_secs(3), || (!self.exists()).then_some(())).is_some() {
                return;
            }
        }
        eprintln!(
            "[e2e] cgroup hierarchy name={} still exists after cleanup",
            self.name
        );
    }
}

fn hierarchy_exists(name: &str) -> bool {
    let needle = format!(":name={name}:");
    fs::read_to_string("/proc/self/cgroup").is_ok_and(|c| c.lines().any(|l| l.contains(&needle)))
}

/// Mounts the existing hierarchy on a host directory, removes its child cgroups and unmounts it.
fn tear_down(name: &str) -> Result<(), String> {
    let dir = TempDir::new("cgv1");
    let options = format!("none,name={name}");
    let mounted = run_with_timeout(
        Command::new("mount")
            .args(["-t", "cgroup", "-o", &options, "cgroup"])
            .arg(dir.path()),
        Duration::from_secs(30),
    );
    if !mounted.status.success() {
        return Err(format!(
            "mount failed: {}",
            String::from_utf8_lossy(&mounted.stderr).trim()
        ));
    }
    let removed = remove_children(dir.path());
    // Removed cgroups are released asynchronously; an unmount before that keeps the hierarchy.
    thread::sleep(Duration::from_secs(1));
    let unmounted = run_with_timeout(
        Command::new("umount").arg(dir.path()),
        Duration::from_secs(30),
    );
    if !unmounted.status.success() {
        return Err(format!(
            "umount {} failed: {}",
            dir.path().display(),
            String::from_utf8_lossy(&unmounted.stderr).trim()
        ));
    }
    removed
}

/// Removes the child cgroups under `dir`, deepest first.
fn remove_children(dir: &Path) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|err| format!("listing {}: {err}", dir.display()))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let child = entry.path();
            remove_children(&child)?;
            fs::remove_dir(&child).map_err(|err| format!("rmdir {}: {err}", child.display()))?;
        }
    }
    Ok(())
}
