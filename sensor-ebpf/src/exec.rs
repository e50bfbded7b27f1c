//! `sched:sched_process_exec` — a task finished replacing its program.
//!
//! Record: `__data_loc char[] filename` at 8, `pid_t pid` at 12, `pid_t old_pid` at 16.
//!
//! This hook rather than `sys_enter_execve`: it fires only for execs that succeeded, it also
//! fires for execs the kernel starts itself (usermode helpers such as a cgroup release_agent or a
//! core_pattern pipe, which never pass through the syscall), and the argument block can be read
//! in one copy from the new process's stack (`mm->arg_start..arg_end`) instead of chasing argv
//! pointers.
//!
//! Container execs are all sent; the first one also marks the container as started, which is how
//! the mount hook tells the runtime's set-up mounts from the workload's. Host execs are dropped
//! unless host events are on, except two kinds the escape rules need: execs started by the
//! usermode helper, and execs of files under container storage paths.

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_probe_read_kernel,
        generated::{bpf_probe_read_kernel_str, bpf_probe_read_user},
    },
    macros::tracepoint,
    programs::TracePointContext,
    EbpfContext,
};
use sensor_common::{
    cgroup_state, flags, kind, loss_slot, ExecEvent, ARGS_LEN, HOST_EXEC_PREFIXES,
    HOST_EXEC_PREFIX_LEN, PATH_LEN,
};

use crate::{
    maps::{
        batched_submit_flags, count_loss, CONFIG, CONTAINER_CGROUPS, EVENTS, HOST_EXEC_PREFIX,
        OFFSETS,
    },
    task::{current_task, fill_header, parent_tgid, read_kernel, Subject},
};

const FILENAME_OFFSET: usize = 8;
/// pid of kthreadd, the parent of every usermode-helper process.
const KTHREADD_PID: u32 = 2;

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    try_exec(&ctx).unwrap_or(0)
}

fn try_exec(ctx: &TracePointContext) -> Result<u32, i64> {
    let data_loc: u32 = unsafe { ctx.read_at(FILENAME_OFFSET) }.map_err(i64::from)?;
    let filename = (ctx.as_ptr() as u64 + (data_loc & 0xffff) as u64) as *const u8;
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };

    let mut extra_flags = 0;
    let subject = match CONTAINER_CGROUPS.get_ptr_mut(cgroup_id) {
        Some(state) => Subject {
            cgroup_id,
            state: Some(state),
        },
        None => {
            if is_usermode_helper() {
                extra_flags = flags::USERMODE_HELPER;
            } else if CONFIG.load().host_events == 0 && !under_host_prefix(filename) {
                return Ok(0);
            }
            Subject {
                cgroup_id,
                state: None,
            }
        }
    };

    let Some(mut entry) = EVENTS.reserve::<ExecEvent>(0) else {
        count_loss(loss_slot::EXEC);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::EXEC, &subject, extra_flags);
    if let Some(state) = subject.state {
        // The container has started once a program runs in it outside the host's mount
        // namespace. The runtime's own helper (`runc init`, re-executed from a sealed copy of
        // itself) may exec in the container's cgroup while still in the host's namespaces; that
        // is set-up, and the mounts that follow it are the runtime's.
        // SAFETY: the map value lives as long as the entry; a lost race with rmdir only
        // touches a value about to be freed.
        let started = unsafe { (*state).flags } & cgroup_state::STARTED != 0;
        if !started && event.header.mntns != CONFIG.load().host_mntns {
            unsafe { (*state).flags |= cgroup_state::STARTED };
            event.header.flags |= flags::FIRST_EXEC;
        }
    }

    let read = unsafe {
        bpf_probe_read_kernel_str(
            event.filename.as_mut_ptr().cast(),
            PATH_LEN as u32,
            filename.cast(),
        )
    };
    event.filename_len = if read > 0 { (read - 1) as u32 } else { 0 };
    if read == PATH_LEN as i64 {
        event.header.flags |= flags::TRUNCATED;
    }

    event.args_len = 0;
    event.exe_ino = 0;
    let offsets = OFFSETS.load();
    if offsets.valid != 0 {
        let mm: u64 = read_kernel(current_task(), offsets.task_mm).unwrap_or(0);
        // A relative name (`./x`) means little once the process changed directory or exited:
        // the executed file's inode number finds it again.
        if event.filename[0] != b'/' {
            let file: u64 = read_kernel(mm, offsets.mm_exe_file).unwrap_or(0);
            let dentry: u64 = read_kernel(file, offsets.file_dentry).unwrap_or(0);
            let inode: u64 = read_kernel(dentry, offsets.dentry_inode).unwrap_or(0);
            event.exe_ino = read_kernel(inode, offsets.inode_ino).unwrap_or(0);
        }
        let start: u64 = read_kernel(mm, offsets.mm_arg_start).unwrap_or(0);
        let end: u64 = read_kernel(mm, offsets.mm_arg_end).unwrap_or(0);
        if start != 0 && end > start {
            let len = end - start;
            let dst = event.args.as_mut_ptr().cast();
            if len >= ARGS_LEN as u64 {
                let ok = unsafe { bpf_probe_read_user(dst, ARGS_LEN as u32, start as *const _) };
                if ok == 0 {
                    event.args_len = ARGS_LEN as u32;
                }
                if len > ARGS_LEN as u64 {
                    event.header.flags |= flags::TRUNCATED;
                }
            } else {
                // The mask restates `len < ARGS_LEN` in a form the verifier can follow: "R2
                // unbounded memory access" otherwise.
                let len = (len as u32) & (ARGS_LEN as u32 - 1);
                let ok = unsafe { bpf_probe_read_user(dst, len, start as *const _) };
                if ok == 0 {
                    event.args_len = len;
                }
            }
        }
    }

    entry.submit(batched_submit_flags());
    Ok(0)
}

