//! Kernel module loading from a container: the `init_module`/`finit_module` syscalls where the
//! kernel has their tracepoints, and the module tools (`insmod`, `modprobe`) everywhere.

use serde_json::Map;

use super::{put, Finding};
use crate::detection::{mitre, ProcessInfo, Severity};
use sensor_common::SyscallEvent;

pub const MODULE_LOAD: &str = "kernel-module-load";

const RESPONSE: &str = "A module runs inside the host kernel. Pause the container, check \
    lsmod on the host for unknown modules, and keep the module file for analysis; the container \
    should not have CAP_SYS_MODULE.";

/// Module tools that load modules (`rmmod` and `lsmod` do not).
const LOADERS: &[&str] = &["insmod", "modprobe"];

/// A load syscall from a container.
pub fn on_syscall(event: &SyscallEvent, container_id: &str) -> Finding {
    let h = &event.header;
    let mut evidence = Map::new();
    put(
        &mut evidence,
        "syscall",
        if event.syscall == 313 {
            "finit_module"
        } else {
            "init_module"
        },
    );
    if event.fd >= 0 {
        put(&mut evidence, "fd", event.fd);
    }
    finding(
        container_id,
        ProcessInfo::of(h),
        evidence,
        Severity::Critical,
    )
}

/// A module tool run in a container with something to load.
pub fn on_tool(
    tool: &str,
    argv: &[&str],
    process: impl FnOnce() -> ProcessInfo,
    container_id: &str,
) -> Option<Finding> {
    if !LOADERS.contains(&tool) {
        return None;
    }
    let modules: Vec<&str> = argv
        .iter()
        .skip(1)
        .copied()
        .filter(|a| !a.starts_with('-') && !a.contains('='))
        .collect();
    if modules.is_empty() || argv.iter().any(|a| *a == "-r" || *a == "--remove") {
        return None;
    }
    let mut evidence = Map::new();
    put(&mut evidence, "tool", tool);
    put(&mut evidence, "module", modules[0]);
    Some(finding(container_id, process(), evidence, Severity::High))
}

fn finding(
    container_id: &str,
    process: ProcessInfo,
    evidence: Map<String, serde_json::Value>,
    severity: Severity,
) -> Finding {
    Finding::new(
        MODULE_LOAD,
        severity,
        mitre::KERNEL_MODULES,
        "Container tried to load a kernel module".to_string(),
    )
    .in_container(container_id)
    .process(process)
    .evidence(evidence)
    .response(RESPONSE)
    .dedup_by("module", 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insmod_of_a_module_file_is_high() {
        let f = on_tool(
            "insmod",
            &["insmod", "/tmp/rootkit.ko"],
            ProcessInfo::default,
            "c",
        )
        .unwrap();
        assert_eq!(
            (f.rule, f.severity, f.technique.id),
            (MODULE_LOAD, Severity::High, "T1547.006")
        );
        assert_eq!(f.evidence["module"], "/tmp/rootkit.ko");
        assert!(on_tool(
            "modprobe",
            &["modprobe", "-r", "x"],
            ProcessInfo::default,
            "c"
        )
        .is_none());
        assert!(on_tool(
            "modprobe",
            &["modprobe", "--version"],
            ProcessInfo::default,
            "c"
        )
        .is_none());
        assert!(on_tool("lsmod", &["lsmod"], ProcessInfo::default, "c").is_none());
    }
}
