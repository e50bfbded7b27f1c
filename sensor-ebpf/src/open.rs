//! `syscalls:sys_enter_openat`, `sys_enter_open`, `sys_enter_openat2`, `sys_enter_creat` and
//! their exits — a container opens one of the kernel's escape hatches for writing.
//!
//! Records: openat has `char *filename` at 24 and `int flags` at 32; open has them at 16 and 24;
//! openat2 has `filename` at 24 and `struct open_how *how` at 32 (flags are its first field);
//! creat has `pathname` at 16 and always writes.
//!
//! Opens are the busiest syscalls there are, so the filter is layered: container tasks only,
//! then write access only; such opens are remembered by thread until their exit. There, the
//! file behind the new descriptor is looked at: its own name (after symlinks) must be one of a
//! handful (cgroup v1 `release_agent` and `notify_on_release`, `core_pattern`, `modprobe`,
//! `uevent_helper`, `hotplug`, binfmt_misc `register`, and cgroup's `cgroup.procs` and
//! `cgroup.threads`), on the file system such a file lives on (cgroup, proc, sysfs,
//! binfmt_misc). Only then is an event reserved. So a symlink with an innocent name leading to
//! a hatch is seen, and an ordinary file that merely has a hatch's name is not. An open that
//! fails is sent when the name as passed is watched: the attempt is the signal. Host tasks pay
//! one failed lookup at exit.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_user,
        generated::{bpf_probe_read_kernel_str, bpf_probe_read_user_str},
    },
    macros::{map, tracepoint},
    maps::{HashMap, PerCpuArray},
    programs::TracePointContext,
};
use sensor_common::{flags, kind, loss_slot, OpenEvent, FILE_NAME_LEN, PATH_LEN};

