//! Kernel side of the sensor: tracepoint programs that see what containers do and send it to the
//! agent through one ring buffer.
//!
//! Only tracepoints are used: they are stable, cheap and load where kprobes, fentry and LSM
//! programs are not available (kernels without `CONFIG_KPROBES`, or in lockdown mode).
//!
//! Every program starts with the same filter: is the current task in a container cgroup? The
//! answer comes from `CONTAINER_CGROUPS`, which the `cgroup_mkdir` program fills in the kernel
//! the moment a runtime creates a container's cgroup, so the first exec of a new container is
//! never lost to a race with the agent. Host tasks leave before any reservation or string copy.
#![no_std]
#![no_main]

mod cgroup;
mod chroot;
mod connect;
mod exec;
mod maps;
mod module;
mod mount;
mod namespace;
mod open;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable path to here, so this never runs.
    loop {}
}
