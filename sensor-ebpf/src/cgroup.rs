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
    macros::tracepoint,
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

#[tracepoint]
pub fn cgroup_mkdir(ctx: TracePointContext) -> u32 {
    try_cgroup_event(&ctx, kind::CGROUP_MKDIR).unwrap_or(0)
}

#[tracepoint]
pub fn cgroup_rmdir(ctx: TracePointContext) -> u32 {
    try_cgroup_event(&ctx, kind::CGROUP_RMDIR).unwrap_or(0)
}

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

    let Some(mut entry) = EVENTS.reserve::<CgroupEvent>(0) else {
        count_loss(loss_slot::CGROUP);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    let src = (ctx.as_ptr() as u64 + (data_loc & 0xffff) as u64) as *const u8;
    let read = unsafe {
        bpf_probe_read_kernel_str(event.path.as_mut_ptr().cast(), PATH_LEN as u32, src.cast())
    };
    event.path_len = if read > 0 { (read - 1) as u32 } else { 0 };

    let mut untracked = 0;
    if event_kind == kind::CGROUP_MKDIR {
        let created_in_container = container_subject().is_some();
        if !created_in_container && !has_container_id(&event.path) {
            entry.discard(0);
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
    let subject = Subject {
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        state: None,
    };
    fill_header(&mut event.header, event_kind, &subject, 0);
    event.header.flags = (event.header.flags & flags::NO_TASK_FIELDS) | untracked;
    event.id = id;
    event.level = level as u32;
    entry.submit(0);
    Ok(0)
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
