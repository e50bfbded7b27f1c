//! `syscalls:sys_exit_setns` — a container task switched namespaces.
//!
//! Record: `long ret` at 16. Read at exit so the event carries the namespaces the task is in
//! *after* the switch; the agent compares them with the host's, which is what `nsenter -t 1 -m`
//! style escapes change.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use sensor_common::{kind, loss_slot, NamespaceEvent};

use crate::{
    maps::{count_loss, EVENTS, OFFSETS},
    task::{container_subject, current_task, fill_header, namespace_inum},
};

const RET_OFFSET: usize = 16;

#[tracepoint]
pub fn sys_exit_setns(ctx: TracePointContext) -> u32 {
    try_setns(&ctx).unwrap_or(0)
}

fn try_setns(ctx: &TracePointContext) -> Result<u32, i64> {
    let Some(subject) = container_subject() else {
        return Ok(0);
    };
    let ret: i64 = unsafe { ctx.read_at(RET_OFFSET) }.map_err(i64::from)?;
    if ret != 0 {
        return Ok(0);
    }
    let Some(mut entry) = EVENTS.reserve::<NamespaceEvent>(0) else {
        count_loss(loss_slot::NAMESPACE);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::SETNS, &subject, 0);
    let offsets = OFFSETS.load();
    let task = current_task();
    event.nstype = 0;
    event.fd = -1;
    event.mntns = event.header.mntns;
    event.netns = namespace_inum(task, &offsets, offsets.nsproxy_net_ns, offsets.net_inum);
    event.pidns = namespace_inum(
        task,
        &offsets,
        offsets.nsproxy_pid_ns_for_children,
        offsets.pid_ns_inum,
    );
    entry.submit(0);
    Ok(0)
}
