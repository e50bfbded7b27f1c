//! `syscalls:sys_enter_mount` and `syscalls:sys_enter_fsopen` — a container mounts something.
//!
//! `mount` record: `char *dev_name` at 16, `char *dir_name` at 24, `char *type` at 32,
//! `unsigned long flags` at 40, `void *data` at 48. `fsopen` record: `char *fs_name` at 16,
//! `unsigned int flags` at 24 (the new mount API starts with fsopen; its later calls carry no
//! file system type).
//!
//! A container runtime performs dozens of mounts inside the new container's cgroup before the
//! entrypoint runs. Those happen before the container's first exec, which the exec hook records
//! in the cgroup's state, so they stop here; every mount after it is the workload's.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use sensor_common::{
    cgroup_state, kind, loss_slot, MountEvent, FSTYPE_LEN, MOUNT_DATA_LEN, PATH_LEN,
};

use crate::{
    maps::{count_loss, EVENTS},
    task::{fill_header, read_user_str, subject, Subject},
};

const MOUNT_SOURCE: usize = 16;
const MOUNT_TARGET: usize = 24;
const MOUNT_FSTYPE: usize = 32;
const MOUNT_FLAGS: usize = 40;
const MOUNT_DATA: usize = 48;
const FSOPEN_NAME: usize = 16;

/// MS_BIND, MS_MOVE, MS_REMOUNT and propagation changes carry no file system type and no data
/// string; `data` is only read when it is text.
const MS_REMOUNT: u64 = 32;
const MS_BIND: u64 = 4096;
const MS_MOVE: u64 = 8192;

#[tracepoint]
pub fn sys_enter_mount(ctx: TracePointContext) -> u32 {
    try_mount(&ctx).unwrap_or(0)
}

#[tracepoint]
pub fn sys_enter_fsopen(ctx: TracePointContext) -> u32 {
    try_fsopen(&ctx).unwrap_or(0)
}

/// `open_tree(dfd, filename, flags)`: record `filename` at 24, `flags` at 32. With
/// `OPEN_TREE_CLONE` it detaches a copy of a mount tree, to be attached with move_mount.
#[tracepoint]
pub fn sys_enter_open_tree(ctx: TracePointContext) -> u32 {
    new_api(&ctx, kind::OPEN_TREE, 24, None, 32).unwrap_or(0)
}

/// `move_mount(from_dfd, from_path, to_dfd, to_path, flags)`: paths at 24 and 40, flags at 48.
#[tracepoint]
pub fn sys_enter_move_mount(ctx: TracePointContext) -> u32 {
    new_api(&ctx, kind::MOVE_MOUNT, 24, Some(40), 48).unwrap_or(0)
}

/// `mount_setattr(dfd, path, flags, uattr)`: `path` at 24, `struct mount_attr *uattr` at 40.
/// It changes mount attributes (e.g. clears read-only) without a mount(2) call.
#[tracepoint]
pub fn sys_enter_mount_setattr(ctx: TracePointContext) -> u32 {
    try_setattr(&ctx).unwrap_or(0)
}

/// The workload's task, or `None` for host tasks (unless asked for) and for the runtime's
/// set-up mounts.
#[inline(always)]
fn workload_subject() -> Option<Subject> {
    let subject = subject()?;
    if let Some(state) = subject.state {
        if unsafe { (*state).flags } & cgroup_state::STARTED == 0 {
            return None;
        }
    }
    Some(subject)
}

