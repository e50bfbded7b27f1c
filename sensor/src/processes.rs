//! A detection's process: its program and arguments, for hooks whose records carry neither.

use std::fs;

use sensor_common::ExecEvent;

use crate::{
    detection::ProcessInfo,
    event::{text, ExecView},
};

/// Hooks other than exec carry no program path or arguments; for a detection, read them from
/// `/proc` while the process still lives (best effort: a process gone keeps them empty).
pub fn complete_process(
    process: &mut ProcessInfo,
    proc_root: &std::path::Path,
    recent: &RecentExecs,
) {
    if !process.filename.is_empty() || process.pid == 0 {
        return;
    }
    let dir = proc_root.join(process.pid.to_string());
    if let Ok(exe) = fs::read_link(dir.join("exe")) {
        process.filename = exe.to_string_lossy().into_owned();
    }
    if process.argv.is_empty() {
        if let Ok(cmdline) = fs::read(dir.join("cmdline")) {
            process.argv = cmdline
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
        }
    }
    // Gone already (a `mount` or `chroot` lives milliseconds): what its exec said.
    if process.filename.is_empty() {
        if let Some(exec) = recent.get(process.pid) {
            process.filename = text(&exec.filename, exec.filename_len).into_owned();
            process.argv = exec.arg_strs().map(str::to_string).collect();
        }
    }
}

/// The last exec of recent container processes, by pid: a direct-mapped table of raw records,
/// filled without allocating, so that a detection about a process that has already exited can
/// still name its program and arguments. A newer process on the same slot replaces an older one.
pub struct RecentExecs {
    slots: Vec<Option<ExecEvent>>,
}

impl RecentExecs {
    /// Slots (about 0.9 MB of records).
    const SLOTS: usize = 1024;

    pub fn new() -> Self {
        RecentExecs {
            slots: vec![None; Self::SLOTS],
        }
    }

    pub fn record(&mut self, exec: &ExecEvent) {
        let slot = exec.header.tgid as usize % Self::SLOTS;
        self.slots[slot] = Some(*exec);
    }

    fn get(&self, pid: u32) -> Option<&ExecEvent> {
        self.slots[pid as usize % Self::SLOTS]
            .as_ref()
            .filter(|exec| exec.header.tgid == pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    #[test]
    fn completes_process_details_from_proc() {
        let proc_root = std::env::temp_dir().join(format!("engine-proc-{}", std::process::id()));
        let dir = proc_root.join("77");
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/usr/local/bin/docker", dir.join("exe")).unwrap();
        fs::write(dir.join("cmdline"), b"docker\0-H\0unix:///run/x.sock\0ps\0").unwrap();
        let mut process = ProcessInfo {
            pid: 77,
            ..Default::default()
        };
        let recent = RecentExecs::new();
        complete_process(&mut process, &proc_root, &recent);
        assert_eq!(process.filename, "/usr/local/bin/docker");
        assert_eq!(process.argv, ["docker", "-H", "unix:///run/x.sock", "ps"]);

        // Exec detections keep what the kernel saw.
        let mut exec = ProcessInfo {
            pid: 77,
            filename: "/tmp/m".into(),
            ..Default::default()
        };
        complete_process(&mut exec, &proc_root, &recent);
        assert_eq!(exec.filename, "/tmp/m");

        // Gone from /proc: the exec it was started by, if it is still in the table.
        let exec_of = |pid: u32, filename: &str, args: &[&str]| {
            let mut e = testutil::exec(filename, args);
            e.header.tgid = pid;
            e
        };
        let mount = exec_of(88, "/bin/mount", &["mount", "-t", "cgroup", "cg", "/mnt"]);
        let mut recent = RecentExecs::new();
        recent.record(&mount);
        recent.record(&exec_of(88 + RecentExecs::SLOTS as u32, "/bin/x", &["x"]));
        let mut gone = ProcessInfo {
            pid: 88,
            ..Default::default()
        };
        complete_process(&mut gone, &proc_root, &recent);
        assert_eq!(gone.filename, "", "the slot holds another process now");
        recent.record(&mount);
        complete_process(&mut gone, &proc_root, &recent);
        assert_eq!(gone.filename, "/bin/mount");
        assert_eq!(gone.argv, ["mount", "-t", "cgroup", "cg", "/mnt"]);
        fs::remove_dir_all(&proc_root).unwrap();
    }
}
