//! `syscalls:sys_enter_setns` / `sys_exit_setns` — a container task switches namespaces.
//!
//! Records: enter has `int fd` at 16 and `int nstype` at 24; exit has `long ret` at 16.
//!
//! The mount, network and pid-for-children namespaces are remembered at entry and compared at
//! exit, and only a change is sent: the agent then tells a container task entering the host's
//! namespaces (`nsenter -t 1 -m`) from a runtime helper that joined the container's cgroup before
//! entering the container's namespaces (`runc exec` does that, starting in the host's).

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{map, tracepoint},
    maps::LruHashMap,
    programs::TracePointContext,
};
use sensor_common::{kind, loss_slot, KernelOffsets, NamespaceEvent, SetnsStart};

use crate::{
    maps::{count_loss, EVENTS, OFFSETS},
    task::{container_subject, current_task, fill_header, namespace_inum},
};

const FD_OFFSET: usize = 16;
const NSTYPE_OFFSET: usize = 24;
const RET_OFFSET: usize = 16;

/// setns calls in flight, by thread id.
#[map]
static SETNS_STARTS: LruHashMap<u32, SetnsStart> = LruHashMap::with_max_entries(1024, 0);

#[tracepoint]
pub fn sys_enter_setns(ctx: TracePointContext) -> u32 {
    if container_subject().is_none() {
        return 0;
    }
    let offsets = OFFSETS.load();
    if offsets.valid == 0 {
        return 0;
    }
    let fd: u64 = unsafe { ctx.read_at(FD_OFFSET) }.unwrap_or(u64::MAX);
    let nstype: u64 = unsafe { ctx.read_at(NSTYPE_OFFSET) }.unwrap_or(0);
    let (mntns, netns, pidns) = namespaces(&offsets);
    let start = SetnsStart {
        nstype: nstype & 0xffff_ffff,
        fd: fd as i32,
        mntns,
        netns,
        pidns,
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    let _ = SETNS_STARTS.insert(tid, start, 0);
    0
}

#[tracepoint]
pub fn sys_exit_setns(ctx: TracePointContext) -> u32 {
    try_exit_setns(&ctx).unwrap_or(0)
}

fn try_exit_setns(ctx: &TracePointContext) -> Result<u32, i64> {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(start) = (unsafe { SETNS_STARTS.get(tid) }).copied() else {
        return Ok(0);
    };
    let _ = SETNS_STARTS.remove(tid);
    let ret: i64 = unsafe { ctx.read_at(RET_OFFSET) }.map_err(i64::from)?;
    let Some(subject) = container_subject() else {
        return Ok(0);
    };
    let offsets = OFFSETS.load();
    let (mntns, netns, pidns) = namespaces(&offsets);
    if ret != 0 || (mntns == start.mntns && netns == start.netns && pidns == start.pidns) {
        return Ok(0);
    }

    let Some(mut entry) = EVENTS.reserve::<NamespaceEvent>(0) else {
        count_loss(loss_slot::NAMESPACE);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::SETNS, &subject, 0);
    event.nstype = start.nstype;
    event.fd = start.fd;
    event.mntns_before = start.mntns;
    event.mntns = mntns;
    event.netns_before = start.netns;
    event.netns = netns;
    event.pidns_before = start.pidns;
    event.pidns = pidns;
    event._pad = 0;
    entry.submit(0);
    Ok(0)
}

/// The current task's mount, network and pid-for-children namespace numbers.
#[inline(always)]
fn namespaces(offsets: &KernelOffsets) -> (u32, u32, u32) {
    let task = current_task();
    (
        namespace_inum(task, offsets, offsets.nsproxy_mnt_ns, offsets.mnt_ns_inum),
        namespace_inum(task, offsets, offsets.nsproxy_net_ns, offsets.net_inum),
        namespace_inum(
            task,
            offsets,
            offsets.nsproxy_pid_ns_for_children,
            offsets.pid_ns_inum,
        ),
    )
}
