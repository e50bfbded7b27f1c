//! `cgroup:cgroup_mkdir` and `cgroup:cgroup_rmdir` — the container filter's source of truth.
//!
//! Tracepoint record (see `/sys/kernel/tracing/events/cgroup/cgroup_mkdir/format`):
//! `int root` at 8, `int level` at 12, `u64 id` at 16, `__data_loc char[] path` at 24.
//!
//! A runtime creates the container's cgroup before it moves the container's first process into
//! it, so registering the cgroup here, in the kernel, means no exec of a new container can slip
//! past the filter while the agent is still learning about it. A cgroup is a container's when a
//! path component holds a 64-hex-digit id (Docker's `/docker/<id>`, systemd's
//! `docker-<id>.scope`, containerd's and CRI-O's `…-<id>.scope`, Kubernetes' pod sub-cgroups), or
//! when a task that is already in a container creates it — so a workload cannot hide by moving
//! into a sub-cgroup of its own.

use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, generated::bpf_probe_read_kernel_str},
    macros::{map, tracepoint},
    maps::PerCpuArray,
    programs::TracePointContext,
    EbpfContext,
};
use sensor_common::{flags, kind, loss_slot, CgroupEvent, CgroupState, PATH_LEN};

use crate::{
    maps::{count_loss, CONTAINER_CGROUPS, EVENTS},
    task::{container_subject, fill_header, Subject},
};

/// Hierarchy id of cgroup2 (the "0::" line of /proc/self/cgroup); v1 hierarchies count from 1.
const CGROUP2_HIERARCHY: i32 = 0;
const ROOT_OFFSET: usize = 8;
const LEVEL_OFFSET: usize = 12;
const ID_OFFSET: usize = 16;
const PATH_OFFSET: usize = 24;
const ATTACH_PID_OFFSET: usize = 24;
const ATTACH_PATH_OFFSET: usize = 28;

#[tracepoint]
pub fn cgroup_mkdir(ctx: TracePointContext) -> u32 {
    try_cgroup_event(&ctx, kind::CGROUP_MKDIR).unwrap_or(0)
}

#[tracepoint]
pub fn cgroup_rmdir(ctx: TracePointContext) -> u32 {
    try_cgroup_event(&ctx, kind::CGROUP_RMDIR).unwrap_or(0)
}

/// `cgroup:cgroup_attach_task` — a task is moved to another cgroup (a write to `cgroup.procs`).
///
/// Record: `int dst_root` at 8, `int dst_level` at 12, `u64 dst_id` at 16, `int pid` at 24,
/// `__data_loc char[] dst_path` at 28.
///
/// Sent only when a task inside a container moves a task to a cgroup that is not a container's:
/// that task leaves the container filter, so this is the last the agent would hear of it.
#[tracepoint]
pub fn cgroup_attach_task(ctx: TracePointContext) -> u32 {
    try_attach(&ctx).unwrap_or(0)
}

/// Per-CPU scratch for a cgroup path, so the container decision is made (and the filter map
/// updated) before any ring-buffer space is asked for: a full ring must not leave a new
/// container unwatched.
#[map]
static CGROUP_PATH: PerCpuArray<[u8; PATH_LEN]> = PerCpuArray::with_max_entries(1, 0);

fn try_cgroup_event(ctx: &TracePointContext, event_kind: u32) -> Result<u32, i64> {
    let root: i32 = unsafe { ctx.read_at(ROOT_OFFSET) }.map_err(i64::from)?;
    if root != CGROUP2_HIERARCHY {
        return Ok(0);
    }
    let id: u64 = unsafe { ctx.read_at(ID_OFFSET) }.map_err(i64::from)?;
    let level: i32 = unsafe { ctx.read_at(LEVEL_OFFSET) }.map_err(i64::from)?;
    let data_loc: u32 = unsafe { ctx.read_at(PATH_OFFSET) }.map_err(i64::from)?;

    if event_kind == kind::CGROUP_RMDIR {
        // Only cgroups we registered are worth a message; the rest of the system's cgroup churn
        // stops here.
        if CONTAINER_CGROUPS.get_ptr(id).is_none() {
            return Ok(0);
        }
        let _ = CONTAINER_CGROUPS.remove(id);
    }

    let path = CGROUP_PATH.get_ptr_mut(0).ok_or(0i64)?;
    // SAFETY: per-CPU scratch, used by this program only while it runs.
    let path = unsafe { &mut *path };
    let len = read_data_loc_str(ctx, data_loc, path);

    let mut untracked = 0;
    if event_kind == kind::CGROUP_MKDIR {
        let created_in_container = container_subject().is_some();
        if !created_in_container && !has_container_id(path) {
            return Ok(0);
        }
        if CONTAINER_CGROUPS
            .insert(id, CgroupState::default(), 0)
            .is_err()
        {
            // The map is full; the agent reports this container as unwatched.
            untracked = flags::UNTRACKED;
        }
    }
    // The header describes the task that made the change (its cgroup tells the agent which
    // container made a sub-cgroup); `id` is the cgroup the event is about.
    send(event_kind, id, level as u32, 0, path, len, untracked);
    Ok(0)
}