use crate::{
    maps::{count_loss, EVENTS, OFFSETS},
    task::{container_subject, current_task, fill_header, read_kernel, read_user_str},
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

/// File systems the watched files live on (`s_magic`): cgroup v1 and v2, proc, sysfs,
/// binfmt_misc. A file of a watched name elsewhere is not a hatch.
const HATCH_FILE_SYSTEMS: [u64; 5] = [0x0027_e0eb, 0x6367_7270, 0x9fa0, 0x6265_6572, 0x4249_4e4d];

/// A container's open for writing in flight: what its exit needs to judge the file actually
/// opened.
#[derive(Clone, Copy)]
pub struct PendingOpen {
    path: u64,
    open_flags: u64,
    dirfd: i64,
}

/// Opens in flight, by thread id. A plain hash map: an LRU map cost a quarter more per open in
/// the open storm. An entry is left behind only by a task that dies inside open(2); the next
/// write-open of a thread with that id overwrites it.
#[map]
static PENDING_OPENS: HashMap<u32, PendingOpen> = HashMap::with_max_entries(4096, 0);

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
    if container_subject().is_none() {
        return 0;
    }
    // Nothing is read here: the exit decides, and most opens are of ordinary files.
    let pending = PendingOpen {
        path,
        open_flags,
        dirfd: dirfd as i64,
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    let _ = PENDING_OPENS.insert(tid, pending, 0);
    0
}

/// Whether the name as passed (still in the caller's memory at the exit) ends in a watched name.
fn passed_name_watched(path: u64) -> bool {
    let Some(scratch) = OPEN_SCRATCH.get_ptr_mut(0) else {
        return false;
    };
    let buf = unsafe { &mut *scratch };
    let read = unsafe {
        bpf_probe_read_user_str(buf.as_mut_ptr().cast(), PATH_LEN as u32, path as *const _)
    };
    read > 1 && watched_name(buf, (read - 1) as u32 & PATH_MASK)
}

#[tracepoint]
pub fn sys_exit_openat(ctx: TracePointContext) -> u32 {
    on_open_exit(&ctx)
}

#[tracepoint]
pub fn sys_exit_open(ctx: TracePointContext) -> u32 {
    on_open_exit(&ctx)
}

#[tracepoint]
pub fn sys_exit_openat2(ctx: TracePointContext) -> u32 {
    on_open_exit(&ctx)
}

#[tracepoint]
pub fn sys_exit_creat(ctx: TracePointContext) -> u32 {
    on_open_exit(&ctx)
}

/// Exit of an open: `long ret` (the new descriptor) at 16. Only opens left pending at entry
/// get past the first lookup.
#[inline(always)]
fn on_open_exit(ctx: &TracePointContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(pending) = (unsafe { PENDING_OPENS.get(tid) }).copied() else {
        return 0;
    };
    let _ = PENDING_OPENS.remove(tid);
    let Ok(fd) = (unsafe { ctx.read_at::<i64>(16) }) else {
        return 0;
    };
    if fd >= 0 {
        let _ = try_opened(fd as u64, &pending);
    } else if passed_name_watched(pending.path) {
        // A failed attempt on a watched name (a read-only /proc/sys, say) is still the signal.
        let _ = send(&pending, 0, &[0; FILE_NAME_LEN], 0, 0);
    }
    0
}

/// Sends the open if the file behind descriptor `fd` has a watched name on a hatch file system,
/// whatever name it was opened by.
fn try_opened(fd: u64, pending: &PendingOpen) -> Option<()> {
    let offsets = OFFSETS.load();
    if offsets.valid == 0 || fd > 0xffff {
        // The file cannot be looked at: the name as passed decides.
        if passed_name_watched(pending.path) {
            send(pending, 0, &[0; FILE_NAME_LEN], 0, 0);
        }
        return None;
    }
    let files: u64 = read_kernel(current_task(), offsets.task_files)?;
    let fdt: u64 = read_kernel(files, offsets.files_fdt)?;
    let table: u64 = read_kernel(fdt, offsets.fdtable_fd)?;
    let file: u64 = read_kernel(table, (fd * 8) as u32)?;
    let dentry: u64 = read_kernel(file, offsets.file_dentry)?;
    let super_block: u64 = read_kernel(dentry, offsets.dentry_sb)?;
    let magic: u64 = read_kernel(super_block, offsets.sb_magic)?;
    if !HATCH_FILE_SYSTEMS.contains(&magic) {
        return None;
    }
    let name_ptr: u64 = read_kernel(dentry, offsets.dentry_name)?;
    let mut name = [0u8; FILE_NAME_LEN];
    let read = unsafe {
        bpf_probe_read_kernel_str(
            name.as_mut_ptr().cast(),
            FILE_NAME_LEN as u32,
            name_ptr as *const _,
        )
    };
    if read <= 1 {
        return None;
    }
    let name_len = (read - 1) as usize;
    if !WATCHED.iter().any(|w| equals(&name, name_len, w)) {
        return None;
    }
    let linked = if passed_name_watched(pending.path) {
        0
    } else {
        flags::LINKED
    };
    send(pending, magic as u32, &name, name_len as u32, linked)
}

/// Sends an open: the path as passed, and what the kernel found at the exit (file system magic,
/// the file's own name; zero and empty when not looked at).
fn send(
    pending: &PendingOpen,
    fs_magic: u32,
    file_name: &[u8; FILE_NAME_LEN],
    file_name_len: u32,
    extra_flags: u32,
) -> Option<()> {
    let subject = container_subject()?;
    let Some(mut entry) = EVENTS.reserve::<OpenEvent>(0) else {
        count_loss(loss_slot::OPEN);
        return None;
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::OPEN_WRITE, &subject, extra_flags);
    event.open_flags = pending.open_flags as u32;
    event.dirfd = pending.dirfd as i32;
    event.fs_magic = fs_magic;
    event.file_name = *file_name;
    event.file_name_len = file_name_len;
    event._pad = 0;
    event.path_len = read_user_str(pending.path, event.path.as_mut_ptr(), PATH_LEN as u32);
    entry.submit(0);
    Some(())
}

/// True when `buf[..len]` is `name`.
#[inline(always)]
fn equals(buf: &[u8; FILE_NAME_LEN], len: usize, name: &[u8]) -> bool {
    if len != name.len() {
        return false;
    }
    for (i, &c) in name.iter().enumerate() {
        if buf[i & (FILE_NAME_LEN - 1)] != c {
            return false;
        }
    }
    true
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
