//! `syscalls:sys_enter_chroot` / `sys_exit_chroot` — a container task changes its root.
//!
//! Records: enter has `const char *filename` at 16; exit has `long ret` at 16.
//!
//! The name's address is remembered at entry and the event is sent at exit, with the result and
//! the root the task has now, by inode and device: the agent compares that with the host's root
//! directory, so no path (relative, through `/proc/<pid>/root`, a bind at any place) hides it,
//! and no race with a short-lived process can lose it.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{map, tracepoint},
    maps::LruHashMap,
    programs::TracePointContext,
};
use sensor_common::{kind, loss_slot, ChrootEvent, KernelOffsets, PATH_LEN};

use crate::{
    maps::{count_loss, EVENTS, OFFSETS},
    task::{container_subject, current_task, fill_header, read_kernel, read_user_str},
};

const FILENAME_OFFSET: usize = 16;
const RET_OFFSET: usize = 16;

/// chroot calls in flight: thread id → user address of the name.
#[map]
static CHROOT_STARTS: LruHashMap<u32, u64> = LruHashMap::with_max_entries(1024, 0);

#[tracepoint]
pub fn sys_enter_chroot(ctx: TracePointContext) -> u32 {
    if container_subject().is_none() {
        return 0;
    }
    let Ok(filename) = (unsafe { ctx.read_at::<u64>(FILENAME_OFFSET) }) else {
        return 0;
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    let _ = CHROOT_STARTS.insert(tid, filename, 0);
    0
}

#[tracepoint]
pub fn sys_exit_chroot(ctx: TracePointContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(filename) = (unsafe { CHROOT_STARTS.get(tid) }).copied() else {
        return 0;
    };
    let _ = CHROOT_STARTS.remove(tid);
    let Some(subject) = container_subject() else {
        return 0;
    };
    let ret: i64 = unsafe { ctx.read_at(RET_OFFSET) }.unwrap_or(i64::MIN);

    let Some(mut entry) = EVENTS.reserve::<ChrootEvent>(0) else {
        count_loss(loss_slot::OPEN);
        return 0;
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::CHROOT, &subject, 0);
    event.ret = ret as i32;
    let offsets = OFFSETS.load();
    let (ino, dev) = root_identity(&offsets);
    event.root_ino = ino;
    event.root_dev = dev;
    event._pad = 0;
    // The name is still in the caller's memory: the exit tracepoint runs before the return.
    event.path_len = read_user_str(filename, event.path.as_mut_ptr(), PATH_LEN as u32);
    entry.submit(0);
    0
}

/// `current->fs->root.dentry->d_inode`'s inode number and its super block's `s_dev`, or zeros.
#[inline(always)]
fn root_identity(offsets: &KernelOffsets) -> (u64, u32) {
    if offsets.valid == 0 {
        return (0, 0);
    }
    let fs: u64 = read_kernel(current_task(), offsets.task_fs).unwrap_or(0);
    let dentry: u64 = read_kernel(fs, offsets.fs_root_dentry).unwrap_or(0);
    let inode: u64 = read_kernel(dentry, offsets.dentry_inode).unwrap_or(0);
    let ino: u64 = read_kernel(inode, offsets.inode_ino).unwrap_or(0);
    let sb: u64 = read_kernel(inode, offsets.inode_sb).unwrap_or(0);
    let dev: u32 = read_kernel(sb, offsets.sb_dev).unwrap_or(0);
    (ino, dev)
}
