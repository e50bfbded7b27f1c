//! `syscalls:sys_enter_openat`, `sys_enter_open`, `sys_enter_openat2`, `sys_enter_creat` — a
//! container opens one of the kernel's escape hatches for writing.
//!
//! Records: openat has `char *filename` at 24 and `int flags` at 32; open has them at 16 and 24;
//! openat2 has `filename` at 24 and `struct open_how *how` at 32 (flags are its first field);
//! creat has `pathname` at 16 and always writes.
//!
//! Opens are the busiest syscalls there are, so the filter is layered: container tasks only,
//! then write access only, then the file's last path component must be one of a handful of
//! names (cgroup v1 `release_agent` and `notify_on_release`, `core_pattern`, `modprobe`,
//! `uevent_helper`, `hotplug`, binfmt_misc `register`, and cgroup2's `cgroup.procs` and
//! `cgroup.threads`). Only then is an event reserved.

use aya_ebpf::{
    helpers::{bpf_probe_read_user, generated::bpf_probe_read_user_str},
    macros::{map, tracepoint},
    maps::PerCpuArray,
    programs::TracePointContext,
};
use sensor_common::{kind, loss_slot, OpenEvent, PATH_LEN};

use crate::{
    maps::{count_loss, EVENTS},
    task::{container_subject, fill_header, Subject},
};

const O_WRONLY: u64 = 0o1;
const O_RDWR: u64 = 0o2;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const WRITE_ACCESS: u64 = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC;

/// `PATH_LEN - 1`, to keep indexes provably inside the scratch buffer.
const PATH_MASK: u32 = PATH_LEN as u32 - 1;

/// Last path components that are worth an event when opened for writing.
const WATCHED: [&[u8]; 9] = [
    b"release_agent",
    b"notify_on_release",
    b"core_pattern",
    b"modprobe",
    b"uevent_helper",
    b"hotplug",
    b"register",
    // Moving a task between cgroups: out of the container's, it leaves the container filter.
    b"cgroup.procs",
    b"cgroup.threads",
];

/// Per-CPU scratch for the path: too big for the 512-byte stack next to everything else.
#[map]
static OPEN_SCRATCH: PerCpuArray<[u8; PATH_LEN]> = PerCpuArray::with_max_entries(1, 0);

/// `AT_FDCWD`: a relative path is resolved against the working directory.
const AT_FDCWD: i32 = -100;

#[tracepoint]
pub fn sys_enter_openat(ctx: TracePointContext) -> u32 {
    // Flags first: most opens read, and stop here.
    let Ok(flags) = (unsafe { ctx.read_at::<u64>(32) }) else {
        return 0;
    };
    if flags & WRITE_ACCESS == 0 {
        return 0;
    }
    let (Ok(dirfd), Ok(path)) = (unsafe { ctx.read_at::<u64>(16) }, unsafe {
        ctx.read_at::<u64>(24)
    }) else {
        return 0;
    };
    on_open(dirfd as i32, path, flags)
}

#[tracepoint]
pub fn sys_enter_open(ctx: TracePointContext) -> u32 {
    let (Ok(path), Ok(flags)) = (unsafe { ctx.read_at::<u64>(16) }, unsafe {
        ctx.read_at::<u64>(24)
    }) else {
        return 0;
    };
    on_open(AT_FDCWD, path, flags)
}

#[tracepoint]
pub fn sys_enter_openat2(ctx: TracePointContext) -> u32 {
    if container_subject().is_none() {
        return 0;
    }
    let (Ok(path), Ok(how)) = (unsafe { ctx.read_at::<u64>(24) }, unsafe {
        ctx.read_at::<u64>(32)
    }) else {
        return 0;
    };
    let Ok(flags) = (unsafe { bpf_probe_read_user(how as *const u64) }) else {
        return 0;
    };
    let dirfd = unsafe { ctx.read_at::<u64>(16) }.map_or(AT_FDCWD, |fd| fd as i32);
    on_open(dirfd, path, flags)
}

#[tracepoint]
pub fn sys_enter_creat(ctx: TracePointContext) -> u32 {
    let Ok(path) = (unsafe { ctx.read_at::<u64>(16) }) else {
        return 0;
    };
    on_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC)
}

#[inline(always)]
fn on_open(dirfd: i32, path: u64, open_flags: u64) -> u32 {
    if open_flags & WRITE_ACCESS == 0 {
        return 0;
    }
    let Some(subject) = container_subject() else {
        return 0;
    };
    let _ = try_open(&subject, dirfd, path, open_flags);
    0
}

fn try_open(subject: &Subject, dirfd: i32, path: u64, open_flags: u64) -> Option<()> {
    let scratch = OPEN_SCRATCH.get_ptr_mut(0)?;
    let buf = unsafe { &mut *scratch };
    let read = unsafe {
        bpf_probe_read_user_str(buf.as_mut_ptr().cast(), PATH_LEN as u32, path as *const _)
    };
    if read <= 1 {
        return None;
    }
    let len = (read - 1) as u32 & PATH_MASK;
    if !watched_name(buf, len) {
        return None;
    }

    let Some(mut entry) = EVENTS.reserve::<OpenEvent>(0) else {
        count_loss(loss_slot::OPEN);
        return None;
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::OPEN_WRITE, subject, 0);
    event.open_flags = open_flags as u32;
    event.dirfd = dirfd;
    event._pad = 0;
    event.path = *buf;
    event.path_len = len;
    entry.submit(0);
    Some(())
}

/// True when the last component of `buf[..len]` is one of [`WATCHED`].
#[inline(always)]
fn watched_name(buf: &[u8; PATH_LEN], len: u32) -> bool {
    for name in WATCHED {
        if ends_with_component(buf, len, name) {
            return true;
        }
    }
    false
}

#[inline(always)]
fn ends_with_component(buf: &[u8; PATH_LEN], len: u32, name: &[u8]) -> bool {
    let name_len = name.len() as u32;
    if len < name_len {
        return false;
    }
    let start = len - name_len;
    if start > 0 && buf[((start - 1) & PATH_MASK) as usize] != b'/' {
        return false;
    }
    for (i, &c) in name.iter().enumerate() {
        if buf[((start + i as u32) & PATH_MASK) as usize] != c {
            return false;
        }
    }
    true
}
