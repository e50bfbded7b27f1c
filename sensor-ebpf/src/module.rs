//! Bare syscalls from containers whose mere use matters.
//!
//! `syscalls:sys_enter_init_module` / `sys_enter_finit_module` — a container asks the kernel to
//! load a module. Records: init_module has `void *umod` at 16, `unsigned long len` at 24;
//! finit_module has `int fd` at 16. Kernels built without module support have neither
//! tracepoint; the agent then leaves these programs unattached (module loading is impossible).
//!
//! `syscalls:sys_enter_io_uring_setup` — a container sets up an io_uring. Operations submitted
//! through it (opens, connects) never pass the syscall hooks, so its use is worth knowing.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use sensor_common::{kind, loss_slot, SyscallEvent};

use crate::{
    maps::{count_loss, EVENTS},
    task::{container_subject, fill_header},
};

/// x86_64 syscall numbers, carried in the event so the agent can name the call.
const NR_INIT_MODULE: u32 = 175;
const NR_FINIT_MODULE: u32 = 313;
const NR_IO_URING_SETUP: u32 = 425;

#[tracepoint]
pub fn sys_enter_init_module(_ctx: TracePointContext) -> u32 {
    emit(kind::MODULE_LOAD, NR_INIT_MODULE, -1);
    0
}

#[tracepoint]
pub fn sys_enter_io_uring_setup(_ctx: TracePointContext) -> u32 {
    emit(kind::IO_URING_SETUP, NR_IO_URING_SETUP, -1);
    0
}

#[tracepoint]
pub fn sys_enter_finit_module(ctx: TracePointContext) -> u32 {
    let fd: u64 = unsafe { ctx.read_at(16) }.unwrap_or(u64::MAX);
    emit(kind::MODULE_LOAD, NR_FINIT_MODULE, fd as i32);
    0
}

#[inline(always)]
fn emit(event_kind: u32, syscall: u32, fd: i32) {
    let Some(subject) = container_subject() else {
        return;
    };
    let Some(mut entry) = EVENTS.reserve::<SyscallEvent>(0) else {
        count_loss(loss_slot::SYSCALL);
        return;
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, event_kind, &subject, 0);
    event.syscall = syscall;
    event.fd = fd;
    entry.submit(0);
}
