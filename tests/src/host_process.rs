//! A host process owned by the test, for tests that reach the host through another process
//! (`nsenter -t`, `/proc/<pid>/root` with the host's pid namespace). PID 1 is never a target.

use std::process::{Child, Command, Stdio};

/// A host `sleep` started by the test: killed (by its handle) and reaped on drop.
pub struct HostSleeper(Child);

impl HostSleeper {
    pub fn start() -> HostSleeper {
        let child = Command::new("sleep")
            .arg("300")
            .stdin(Stdio::null())
            .spawn()
            .expect("starting a host sleep");
        HostSleeper(child)
    }

    pub fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for HostSleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