fn try_mount(ctx: &TracePointContext) -> Result<u32, i64> {
    let Some(subject) = workload_subject() else {
        return Ok(0);
    };
    let source: u64 = unsafe { ctx.read_at(MOUNT_SOURCE) }.map_err(i64::from)?;
    let target: u64 = unsafe { ctx.read_at(MOUNT_TARGET) }.map_err(i64::from)?;
    let fstype: u64 = unsafe { ctx.read_at(MOUNT_FSTYPE) }.map_err(i64::from)?;
    let mount_flags: u64 = unsafe { ctx.read_at(MOUNT_FLAGS) }.map_err(i64::from)?;
    let data: u64 = unsafe { ctx.read_at(MOUNT_DATA) }.map_err(i64::from)?;

    let Some(mut entry) = EVENTS.reserve::<MountEvent>(0) else {
        count_loss(loss_slot::MOUNT);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::MOUNT, &subject, 0);
    event.flags = mount_flags;
    event.source_len = read_user_str(source, event.source.as_mut_ptr(), PATH_LEN as u32);
    event.target_len = read_user_str(target, event.target.as_mut_ptr(), PATH_LEN as u32);
    event.fstype_len = read_user_str(fstype, event.fstype.as_mut_ptr(), FSTYPE_LEN as u32);
    event.data_len = if mount_flags & (MS_REMOUNT | MS_BIND | MS_MOVE) == 0 {
        read_user_str(data, event.data.as_mut_ptr(), MOUNT_DATA_LEN as u32)
    } else {
        0
    };
    entry.submit(0);
    Ok(0)
}

fn try_fsopen(ctx: &TracePointContext) -> Result<u32, i64> {
    let Some(subject) = workload_subject() else {
        return Ok(0);
    };
    let name: u64 = unsafe { ctx.read_at(FSOPEN_NAME) }.map_err(i64::from)?;

    let Some(mut entry) = EVENTS.reserve::<MountEvent>(0) else {
        count_loss(loss_slot::MOUNT);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::FSOPEN, &subject, 0);
    event.flags = 0;
    event.source_len = 0;
    event.target_len = 0;
    event.data_len = 0;
    event.fstype_len = read_user_str(name, event.fstype.as_mut_ptr(), FSTYPE_LEN as u32);
    entry.submit(0);
    Ok(0)
}

/// open_tree and move_mount: the path(s) and the flags as passed.
fn new_api(
    ctx: &TracePointContext,
    event_kind: u32,
    path_at: usize,
    target_at: Option<usize>,
    flags_at: usize,
) -> Result<u32, i64> {
    let Some(subject) = workload_subject() else {
        return Ok(0);
    };
    let path: u64 = unsafe { ctx.read_at(path_at) }.map_err(i64::from)?;
    let target: u64 = match target_at {
        Some(at) => unsafe { ctx.read_at(at) }.map_err(i64::from)?,
        None => 0,
    };
    let call_flags: u64 = unsafe { ctx.read_at(flags_at) }.map_err(i64::from)?;
    let Some(mut entry) = EVENTS.reserve::<MountEvent>(0) else {
        count_loss(loss_slot::MOUNT);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, event_kind, &subject, 0);
    event.flags = call_flags & 0xffff_ffff;
    event.source_len = read_user_str(path, event.source.as_mut_ptr(), PATH_LEN as u32);
    event.target_len = read_user_str(target, event.target.as_mut_ptr(), PATH_LEN as u32);
    event.fstype_len = 0;
    event.data_len = 0;
    entry.submit(0);
    Ok(0)
}

/// `struct mount_attr` up to the attributes cleared.
#[repr(C)]
#[derive(Clone, Copy)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
}

fn try_setattr(ctx: &TracePointContext) -> Result<u32, i64> {
    let Some(subject) = workload_subject() else {
        return Ok(0);
    };
    let path: u64 = unsafe { ctx.read_at(24) }.map_err(i64::from)?;
    let uattr: u64 = unsafe { ctx.read_at(40) }.map_err(i64::from)?;
    let attr = unsafe { aya_ebpf::helpers::bpf_probe_read_user(uattr as *const MountAttr) }
        .unwrap_or(MountAttr {
            attr_set: 0,
            attr_clr: 0,
        });
    let Some(mut entry) = EVENTS.reserve::<MountEvent>(0) else {
        count_loss(loss_slot::MOUNT);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::MOUNT_SETATTR, &subject, 0);
    // Attributes set in the low half, cleared in the high half (both fit in 32 bits).
    event.flags = (attr.attr_set & 0xffff_ffff) | (attr.attr_clr << 32);
    event.target_len = read_user_str(path, event.target.as_mut_ptr(), PATH_LEN as u32);
    event.source_len = 0;
    event.fstype_len = 0;
    event.data_len = 0;
    entry.submit(0);
    Ok(0)
}
