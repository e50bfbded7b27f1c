//! The filter every program starts with, the header every event carries, and the reads of
//! kernel and user memory the programs share.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_task, bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel,
    generated::bpf_probe_read_user_str,
};
use sensor_common::{flags, CgroupState, EventHeader, KernelOffsets};

use crate::maps::{CONFIG, CONTAINER_CGROUPS, OFFSETS};

/// The task a program runs for, once it passed the container filter.
pub struct Subject {
    pub cgroup_id: u64,
    /// The container cgroup's state; `None` for a host task (only seen with host events on).
    pub state: Option<*mut CgroupState>,
}

impl Subject {
    pub fn is_host(&self) -> bool {
        self.state.is_none()
    }

    pub fn header_flags(&self) -> u32 {
        if self.is_host() {
            flags::HOST
        } else {
            0
        }
    }
}

/// Returns the current task if it is in a container cgroup, or if host events were asked for.
#[inline(always)]
pub fn subject() -> Option<Subject> {
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    if let Some(state) = CONTAINER_CGROUPS.get_ptr_mut(cgroup_id) {
        return Some(Subject {
            cgroup_id,
            state: Some(state),
        });
    }
    if CONFIG.load().host_events != 0 {
        return Some(Subject {
            cgroup_id,
            state: None,
        });
    }
    None
}

/// Returns the current task only if it is in a container cgroup.
#[inline(always)]
pub fn container_subject() -> Option<Subject> {
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    let state = CONTAINER_CGROUPS.get_ptr_mut(cgroup_id)?;
    Some(Subject {
        cgroup_id,
        state: Some(state),
    })
}

/// Fills `header` for the current task.
#[inline(always)]
pub fn fill_header(header: &mut EventHeader, kind: u32, subject: &Subject, extra_flags: u32) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    let mut event_flags = subject.header_flags() | extra_flags;

    header.kind = kind;
    header.ktime_ns = unsafe { bpf_ktime_get_ns() };
    header.cgroup_id = subject.cgroup_id;
    header.pid = pid_tgid as u32;
    header.tgid = (pid_tgid >> 32) as u32;
    header.uid = uid_gid as u32;
    header.gid = (uid_gid >> 32) as u32;
    header.comm = bpf_get_current_comm().unwrap_or([0; 16]);

    let offsets = OFFSETS.load();
    if offsets.valid != 0 {
        let task = current_task();
        header.ppid = parent_tgid(task, &offsets);
        header.mntns = namespace_inum(task, &offsets, offsets.nsproxy_mnt_ns, offsets.mnt_ns_inum);
    } else {
        header.ppid = 0;
        header.mntns = 0;
        event_flags |= flags::NO_TASK_FIELDS;
    }
    header.flags = event_flags;
}

#[inline(always)]
pub fn current_task() -> u64 {
    unsafe { bpf_get_current_task() }
}

/// Reads a `T` at `base + offset` in kernel memory; `None` for a null base or a failed read.
#[inline(always)]
pub fn read_kernel<T>(base: u64, offset: u32) -> Option<T> {
    if base == 0 {
        return None;
    }
    unsafe { bpf_probe_read_kernel((base + offset as u64) as *const T) }.ok()
}

/// `task->real_parent->tgid`, or 0.
#[inline(always)]
pub fn parent_tgid(task: u64, offsets: &KernelOffsets) -> u32 {
    let parent: u64 = read_kernel(task, offsets.task_real_parent).unwrap_or(0);
    read_kernel::<i32>(parent, offsets.task_tgid).unwrap_or(0) as u32
}

/// `task->nsproxy-><ns>->ns.inum`, or 0 (a task that is exiting has no nsproxy).
#[inline(always)]
pub fn namespace_inum(task: u64, offsets: &KernelOffsets, nsproxy_field: u32, inum: u32) -> u32 {
    let nsproxy: u64 = read_kernel(task, offsets.task_nsproxy).unwrap_or(0);
    let ns: u64 = read_kernel(nsproxy, nsproxy_field).unwrap_or(0);
    read_kernel::<u32>(ns, inum).unwrap_or(0)
}

/// Copies a NUL-terminated user string; returns its length without the NUL (0 on failure or
/// for a null pointer).
#[inline(always)]
pub fn read_user_str(src: u64, dst: *mut u8, size: u32) -> u32 {
    if src == 0 {
        return 0;
    }
    let read = unsafe { bpf_probe_read_user_str(dst.cast(), size, src as *const _) };
    if read > 0 {
        (read - 1) as u32
    } else {
        0
    }
}
