//! Maps and load-time constants shared by all programs.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    Global,
};
use sensor_common::{
    loss_slot, CgroupState, KernelOffsets, PathPrefix, ProbeConfig, HOST_EXEC_PREFIXES,
};

/// Default ring buffer size; the agent overrides it with `--ring-buffer-size`.
const DEFAULT_RING_BYTES: u32 = 1 << 21;

/// Upper bound of container cgroups tracked at once (containers and their sub-cgroups).
const MAX_CONTAINER_CGROUPS: u32 = 16384;

/// Events for the agent.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

/// cgroup id -> state, for every cgroup that belongs to a container.
#[map]
pub static CONTAINER_CGROUPS: HashMap<u64, CgroupState> =
    HashMap::with_max_entries(MAX_CONTAINER_CGROUPS, 0);

/// Failed ring-buffer reservations, per [`loss_slot`].
#[map]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(loss_slot::COUNT, 0);

/// Struct field offsets of the running kernel, resolved by the agent from BTF.
#[unsafe(no_mangle)]
pub static OFFSETS: Global<KernelOffsets> = Global::new(KernelOffsets {
    valid: 0,
    task_real_parent: 0,
    task_tgid: 0,
    task_nsproxy: 0,
    task_mm: 0,
    nsproxy_mnt_ns: 0,
    nsproxy_net_ns: 0,
    nsproxy_pid_ns_for_children: 0,
    mnt_ns_inum: 0,
    net_inum: 0,
    pid_ns_inum: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    mm_exe_file: 0,
    task_fs: 0,
    fs_root_dentry: 0,
    dentry_inode: 0,
    inode_ino: 0,
    inode_sb: 0,
    sb_dev: 0,
    task_files: 0,
    files_fdt: 0,
    fdtable_fd: 0,
    file_dentry: 0,
    dentry_name: 0,
    dentry_sb: 0,
    sb_magic: 0,
});

/// Settings chosen by the agent at load time.
#[unsafe(no_mangle)]
pub static CONFIG: Global<ProbeConfig> = Global::new(ProbeConfig {
    host_events: 0,
    host_mntns: 0,
});

/// Unix socket paths whose connection by a host process is sent to the agent: the container
/// runtimes' API sockets, so a container creation can be told apart from a host client's.
#[map]
pub static HOST_CONNECT_PATH: Array<PathPrefix> = Array::with_max_entries(HOST_EXEC_PREFIXES, 0);

/// Host paths whose execution by a host process is sent to the agent (container storage).
#[map]
pub static HOST_EXEC_PREFIX: Array<PathPrefix> = Array::with_max_entries(HOST_EXEC_PREFIXES, 0);

/// `bpf_ringbuf_submit` flags and `bpf_ringbuf_query` selectors (uapi `BPF_RB_*`).
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;
const BPF_RB_RING_SIZE: u64 = 1;

/// Slot 0 is non-zero while the agent drains the ring on a timer (it is busy); zero while it
/// sleeps until woken.
#[map]
pub static AGENT_POLLING: Array<u32> = Array::with_max_entries(1, 0);

/// Submit flags for the high-volume kinds (exec, connect). While the agent drains the ring on
/// its own timer, events do not wake it: a wake-up per event costs the exec'ing CPU a cross-CPU
/// interrupt. While it sleeps, the usual adaptive wake-up brings it back. Once a quarter of the
/// ring is waiting the agent is woken at once, so a burst cannot fill the ring.
#[inline(always)]
pub fn batched_submit_flags() -> u64 {
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA);
    let size = EVENTS.query(BPF_RB_RING_SIZE);
    if waiting > size / 4 {
        return BPF_RB_FORCE_WAKEUP;
    }
    match AGENT_POLLING.get(0) {
        Some(&polling) if polling != 0 => BPF_RB_NO_WAKEUP,
        _ => 0,
    }
}

/// Counts one lost event of the given slot.
#[inline(always)]
pub fn count_loss(slot: u32) {
    if let Some(counter) = LOST.get_ptr_mut(slot) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU while the program runs.
        unsafe { *counter += 1 };
    }
}