fn try_attach(ctx: &TracePointContext) -> Result<u32, i64> {
    let root: i32 = unsafe { ctx.read_at(ROOT_OFFSET) }.map_err(i64::from)?;
    if root != CGROUP2_HIERARCHY || container_subject().is_none() {
        return Ok(0);
    }
    let dst: u64 = unsafe { ctx.read_at(ID_OFFSET) }.map_err(i64::from)?;
    if CONTAINER_CGROUPS.get_ptr(dst).is_some() {
        return Ok(0);
    }
    let level: i32 = unsafe { ctx.read_at(LEVEL_OFFSET) }.map_err(i64::from)?;
    let task: i32 = unsafe { ctx.read_at(ATTACH_PID_OFFSET) }.map_err(i64::from)?;
    let data_loc: u32 = unsafe { ctx.read_at(ATTACH_PATH_OFFSET) }.map_err(i64::from)?;
    let path = CGROUP_PATH.get_ptr_mut(0).ok_or(0i64)?;
    // SAFETY: as above.
    let path = unsafe { &mut *path };
    let len = read_data_loc_str(ctx, data_loc, path);
    send(
        kind::CGROUP_ATTACH,
        dst,
        level as u32,
        task as u32,
        path,
        len,
        0,
    );
    Ok(0)
}

/// Copies a `__data_loc` string of the record into `dst`; returns its length.
#[inline(always)]
fn read_data_loc_str(ctx: &TracePointContext, data_loc: u32, dst: &mut [u8; PATH_LEN]) -> u32 {
    let src = (ctx.as_ptr() as u64 + (data_loc & 0xffff) as u64) as *const u8;
    let read =
        unsafe { bpf_probe_read_kernel_str(dst.as_mut_ptr().cast(), PATH_LEN as u32, src.cast()) };
    if read > 0 {
        (read - 1) as u32
    } else {
        0
    }
}

#[inline(always)]
fn send(
    event_kind: u32,
    id: u64,
    level: u32,
    task: u32,
    path: &[u8; PATH_LEN],
    path_len: u32,
    extra_flags: u32,
) {
    let Some(mut entry) = EVENTS.reserve::<CgroupEvent>(0) else {
        count_loss(loss_slot::CGROUP);
        return;
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    let subject = Subject {
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        state: None,
    };
    fill_header(&mut event.header, event_kind, &subject, 0);
    event.header.flags = (event.header.flags & flags::NO_TASK_FIELDS) | extra_flags;
    event.id = id;
    event.level = level;
    event.task = task;
    event._pad = 0;
    event.path_len = path_len;
    event.path = *path;
    entry.submit(0);
}

/// 1 for the bytes of lower-case hex digits, 0 for everything else.
static HEX_DIGIT: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        if (c >= b'0' as usize && c <= b'9' as usize) || (c >= b'a' as usize && c <= b'f' as usize)
        {
            table[c] = 1;
        }
        c += 1;
    }
    table
};

/// True when `path` holds a run of at least 64 hex digits.
///
/// Written without data-dependent branches: with an `if` per byte the verifier explores every
/// run length separately and gives up ("BPF program is too large. Processed 1000001 insn").
/// The NUL terminator and anything after it are not hex, so they end a run like a '/'.
#[inline(always)]
fn has_container_id(path: &[u8; PATH_LEN]) -> bool {
    let mut run = 0u32;
    let mut found = 0u32;
    for &c in path.iter() {
        let hex = u32::from(HEX_DIGIT[c as usize]);
        run = (run + 1) * hex;
        found |= run >> 6;
    }
    found != 0
}