/// The kernel's usermode helper forks from a kworker with `CLONE_PARENT`, so the new task's
/// parent is kthreadd. No user process has kthreadd as its parent.
#[inline(always)]
fn is_usermode_helper() -> bool {
    let offsets = OFFSETS.load();
    offsets.valid != 0 && parent_tgid(current_task(), &offsets) == KTHREADD_PID
}

/// True when `filename` starts with one of the configured host prefixes.
///
/// Every host exec passes here, so the first eight bytes are compared with one 8-byte read; the
/// name is only copied when they match a prefix (for ordinary host programs they never do).
#[inline(always)]
fn under_host_prefix(filename: *const u8) -> bool {
    let Ok(head) = (unsafe { bpf_probe_read_kernel(filename as *const [u8; 8]) }) else {
        return false;
    };
    let mut candidate = false;
    for index in 0..HOST_EXEC_PREFIXES {
        let Some(prefix) = HOST_EXEC_PREFIX.get(index) else {
            break;
        };
        if prefix.len >= 8 && prefix.bytes[..8] == head {
            candidate = true;
        }
    }
    if !candidate {
        return false;
    }
    let mut name = [0u8; HOST_EXEC_PREFIX_LEN];
    let read = unsafe {
        bpf_probe_read_kernel_str(
            name.as_mut_ptr().cast(),
            HOST_EXEC_PREFIX_LEN as u32,
            filename.cast(),
        )
    };
    if read <= 0 {
        return false;
    }
    for index in 0..HOST_EXEC_PREFIXES {
        let Some(prefix) = HOST_EXEC_PREFIX.get(index) else {
            return false;
        };
        if prefix.len == 0 {
            return false;
        }
        if starts_with(&name, &prefix.bytes, prefix.len) {
            return true;
        }
    }
    false
}

#[inline(always)]
fn starts_with(
    name: &[u8; HOST_EXEC_PREFIX_LEN],
    prefix: &[u8; HOST_EXEC_PREFIX_LEN],
    len: u32,
) -> bool {
    for i in 0..HOST_EXEC_PREFIX_LEN {
        if i as u32 >= len {
            return true;
        }
        if name[i] != prefix[i] {
            return false;
        }
    }
    true
}
